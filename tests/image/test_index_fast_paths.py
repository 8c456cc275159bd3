"""The per-member shortcuts of reading a layer give the answers of the definitions they stand for.

`_member_path` answers the usual clean names without `clean_path`; `_Matcher.wanted` screens only the
requests whose literal ends suit the path; `SquashIndex` places members through remembered plain
directories, a subdirectory's key from its parent's. Each is held here to its definition: `clean_path`
of the name, `matches_path` of every request, and `resolve_path` over the symlinks applied so far, with
the layer rules of `squash.py` (whiteouts, opaque markers and non-directories remove rows of lower
layers only) applied to a dict.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scanner.errors import ImageError
from scanner.image import squash
from scanner.image.filesystem import EntryKind, FileRequest, clean_path, resolve_path
from scanner.image.reader import _Matcher, _member_path, _Pass, _Warnings
from scanner.image.squash import SquashIndex
from scanner.image.tarstream import REGULAR, TarMember

NAME_PIECES = st.sampled_from([b"usr", b"/", b".", b"..", b"./", b"a.b", b".x", b"x.", b"\\", b"\xc3\xa9", b"\xff"])


def _defined_path(name: bytes) -> str | type[ImageError] | None:
    """The member's image path by definition: `clean_path`, refused above the root, skipped unless UTF-8."""
    text = name.decode("utf-8", "surrogateescape")
    try:
        path = clean_path(text)
    except ValueError:
        return ImageError
    odd_bytes = path is not None and any("\udc80" <= character <= "\udcff" for character in path)
    return None if odd_bytes else path


@settings(max_examples=3000, deadline=None)
@given(st.lists(NAME_PIECES, max_size=8).map(b"".join))
def test_a_member_name_is_the_image_path_it_defines(name: bytes) -> None:
    run = cast(_Pass, SimpleNamespace(warnings=_Warnings(1)))
    try:
        found: str | type[ImageError] | None = _member_path(run, TarMember(name, REGULAR, 0, 0o644, b"", 0, 0), "layer")
    except ImageError:
        found = ImageError
    assert found == _defined_path(name)


# Pattern and path pieces: literal tails ending in shared and in distinct characters, heads, wildcards.
PATTERN_SEGMENTS = st.sampled_from(["**", "*", "?", "*.jar", "*.war", "*.json", "package.json", "lib", "l?b", "a*",
                                    "status.d", "x.list", "METADATA", "*-info", "é"])
PATH_SEGMENTS = st.sampled_from(["lib", "lab", "a", "b.jar", "b.war", "x.json", "package.json", "status.d", "x.list",
                                 "METADATA", "d-info", "é", ".jar", "n"])
REQUESTS = st.lists(st.builds(FileRequest, st.lists(st.lists(PATTERN_SEGMENTS, min_size=1, max_size=4).map("/".join),
                                                     max_size=3).map(tuple),
                              executable_only=st.booleans()), max_size=6)


@settings(max_examples=1500, deadline=None)
@given(REQUESTS, st.lists(st.lists(PATH_SEGMENTS, min_size=1, max_size=5).map("/".join), min_size=1, max_size=8),
       st.booleans())
def test_the_requests_wanting_a_path_are_those_matching_it(requests: list[FileRequest], paths: list[str],
                                                           executable: bool) -> None:
    matcher = _Matcher(requests)
    for path in paths:
        assert matcher.wanted(path, executable) == tuple(
            r for r in requests if (executable or not r.executable_only) and r.matches_path(path))


Row = tuple[EntryKind, str, int]  # kind, symlink target, layer
NAMES = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=4).map("/".join)
TARGETS = st.sampled_from(["a", "b", "a/b", "/b/a", "../b", "b/..", ".", "/", "a/b/a", "b/b/b"])
MEMBERS = st.one_of(
    st.tuples(st.sampled_from([EntryKind.DIR, EntryKind.FILE, "whiteout", "opaque"]), NAMES, st.just("")),
    st.tuples(st.just(EntryKind.SYMLINK), NAMES, TARGETS),
)
HOPS = 8


def _model_place(rows: dict[str, Row], path: str) -> str | None:
    """Where a member named `path` lands by the definition: its parent resolved through the symlinks so far."""
    parent, _, base = path.rpartition("/")

    def target(candidate: str) -> str | None:
        row = rows.get(candidate)
        return row[1] if row is not None and row[0] is EntryKind.SYMLINK else None

    resolved = resolve_path(parent, target, HOPS) if parent else ""
    if resolved is None:
        return None
    return f"{resolved}/{base}" if resolved else base


def _model_remove(rows: dict[str, Row], path: str, layer: int, itself: bool) -> None:
    for name in [name for name in rows if (name.startswith(path + "/") or (itself and name == path))
                                          and rows[name][2] < layer]:
        del rows[name]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.lists(MEMBERS, max_size=12), min_size=1, max_size=4), st.integers(0, 2))
# "a/b" is remembered as plain just as the cache is emptied: it must still notice "a" becoming a symlink.
@example([[(EntryKind.FILE, "a/x", ""), (EntryKind.FILE, "a/b/x", ""), (EntryKind.SYMLINK, "a", "b"),
           (EntryKind.FILE, "a/b/y", "")]], 0)
def test_members_are_placed_and_layered_as_defined(layers: list[list[tuple[EntryKind | str, str, str]]],
                                                    cache_size: int) -> None:
    rows: dict[str, Row] = {}
    with tempfile.TemporaryDirectory() as work, pytest.MonkeyPatch.context() as patch:
        # Tiny caches and a tiny symlink filter: remembered directories are forgotten and symlinks
        # "maybe" everywhere, so that every branch of the shortcuts is taken.
        patch.setattr(squash, "_PLAIN_CHARS", (0, 8, 64)[cache_size])
        patch.setattr(squash, "_PLAIN_KEYS", (1, 4, 32)[cache_size])
        patch.setattr(squash, "_LINK_FILTER_MASK", (1, 15, squash._LINK_FILTER_MASK)[cache_size])
        patch.setattr(squash, "_PLACEMENT_CACHE_ENTRIES", (1, 2, 8)[cache_size])
        index = SquashIndex(Path(work) / "index.sqlite", 1 << 20, 1 << 20)
        try:
            for layer, members in enumerate(layers):
                for kind, name, target in members:
                    index.flush()  # the model applies replacements at once; the index at its next flush
                    placed = index.resolve_parent(name, HOPS)
                    assert placed == _model_place(rows, name)
                    if placed is None:
                        continue
                    if kind == "whiteout":
                        index.whiteout(placed, layer)
                        _model_remove(rows, placed, layer, itself=True)
                    elif kind == "opaque":
                        index.opaque(placed, layer)
                        _model_remove(rows, placed, layer, itself=False)
                    else:
                        assert isinstance(kind, EntryKind)
                        index.add(placed, kind, 0, 0o644, target, layer)
                        if kind is not EntryKind.DIR:
                            _model_remove(rows, placed, layer, itself=False)
                        rows[placed] = (kind, target, layer)
                index.flush()
            assert [(row.path, (row.kind, row.target, row.layer)) for row in index.rows()] == sorted(rows.items())
        finally:
            index.close()
