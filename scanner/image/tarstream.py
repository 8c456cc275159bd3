"""A small streaming tar parser (decompression is `decompress.py`'s).

The parser is our own rather than `tarfile` because a layer may hold millions of members and
`tarfile` spends several microseconds and one object graph per member; here a member costs one
512-byte slice and a few integer conversions. It reads v7, ustar, star, pax and GNU headers from any
`BlockReader` (a decompressing `LayerStream` or a seekable outer archive) exactly as Go's
archive/tar reader does, which is what every container runtime unpacks with, and refuses what Go
or the runtimes refuse (docs/architecture.md, "Reading tar headers").
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

from scanner.errors import ImageError
from scanner.image.limits import Limits
from scanner.tarnumbers import INT64_MAX, INT64_MIN, cstring, parse_numeric, parse_octal

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_CHECKSUM_SPACES_SUM = 8 * ord(" ")


class BlockReader(Protocol):
    def read(self, size: int) -> bytes:
        """Up to `size` bytes; fewer only at the end of the stream."""
        ...

    def skip(self, size: int) -> int:
        """Discard up to `size` bytes; returns how many were skipped (fewer only at the end)."""
        ...

    @property
    def position(self) -> int:
        """Bytes consumed so far."""
        ...


class SeekableBlocks:
    """A `BlockReader` over a plain seekable file (the outer archive): skipping is seeking."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self._size = size
        self._position = 0

    @property
    def position(self) -> int:
        return self._position

    def read(self, size: int) -> bytes:
        data = self._file.read(size)
        self._position += len(data)
        return data

    def skip(self, size: int) -> int:
        size = max(0, min(size, self._size - self._position))
        self._file.seek(size, 1)
        self._position += size
        return size


@dataclass(slots=True)
class TarMember:
    name: bytes
    type: bytes  # typeflag as Go's reader reports it: "\0" becomes "0", or "5" when the name ends in "/"
    size: int  # the content's size; for a sparse file, holes included
    mode: int
    linkname: bytes
    offset: int  # where the stored data starts in the (uncompressed) stream
    stored: int  # bytes of data stored there
    fragments: tuple[tuple[int, int], ...] | None = None  # a sparse file's (offset, length) data fragments

    @property
    def is_regular(self) -> bool:
        return self.type == REGULAR


class DataReader(Protocol):
    def read(self, size: int) -> bytes:
        """Up to `size` bytes of content; fewer only at its end or where the stream is truncated."""
        ...


class _SparseData:
    """A sparse member's content as Go's reader returns it: stored fragments, zeros in the holes."""

    def __init__(self, reader: BlockReader, member: TarMember) -> None:
        self._reader = reader
        self._fragments = member.fragments or ()
        self._size = member.size
        self._position = 0
        self._next = 0  # index of the first fragment not yet read completely

    def read(self, size: int) -> bytes:
        parts = []
        end = min(self._position + size, self._size)
        while self._position < end:
            if self._next < len(self._fragments):
                start, length = self._fragments[self._next]
            else:
                start, length = self._size, 0
            if self._position < start:  # a hole
                step = min(end, start) - self._position
                parts.append(bytes(step))
            else:
                step = min(end, start + length) - self._position
                data = self._reader.read(step)
                parts.append(data)
                if len(data) < step:
                    self._position += len(data)
                    break
                if self._position + step == start + length:
                    self._next += 1
            self._position += step
        return b"".join(parts)


def member_data(reader: BlockReader, member: TarMember) -> DataReader:
    """The member's content, read from `reader` positioned at `member.offset`."""
    return reader if member.fragments is None else _SparseData(reader, member)


# What follows reads each header exactly as Go's archive/tar reader does (reader.go, strconv.go,
# format.go), because that is what docker, containerd, podman, skopeo and umoci unpack. Where Go
# fails, or returns something the runtimes refuse to unpack, the archive is refused: there is then
# no file set the runtime would see, and guessing one would be a differential.

_GO_SPECIAL_FILE_MAX = 1 << 20  # Go's maxSpecialFileSize: pax headers, GNU long names, sparse maps
_NAME_MAX = 255  # Linux: longer path components fail with ENAMETOOLONG
_V7, _USTAR, _GNU, _STAR = range(4)

