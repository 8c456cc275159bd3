"""rpm's own "ndb" package database (`Packages.db`, SUSE and some rpm 4.16+ builds).

A 32-byte file header (magic "RpmP", version, generation, slot page count), then 16-byte slots
(magic "Slot", package index, block offset, block count) filling the slot pages, each pointing at
a blob of 16-byte blocks: blob header (magic "BlbS", package index, generation, length), the
header bytes, and a tail. All integers are little-endian. The file is read from a seekable stream,
slots a chunk at a time and each blob on its own, never whole.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from scanner.catalog.limits import CatalogLimits
from scanner.catalog.rpm.errors import DatabaseFormatError

_HEADER_MAGIC = int.from_bytes(b"RpmP", "little")
_SLOT_MAGIC = int.from_bytes(b"Slot", "little")
_BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
_PAGE_SIZE = 4096
_FILE_HEADER_SIZE = 32
_SLOT_SIZE = 16
_BLOCK_SIZE = 16
_BLOB_HEADER_SIZE = 16
_SLOT_CHUNK = 64 * 1024  # a multiple of the slot size


def read_blobs(stream: BinaryIO, size: int, label: str, limits: CatalogLimits,
               warn: Callable[[str], None]) -> Iterator[bytes]:
    """Every package blob in slot order; damaged slots and blobs become warnings."""
    stream.seek(0)
    header = stream.read(_FILE_HEADER_SIZE)
    if len(header) < _FILE_HEADER_SIZE:
        raise DatabaseFormatError(f"{len(header)} bytes is too short for an ndb database")
    magic, version, _generation, slot_pages = struct.unpack_from("<IIII", header, 0)
    if magic != _HEADER_MAGIC:
        raise DatabaseFormatError("not an rpm ndb database (magic mismatch)")
    if version != 0:
        raise DatabaseFormatError(f"unsupported ndb version {version}")
    slots_end = slot_pages * _PAGE_SIZE
    if slot_pages == 0 or slots_end > size:
        raise DatabaseFormatError(f"{slot_pages} slot pages do not fit the file")
    return _blobs(stream, size, slots_end, label, limits, warn)


def _slots(stream: BinaryIO, slots_end: int) -> Iterator[tuple[int, tuple[int, int, int, int]]]:
    for start in range(_FILE_HEADER_SIZE, slots_end, _SLOT_CHUNK):
        stream.seek(start)  # reading a blob moves the stream elsewhere
        chunk = stream.read(min(_SLOT_CHUNK, slots_end - start))
        first = (start - _FILE_HEADER_SIZE) // _SLOT_SIZE
        for index, slot in enumerate(struct.iter_unpack("<IIII", chunk[:len(chunk) - len(chunk) % _SLOT_SIZE])):
            yield first + index, slot


def _blobs(stream: BinaryIO, size: int, slots_end: int, label: str, limits: CatalogLimits,
           warn: Callable[[str], None]) -> Iterator[bytes]:
    for slot_number, (slot_magic, package_index, block_offset, block_count) in _slots(stream, slots_end):
        if slot_number >= limits.max_records:
            warn(f"{label}: more than {limits.max_records} slots (cap max_records); the rest is not read")
            return
        if slot_magic != _SLOT_MAGIC:
            warn(f"{label}: slot {slot_number} skipped: bad slot magic")
            continue
        if package_index == 0:
            continue  # a free slot
        start = block_offset * _BLOCK_SIZE
        end = start + block_count * _BLOCK_SIZE
        if start < slots_end or end > size or block_count == 0:
            warn(f"{label}: package {package_index} skipped: blob outside the file")
            continue
        stream.seek(start)
        blob_magic, blob_index, _generation, length = struct.unpack("<IIII", stream.read(_BLOB_HEADER_SIZE))
        if blob_magic != _BLOB_MAGIC or blob_index != package_index:
            warn(f"{label}: package {package_index} skipped: blob header does not match its slot")
            continue
        if _BLOB_HEADER_SIZE + length > end - start:
            warn(f"{label}: package {package_index} skipped: blob length {length} exceeds its blocks")
            continue
        if length > limits.max_rpm_header_size:
            warn(f"{label}: package {package_index} skipped: a blob of {length} bytes is over "
                 f"{limits.max_rpm_header_size} (cap max_rpm_header_size)")
            continue
        yield stream.read(length)
