"""Ed25519 signing keys: generate, save and load.

Private keys are PKCS#8 PEM, encrypted with the passphrase when one is given, written with mode 0600;
public keys are SubjectPublicKeyInfo PEM, the form the scanner's trust store takes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dbbuilder.bundle.errors import SigningKeyError
from scanner.db.bundle_format import key_id
from scanner.fileio import read_capped

PRIVATE_KEY_SUFFIX = ".pem"
PUBLIC_KEY_SUFFIX = ".pub.pem"
# A key file is a few hundred bytes; anything far larger is not a key and is not read whole.
MAX_KEY_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class KeyPairFiles:
    private_key: Path
    public_key: Path
    key_id: str


def public_key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key_id(raw)


def private_key_pem(private_key: Ed25519PrivateKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode`, atomically, refusing to replace an existing file.

    The bytes go to a temporary file in the same directory (created 0600 by mkstemp, so a private key is
    never readable by others, whatever the umask), then are hard-linked to the final name: the link fails
    if the name exists, and a crash never leaves a half-written key behind.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def save_key_pair(
    private_key: Ed25519PrivateKey, directory: Path, name: str, passphrase: bytes | None
) -> KeyPairFiles:
    """Save `name.pem` (0600) and `name.pub.pem` (0644) in `directory`; never overwrites."""
    private_path = directory / f"{name}{PRIVATE_KEY_SUFFIX}"
    public_path = directory / f"{name}{PUBLIC_KEY_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path}: already exists; refusing to overwrite a key")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_new_file(private_path, private_key_pem(private_key, passphrase), 0o600)
        write_new_file(public_path, public_key_pem(private_key.public_key()), 0o644)
    except OSError as error:
        raise SigningKeyError(f"{directory}: cannot write key pair: {error.strerror or error}") from error
    return KeyPairFiles(private_path, public_path, public_key_id(private_key.public_key()))


def generate_key_pair(directory: Path, name: str, passphrase: bytes | None = None) -> KeyPairFiles:
    return save_key_pair(Ed25519PrivateKey.generate(), directory, name, passphrase)


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 PKCS#8 PEM private key, decrypting it with `passphrase` when it is encrypted."""
    data = read_capped(path, MAX_KEY_FILE_BYTES, "private key", SigningKeyError)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as error:
        # cryptography raises TypeError both for "encrypted but no passphrase" and the reverse.
        needed = "needs a passphrase (--passphrase-file)" if passphrase is None else "is not encrypted"
        raise SigningKeyError(f"{path}: private key {needed}") from error
    except ValueError as error:
        reason = "wrong passphrase, or not a PEM private key" if passphrase else "not a PEM private key"
        raise SigningKeyError(f"{path}: {reason}") from error
    except UnsupportedAlgorithm as error:
        raise SigningKeyError(f"{path}: unsupported private key algorithm") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return key


def read_passphrase_file(path: Path) -> bytes:
    """The passphrase is the file's content without its final line ending; an empty one is refused."""
    data = read_capped(path, MAX_KEY_FILE_BYTES, "passphrase file", SigningKeyError)
    passphrase = data.removesuffix(b"\n").removesuffix(b"\r")
    if not passphrase:
        raise SigningKeyError(f"{path}: passphrase file is empty")
    return passphrase
