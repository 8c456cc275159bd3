"""Reading a bundle file: its tar layout (headers only, every size checked against the file before use)
and `verify_bundle`, the one end-to-end check shared by `scanner db import`, `scan --db FILE.bundle`
and `dbbuilder verify`.

Our own ustar header reader rather than `tarfile`: it refuses PAX and GNU extension headers (which
`tarfile` would read whole into memory and apply), never follows a member's data it was not asked
for, and reports each refusal with its own error. Header parsing and the layout rules are pure
functions; `_scan` (headers, manifest, signatures, carried root documents) and `verify_bundle` (the
payload) read the stream, each byte once. Any seekable binary stream will do (a file, `io.BytesIO`).

A bundle is canonical: every byte outside the members' data is the one dbbuilder writes
(`scanner.db.bundle_format.member_header`, padding, end of archive), checked as it is read, and every
member's mtime is the signed `built_at`, checked once the manifest is verified. So identical verified
contents have one file sha256; any other layout is refused (`NonCanonicalBundleError`).
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
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
    NonCanonicalBundleError,
    OversizeError,
    TruncatedBundleError,
)
from scanner.db.limits import BUNDLE_LIMITS, BundleLimits
from scanner.db.verify import (
    VerificationContext,
    VerifiedManifest,
    check_payload_listing,
    decompress_payload,
    hash_stored_payload,
    verify_manifest,
)
from scanner.tarnumbers import parse_octal

BLOCK = bundle_format.BLOCK_BYTES
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
    mtime: int


def _octal(field: bytes, what: str, position: int) -> int:
    """A ustar number as Go's reader reads it (`parse_octal`: no sign, 0o prefix or underscores, which
    Python's int(text, 8) would take; a size of -1 once made the reader read the whole file), and more:
    never empty or negative, since dbbuilder writes every digit. GNU base-256 numbers are not ustar."""
    value = parse_octal(field) if field.strip(b" \0") else None
    if value is None or value < 0:
        raise BundleArchiveError(f"tar header at byte {position}: {what} field is not an octal number")
    return value


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
    return Member(name=name, size=_octal(block[124:136], "size", position), offset=position + BLOCK,
                  mtime=_octal(block[136:148], "mtime", position))


def is_root_member(name: str) -> bool:
    return bundle_format.ROOT_MEMBER.fullmatch(name) is not None


def member_cap(name: str, limits: BundleLimits) -> int | None:
    """The most bytes of member `name` a verifier reads whole; None for the payload (streamed)."""
    if name == bundle_format.MANIFEST_NAME:
        return limits.max_manifest_bytes
    if name == bundle_format.SIGNATURES_NAME:
        return limits.max_signatures_bytes
    return limits.max_root_bytes if is_root_member(name) else None


def check_member(member: Member, seen: Sequence[Member], file_size: int,
                 limits: BundleLimits = BUNDLE_LIMITS) -> None:
    """Rules for one member, applied as soon as its header is read (before any of its data is)."""
    if member.name not in bundle_format.MEMBER_ORDER and not is_root_member(member.name):
        raise MemberNameError(
            f"unexpected bundle member {member.name!r}; a bundle holds {', '.join(bundle_format.MEMBER_ORDER)} "
            "and, before the database, N.root.json")
    if any(previous.name == member.name for previous in seen):
        raise DuplicateMemberError(f"bundle member {member.name} appears twice")
    cap = member_cap(member.name, limits)
    if cap is not None and member.size > cap:
        raise OversizeError(f"bundle member {member.name} is {member.size} bytes, more than its cap of {cap}")
    roots = [previous for previous in (*seen, member) if is_root_member(previous.name)]
    if len(roots) > limits.max_roots:
        raise OversizeError(f"bundle member {member.name}: more than {limits.max_roots} root documents")
    if sum(root.size for root in roots) > limits.max_chain_bytes:
        raise OversizeError(f"bundle member {member.name}: the root documents exceed {limits.max_chain_bytes} bytes")
    if member.offset + member.size > file_size:
        raise TruncatedBundleError(
            f"bundle member {member.name} needs {member.offset + member.size} bytes, the file has {file_size}")


def check_canonical_header(block: bytes, member: Member, position: int) -> None:
    """The header is byte for byte the one dbbuilder writes for this name, size and mtime."""
    try:
        expected = bundle_format.member_header(member.name, member.size, member.mtime)
    except ValueError as exc:  # a size or mtime of 12 octal digits, which only a NUL-less field holds
        raise NonCanonicalBundleError(f"tar header of {member.name} at byte {position}: {exc}") from None
    if block == expected:
        return
    differing = [(field, block[offset:offset + length]) for field, offset, length in bundle_format.USTAR_FIELDS
                 if block[offset:offset + length] != expected[offset:offset + length]]
    # Any other difference changes the checksum too: name that one.
    field, value = next((item for item in differing if item[0] != "checksum"), differing[0])
    raise NonCanonicalBundleError(
        f"tar header of {member.name} at byte {position}: {field} field {value.rstrip(bytes(1))[:40]!r} "
        "differs from the one dbbuilder writes")


def check_zero(data: bytes, what: str, position: int) -> None:
    if data.count(0) != len(data):
        first = next(index for index, byte in enumerate(data) if byte)
        raise NonCanonicalBundleError(f"non-zero byte in {what} at byte {position + first}")


def check_layout(members: Sequence[Member]) -> None:
    """The three members in order, root documents (if any) together between the signatures and the
    database; their own order is the chain's (scanner.db.root.walk_chain)."""
    names = [member.name for member in members]
    for name in bundle_format.MEMBER_ORDER:
        if name not in names:
            raise MissingMemberError(f"the bundle has no {name}")
    required = tuple(name for name in names if not is_root_member(name))
    roots = [index for index, name in enumerate(names) if is_root_member(name)]
    if required != bundle_format.MEMBER_ORDER or (roots and roots != list(range(2, 2 + len(roots)))):
        raise MemberOrderError(
            f"bundle members in order {', '.join(names)}; expected {', '.join(bundle_format.MEMBER_ORDER[:2])}, "
            f"then any N.root.json, then {bundle_format.DATABASE_NAME}")


