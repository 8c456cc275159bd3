"""Ed25519 key files, written and read one way on both sides.

Private keys are PKCS#8 PEM, encrypted with the passphrase when one is given, written with mode 0600 and
never over an existing file; public keys are SubjectPublicKeyInfo PEM, the form `scanner trust add` and
`--trust` take. dbbuilder signs bundles and kits with such keys (dbbuilder.bundle.keys binds these
functions to its SigningKeyError); the scanner signs scan attestations with one (scanner.attest). The
caller names the error class to raise, so each side keeps its own exit code.
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

from scanner.db.bundle_format import key_id
from scanner.errors import ScannerError
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


def save_key_pair(private_key: Ed25519PrivateKey, directory: Path, name: str, passphrase: bytes | None,
                  error: type[ScannerError]) -> KeyPairFiles:
    """Save `name.pem` (0600) and `name.pub.pem` (0644) in `directory`; never overwrites."""
    private_path = directory / f"{name}{PRIVATE_KEY_SUFFIX}"
    public_path = directory / f"{name}{PUBLIC_KEY_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists():
            raise error(f"{path}: already exists; refusing to overwrite a key")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_new_file(private_path, private_key_pem(private_key, passphrase), 0o600)
        write_new_file(public_path, public_key_pem(private_key.public_key()), 0o644)
    except OSError as problem:
        raise error(f"{directory}: cannot write key pair: {problem.strerror or problem}") from problem
    return KeyPairFiles(private_path, public_path, public_key_id(private_key.public_key()))


def load_private_key(path: Path, passphrase: bytes | None, error: type[ScannerError], *,
                     passphrase_option: str = "--passphrase-file") -> Ed25519PrivateKey:
    """An Ed25519 PKCS#8 PEM private key, decrypted with `passphrase` when it is encrypted."""
    data = read_capped(path, MAX_KEY_FILE_BYTES, "private key", error)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as problem:
        # cryptography raises TypeError both for "encrypted but no passphrase" and the reverse.
        needed = f"needs a passphrase ({passphrase_option})" if passphrase is None else "is not encrypted"
        raise error(f"{path}: private key {needed}") from problem
    except ValueError as problem:
        reason = "wrong passphrase, or not a PEM private key" if passphrase else "not a PEM private key"
        raise error(f"{path}: {reason}") from problem
    except UnsupportedAlgorithm as problem:
        raise error(f"{path}: unsupported private key algorithm") from problem
    if not isinstance(key, Ed25519PrivateKey):
        raise error(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return key


def read_passphrase_file(path: Path, error: type[ScannerError]) -> bytes:
    """The passphrase is the file's content without its final line ending; an empty one is refused."""
    data = read_capped(path, MAX_KEY_FILE_BYTES, "passphrase file", error)
    passphrase = data.removesuffix(b"\n").removesuffix(b"\r")
    if not passphrase:
        raise error(f"{path}: passphrase file is empty")
    return passphrase
