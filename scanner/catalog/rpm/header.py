"""The rpm header blob as rpm databases store it: no lead, no 8-byte magic.

Layout (big-endian): `il` index entry count and `dl` data size (u32 each), then `il` entries of
(tag, type, offset, count), then `dl` bytes of data. Every offset and count is checked against
`dl` before use: a hostile header raises `HeaderError`, never reads out of bounds.
"""

from __future__ import annotations

import operator
import struct
from dataclasses import dataclass

from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits

# rpm's own limits (lib/header.c): more is refused as corrupt.
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_SIZE = 0x0FFFFFFF

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_SOURCERPM = 1044
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_MODULARITYLABEL = 5096

TYPE_INT32 = 4
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

_WANTED = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_VENDOR, TAG_LICENSE, TAG_ARCH,
                     TAG_OLDFILENAMES, TAG_SOURCERPM, TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES,
                     TAG_MODULARITYLABEL})


class HeaderError(ValueError):
    """The blob is not a well-formed rpm header."""


@dataclass(frozen=True)
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    source_rpm: str
    license: str
    vendor: str
    modularity_label: str
    files: tuple[str, ...]  # absolute paths as rpm records them
    files_refused: str = ""  # why `files` is empty although the header lists files (over a cap)

    @property
    def evr(self) -> str:
        """`epoch:version-release`, the epoch only when the header has one."""
        base = f"{self.version}-{self.release}" if self.release else self.version
        return f"{self.epoch}:{base}" if self.epoch is not None else base


_STRING_GUESS = 32  # bytes per string of the first window `_strings` splits; a path is about that long


def _strings(data: bytes, offset: int, count: int) -> list[str]:
    """The `count` NUL-terminated strings at `offset`, malformed UTF-8 replaced.

    A file list holds thousands: they are split and decoded in C, from a window of the data that grows
    until it holds them all (so a window costs at most a few times the strings' own bytes). Decoded
    together, they are what each would be decoded alone: a NUL byte is never part of a UTF-8 sequence,
    nor taken into the replacement of a malformed one.
    """
    if count > len(data) - offset:  # every string needs at least its NUL
        raise HeaderError(f"string count {count} does not fit the data")
    if not count:
        return []
    window = count * _STRING_GUESS
    while True:
        pieces = data[offset:offset + window].split(b"\0", count)
        if len(pieces) > count:  # the last piece is what follows the strings
            return b"\0".join(pieces[:count]).decode("utf-8", "replace").split("\0")
        if offset + window >= len(data):
            terminated = pieces[:-1]
            raise HeaderError(f"unterminated string at data offset {offset + sum(map(len, terminated)) + len(terminated)}")
        window *= 4


def _int32s(data: bytes, offset: int, count: int) -> list[int]:
    if count * 4 > len(data) - offset:
        raise HeaderError(f"INT32 array of {count} does not fit the data")
    return list(struct.unpack_from(f">{count}i", data, offset))


_FILE_TAGS = frozenset({TAG_OLDFILENAMES, TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES})