# Per-byte classes of numeric fields: octal digit, space, NUL, high bit set, anything else.
_CLASSES = bytes(
    ord("d") if 0x30 <= c <= 0x37 else ord("s") if c == 0x20 else ord("z") if c == 0
    else ord("h") if c >= 0x80 else ord("x")
    for c in range(256)
)
_HIGH_BYTES = bytes(range(0x80, 0x100))
# Go's parseOctal over a field's classes: trim spaces and NULs at both ends, cut at the first NUL,
# and what is left must be octal digits (or nothing).
_OCTAL_CLASSES = re.compile(rb"[sz]*(?:d+(?:z.*|[sz]*))?", re.DOTALL)
_DECIMAL = re.compile(rb"[+-]?[0-9]+")
# (offset, width, name) of the numeric fields Go parses, per format; the checksum is always octal.
_V7_FIELDS = ((100, 8, "mode"), (108, 8, "uid"), (116, 8, "gid"), (124, 12, "size"), (136, 12, "mtime"))
_DEV_FIELDS = ((329, 8, "devmajor"), (337, 8, "devminor"))
_STAR_TIMES = ((476, 12, "atime"), (488, 12, "ctime"))
_FIELDS = {_V7: _V7_FIELDS, _USTAR: _V7_FIELDS + _DEV_FIELDS, _GNU: _V7_FIELDS + _DEV_FIELDS,
           _STAR: _V7_FIELDS + _DEV_FIELDS + _STAR_TIMES}
# Headers whose numeric fields Go parses as plain octal, by the byte classes of those fields (see
# `_classes`: one translate and one lookup per header, as nearly every archive uses a handful of
# layouts). Bounded against archives made to vary them.
_OCTAL_LAYOUTS: set[bytes] = set()
_MEMO_MAX = 4096
# The widths of the fields in `_classes`, in order: mode..checksum, then devmajor and devminor
# (ustar, GNU, star), then star's atime and ctime.
_CLASS_WIDTHS = (8, 8, 8, 12, 12, 8, 8, 8, 12, 12)

_PAX_PATH, _PAX_LINKPATH, _PAX_SIZE = b"path", b"linkpath", b"size"
_PAX_NUL_FREE = frozenset({b"path", b"linkpath", b"uname", b"gname"})
_PAX_INTEGERS = frozenset({b"uid", b"gid"})
_PAX_TIMES = frozenset({b"atime", b"mtime", b"ctime"})
_SPARSE_OFFSET, _SPARSE_NUMBYTES = b"GNU.sparse.offset", b"GNU.sparse.numbytes"
_SPARSE_MAP = b"GNU.sparse.map"

REGULAR = b"0"
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"
# What each typeflag is to Go's reader. "1" to "6" have no data, whatever the size field says; "\0"
# is a directory when the name ends in "/", else "0". The runtimes (docker, containerd, umoci) fail
# on every typeflag not listed (GNU sparse "S", contiguous "7", volume labels, dumpdirs, ...), so an
# archive holding one is refused.
_DATA, _NO_DATA, _META, _REGULAR_A, _REFUSED = range(5)
_ROLES = {b"0": _DATA, b"\0": _REGULAR_A, b"x": _META, b"g": _META, b"L": _META, b"K": _META,
          **{bytes([flag]): _NO_DATA for flag in b"123456"}}
_HEADER_ONLY_TYPES = frozenset(kind for kind, role in _ROLES.items() if role == _NO_DATA)


def _go_int(text: bytes) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64); None where it fails."""
    if _DECIMAL.fullmatch(text) is None:
        return None
    if len(text.lstrip(b"+-").lstrip(b"0")) > 19:  # beyond int64, and beyond what int() parses quickly
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def _pax_time_ok(text: bytes) -> bool:
    """Go's parsePAXTime succeeds: decimal seconds, then optionally "." and decimal digits."""
    seconds, _, fraction = text.partition(b".")
    return _go_int(seconds) is not None and (not fraction or fraction.isdigit())


def _classes(header: bytes, layout: int) -> bytes:
    """The byte classes of every numeric field Go parses in a header of this layout."""
    if layout == _V7:
        return header[100:156].translate(_CLASSES)
    if layout == _STAR:
        return (header[100:156] + header[329:345] + header[476:500]).translate(_CLASSES)
    return (header[100:156] + header[329:345]).translate(_CLASSES)


def _octal_layout(classes: bytes) -> bool:
    """Whether every field with these byte classes parses as octal (so none is base-256)."""
    start = 0
    for width in _CLASS_WIDTHS:
        if start == len(classes):
            return True
        if _OCTAL_CLASSES.fullmatch(classes, start, start + width) is None:
            return False
        start += width
    return True


