"""rpm5's `Packages`: a Berkeley DB btree (scanner.catalog.rpm.bdb), read from the real Poky database and
from small ones built here in either byte order, then damaged. The reader is called directly, so an
exception it does not document fails the test instead of becoming a cataloger warning."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.rpm import RpmCataloger, bdb
from scanner.catalog.rpm.errors import DatabaseFormatError
from scanner.catalog.rpm.header import parse_header
from scanner.image.filesystem import MemoryFilesystem
from tests.catalog.test_rpm import _basic, make_header

from .conftest import OSDB, expected_rows

POKY = OSDB / "rpm-bdb" / "poky-1.7.1"
POKY_DATA = (POKY / "Packages").read_bytes()
P_IBTREE, P_LBTREE, P_OVERFLOW, P_BTREEMETA = 3, 5, 7, 9


def _page(order: str, size: int, number: int, kind: int, level: int, items: list[bytes], next_page: int = 0) -> bytes:
    """A page whose items are laid out from its end down, indexed in the order given."""
    page = bytearray(size)
    offsets = []
    end = size
    for item in items:
        end -= len(item) + (-len(item) % 4)
        page[end:end + len(item)] = item
        offsets.append(end)
    struct.pack_into(f"{order}IIIHHBB", page, 8, number, 0, next_page, len(items), end, level, kind)
    struct.pack_into(f"{order}{len(offsets)}H", page, 26, *offsets)
    return bytes(page)


def btree_database(values: list[bytes], order: str = "<", size: int = 512, per_leaf: int = 2) -> bytes:
    """A btree as rpm5 writes one: metadata, an internal root above two or more leaves, leaves of
    (big-endian header number, value) pairs, and a value that does not fit a leaf in overflow pages."""
    leaves = [values[at:at + per_leaf] for at in range(0, len(values), per_leaf)] or [[]]
    first_leaf = 1 if len(leaves) == 1 else 2
    next_free = first_leaf + len(leaves)
    overflow: list[bytes] = []
    pages: list[bytes] = []
    number = 0
    for leaf_index, leaf in enumerate(leaves):
        items = []
        for value in leaf:
            number += 1
            items.append(struct.pack(f"{order}HB", 4, 1) + struct.pack(">I", number))
            if len(value) <= 64:
                items.append(struct.pack(f"{order}HB", len(value), 1) + value)
                continue
            chunk = size - 26
            pieces = [value[at:at + chunk] for at in range(0, len(value), chunk)]
            items.append(struct.pack(f"{order}HBBII", 0, 3, 0, next_free + len(overflow), len(value)))
            for index, piece in enumerate(pieces):
                following = next_free + len(overflow) + 1 if index + 1 < len(pieces) else 0
                header = struct.pack(f"{order}QIIIHHBB", 0, next_free + len(overflow), 0, following, 1, len(piece),
                                     0, P_OVERFLOW)
                overflow.append((header + piece).ljust(size, b"\0"))
        pages.append(_page(order, size, first_leaf + leaf_index, P_LBTREE, 1, items))
    if len(leaves) > 1:
        children = [struct.pack(f"{order}HBBII", 0 if index == 0 else 4, 1, 0, first_leaf + index, 0)
                    + (b"" if index == 0 else struct.pack(">I", 1 + index * per_leaf)) for index in range(len(leaves))]
        pages.insert(0, _page(order, size, 1, P_IBTREE, 2, children))
    pages += overflow
    meta = bytearray(size)
    struct.pack_into(f"{order}IIII", meta, 8, 0, bdb.BTREE_MAGIC, 9, size)
    meta[25] = P_BTREEMETA
    struct.pack_into(f"{order}I", meta, 32, len(pages))
    struct.pack_into(f"{order}I", meta, 88, 1)
    return bytes(meta) + b"".join(pages)


def read(data: bytes, limits: CatalogLimits = DEFAULT_LIMITS) -> tuple[list[bytes], list[str]]:
    warnings: list[str] = []
    values = list(bdb.read_values(io.BytesIO(data), len(data), "db", limits, warnings.append))
    return values, warnings


VALUES = [b"first", b"x" * 1500, b"third", b"fourth", b"y" * 100, b"sixth", b"seventh"]


def test_real_rpm5_database_every_header_in_key_order() -> None:
    values, warnings = read(POKY_DATA)
    assert warnings == []
    names = [parse_header(value).name for value in values]
    assert sorted(names) == sorted(row["name"] for row in expected_rows(POKY))
    assert len(names) == len(expected_rows(POKY)) == 397


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("per_leaf", [2, 7])
def test_built_btrees_in_either_byte_order(order: str, per_leaf: int) -> None:
    assert read(btree_database(VALUES, order, per_leaf=per_leaf)) == (VALUES, [])
    assert read(btree_database([], order)) == ([], [])


def test_the_cataloger_reads_a_btree_packages_file() -> None:
    data = btree_database([make_header(_basic())])
    result = RpmCataloger().catalog(MemoryFilesystem(files={"var/lib/rpm/Packages": data}), None)
    assert [p.name for p in result.packages] == ["zlib"] and result.warnings == ()


def _patch(data: bytes, page: int, offset: int, fmt: str, *values: int) -> bytes:
    damaged = bytearray(data)
    struct.pack_into(fmt, damaged, page * 512 + offset, *values)
    return bytes(damaged)


def _item_offset(data: bytes, page: int, index: int) -> int:
    return int(struct.unpack_from("<H", data, page * 512 + 26 + 2 * index)[0])


BUILT = btree_database(VALUES)  # root 1 (internal), leaves 2-5, overflow pages from 6


@pytest.mark.parametrize("damage, kept, warning", [
    (_patch(BUILT, 0, 88, "<I", 999), [], "db: btree page 999 is not in the file; what lies below it is not read"),
    (_patch(BUILT, 0, 88, "<I", 0), [], "db: btree page 0 is not in the file"),
    # a child pointing back at the root: the loop is cut, every leaf is still read once
    (_patch(BUILT, 1, _item_offset(BUILT, 1, 3) + 4, "<I", 1), VALUES[:6], "db: btree page 1 is reached twice"),
    (_patch(BUILT, 1, _item_offset(BUILT, 1, 1) + 4, "<I", 2), VALUES[:2] + VALUES[4:],
     "db: btree page 2 is reached twice"),
    (_patch(BUILT, 3, 24, "<B", 2), VALUES[:2] + VALUES[4:], "db: btree page 3 has level 2, expected 1"),
    (_patch(BUILT, 1, 24, "<B", 1), [], "db: btree page 1 of type 3 has level 1"),
    (_patch(BUILT, 4, 25, "<B", 13), VALUES[:4] + VALUES[6:], "db: btree page 4 has type 13, not a btree page"),
    (_patch(BUILT, 2, 20, "<H", 300), VALUES[2:], "db: page 2 skipped: 300 entries do not fit the page"),
    (_patch(BUILT, 2, 20, "<H", 3), VALUES[2:], "db: page 2 skipped: 3 items do not pair keys with values"),
    (_patch(BUILT, 2, 26, "<H", 511), VALUES[2:], "db: page 2 skipped: entry 0 offset 511 out of range"),
    (_patch(BUILT, 2, _item_offset(BUILT, 2, 0), "<H", 600), VALUES[2:],
     "db: page 2 skipped: entry 0 at offset 504 runs past the page"),
    (_patch(BUILT, 1, 26, "<H", 2), [], "db: page 1 skipped: entry 0 offset 2 out of range"),
    (_patch(BUILT, 2, _item_offset(BUILT, 2, 3) + 2, "<B", 2), [VALUES[0], *VALUES[2:]],
     "db: page 2 entry 1 skipped: unsupported btree item type 2"),
    (_patch(BUILT, 6, 16, "<I", 6), [VALUES[0], *VALUES[2:]], "db: page 2 entry 1 skipped: overflow chain from page 6 "
                                                               "loops at page 6"),
    (_patch(BUILT, 2, _item_offset(BUILT, 2, 3) + 8, "<I", 10**9), [VALUES[0], *VALUES[2:]],
     "db: page 2 entry 1 skipped: a value of 1000000000 bytes is over"),
])
def test_damaged_btrees_keep_what_is_readable_and_name_the_damage(damage: bytes, kept: list[bytes],
                                                                   warning: str) -> None:
    values, warnings = read(damage)
    assert values == kept
    assert len(warnings) == 1 and warnings[0].startswith(warning), warnings


def test_deleted_items_and_the_counter_key_are_not_values() -> None:
    deleted = _patch(BUILT, 2, _item_offset(BUILT, 2, 1) + 2, "<B", 0x81)
    assert read(deleted) == (VALUES[1:], [])
    zero_key = _patch(BUILT, 2, _item_offset(BUILT, 2, 0) + 3, ">I", 0)
    assert read(zero_key) == (VALUES[1:], [])


def test_record_cap() -> None:
    values, warnings = read(BUILT, CatalogLimits(max_records=3))
    assert values == VALUES[:3]
    assert warnings == ["db: more than 3 entries (cap max_records); the rest is not read"]


@pytest.mark.parametrize("meta, message", [
    ((24, "<B", 1), "encrypted or checksummed"),
    ((26, "<B", 1), "encrypted or checksummed"),
    ((20, "<I", 1000), "page size 1000"),
    ((25, "<B", 8), "not btree metadata"),
])
def test_btree_metadata_that_is_refused(meta: tuple[int, str, int], message: str) -> None:
    with pytest.raises(DatabaseFormatError, match=message):
        read(_patch(BUILT, 0, *meta))


def _damaged(source: bytes, damage: list[tuple[int, int]], length: int) -> bytes:
    data = bytearray(source[:length])
    for position, value in damage:
        data[position % len(data)] = value
    return bytes(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=12),
       st.integers(1, len(BUILT)))
def test_random_damage_raises_only_database_format_errors(damage: list[tuple[int, int]], length: int) -> None:
    data = _damaged(BUILT, damage, length)
    try:
        values, _ = read(data)
    except DatabaseFormatError:
        return
    assert sum(map(len, values)) <= len(data)


# Damage where the reader looks: anywhere in the metadata and tree pages, in the header of any page.
_TREE_PAGES = [number for number in range(len(POKY_DATA) // 4096) if POKY_DATA[number * 4096 + 25] in (3, 5, 9)]
_POSITIONS = st.one_of(st.builds(lambda page, offset: page * 4096 + offset, st.sampled_from(_TREE_PAGES),
                                 st.integers(0, 4095)),
                       st.builds(lambda page, offset: page * 4096 + offset, st.integers(0, len(POKY_DATA) // 4096 - 1),
                                 st.integers(0, 25)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_POSITIONS, st.integers(0, 255)), min_size=1, max_size=8))
def test_random_damage_to_the_real_database_raises_only_database_format_errors(damage: list[tuple[int, int]]) -> None:
    data = _damaged(POKY_DATA, damage, len(POKY_DATA))
    try:
        values, _ = read(data)
    except DatabaseFormatError:
        return
    assert sum(map(len, values)) <= len(data)
