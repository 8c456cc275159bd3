"""Berkeley DB databases (rpm's `Packages` before rpm 4.16: hash; rpm5's: btree), read in pure Python.

Only what rpm writes is supported: a hash database whose keys are header numbers and whose
values are header blobs, inline (H_KEYDATA) or in overflow page chains (H_OFFPAGE). The file is
read from a seekable stream a chunk of pages at a time, never whole; every page is visited once in
file order; a page or value that does not parse, or a value over `max_rpm_header_size`, is reported
and skipped.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from scanner.catalog.limits import CatalogLimits
from scanner.catalog.rpm.errors import DatabaseFormatError

HASH_MAGIC = 0x061561
BTREE_MAGIC = 0x053162
_PAGE_HEADER_SIZE = 26
_PAGE_LEVEL_OFFSET = 24
_PAGE_TYPE_OFFSET = 25
_P_HASH_UNSORTED = 2
_P_IBTREE = 3
_P_LBTREE = 5
_P_OVERFLOW = 7
_P_HASHMETA = 8
_P_BTREEMETA = 9
_P_HASH = 13
_H_KEYDATA = 1
_H_OFFPAGE = 3
_B_KEYDATA = 1
_B_OVERFLOW = 3
_B_DELETE = 0x80  # flag in a btree item's type byte
_BKEYDATA_HEADER = 3  # length (2 bytes), type: then the data
_BOVERFLOW_SIZE = 12  # unused (2), type, unused, first overflow page, total length
_BINTERNAL_SIZE = 12  # length (2), type, unused, child page, record count: then the key
_LEAF_LEVEL = 1
_META_ENCRYPTION_OFFSET = 24
_META_FLAGS_OFFSET = 26
_DBMETA_CHKSUM = 1
_BTMETA_ROOT_OFFSET = 88
_MIN_PAGE_SIZE = 512
_MAX_PAGE_SIZE = 65536
_CHUNK = 1024 * 1024
# Page type byte -> 1 for the hash pages that hold entries: found in a chunk by bytes.find, not a loop.
_HASH_PAGE_MARKS = bytes(1 if kind in (_P_HASH, _P_HASH_UNSORTED) else 0 for kind in range(256))


def _byte_order(meta: bytes) -> str:
    if len(meta) < _MIN_PAGE_SIZE:
        raise DatabaseFormatError(f"{len(meta)} bytes is too short for a Berkeley DB file")
    for order in ("<", ">"):
        if struct.unpack_from(f"{order}I", meta, 12)[0] == HASH_MAGIC:
            return order
    raise DatabaseFormatError("not a Berkeley DB hash or btree database (magic mismatch)")


def _page_size(meta: bytes, order: str) -> int:
    page_size: int = struct.unpack_from(f"{order}I", meta, 20)[0]
    if not _MIN_PAGE_SIZE <= page_size <= _MAX_PAGE_SIZE or page_size & (page_size - 1):
        raise DatabaseFormatError(f"page size {page_size} is not a power of two in 512..65536")
    return page_size


class _Reader:
    def __init__(self, stream: BinaryIO, size: int, label: str, limits: CatalogLimits,
                 warn: Callable[[str], None]) -> None:
        stream.seek(0)
        meta = stream.read(_MIN_PAGE_SIZE)
        self.order = _byte_order(meta)
        self.stream = stream
        self.label = label
        self.limits = limits
        self.warn = warn
        page_size = _page_size(meta, self.order)
        if meta[_PAGE_TYPE_OFFSET] != _P_HASHMETA:
            raise DatabaseFormatError(f"first page has type {meta[_PAGE_TYPE_OFFSET]}, not hash metadata")
        self.page_size = page_size
        self.page_count = size // page_size

    def _page(self, number: int) -> bytes:
        self.stream.seek(number * self.page_size)
        return self.stream.read(self.page_size)

    def _u16(self, page: bytes | memoryview, offset: int) -> int:
        return int(struct.unpack_from(f"{self.order}H", page, offset)[0])

    def _u32(self, page: bytes | memoryview, offset: int) -> int:
        return int(struct.unpack_from(f"{self.order}I", page, offset)[0])

    def _hash_pages(self) -> Iterator[tuple[int, memoryview]]:
        """(number, content) of each hash page, in file order."""
        size = self.page_size
        per_chunk = max(1, _CHUNK // size)
        for first in range(1, self.page_count, per_chunk):
            self.stream.seek(first * size)  # reading an overflow chain moves the stream elsewhere
            chunk = memoryview(self.stream.read(min(per_chunk, self.page_count - first) * size))
            marks = bytes(chunk[_PAGE_TYPE_OFFSET::size]).translate(_HASH_PAGE_MARKS)
            index = marks.find(1)
            while index >= 0:
                yield first + index, chunk[index * size:(index + 1) * size]
                index = marks.find(1, index + 1)

    def values(self) -> Iterator[bytes]:
        """Each entry's value (an rpm header), at most `max_records`; a page or an entry that cannot be read is
        skipped with a warning."""
        entries = 0
        for number, page in self._value_pages():
            try:
                page_entries = self._entries(page)
            except DatabaseFormatError as error:
                self.warn(f"{self.label}: page {number} skipped: {error}")
                continue
            for position, read_value in page_entries:
                entries += 1
                if entries > self.limits.max_records:
                    self.warn(f"{self.label}: more than {self.limits.max_records} entries (cap max_records); "
                              "the rest is not read")
                    return
                try:
                    yield read_value()
                except DatabaseFormatError as error:
                    self.warn(f"{self.label}: page {number} entry {position} skipped: {error}")

    def _value_pages(self) -> Iterator[tuple[int, bytes | memoryview]]:
        return self._hash_pages()

    def _entries(self, page: bytes | memoryview) -> list[tuple[int, Callable[[], bytes]]]:
        """(position on the page, reader of the value) of each header entry of a page."""
        items = self._items(memoryview(page))
        entries: list[tuple[int, Callable[[], bytes]]] = []
        for index in range(0, len(items) - 1, 2):
            key, value = items[index], items[index + 1]
            if len(key) < 1 or key[0] != _H_KEYDATA or not any(key[1:]):
                continue  # key 0 holds rpm's instance counter, not a header
            entries.append((index // 2, functools.partial(self._value, value)))
        return entries

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
        return self._off_page(item)

    def _off_page(self, item: memoryview) -> bytes:
        """A value in an overflow page chain; hash and btree items alike give its first page and total
        length at offsets 4 and 8."""
        total = self._u32(item, 8)
        if total > self.limits.max_rpm_header_size:
            raise DatabaseFormatError(f"a value of {total} bytes is over {self.limits.max_rpm_header_size} "
                                      "(cap max_rpm_header_size)")
        return self._overflow(self._u32(item, 4), total)

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
            if page[_PAGE_TYPE_OFFSET] != _P_OVERFLOW:
                raise DatabaseFormatError(
                    f"overflow chain from page {first} reaches page {number} of type {page[_PAGE_TYPE_OFFSET]}")
            length = self._u16(page, 22)
            if _PAGE_HEADER_SIZE + length > self.page_size or collected + length > total:
                raise DatabaseFormatError(f"overflow page {number} holds an impossible length {length}")
            chunks.append(page[_PAGE_HEADER_SIZE:_PAGE_HEADER_SIZE + length])
            collected += length
            number = self._u32(page, 16)
        if collected != total:
            raise DatabaseFormatError(f"overflow chain from page {first} holds {collected} of {total} bytes")
        return b"".join(chunks)


def _btree_order(meta: bytes) -> str | None:
    """The byte order of a btree database's metadata (its magic's), None for any other file."""
    if len(meta) < _MIN_PAGE_SIZE:
        return None
    return next((order for order in ("<", ">") if struct.unpack_from(f"{order}I", meta, 12)[0] == BTREE_MAGIC), None)


def _level_problem(kind: int, level: int, expected: int | None) -> str:
    """Why a btree page's level does not fit its place ("" when it does): leaves are level 1, internal
    pages above it, each page one level below its parent."""
    if expected is not None and level != expected:
        return f"has level {level}, expected {expected}"
    if level < _LEAF_LEVEL or (level == _LEAF_LEVEL) != (kind == _P_LBTREE):
        return f"of type {kind} has level {level}"
    return ""


class _BtreeReader(_Reader):
    """rpm5's `Packages`: a btree whose keys are header numbers and whose values are header blobs.

    The tree is walked from the root the metadata names, as Berkeley DB reads it: internal pages
    (P_IBTREE) list child pages, each one level lower; leaf pages (P_LBTREE) hold key/data item pairs,
    a value inline (B_KEYDATA) or in an overflow page chain (B_OVERFLOW). Page fields are in the
    metadata's byte order; rpm5 writes the header-number keys big-endian, so that the tree's byte
    order is numeric order, and they are not otherwise read. A page reached twice, of the wrong type
    or level, or whose items do not fit it is reported and skipped with what lies below it.
    """

    def __init__(self, stream: BinaryIO, size: int, label: str, limits: CatalogLimits,
                 warn: Callable[[str], None]) -> None:
        stream.seek(0)
        meta = stream.read(_MIN_PAGE_SIZE)
        order = _btree_order(meta)
        if order is None:
            raise DatabaseFormatError("not a Berkeley DB btree database (magic mismatch)")
        if meta[_PAGE_TYPE_OFFSET] != _P_BTREEMETA:
            raise DatabaseFormatError(f"first page has type {meta[_PAGE_TYPE_OFFSET]}, not btree metadata")
        if meta[_META_ENCRYPTION_OFFSET] or meta[_META_FLAGS_OFFSET] & _DBMETA_CHKSUM:
            raise DatabaseFormatError("encrypted or checksummed pages are not supported")
        self.order, self.stream, self.label, self.limits, self.warn = order, stream, label, limits, warn
        self.page_size = _page_size(meta, order)
        self.page_count = size // self.page_size
        self.root = self._u32(meta, _BTMETA_ROOT_OFFSET)

    def _value_pages(self) -> Iterator[tuple[int, bytes]]:
        return self._leaves()

    def _entries(self, page: bytes | memoryview) -> list[tuple[int, Callable[[], bytes]]]:
        items = self._btree_items(page)
        if len(items) % 2:
            raise DatabaseFormatError(f"{len(items)} items do not pair keys with values")
        entries: list[tuple[int, Callable[[], bytes]]] = []
        for index in range(0, len(items), 2):
            (key_type, key), (value_type, value) = items[index], items[index + 1]
            if key_type & _B_DELETE or value_type & _B_DELETE:
                continue
            if key_type == _B_KEYDATA and not any(key):
                continue  # key 0 holds rpm's instance counter, not a header
            entries.append((index // 2, functools.partial(self._btree_value, value_type, value)))
        return entries

    def _btree_value(self, value_type: int, value: memoryview) -> bytes:
        if value_type == _B_KEYDATA:
            return bytes(value)
        if value_type == _B_OVERFLOW:
            return self._off_page(value)
        raise DatabaseFormatError(f"unsupported btree item type {value_type}")

    def _leaves(self) -> Iterator[tuple[int, bytes]]:
        """(number, content) of each leaf page in key order, from the root down; each page at most once."""
        pending: list[tuple[int, int | None]] = [(self.root, None)]  # (page, the level it must have)
        seen: set[int] = set()
        while pending:
            number, level = pending.pop()
            problem = ""
            if not 0 < number < self.page_count:
                problem = "is not in the file"
            elif number in seen:
                problem = "is reached twice (the tree loops)"
            if problem:
                self.warn(f"{self.label}: btree page {number} {problem}; what lies below it is not read")
                continue
            seen.add(number)
            page = self._page(number)
            kind, page_level = page[_PAGE_TYPE_OFFSET], page[_PAGE_LEVEL_OFFSET]
            if kind not in (_P_IBTREE, _P_LBTREE):
                problem = f"has type {kind}, not a btree page"
            else:
                problem = _level_problem(kind, page_level, level)
            if problem:
                self.warn(f"{self.label}: btree page {number} {problem}; what lies below it is not read")
                continue
            if kind == _P_LBTREE:
                yield number, page
                continue
            try:
                children = [self._u32(item, 4) for _, item in self._btree_items(page, _BINTERNAL_SIZE)]
            except DatabaseFormatError as error:
                self.warn(f"{self.label}: page {number} skipped: {error}")
                continue
            pending.extend((child, page_level - 1) for child in reversed(children))

    def _btree_items(self, page: bytes | memoryview, internal_size: int = 0) -> list[tuple[int, memoryview]]:
        """(type byte, item) of each item of a btree page: a leaf's B_KEYDATA items as their data, its
        B_OVERFLOW items and (with `internal_size`) an internal page's items whole."""
        entries = self._u16(page, 20)
        index_end = _PAGE_HEADER_SIZE + 2 * entries
        if index_end > self.page_size:
            raise DatabaseFormatError(f"{entries} entries do not fit the page")
        view = memoryview(page)
        items = []
        for i in range(entries):
            start = self._u16(page, _PAGE_HEADER_SIZE + 2 * i)
            if not index_end <= start <= self.page_size - _BKEYDATA_HEADER:
                raise DatabaseFormatError(f"entry {i} offset {start} out of range")
            kind = page[start + 2]
            if internal_size:
                end = start + internal_size + (self._u16(page, start) if kind & ~_B_DELETE == _B_KEYDATA else 0)
                item = view[start:end]
            elif kind & ~_B_DELETE == _B_KEYDATA:
                end = start + _BKEYDATA_HEADER + self._u16(page, start)
                item = view[start + _BKEYDATA_HEADER:end]
            else:
                end = start + _BOVERFLOW_SIZE
                item = view[start:end]
            if end > self.page_size:
                raise DatabaseFormatError(f"entry {i} at offset {start} runs past the page")
            items.append((kind, item))
        return items


def read_values(stream: BinaryIO, size: int, label: str, limits: CatalogLimits,
                warn: Callable[[str], None]) -> Iterator[bytes]:
    """Every value of an rpm Berkeley DB database of `size` bytes: rpm 4's hash or rpm5's btree, told
    apart by the metadata's magic; damaged pages and values become warnings."""
    stream.seek(0)
    if _btree_order(stream.read(_MIN_PAGE_SIZE)) is not None:
        return _BtreeReader(stream, size, label, limits, warn).values()
    return _Reader(stream, size, label, limits, warn).values()