def _numbers(header: bytes, layout: int, label: str, start: int) -> tuple[int, int, int]:
    """(checksum, size, mode), every numeric field parsed as Go parses it, or the refusal Go's would be."""
    stored = parse_octal(header[148:156])
    if stored is None or not _checksum_ok(header, stored):
        if start == 0 and stored is None and header[257:262] != b"ustar":
            # Nothing of a tar header at the start: some other file, not a damaged archive.
            raise ImageError(f"{label}: not a tar archive (no tar header at its start)")
        raise ImageError(f"{label}: bad tar header checksum at offset {start}")
    values = {}
    for offset, width, name in _FIELDS[layout]:
        value = parse_numeric(header[offset : offset + width])
        if value is None:
            raise ImageError(f"{label}: tar header at offset {start} has an unreadable {name} field")
        values[name] = value
    classes = _classes(header, layout)
    if len(_OCTAL_LAYOUTS) < _MEMO_MAX and _octal_layout(classes):
        _OCTAL_LAYOUTS.add(classes)
    return stored, values["size"], values["mode"]


def _checksum_ok(header: bytes, stored: int) -> bool:
    """Go accepts the unsigned byte sum or the signed one (old Sun tar), the checksum field read as spaces."""
    # adler32's low half is (1 + byte sum) mod 65521, computed in C; 256 bytes sum to at most 65280,
    # so each half's is exact.
    unsigned = ((zlib.adler32(header[:256]) & 0xFFFF) + (zlib.adler32(header[256:]) & 0xFFFF) - 2
                - sum(header[148:156]) + _CHECKSUM_SPACES_SUM)
    high = len(header) - len(header.translate(None, _HIGH_BYTES))  # bytes read as negative when signed
    high -= 8 - len(header[148:156].translate(None, _HIGH_BYTES))
    return stored in (unsigned, unsigned - 256 * high)


def _prefixed(header: bytes, layout: int, name: bytes) -> bytes:
    """The name with the prefix field Go reads: 155 bytes in ustar, 131 in star, none in v7. GNU
    headers have atime and ctime there; Go reads a prefix only where those fail to parse (files
    from Go writers before 1.8)."""
    if layout == _USTAR:
        prefix = cstring(header[345:500])
    elif layout == _STAR:
        prefix = cstring(header[345:476])
    elif layout == _GNU and ((header[345] and parse_numeric(header[345:357]) is None)
                             or (header[357] and parse_numeric(header[357:369]) is None)):
        prefix = cstring(header[345:500])
        if not prefix.isascii():
            prefix = b""
    else:
        prefix = b""
    return prefix + b"/" + name if prefix else name


def _pax_records(data: bytes, label: str, max_records: int) -> dict[bytes, bytes]:
    """Go's parsePAX: every record "%d key=value\\n" exactly, GNU sparse 0.0 pairs joined into a map."""
    records: dict[bytes, bytes] = {}
    sparse: list[bytes] = []
    pos, total, count = 0, len(data), 0
    while pos < total:
        count += 1
        if count > max_records:
            raise ImageError(f"{label}: pax header with more than {max_records} records "
                             "(cap max_pax_records)")
        space = data.find(b" ", pos)
        length = _go_int(data[pos:space]) if space >= 0 else None
        if length is None or length < 5 or length > total - pos or length <= space + 1 - pos:
            raise ImageError(f"{label}: malformed pax record length at byte {pos} of a pax header")
        end = pos + length
        if data[end - 1] != 0x0A:
            raise ImageError(f"{label}: pax record at byte {pos} does not end in a newline")
        key, sep, value = data[space + 1 : end - 1].partition(b"=")
        if not sep or not key or (b"\0" in value if key in _PAX_NUL_FREE else b"\0" in key):
            raise ImageError(f"{label}: malformed pax record at byte {pos} of a pax header")
        if key in (_SPARSE_OFFSET, _SPARSE_NUMBYTES):
            if (key == _SPARSE_OFFSET) != (len(sparse) % 2 == 0) or b"," in value:
                raise ImageError(f"{label}: malformed GNU sparse 0.0 records in a pax header")
            sparse.append(value)
        else:
            records[key] = value
        pos = end
    if sparse:
        records[_SPARSE_MAP] = b",".join(sparse)
    return records


