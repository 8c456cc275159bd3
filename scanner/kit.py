"""Install kits: the scanner and its dependencies as wheels, carried to an isolated host (docs/offline-install.md).

This module is the contract between `dbbuilder kit` (which writes a kit) and `scanner kit verify`
(which checks one): the layout, the strict `SHA256SUMS` grammar, the signature context, and the
verification itself. A kit is a directory; every file in it except `SHA256SUMS` and its signature is
listed in `SHA256SUMS`, and nothing else may be there, so that what `install.sh` trusts is exactly what
was signed.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from scanner.db.verify import TrustPolicy, verify_signatures
from scanner.errors import ScannerError

SUMS_NAME = "SHA256SUMS"
SIGNATURE_NAME = "SHA256SUMS.sig"
MANIFEST_NAME = "kit.json"
INSTALLER_NAME = "install.sh"
WHEELS_DIR = "wheels"
LOCKS_DIR = "locks"
BUNDLES_DIR = "bundles"
KEYS_DIR = "keys"
FORMAT_NAME = "airgap-scanner-kit"
FORMAT_VERSION = 1

# Ed25519 signs SIGNATURE_CONTEXT + the exact SHA256SUMS bytes. The context differs from a bundle's,
# so a signature over a kit can never be replayed as one over a bundle manifest, or the reverse.
SIGNATURE_CONTEXT = b"airgap-scanner install kit SHA256SUMS v1\x00"

MAX_SUMS_BYTES = 1024 * 1024
MAX_FILES = 4096
MAX_SIGNATURE_BYTES = 64 * 1024
# Kit paths are ones we write: one or two plain components, no dot-only parts, no spaces.
_PATH = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,200}(/[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,200})?")
_SUMS_LINE = re.compile(r"([0-9a-f]{64})  (.+)")


class KitError(ScannerError):
    """An install kit was refused: its layout, its SHA256SUMS, or a file's digest."""

    exit_code = 60


class KitDigestError(KitError):
    """A file listed in SHA256SUMS is missing, or its content does not match its digest."""

    exit_code = 61


class UnsignedKitError(KitError):
    """The kit carries no signature, so it cannot be checked against a trusted key."""

    exit_code = 62


@dataclass(frozen=True)
class KitVerification:
    files: tuple[tuple[str, str], ...]  # (path, sha256), as listed
    signers: tuple[str, ...]  # key ids of the trusted keys whose signatures verified
    sums_sha256: str


def sums_document(digests: dict[str, str]) -> bytes:
    """SHA256SUMS for `digests` (path -> sha256), sorted by path, in `sha256sum -c` form."""
    for path in digests:
        if not is_kit_path(path):
            raise KitError(f"{path!r} is not a path a kit may hold")
    return "".join(f"{digests[path]}  {path}\n" for path in sorted(digests)).encode("ascii")


def is_kit_path(path: str) -> bool:
    return bool(_PATH.fullmatch(path)) and path not in (SUMS_NAME, SIGNATURE_NAME)


def parse_sums(data: bytes) -> dict[str, str]:
    """path -> sha256 from SHA256SUMS; refuses anything but the exact form `sums_document` writes."""
    if len(data) > MAX_SUMS_BYTES:
        raise KitError(f"{SUMS_NAME}: larger than {MAX_SUMS_BYTES} bytes")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KitError(f"{SUMS_NAME}: not ASCII") from None
    if not text.endswith("\n"):
        raise KitError(f"{SUMS_NAME}: empty, or the last line does not end with a newline")
    digests: dict[str, str] = {}
    lines = text[:-1].split("\n")
    if len(lines) > MAX_FILES:
        raise KitError(f"{SUMS_NAME}: more than {MAX_FILES} files")
    for number, line in enumerate(lines, start=1):
        match = _SUMS_LINE.fullmatch(line)
        if not match or not is_kit_path(match.group(2)):
            raise KitError(f"{SUMS_NAME}: line {number} is not '<sha256>  <kit path>'")
        digest, path = match.groups()
        if path in digests:
            raise KitError(f"{SUMS_NAME}: {path} is listed twice")
        digests[path] = digest
    if list(digests) != sorted(digests):
        raise KitError(f"{SUMS_NAME}: paths are not in sorted order")
    return digests


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def kit_files(directory: Path) -> list[str]:
    """Every file below `directory` as a kit path, sorted; refuses links, devices and deep trees."""
    found: list[str] = []
    for entry in sorted(os.scandir(directory), key=lambda item: item.name):
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            for inner in sorted(os.scandir(entry.path), key=lambda item: item.name):
                if not stat.S_ISREG(inner.stat(follow_symlinks=False).st_mode):
                    raise KitError(f"{entry.name}/{inner.name}: not a regular file (links and folders are refused)")
                found.append(f"{entry.name}/{inner.name}")
        elif stat.S_ISREG(mode):
            found.append(entry.name)
        else:
            raise KitError(f"{entry.name}: not a regular file or folder (links are refused)")
        if len(found) > MAX_FILES + 2:
            raise KitError(f"more than {MAX_FILES} files")
    return sorted(found)


def _read_small(path: Path, limit: int, what: str) -> bytes:
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise KitError(f"{what}: not a regular file")
        if info.st_size > limit:
            raise KitError(f"{what}: larger than {limit} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise KitError(f"{what}: missing (is {path.parent} an install kit?)") from None
    except OSError as error:
        raise KitError(f"{what}: unreadable ({error.strerror})") from None


def verify_kit(directory: Path, trust: TrustPolicy) -> KitVerification:
    """Signature over SHA256SUMS by the trusted keys first, then every file against it; nothing extra.

    Raises KitError (layout, listing), UnsignedKitError, the bundle signature refusals of
    scanner.db.errors (unknown key, bad signature, threshold), or KitDigestError.
    """
    if not directory.is_dir():
        raise KitError(f"{directory}: not a directory")
    sums_bytes = _read_small(directory / SUMS_NAME, MAX_SUMS_BYTES, SUMS_NAME)
    signature_path = directory / SIGNATURE_NAME
    if not signature_path.exists() and not signature_path.is_symlink():
        raise UnsignedKitError(f"{directory}: the kit is not signed ({SIGNATURE_NAME} is missing); "
                               f"compare the sha256 of {SUMS_NAME} with the publisher's instead")
    signature_bytes = _read_small(signature_path, MAX_SIGNATURE_BYTES, SIGNATURE_NAME)
    signers = verify_signatures(sums_bytes, signature_bytes, trust, context=SIGNATURE_CONTEXT, subject=SUMS_NAME)
    digests = parse_sums(sums_bytes)
    present = [path for path in kit_files(directory) if path not in (SUMS_NAME, SIGNATURE_NAME)]
    unlisted = sorted(set(present) - set(digests))
    if unlisted:
        raise KitError(f"{unlisted[0]}: in the kit but not listed in {SUMS_NAME} "
                       f"({len(unlisted)} such file(s)); refuse the kit")
    for path, expected in digests.items():
        if path not in present:
            raise KitDigestError(f"{path}: listed in {SUMS_NAME} but missing from the kit")
        if file_sha256(directory / path) != expected:
            raise KitDigestError(f"{path}: sha256 differs from {SUMS_NAME}: the file was altered or swapped")
    return KitVerification(files=tuple(digests.items()), signers=signers,
                           sums_sha256=hashlib.sha256(sums_bytes).hexdigest())