def _read_exact(stream: BinaryIO, offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise TruncatedBundleError(f"the bundle ends before byte {offset + size}")
    return data


def _padded(size: int) -> int:
    return size + bundle_format.padding_bytes(size)


@dataclass(frozen=True)
class _Scan:
    members: tuple[Member, ...]
    # Every byte range read, by offset: headers, the capped members' data and padding, and the end of the
    # archive. Each byte is read once; only the payloads' data and padding are left for later.
    chunks: tuple[tuple[int, bytes], ...]


_NOT_A_BUNDLE = "not a bundle: a bundle is the tar archive dbbuilder writes"


def _stream_size(stream: BinaryIO) -> int:
    try:
        return stream.seek(0, io.SEEK_END)
    except OSError as exc:
        raise BundleArchiveError(f"{_shown_name(stream)}cannot read the bundle: {exc.strerror or exc}") from None


def _shown_name(stream: BinaryIO) -> str:
    name = getattr(stream, "name", None)
    return f"{name}: " if isinstance(name, str) else ""


def _looks_like_tar(block: bytes) -> bool:
    """A ustar magic, or a checksum field of octal digits: damage to a tar header, not some other file."""
    return block[257:262] == b"ustar" or bool(re.fullmatch(rb"[0-7 ]{6,7}\x00? ?", block[148:156]))


def _scan(stream: BinaryIO, limits: BundleLimits) -> _Scan:
    file_size = _stream_size(stream)
    members: list[Member] = []
    chunks: list[tuple[int, bytes]] = []
    position = 0
    while True:
        if position + BLOCK > file_size:
            if position == 0:
                raise BundleArchiveError(f"{_shown_name(stream)}{_NOT_A_BUNDLE} (it has {file_size} bytes, less "
                                         "than one tar header)")
            raise TruncatedBundleError("the bundle ends without the tar end-of-archive marker")
        block = _read_exact(stream, position, BLOCK)
        try:
            member = parse_header(block, position)
        except BundleArchiveError:
            if position == 0 and not _looks_like_tar(block):
                raise BundleArchiveError(f"{_shown_name(stream)}{_NOT_A_BUNDLE} (it does not start with a tar "
                                         "header)") from None
            raise
        if member is None:
            break
        check_member(member, members, file_size, limits)
        check_canonical_header(block, member, position)
        if members and member.mtime != members[0].mtime:
            raise NonCanonicalBundleError(
                f"tar header of {member.name} at byte {position}: mtime {member.mtime}, the first member's is "
                f"{members[0].mtime}; dbbuilder gives every member the signed built_at")
        members.append(member)
        chunks.append((position, block))
        position = member.offset + _padded(member.size)
        if member_cap(member.name, limits) is not None:
            data = _read_exact(stream, member.offset, position - member.offset)
            check_zero(data[member.size:], f"the padding after {member.name}", member.offset + member.size)
            chunks.append((member.offset, data))
    end = bundle_format.end_of_archive_bytes(position)
    trailing = file_size - position
    rest = _read_exact(stream, position + BLOCK, min(trailing, end) - BLOCK)
    check_zero(rest, "the end of the archive", position + BLOCK)
    if trailing > end:
        raise NonCanonicalBundleError(f"{trailing - end} bytes after the end of the archive at byte {position + end}")
    if trailing < end:
        raise NonCanonicalBundleError(
            f"the end of the archive at byte {position} is {trailing} zero bytes; dbbuilder writes {end} "
            f"(two zero blocks, then zeros up to a multiple of {bundle_format.RECORD_BYTES} bytes)")
    chunks.append((position, block + rest))
    check_layout(members)
    return _Scan(tuple(members), tuple(chunks))


def read_layout(stream: BinaryIO, limits: BundleLimits = BUNDLE_LIMITS) -> tuple[Member, ...]:
    """The members of the bundle open on `stream`, their layout checked from the headers alone."""
    return _scan(stream, limits).members


@dataclass(frozen=True)
class BundleFile:
    """A bundle's layout plus the (capped) manifest and signature bytes, read but not yet verified."""

    manifest_bytes: bytes
    signatures_bytes: bytes
    roots: tuple[tuple[str, bytes], ...]  # the carried root documents (member name, bytes), in bundle order
    payloads: tuple[Member, ...]
    head: bytes  # the file's bytes before the database's data (headers, manifest, signatures)
    tail: bytes  # the file's bytes after the database's data and padding (the end-of-archive marker)
    mtime: int  # every member's (they are equal); canonical only if it is the signed built_at

    def payload(self, name: str) -> Member:
        for member in self.payloads:
            if member.name == name:
                return member
        raise MissingMemberError(f"the bundle has no member {name}")


@dataclass(frozen=True)
class VerifiedBundleFile(BundleFile):
    sha256: str  # of the whole file, computed from the same single read that was verified


def read_bundle(stream: BinaryIO, limits: BundleLimits = BUNDLE_LIMITS) -> BundleFile:
    """Layout, manifest, signature and root bytes of the bundle open on `stream` (any seekable binary stream)."""
    scan = _scan(stream, limits)
    by_name = {member.name: member for member in scan.members}
    data = dict(scan.chunks)
    manifest, signatures = by_name[bundle_format.MANIFEST_NAME], by_name[bundle_format.SIGNATURES_NAME]
    database = by_name[bundle_format.DATABASE_NAME]
    return BundleFile(
        manifest_bytes=data[manifest.offset][:manifest.size],
        signatures_bytes=data[signatures.offset][:signatures.size],
        roots=tuple((m.name, data[m.offset][:m.size]) for m in scan.members if is_root_member(m.name)),
        payloads=tuple(m for m in scan.members if member_cap(m.name, limits) is None),
        head=b"".join(chunk for offset, chunk in scan.chunks if offset < database.offset),
        tail=b"".join(chunk for offset, chunk in scan.chunks if offset > database.offset),
        mtime=manifest.mtime,
    )


class _ReadErrors:
    """Reports the source's read errors (a failing USB stick) as the bundle's, never as the state directory's."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.name = getattr(source, "name", None)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.source.seek(offset, whence)

    def read(self, size: int) -> bytes:
        try:
            return self.source.read(size)
        except OSError as exc:
            raise BundleArchiveError(
                f"cannot read the bundle near byte {self.source.tell()}: {exc.strerror or exc}") from None


def verify_bundle(
    stream: BinaryIO,
    context: VerificationContext,
    *,
    sink: BinaryIO | None = None,
    spool_dir: Path | None = None,
    limits: BundleLimits = BUNDLE_LIMITS,
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
    stream = cast(BinaryIO, _ReadErrors(stream))  # it has all this module calls: seek, read
    contents = read_bundle(stream, limits)
    verified = verify_manifest(contents.manifest_bytes, contents.signatures_bytes, context, contents.roots)
    built_at = bundle_format.member_mtime(verified.manifest.built_at)
    if contents.mtime != built_at:
        raise NonCanonicalBundleError(
            f"the members' mtime {contents.mtime} is not the signed built_at ({built_at}) dbbuilder gives them")
    check_payload_listing(verified.manifest, [member.name for member in contents.payloads])
    member = contents.payload(bundle_format.DATABASE_NAME)
    entry = verified.payload(bundle_format.DATABASE_NAME)
    whole = hashlib.sha256(contents.head)
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        def keep(chunk: bytes) -> None:
            whole.update(chunk)
            spool.write(chunk)

        stream.seek(member.offset)
        authenticated = hash_stored_payload(stream, entry, member.size, keep)
        padding = _read_exact(stream, member.offset + member.size, bundle_format.padding_bytes(member.size))
        check_zero(padding, f"the padding after {member.name}", member.offset + member.size)
        whole.update(padding)
        whole.update(contents.tail)
        spool.seek(0)
        decompress_payload(spool, authenticated, sink)
    return VerifiedBundleFile(**vars(contents), sha256=whole.hexdigest()), verified
