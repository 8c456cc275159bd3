"""Signed scan attestations: evidence that a given scanner, with a given bundle, found this on that target.

`scanner scan TARGET --attest KEY.pem --attestation-out FILE` writes, beside the report, an in-toto
Statement v1 (scanner.attest.statement) in a DSSE envelope (scanner.attest.dsse) signed with the host's
Ed25519 attestation key; `scanner attest verify FILE --trust PUBLIC.pem [--image TARGET]` checks it.
docs/attestations.md describes the format, the checks and the exit codes (70-74).

The scanned file is hashed before the scan and its identity (device, inode, size, modification time)
checked again after it: an archive replaced or rewritten while it was read is not attested, since the
digest would then name bytes other than the ones scanned.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.attest import dsse
from scanner.attest.errors import AttestationError, AttestationKeyError, AttestationSubjectError
from scanner.attest.statement import (
    IMAGE_ARCHIVE,
    IMAGE_CONFIG,
    SBOM_FILE,
    AttestedScan,
    read_statement,
    statement,
    statement_bytes,
    subjects,
)
from scanner.db.verify import TrustedKey
from scanner.fileio import open_regular_file, read_capped
from scanner.image import open_image
from scanner.keyfiles import KeyPairFiles, load_private_key, read_passphrase_file, save_key_pair
from scanner.match.scan import ScanReport


@dataclass(frozen=True)
class TargetFile:
    """A scanned file's digest and the identity it had when hashed."""

    path: Path
    sha256: str
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def hash_target(path: Path) -> TargetFile | None:
    """The sha256 of the target file; None for a directory (an OCI layout, named by its image id only)."""
    return None if path.is_dir() else _hash_file(path)


def _hash_file(path: Path) -> TargetFile:
    try:
        with open_regular_file(path) as handle:
            info = os.fstat(handle.fileno())
            digest = hashlib.file_digest(handle, "sha256")
    except OSError as error:
        raise AttestationSubjectError(f"{path}: cannot hash the target ({error.strerror or error})") from error
    return TargetFile(path, digest.hexdigest(), _identity(info))


def check_unchanged(target: TargetFile) -> None:
    """AttestationSubjectError when the file is no longer the one hashed before the scan."""
    try:
        info = os.stat(target.path)
    except OSError as error:
        raise AttestationSubjectError(f"{target.path}: gone after the scan ({error.strerror}): not attesting") from error
    if not stat.S_ISREG(info.st_mode) or _identity(info) != target.identity:
        raise AttestationSubjectError(f"{target.path}: replaced or modified while it was scanned: not attesting "
                                      "(its digest would name other bytes than the ones scanned)")


def attest(report: ScanReport, key: Ed25519PrivateKey, target: TargetFile | None) -> bytes:
    """The signed envelope for `report`; `target` is the scanned file, when the target was one."""
    subject = subjects(report, target.path.name if target else "", target.sha256 if target else None)
    return dsse.sign(statement_bytes(statement(report, subject)), key)


def passphrase(path: Path | None) -> bytes | None:
    return None if path is None else read_passphrase_file(path, AttestationKeyError)


def load_attestation_key(path: Path, passphrase_file: Path | None) -> Ed25519PrivateKey:
    return load_private_key(path, passphrase(passphrase_file), AttestationKeyError,
                            passphrase_option="--attest-passphrase-file")


def generate_attestation_key(directory: Path, name: str, passphrase_file: Path) -> KeyPairFiles:
    """A new host key pair: `name.pem` (encrypted PKCS#8, 0600) and `name.pub.pem`, never overwriting."""
    return save_key_pair(Ed25519PrivateKey.generate(), directory, name, passphrase(passphrase_file),
                         AttestationKeyError)


@dataclass(frozen=True)
class VerifiedAttestation:
    envelope: dsse.VerifiedEnvelope
    scan: AttestedScan
    signers: tuple[TrustedKey, ...]


def read_attestation(path: Path) -> bytes:
    return read_capped(path, dsse.MAX_ENVELOPE_BYTES, "attestation", AttestationError)


def verify_attestation(data: bytes, trusted: Sequence[TrustedKey], what: str) -> VerifiedAttestation:
    """Signatures first (every one by a trusted key), then the statement's shape."""
    keys = {key.key_id: key for key in trusted}
    envelope = dsse.verify(data, keys, what)
    try:
        scan = read_statement(envelope.payload)
    except AttestationError as error:
        raise AttestationError(f"{what}: {error}") from None
    return VerifiedAttestation(envelope, scan, tuple(keys[k] for k in envelope.key_ids))


def check_subject(scan: AttestedScan, path: Path) -> str:
    """Which subject `path` is (a sentence for the operator); AttestationSubjectError when it is none.

    A file is matched by its sha256 against the archive or SBOM subject; a directory (an OCI layout) by
    its image id against the image config subject, reading it as the scan did (--image, --platform).
    """
    if path.is_dir():
        expected = scan.subject(IMAGE_CONFIG)
        with open_image(path, image=scan.image or None, platform=scan.platform or None) as opened:
            found = opened.metadata.config_digest
        if expected is None or found != f"sha256:{expected.sha256}":
            raise AttestationSubjectError(
                f"{path}: image id {found} is not the attestation's subject "
                f"({'sha256:' + expected.sha256 if expected else 'no image id attested'})")
        return f"{path}: image id {found} is the attested image"
    target = _hash_file(path)
    expected = scan.subject(IMAGE_ARCHIVE) or scan.subject(SBOM_FILE)
    if expected is None or target.sha256 != expected.sha256:
        attested = f"sha256:{expected.sha256} ({expected.name})" if expected else "no file digest attested"
        raise AttestationSubjectError(f"{path}: sha256:{target.sha256} is not the attestation's subject ({attested})")
    return f"{path}: sha256:{target.sha256} is the attested {expected.kind.replace('-', ' ')}"
