"""Berkeley DB hash databases (rpm's `Packages` before rpm 4.16), read in pure Python.

Only what rpm writes is supported: a hash database whose keys are header numbers and whose
values are header blobs, inline (H_KEYDATA) or in overflow page chains (H_OFFPAGE). Every page
is visited once in file order; a page or value that does not parse is reported and skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from scanner.catalog.rpm.errors import DatabaseFormatError

HASH_MAGIC = 0x061561
_PAGE_HEADER_SIZE = 26
_P_HASH_UNSORTED = 2
_P_OVERFLOW = 7
_P_HASHMETA = 8
_P_HASH = 13
_H_KEYDATA = 1
_H_OFFPAGE = 3
_MIN_PAGE_SIZE = 512
_MAX_PAGE_SIZE = 65536


def _byte_order(data: bytes) -> str:
    if len(data) < _MIN_PAGE_SIZE:
        raise DatabaseFormatError(f"{len(data)} bytes is too short for a Berkeley DB file")
    for order in ("<", ">"):
        if struct.unpack_from(f"{order}I", data, 12)[0] == HASH_MAGIC:
            return order
    raise DatabaseFormatError("not a Berkeley DB hash database (magic mismatch)")


class _Reader:
    def __init__(self, data: bytes, warnings: list[str], label: str) -> None:
        self.data = memoryview(data)
        self.order = _byte_order(data)
        self.warnings = warnings
        self.label = label
        page_size, = struct.unpack_from(f"{self.order}I", data, 20)
        if not _MIN_PAGE_SIZE <= page_size <= _MAX_PAGE_SIZE or page_size & (page_size - 1):
            raise DatabaseFormatError(f"page size {page_size} is not a power of two in 512..65536")
        if data[25] != _P_HASHMETA:
            raise DatabaseFormatError(f"first page has type {data[25]}, not hash metadata")
        self.page_size = page_size
        self.page_count = len(data) // page_size

    def _page(self, number: int) -> memoryview:
        start = number * self.page_size
        return self.data[start:start + self.page_size]

    def _u16(self, page: memoryview, offset: int) -> int:
        return int(struct.unpack_from(f"{self.order}H", page, offset)[0])

    def _u32(self, page: memoryview, offset: int) -> int:
        return int(struct.unpack_from(f"{self.order}I", page, offset)[0])

    def values(self) -> Iterator[bytes]:
        for number in range(1, self.page_count):
            page = self._page(number)
            if page[25] not in (_P_HASH, _P_HASH_UNSORTED):
                continue
            try:
                items = self._items(page)
            except DatabaseFormatError as error:
                self.warnings.append(f"{self.label}: page {number} skipped: {error}")
                continue
            for index in range(0, len(items) - 1, 2):
                key, value = items[index], items[index + 1]
                if len(key) < 1 or key[0] != _H_KEYDATA or not any(key[1:]):
                    continue  # key 0 holds rpm's instance counter, not a header
                try:
                    yield self._value(value)
                except DatabaseFormatError as error:
                    self.warnings.append(f"{self.label}: page {number} entry {index // 2} skipped: {error}")

    def _items(self, page: memoryview) -> list[memoryview]:
        entries = self._u16(page, 20)
        index_end = _PAGE_HEADER_SIZE + 2 * entries
        if index_end > self.page_size:
            raise DatabaseFormatError(f"{entries} entries do not fit the page")
        items = []
        end = self.page_size
        for i in range(entries):
            start = self._u16(page, _PAGE_HEADER_SIZE + 2 * i)
            if not index_end <= start < end:
                raise DatabaseFormatError(f"entry {i} offset {start} out of range")
            items.append(page[start:end])
            end = start
        return items

    def _value(self, item: memoryview) -> bytes:
        if item[0] == _H_KEYDATA:
            return bytes(item[1:])
        if item[0] != _H_OFFPAGE or len(item) < 12:
            raise DatabaseFormatError(f"unsupported hash item type {item[0]}")
        return self._overflow(self._u32(item, 4), self._u32(item, 8))

    def _overflow(self, first: int, total: int) -> bytes:
        chunks: list[bytes] = []
        collected = 0
        seen: set[int] = set()
        number = first
        while number:
            if number in seen:
                raise DatabaseFormatError(f"overflow chain from page {first} loops at page {number}")
            if number >= self.page_count:
                raise DatabaseFormatError(f"overflow chain from page {first} points past the file (page {number})")
            seen.add(number)
            page = self._page(number)
            if page[25] != _P_OVERFLOW:
                raise DatabaseFormatError(f"overflow chain from page {first} reaches page {number} of type {page[25]}")
            length = self._u16(page, 22)
            if _PAGE_HEADER_SIZE + length > self.page_size or collected + length > total:
                raise DatabaseFormatError(f"overflow page {number} holds an impossible length {length}")
            chunks.append(bytes(page[_PAGE_HEADER_SIZE:_PAGE_HEADER_SIZE + length]))
            collected += length
            number = self._u32(page, 16)
        if collected != total:
            raise DatabaseFormatError(f"overflow chain from page {first} holds {collected} of {total} bytes")
        return b"".join(chunks)


def read_values(data: bytes, warnings: list[str], label: str) -> Iterator[bytes]:
    """Every value of an rpm hash database; damaged pages and values become warnings."""
    return _Reader(data, warnings, label).values()