def _merge_pax(pax: dict[bytes, bytes], name: bytes, linkname: bytes, size: int,
               label: str) -> tuple[bytes, bytes, int]:
    """Go's mergePAX for the fields that decide what is unpacked; empty values keep the header's."""
    for key, value in pax.items():
        if not value:
            continue
        if key == _PAX_PATH:
            name = value
        elif key == _PAX_LINKPATH:
            linkname = value
        elif key == _PAX_SIZE:
            parsed = _go_int(value)
            if parsed is None:
                raise ImageError(f"{label}: unreadable pax size {value[:24]!r}")
            size = parsed
        elif (key in _PAX_INTEGERS and _go_int(value) is None) or (key in _PAX_TIMES and not _pax_time_ok(value)):
            raise ImageError(f"{label}: unreadable pax {key.decode()} {value[:24]!r}")
    return name, linkname, size


def _sparse_map_0x1(pax: dict[bytes, bytes], max_fragments: int, label: str) -> list[int]:
    count = _go_int(pax.get(b"GNU.sparse.numblocks", b""))
    _check_fragments(count, max_fragments, label)
    numbers = pax.get(_SPARSE_MAP, b"").split(b",")
    if numbers == [b""]:
        numbers = []
    if count is None or count < 0 or len(numbers) != 2 * count:
        raise ImageError(f"{label}: GNU sparse map does not match GNU.sparse.numblocks")
    return _sparse_numbers(numbers, label)


def _sparse_numbers(numbers: list[bytes], label: str) -> list[int]:
    values = [_go_int(number) for number in numbers]
    if None in values:
        raise ImageError(f"{label}: unreadable GNU sparse map entry")
    return cast(list[int], values)


def _check_fragments(count: int | None, max_fragments: int, label: str) -> None:
    if count is not None and count > max_fragments:
        raise ImageError(f"{label}: GNU sparse map with more than {max_fragments} fragments "
                         "(cap max_sparse_fragments)")


def _sparse_map_1x0(reader: BlockReader, stored: int, cap: int, max_fragments: int,
                    label: str) -> tuple[list[int], int]:
    """Go's readGNUSparseMap1x0: whole blocks of the data until they hold 1 + 2 * count newlines.

    Returns the numbers and how many bytes of the data the map took.
    """
    blocks: list[bytes] = []
    newlines, wanted, used = 0, 1, 0
    while newlines < wanted:
        used += BLOCK
        if used > cap:
            raise ImageError(f"{label}: GNU sparse map over the {cap}-byte cap (max_header_size)")
        block = reader.read(BLOCK) if used <= stored else b""
        if len(block) < BLOCK:
            raise ImageError(f"{label}: truncated GNU sparse map")
        blocks.append(block)
        newlines += block.count(b"\n")
        if wanted == 1 and newlines >= 1:
            count = _go_int(b"".join(blocks).split(b"\n", 1)[0])
            if count is None or count < 0:
                raise ImageError(f"{label}: unreadable GNU sparse map entry count")
            _check_fragments(count, max_fragments, label)
            wanted = 1 + 2 * count
    tokens = b"".join(blocks).split(b"\n")[1:wanted]
    return _sparse_numbers(tokens, label), used


def _sparse_fragments(numbers: list[int], size: int, stored: int, label: str) -> tuple[tuple[int, int], ...]:
    """The map's non-empty data fragments, validated as Go validates them; refuses the maps Go's
    reader fails on while the content is read (the runtimes then fail to unpack the file)."""
    if size < 0:
        raise ImageError(f"{label}: negative GNU sparse size")
    fragments = []
    previous_end, data = 0, 0
    for index in range(0, len(numbers), 2):
        offset, length = numbers[index], numbers[index + 1]
        if offset < 0 or length < 0 or offset > INT64_MAX - length or offset + length > size \
                or offset < previous_end:
            raise ImageError(f"{label}: invalid GNU sparse map (fragments out of order, overlapping or "
                             "beyond the file's size)")
        previous_end = offset + length
        data += length
        if length:
            fragments.append((offset, length))
    if data != stored:
        raise ImageError(f"{label}: GNU sparse map covers {data} bytes but {stored} are stored")
    return tuple(fragments)


