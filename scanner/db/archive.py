"""Reading a bundle file: its tar layout (headers only, every size checked against the file before use)
and `verify_bundle`, the one end-to-end check shared by `scanner db import`, `scan --db FILE.bundle`
and `dbbuilder verify`.

Our own ustar header reader rather than `tarfile`: it refuses PAX and GNU extension headers (which
`tarfile` would read whole into memory and apply), never follows a member's data it was not asked
for, and reports each refusal with its own error. Header parsing and the layout rules are pure
functions; `_scan` (headers, manifest, signatures) and `verify_bundle` (the payload) read the file, each
byte once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

from scanner.db import bundle_format
from scanner.db.errors import (
    BundleArchiveError,
    DuplicateMemberError,
    MemberNameError,
    MemberOrderError,
    MemberTypeError,
    MissingMemberError,
    OversizeError,
    TruncatedBundleError,
)
from scanner.db.verify import (
    ChannelRecord,
    FreshnessPolicy,
    TrustPolicy,
    VerifiedManifest,
    check_payload_listing,
    decompress_payload,
    hash_stored_payload,
    verify_manifest,
)

BLOCK = 512
_OCTAL_DIGITS = re.compile(rb"[0-7]+")
# After the last member: two zero blocks, then padding to a 20-block record; the worst case is one block
# short of a record boundary, so 21 blocks. More trailing bytes than that are not padding.
MAX_TRAILING_BYTES = 21 * BLOCK
MEMBER_CAPS = {
    bundle_format.MANIFEST_NAME: bundle_format.MAX_MANIFEST_BYTES,
    bundle_format.SIGNATURES_NAME: bundle_format.MAX_SIGNATURES_BYTES,
}
_TYPE_NAMES = {
    b"1": "hard link", b"2": "symbolic link", b"3": "character device", b"4": "block device",
    b"5": "directory", b"6": "FIFO", b"7": "contiguous file", b"x": "PAX extended header",
    b"g": "PAX global header", b"L": "GNU long name", b"K": "GNU long link name",
}


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    offset: int  # where the member's data starts in the file


def _octal(field: bytes, what: str, position: int) -> int:
    """A ustar number: octal digits, NUL- or space-terminated. Nothing else: Python's int(text, 8) would
    also take a sign, a 0o prefix or underscores (a size of -1 once made the reader read the whole file),
    and GNU base-256 numbers are not ustar."""
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not _OCTAL_DIGITS.fullmatch(text):
        raise BundleArchiveError(f"tar header at byte {position}: {what} field is not an octal number")
    return int(text, 8)


def parse_header(block: bytes, position: int) -> Member | None:
    """One 512-byte tar header; None for a zero block (end of archive). Refuses all but regular files."""
    if block == bytes(BLOCK):
        return None
    stored_sum = _octal(block[148:156], "checksum", position)
    if stored_sum != sum(block[:148]) + 8 * 0x20 + sum(block[156:]):
        raise BundleArchiveError(f"tar header at byte {position}: checksum mismatch (corrupt or not a tar file)")
    if block[257:263] not in (b"ustar\x00", b"ustar "):
        raise BundleArchiveError(f"tar header at byte {position}: not a ustar header")
    typeflag = block[156:157]
    raw_name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if block[257:263] == b"ustar\x00" else b""
    if prefix:
        raw_name = prefix + b"/" + raw_name
    shown = raw_name.decode("utf-8", "backslashreplace")
    if typeflag not in (b"0", b"\0"):
        kind = _TYPE_NAMES.get(typeflag, f"type {typeflag!r}")
        raise MemberTypeError(f"bundle member {shown!r} is a {kind}; a bundle holds regular files only")
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise MemberNameError(f"bundle member name {shown!r} is not UTF-8") from None
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ".." in parts:
        raise MemberNameError(f"bundle member name {name!r} is unsafe (absolute or with ..)")
    return Member(name=name, size=_octal(block[124:136], "size", position), offset=position + BLOCK)


def check_member(member: Member, seen: Sequence[Member], file_size: int) -> None:
    """Rules for one member, applied as soon as its header is read (before any of its data is)."""
    if member.name not in bundle_format.MEMBER_ORDER:
        raise MemberNameError(
            f"unexpected bundle member {member.name!r}; a bundle holds {', '.join(bundle_format.MEMBER_ORDER)}")
    if any(previous.name == member.name for previous in seen):
        raise DuplicateMemberError(f"bundle member {member.name} appears twice")
    cap = MEMBER_CAPS.get(member.name)
    if cap is not None and member.size > cap:
        raise OversizeError(f"bundle member {member.name} is {member.size} bytes, more than its cap of {cap}")
    if member.offset + member.size > file_size:
        raise TruncatedBundleError(
            f"bundle member {member.name} needs {member.offset + member.size} bytes, the file has {file_size}")


def check_layout(members: Sequence[Member]) -> None:
    names = [member.name for member in members]
    for name in bundle_format.MEMBER_ORDER:
        if name not in names:
            raise MissingMemberError(f"the bundle has no {name}")
    if tuple(names) != bundle_format.MEMBER_ORDER:
        raise MemberOrderError(
            f"bundle members in order {', '.join(names)}; expected {', '.join(bundle_format.MEMBER_ORDER)}")


def _read_exact(stream: BinaryIO, offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise TruncatedBundleError(f"the bundle ends before byte {offset + size}")
    return data


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


@dataclass(frozen=True)
class _Scan:
    members: tuple[Member, ...]
    # Every byte range read, by offset: headers, the capped members' data and padding, and the end of the
    # archive. Each byte is read once; only the payloads' data and padding are left for later.
    chunks: tuple[tuple[int, bytes], ...]


def _scan(stream: BinaryIO) -> _Scan:
    file_size = os.fstat(stream.fileno()).st_size
    members: list[Member] = []
    chunks: list[tuple[int, bytes]] = []
    position = 0
    while True:
        if position + BLOCK > file_size:
            raise TruncatedBundleError("the bundle ends without the tar end-of-archive marker")
        block = _read_exact(stream, position, BLOCK)
        member = parse_header(block, position)
        if member is None:
            break
        check_member(member, members, file_size)
        members.append(member)
        chunks.append((position, block))
        position = member.offset + _padded(member.size)
        if member.name in MEMBER_CAPS:
            chunks.append((member.offset, _read_exact(stream, member.offset, position - member.offset)))
    trailing = file_size - position
    rest = b"" if trailing > MAX_TRAILING_BYTES else _read_exact(stream, position + BLOCK, trailing - BLOCK)
    if trailing > MAX_TRAILING_BYTES or rest != bytes(len(rest)):
        raise BundleArchiveError(f"data after the tar end-of-archive marker at byte {position}")
    chunks.append((position, block + rest))
    check_layout(members)
    return _Scan(tuple(members), tuple(chunks))


def read_layout(stream: BinaryIO) -> tuple[Member, ...]:
    """The members of the bundle open on `stream`, their layout checked from the headers alone."""
    return _scan(stream).members


@dataclass(frozen=True)
class BundleFile:
    """A bundle's layout plus the (capped) manifest and signature bytes, read but not yet verified."""

    manifest_bytes: bytes
    signatures_bytes: bytes
    payloads: tuple[Member, ...]
    head: bytes  # the file's bytes before the database's data (headers, manifest, signatures)
    tail: bytes  # the file's bytes after the database's data and padding (the end-of-archive marker)

    def payload(self, name: str) -> Member:
        for member in self.payloads:
            if member.name == name:
                return member
        raise MissingMemberError(f"the bundle has no member {name}")