def parse_header(blob: bytes, limits: CatalogLimits = DEFAULT_LIMITS) -> RpmHeader:
    """The header's package fields and file list.

    A file list over `max_package_files` entries or `max_file_list_bytes` of joined paths is not
    built: the header keeps its other fields and says why in `files_refused`.
    """
    if len(blob) < 8:
        raise HeaderError(f"header of {len(blob)} bytes is shorter than its preamble")
    index_count, data_size = struct.unpack_from(">II", blob, 0)
    if index_count == 0 or index_count > MAX_INDEX_ENTRIES:
        raise HeaderError(f"index entry count {index_count} out of range")
    if data_size > MAX_DATA_SIZE:
        raise HeaderError(f"data size {data_size} out of range")
    data_start = 8 + 16 * index_count
    if data_start + data_size > len(blob):
        raise HeaderError(f"header declares {data_start + data_size} bytes but holds {len(blob)}")
    data = bytes(blob[data_start:data_start + data_size])
    strings: dict[int, str] = {}
    file_entries: dict[int, tuple[int, int, int]] = {}
    ints: dict[int, list[int]] = {}
    for position in range(8, data_start, 16):
        tag, kind, offset, count = struct.unpack_from(">IIII", blob, position)
        if tag not in _WANTED:
            continue
        if offset >= data_size and count:
            raise HeaderError(f"tag {tag}: offset {offset} beyond data size {data_size}")
        if tag in _FILE_TAGS:
            if count > (len(data) - offset) // (4 if kind == TYPE_INT32 else 1):  # a string needs at least its NUL
                raise HeaderError(f"tag {tag}: an array of {count} entries does not fit the data")
            file_entries[tag] = (kind, offset, count)  # read once their sizes are known to fit the caps
        elif kind in (TYPE_STRING, TYPE_I18NSTRING):
            strings[tag] = value = _strings(data, offset, 1)[0]
            if len(value) > limits.max_field_length:
                raise HeaderError(f"tag {tag}: a value of {len(value)} characters is over {limits.max_field_length} "
                                  "(cap max_field_length)")
        elif kind == TYPE_INT32:
            ints[tag] = _int32s(data, offset, min(count, 1))
    name = strings.get(TAG_NAME, "")
    if not name:
        raise HeaderError("no NAME tag")
    epochs = ints.get(TAG_EPOCH)
    files, refused = _files(data, file_entries, limits)
    return RpmHeader(
        name=name,
        version=strings.get(TAG_VERSION, ""),
        release=strings.get(TAG_RELEASE, ""),
        epoch=epochs[0] if epochs else None,
        arch=strings.get(TAG_ARCH, ""),
        source_rpm=strings.get(TAG_SOURCERPM, ""),
        license=strings.get(TAG_LICENSE, ""),
        vendor=strings.get(TAG_VENDOR, ""),
        modularity_label=strings.get(TAG_MODULARITYLABEL, ""),
        files=files,
        files_refused=refused,
    )


def _string_array(data: bytes, entries: dict[int, tuple[int, int, int]], tag: int) -> list[str]:
    kind, offset, count = entries.get(tag, (0, 0, 0))
    return _strings(data, offset, count) if kind == TYPE_STRING_ARRAY else []


def _files(data: bytes, entries: dict[int, tuple[int, int, int]], limits: CatalogLimits) -> tuple[tuple[str, ...], str]:
    """(paths, "") or ((), why they were not built)."""
    longest = max((count for _, _, count in entries.values()), default=0)
    if longest > limits.max_package_files:
        return (), f"its file list of {longest} entries is over {limits.max_package_files} (cap max_package_files)"
    basenames = _string_array(data, entries, TAG_BASENAMES)
    if TAG_BASENAMES not in entries or entries[TAG_BASENAMES][0] != TYPE_STRING_ARRAY:
        paths = _string_array(data, entries, TAG_OLDFILENAMES)
        size = sum(map(len, paths)) + len(paths)
    else:
        dirnames = _string_array(data, entries, TAG_DIRNAMES)
        kind, offset, count = entries.get(TAG_DIRINDEXES, (0, 0, 0))
        indexes = _int32s(data, offset, count) if kind == TYPE_INT32 else []
        if len(indexes) != len(basenames):
            raise HeaderError(f"{len(basenames)} BASENAMES but {len(indexes)} DIRINDEXES")
        if indexes and (min(indexes) < 0 or max(indexes) >= len(dirnames)):
            index = next(index for index in indexes if not 0 <= index < len(dirnames))
            raise HeaderError(f"DIRINDEXES entry {index} outside {len(dirnames)} DIRNAMES")
        # Summed before joining: one long directory name shared by many files multiplies in the joined paths.
        # (Thousands of files: each step maps in C.)
        lengths = [len(name) for name in dirnames]
        size = sum(map(lengths.__getitem__, indexes)) + sum(map(len, basenames)) + len(basenames)
        paths = [] if size > limits.max_file_list_bytes else list(
            map(operator.add, map(dirnames.__getitem__, indexes), basenames))
    if size > limits.max_file_list_bytes:
        return (), f"its file list of {size} bytes is over {limits.max_file_list_bytes} (cap max_file_list_bytes)"
    return tuple(paths), ""
