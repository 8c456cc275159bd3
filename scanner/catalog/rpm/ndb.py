"""rpm's own "ndb" package database (`Packages.db`, SUSE and some rpm 4.16+ builds).

A 32-byte file header (magic "RpmP", version, generation, slot page count), then 16-byte slots
(magic "Slot", package index, block offset, block count) filling the slot pages, each pointing at
a blob of 16-byte blocks: blob header (magic "BlbS", package index, generation, length), the
header bytes, and a tail. All integers are little-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from scanner.catalog.rpm.errors import DatabaseFormatError

_HEADER_MAGIC = int.from_bytes(b"RpmP", "little")
_SLOT_MAGIC = int.from_bytes(b"Slot", "little")
_BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
_PAGE_SIZE = 4096
_FILE_HEADER_SIZE = 32
_SLOT_SIZE = 16
_BLOCK_SIZE = 16
_BLOB_HEADER_SIZE = 16


def read_blobs(data: bytes, warnings: list[str], label: str) -> Iterator[bytes]:
    """Every package blob in slot order; damaged slots and blobs become warnings."""
    if len(data) < _FILE_HEADER_SIZE:
        raise DatabaseFormatError(f"{len(data)} bytes is too short for an ndb database")
    magic, version, _generation, slot_pages = struct.unpack_from("<IIII", data, 0)
    if magic != _HEADER_MAGIC:
        raise DatabaseFormatError("not an rpm ndb database (magic mismatch)")
    if version != 0:
        raise DatabaseFormatError(f"unsupported ndb version {version}")
    slots_end = slot_pages * _PAGE_SIZE
    if slot_pages == 0 or slots_end > len(data):
        raise DatabaseFormatError(f"{slot_pages} slot pages do not fit the file")
    return _blobs(memoryview(data), slots_end, warnings, label)


def _blobs(data: memoryview, slots_end: int, warnings: list[str], label: str) -> Iterator[bytes]:
    for slot_offset in range(_FILE_HEADER_SIZE, slots_end, _SLOT_SIZE):
        slot_magic, package_index, block_offset, block_count = struct.unpack_from("<IIII", data, slot_offset)
        slot_number = (slot_offset - _FILE_HEADER_SIZE) // _SLOT_SIZE
        if slot_magic != _SLOT_MAGIC:
            warnings.append(f"{label}: slot {slot_number} skipped: bad slot magic")
            continue
        if package_index == 0:
            continue  # a free slot
        start = block_offset * _BLOCK_SIZE
        end = start + block_count * _BLOCK_SIZE
        if start < slots_end or end > len(data) or block_count == 0:
            warnings.append(f"{label}: package {package_index} skipped: blob outside the file")
            continue
        blob_magic, blob_index, _generation, length = struct.unpack_from("<IIII", data, start)
        if blob_magic != _BLOB_MAGIC or blob_index != package_index:
            warnings.append(f"{label}: package {package_index} skipped: blob header does not match its slot")
            continue
        if _BLOB_HEADER_SIZE + length > end - start:
            warnings.append(f"{label}: package {package_index} skipped: blob length {length} exceeds its blocks")
            continue
        yield bytes(data[start + _BLOB_HEADER_SIZE:start + _BLOB_HEADER_SIZE + length])
