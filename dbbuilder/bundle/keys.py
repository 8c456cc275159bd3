"""Ed25519 signing keys: generate, save and load (the file formats are scanner.keyfiles', shared with the
scanner's attestation keys).

Private keys are PKCS#8 PEM, encrypted with the passphrase when one is given, written with mode 0600;
public keys are SubjectPublicKeyInfo PEM, the form the scanner's trust store takes.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.errors import SigningKeyError
from scanner import keyfiles
from scanner.keyfiles import KeyPairFiles, private_key_pem, public_key_id, public_key_pem

__all__ = ["KeyPairFiles", "generate_key_pair", "load_private_key", "private_key_pem", "public_key_id",
           "public_key_pem", "read_passphrase_file", "save_key_pair"]


def save_key_pair(
    private_key: Ed25519PrivateKey, directory: Path, name: str, passphrase: bytes | None
) -> KeyPairFiles:
    """Save `name.pem` (0600) and `name.pub.pem` (0644) in `directory`; never overwrites."""
    return keyfiles.save_key_pair(private_key, directory, name, passphrase, SigningKeyError)


def generate_key_pair(directory: Path, name: str, passphrase: bytes | None = None) -> KeyPairFiles:
    return save_key_pair(Ed25519PrivateKey.generate(), directory, name, passphrase)


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 PKCS#8 PEM private key, decrypting it with `passphrase` when it is encrypted."""
    return keyfiles.load_private_key(path, passphrase, SigningKeyError)


def read_passphrase_file(path: Path) -> bytes:
    """The passphrase is the file's content without its final line ending; an empty one is refused."""
    return keyfiles.read_passphrase_file(path, SigningKeyError)