def iter_members(reader: BlockReader, label: str, limits: Limits) -> Iterator[TarMember]:
    """Yield each member; the caller may read part of its data from `reader` before the next one.

    The parser keeps track of the position and skips whatever data and padding the caller left.
    Ends where Go's reader ends: at two zero blocks, at a zero block or inside padding at the end
    of the stream, or at the end of the stream on a block boundary.
    """
    meta_cap = min(limits.max_header_size, _GO_SPECIAL_FILE_MAX)
    pax: dict[bytes, bytes] | None = None
    long_name = long_link = b""
    meta_headers = meta_bytes = 0
    start = reader.position
    while True:
        # `start` is tracked here rather than asked of the reader: every path below leaves the
        # reader exactly at the next header, or raises.
        header = reader.read(BLOCK)
        if len(header) < BLOCK:
            if not header:
                return
            raise ImageError(f"{label}: truncated tar header at offset {start}")
        if header == _ZERO_BLOCK:
            after = reader.read(BLOCK)
            if not after or after == _ZERO_BLOCK:
                return
            if len(after) < BLOCK:
                raise ImageError(f"{label}: truncated tar header at offset {start + BLOCK}")
            raise ImageError(f"{label}: a zero block followed by a non-zero block at offset {start + BLOCK} "
                             "(Go's reader fails there)")
        magic = header[257:263]
        if magic == b"ustar\0":
            layout = _STAR if header[508] and header[508:512] == b"tar\0" else _USTAR
        elif magic == b"ustar " and header[263:265] == b" \0":
            layout = _GNU
        else:
            layout = _V7
        # The quick path: every numeric field known to be plain octal (by its byte classes), so that
        # int() reads exactly the digits Go reads or refuses a NUL in the field (then: the slow path),
        # and an ASCII block, whose byte sum is below 65521: adler32's low half, (1 + byte sum) mod
        # 65521 computed in C, then checks the checksum exactly.
        quick = False
        if layout in (_USTAR, _GNU):  # `_classes` inline, for the common layouts
            classes = (header[100:156] + header[329:345]).translate(_CLASSES)
        else:
            classes = _classes(header, layout)
        if classes in _OCTAL_LAYOUTS:
            try:
                stored_sum = int(header[148:156].strip(b" \0") or b"0", 8)
                size = int(header[124:136].strip(b" \0") or b"0", 8)
                mode = int(header[100:108].strip(b" \0") or b"0", 8)
                quick = stored_sum < 65521 and header.isascii() and zlib.adler32(header) & 0xFFFF == (
                    stored_sum + (zlib.adler32(header[148:156]) & 0xFFFF) - _CHECKSUM_SPACES_SUM) % 65521
            except ValueError:
                pass
        if not quick:
            stored_sum, size, mode = _numbers(header, layout, label, start)
        kind = header[156:157]
        role = _ROLES.get(kind, _REFUSED)
        if size < 0 and role != _NO_DATA:
            raise ImageError(f"{label}: negative size in the tar header at offset {start}")
        if role == _META:
            meta_headers += 1
            meta_bytes += size
            if meta_headers > limits.max_meta_headers:
                raise ImageError(f"{label}: more than {limits.max_meta_headers} pax/GNU headers before one "
                                 f"member at offset {start} (cap max_meta_headers)")
            if size > meta_cap:
                cap_name = "max_header_size" if meta_cap < _GO_SPECIAL_FILE_MAX else "Go archive/tar's limit"
                raise ImageError(f"{label}: {_META_NAMES[kind]} of {size} bytes exceeds the {meta_cap}-byte cap "
                                 f"({cap_name}) at offset {start}")
            if meta_bytes > limits.max_meta_bytes:
                raise ImageError(f"{label}: more than {limits.max_meta_bytes} bytes of pax/GNU headers before "
                                 f"one member at offset {start} (cap max_meta_bytes)")
            data = reader.read(size)
            if len(data) < size:
                raise ImageError(f"{label}: truncated {_META_NAMES[kind]} at offset {start}")
            padding = -size % BLOCK
            if reader.skip(padding) < padding:
                return  # Go: the end of the stream inside padding ends the archive
            if kind == b"x":
                pax = _pax_records(data, label, limits.max_pax_records)
            elif kind == b"g":
                # Go returns a global header as an entry of its own, applied to nothing; the
                # runtimes skip it. Whatever preceded it describes no member.
                _pax_records(data, label, limits.max_pax_records)
                pax, long_name, long_link = None, b"", b""
            elif kind == b"L":
                long_name = cstring(data)
            else:
                long_link = cstring(data)
            start += BLOCK + size + padding
            continue
        end = header.find(b"\0", 0, 100)
        name = header[: end if end >= 0 else 100]
        if header[345] or header[357]:
            name = _prefixed(header, layout, name)
        if header[157]:
            end = header.find(b"\0", 157, 257)
            linkname = header[157 : end if end >= 0 else 257]
        else:
            linkname = b""
        extended = pax is not None or long_name or long_link
        if extended:
            if pax is not None:
                name, linkname, size = _merge_pax(pax, name, linkname, size, label)
            if long_name:
                name = long_name
            if long_link:
                linkname = long_link
        if role == _REGULAR_A:
            kind, role = (DIRECTORY, _NO_DATA) if name.endswith(b"/") else (REGULAR, _DATA)
        elif role == _REFUSED:
            shown = kind.decode("ascii", "backslashreplace")
            raise ImageError(f"{label}: member {_shown(name)} at offset {start} has typeflag {shown!r}, "
                             "which container runtimes refuse to unpack")
        stored = size if role == _DATA else 0
        offset = start + BLOCK
        fragments = None
        if extended:
            if stored < 0:
                raise ImageError(f"{label}: negative pax size for the member at offset {start}")
            if pax is not None and (_SPARSE_MAP in pax or b"GNU.sparse.major" in pax
                                    or b"GNU.sparse.minor" in pax):
                name, size, fragments, map_bytes = _sparse(
                    pax, reader, kind, name, size, stored, meta_cap, limits,
                    f"{label}: member {_shown(name)} at offset {start}")
                offset += map_bytes
                stored -= map_bytes
            # Only pax and GNU records make names longer than the header's 256 bytes.
            if len(name) > limits.max_path_length or len(linkname) > limits.max_path_length:
                raise ImageError(f"{label}: member name or link target of {max(len(name), len(linkname))} bytes "
                                 f"at offset {start} exceeds the {limits.max_path_length}-byte cap "
                                 "(max_path_length)")
            if len(name) > _NAME_MAX and max(map(len, name.split(b"/"))) > _NAME_MAX:
                raise ImageError(f"{label}: member name at offset {start} has a component over {_NAME_MAX} bytes, "
                                 "which no runtime can create")
            pax = None
            long_name = long_link = b""
        meta_headers = meta_bytes = 0
        yield TarMember(name, kind, size, mode, linkname, offset, stored, fragments)
        # `reader` sits somewhere inside the data; move to the next header. `offset` is block-aligned.
        end = offset + stored + (-stored % BLOCK)
        position = reader.position
        if end > position:
            skipped = reader.skip(end - position)
            if skipped < end - position:
                if position + skipped < offset + stored:
                    raise ImageError(f"{label}: truncated tar member {_shown(name)}")
                return  # Go: the end of the stream inside padding ends the archive
        start = end


