"""The bundle file format: the contract between dbbuilder (signer) and scanner (verifier).

Specified in docs/bundle-format.md. Pure constants and helpers; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime

FORMAT_NAME = "airgap-scanner-bundle"
FORMAT_VERSION = 1

MANIFEST_NAME = "manifest.json"
SIGNATURES_NAME = "signatures.json"
DATABASE_NAME = "vulns.sqlite.zst"
# Tar member order: the manifest and signatures come first so a verifier reads them before any payload.
MEMBER_ORDER = (MANIFEST_NAME, SIGNATURES_NAME, DATABASE_NAME)
# Optional members between signatures.json and the database: the root of trust's chain, one document per
# version (`1.root.json`, `2.root.json`, ...), in ascending order (docs/trust.md, "Root of trust").
ROOT_MEMBER = re.compile(r"([1-9][0-9]{0,9})\.root\.json", re.ASCII)

# Ed25519 signs SIGNATURE_CONTEXT + exact manifest bytes, so a signature over a manifest can never be
# replayed as a signature over some other document signed with the same key.
SIGNATURE_CONTEXT = b"airgap-scanner bundle manifest v1\x00"

# Ed25519 signs ROOT_SIGNATURE_CONTEXT + the canonical bytes of a root document's `signed` object.
ROOT_SIGNATURE_CONTEXT = b"airgap-scanner root v1\x00"

# Caps applied before parsing anything: scanner.db.limits.BundleLimits.


# The tar layout, byte for byte. A bundle is canonical (one set of signed contents, one sha256): the
# writer lays it out with these functions and the reader refuses any byte that differs from them.
BLOCK_BYTES = 512
RECORD_BYTES = 20 * BLOCK_BYTES  # tar's default blocking factor: the archive ends on a record boundary
MEMBER_MODE = 0o644
# (field, offset, length) of a ustar header, named in refusals.
USTAR_FIELDS = (
    ("name", 0, 100), ("mode", 100, 8), ("uid", 108, 8), ("gid", 116, 8), ("size", 124, 12),
    ("mtime", 136, 12), ("checksum", 148, 8), ("typeflag", 156, 1), ("linkname", 157, 100),
    ("magic", 257, 6), ("version", 263, 2), ("uname", 265, 32), ("gname", 297, 32),
    ("devmajor", 329, 8), ("devminor", 337, 8), ("prefix", 345, 155), ("unused", 500, 12),
)
_NAME_BYTES = 100


def _octal_field(value: int, length: int) -> bytes:
    digits = length - 1
    if not 0 <= value < 8**digits:
        raise ValueError(f"{value} does not fit a {length}-byte ustar number field")
    return b"%0*o\0" % (digits, value)


def member_header(name: str, size: int, mtime: int) -> bytes:
    """The only header a member may have: a regular file named in the name field (no prefix), mode
    0644, owner 0:0 with empty user and group names, no link name, magic "ustar\\0" version "00", every
    other byte zero (device numbers and prefix included); numbers zero-padded octal ending in NUL, the
    checksum six octal digits, NUL, space. These are the bytes Python's tarfile writes in USTAR_FORMAT."""
    encoded = name.encode("utf-8")
    if len(encoded) > _NAME_BYTES:
        raise ValueError(f"member name {name!r} is longer than {_NAME_BYTES} bytes")
    header = bytearray(b"".join((
        encoded.ljust(_NAME_BYTES, b"\0"), _octal_field(MEMBER_MODE, 8), _octal_field(0, 8), _octal_field(0, 8),
        _octal_field(size, 12), _octal_field(mtime, 12), b" " * 8, b"0", bytes(100), b"ustar\0", b"00",
        bytes(32), bytes(32),
    )).ljust(BLOCK_BYTES, b"\0"))
    header[148:155] = b"%06o\0" % sum(header)
    return bytes(header)


def member_mtime(built_at: datetime) -> int:
    """Every member's mtime: the manifest's built_at, in whole seconds since the epoch."""
    return int(built_at.timestamp())


def padding_bytes(size: int) -> int:
    """Zero bytes after a member's data, up to the next block."""
    return -size % BLOCK_BYTES


def end_of_archive_bytes(offset: int) -> int:
    """Zero bytes after the last member's padding (at `offset`): two zero blocks, then zeros up to the
    next record boundary. Nothing may follow them."""
    return 2 * BLOCK_BYTES + -(offset + 2 * BLOCK_BYTES) % RECORD_BYTES


def root_member_name(version: int) -> str:
    return f"{version}.root.json"


def key_id(raw_public_key: bytes) -> str:
    """Key id: lower-case hex sha256 of the 32-byte raw Ed25519 public key.

    Verifiers accept only the canonical encoding of a point (scanner.db.ed25519), so a key has one id.
    """
    return hashlib.sha256(raw_public_key).hexdigest()


def signed_message(manifest_bytes: bytes) -> bytes:
    return SIGNATURE_CONTEXT + manifest_bytes


def signatures_document(signatures: Iterable[tuple[str, bytes]]) -> bytes:
    """signatures.json for (key id, raw signature) pairs: entries ordered by key id, keys sorted, two-space
    indent, standard base64 with padding, trailing newline. The only form a verifier accepts."""
    entries = [{"keyid": keyid, "signature": base64.b64encode(signature).decode("ascii")}
               for keyid, signature in sorted(signatures)]
    return (json.dumps({"signatures": entries}, sort_keys=True, indent=2) + "\n").encode("ascii")