@dataclass(frozen=True)
class VerifiedBundleFile(BundleFile):
    sha256: str  # of the whole file, computed from the same single read that was verified


def read_bundle(stream: BinaryIO) -> BundleFile:
    """Layout, manifest and signature bytes of the bundle open on `stream` (seekable, binary)."""
    scan = _scan(stream)
    by_name = {member.name: member for member in scan.members}
    data = dict(scan.chunks)
    manifest, signatures = by_name[bundle_format.MANIFEST_NAME], by_name[bundle_format.SIGNATURES_NAME]
    database = by_name[bundle_format.DATABASE_NAME]
    return BundleFile(
        manifest_bytes=data[manifest.offset][:manifest.size],
        signatures_bytes=data[signatures.offset][:signatures.size],
        payloads=tuple(m for m in scan.members if m.name not in MEMBER_CAPS),
        head=b"".join(chunk for offset, chunk in scan.chunks if offset < database.offset),
        tail=b"".join(chunk for offset, chunk in scan.chunks if offset > database.offset),
    )


class _ReadErrors:
    """Reports the source's read errors (a failing USB stick) as the bundle's, never as the state directory's."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source

    def fileno(self) -> int:
        return self.source.fileno()

    def seek(self, offset: int) -> int:
        return self.source.seek(offset)

    def read(self, size: int) -> bytes:
        try:
            return self.source.read(size)
        except OSError as exc:
            raise BundleArchiveError(
                f"cannot read the bundle near byte {self.source.tell()}: {exc.strerror or exc}") from None


def verify_bundle(
    stream: BinaryIO,
    *,
    trust: TrustPolicy,
    now: datetime,
    freshness: FreshnessPolicy,
    rollback: Mapping[str, ChannelRecord],
    allow_expired: bool = False,
    allow_stale: bool = False,
    allow_downgrade: bool = False,
    sink: BinaryIO | None = None,
    spool_dir: Path | None = None,
) -> tuple[VerifiedBundleFile, VerifiedManifest]:
    """Verify the bundle open on `stream` end to end, writing the database to `sink` (None: discard).

    Returns the bundle's signed documents (to keep beside the installed database) with the file's sha256,
    and the verdict. Raises the first refusal in the documented order; `sink` receives bytes only after
    the manifest was verified and the stored payload matched its signed digest, and its content is only
    complete and correct when this returns (the caller discards it otherwise).

    Every byte of `stream` is read once: the stored payload is copied into an unlinked temporary file in
    `spool_dir` (None: the system's) while it is hashed, and decompressed from that copy, so a source that
    changes between reads cannot hand zstd bytes other than the verified ones.
    """
    stream = cast(BinaryIO, _ReadErrors(stream))  # it has all this module calls: fileno, seek, read
    contents = read_bundle(stream)
    verified = verify_manifest(
        contents.manifest_bytes, contents.signatures_bytes, trust=trust, now=now, freshness=freshness,
        rollback=rollback, allow_expired=allow_expired, allow_stale=allow_stale,
        allow_downgrade=allow_downgrade)
    check_payload_listing(verified.manifest, [member.name for member in contents.payloads])
    member = contents.payload(bundle_format.DATABASE_NAME)
    entry = verified.manifest.file(bundle_format.DATABASE_NAME)
    whole = hashlib.sha256(contents.head)
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        def keep(chunk: bytes) -> None:
            whole.update(chunk)
            spool.write(chunk)

        stream.seek(member.offset)
        hash_stored_payload(stream, entry, member.size, keep)
        whole.update(_read_exact(stream, member.offset + member.size, _padded(member.size) - member.size))
        whole.update(contents.tail)
        spool.seek(0)
        decompress_payload(spool, entry, sink)
    return VerifiedBundleFile(**vars(contents), sha256=whole.hexdigest()), verified