_META_NAMES = {b"x": "pax header", b"g": "pax global header", b"L": "GNU long name", b"K": "GNU long link name"}


def _shown(name: bytes) -> str:
    return repr(name[:200].decode("utf-8", "backslashreplace"))


def _sparse(pax: dict[bytes, bytes], reader: BlockReader, kind: bytes, name: bytes, size: int, stored: int,
            meta_cap: int, limits: Limits, where: str) -> tuple[bytes, int, tuple[tuple[int, int], ...] | None, int]:
    """Go's readGNUSparsePAXHeaders: (name, logical size, data fragments, bytes of data the map took)."""
    major, minor = pax.get(b"GNU.sparse.major", b""), pax.get(b"GNU.sparse.minor", b"")
    if major == b"0" and minor in (b"0", b"1"):
        version_1 = False
    elif major == b"1" and minor == b"0":
        version_1 = True
    elif major or minor or not pax.get(_SPARSE_MAP):
        return name, size, None, 0  # not sparse to Go: an unknown version is a plain file
    else:
        version_1 = False
    if kind in _HEADER_ONLY_TYPES:
        raise ImageError(f"{where}: GNU sparse records on a member that holds no data")
    name = pax.get(b"GNU.sparse.name") or name
    if b"\0" in name:  # the one record that may carry a NUL into a name; no runtime can create the file
        raise ImageError(f"{where}: GNU.sparse.name with a NUL byte")
    text = pax.get(b"GNU.sparse.size") or pax.get(b"GNU.sparse.realsize")
    if text:
        parsed = _go_int(text)
        if parsed is None:
            raise ImageError(f"{where}: unreadable GNU sparse size {text[:24]!r}")
        size = parsed
    if version_1:
        numbers, map_bytes = _sparse_map_1x0(reader, stored, meta_cap, limits.max_sparse_fragments, where)
    else:
        numbers, map_bytes = _sparse_map_0x1(pax, limits.max_sparse_fragments, where), 0
    return name, size, _sparse_fragments(numbers, size, stored - map_bytes, where), map_bytes
