"""Maven versions, ordered as maven-artifact 3.8's ComparableVersion orders them (OSV's reference).

The lower-cased string splits into items: numbers, qualifiers and sub-lists. `.` separates items
of one list; `-`, and a switch between letters and digits, opens a nested list. (MNG-7644, in
Maven 3.8.8 and 3.9, also opens one for a `.` before a qualifier, reading 1.x2 as 1-x-2; OSV and
the conformance vectors do not.) Trailing "null"
items (0, the release qualifier, empty lists) are dropped from each list, which is why
1 == 1.0 == 1-0 == 1.0.0.final. Known qualifiers order alpha < beta < milestone < rc < snapshot <
release < sp (a, b, m followed by a digit abbreviate the first three; ga, final and release mean the
release, cr means rc); other qualifiers sort after sp, alphabetically. Between kinds: a qualifier <
a sub-list < a number, and a missing item compares like 0 or the release qualifier.

Maven 3.9 changed a few of these orderings (MNG-7644); OSV and the conformance vectors follow 3.8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering
from typing import Union

from scanner.versions.base import Scheme

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE_INDEX = str(_QUALIFIERS.index(""))
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_ABBREVIATIONS = {"a": "alpha", "b": "beta", "m": "milestone"}
_MAX_NESTING = 100  # each nested list is a level of recursion when comparing


@dataclass(frozen=True, slots=True)
class _Qualifier:
    value: str

    @property
    def rank(self) -> str:
        """A string that orders qualifiers (as ComparableVersion's comparableQualifier does)."""
        try:
            return str(_QUALIFIERS.index(self.value))
        except ValueError:
            return f"{len(_QUALIFIERS)}-{self.value}"

    def __str__(self) -> str:
        return self.value


Item = Union[int, _Qualifier, "list[Item]"]


def _cmp(left: int | str, right: int | str) -> int:
    return int(left > right) - int(left < right)  # type: ignore[operator]


def _compare(item: Item, other: Item | None) -> int:
    """ComparableVersion's Item.compareTo, `None` standing for a missing item."""
    if isinstance(item, int):
        if other is None:
            return 1 if item else 0
        return _cmp(item, other) if isinstance(other, int) else 1
    if isinstance(item, _Qualifier):
        if other is None:
            return _cmp(item.rank, _RELEASE_INDEX)
        return _cmp(item.rank, other.rank) if isinstance(other, _Qualifier) else -1
    if other is None:
        for element in item:
            result = _compare(element, None)
            if result:
                return result
        return 0
    if isinstance(other, int):
        return -1
    if isinstance(other, _Qualifier):
        return 1
    for index in range(max(len(item), len(other))):
        left = item[index] if index < len(item) else None
        right = other[index] if index < len(other) else None
        if left is None:
            result = -_compare(right, None) if right is not None else 0
        else:
            result = _compare(left, right)
        if result:
            return result
    return 0


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, _Qualifier):
        return item.value == ""
    return not item


def _normalize(items: list[Item]) -> None:
    for index in range(len(items) - 1, -1, -1):
        if _is_null(items[index]):
            del items[index]
        elif not isinstance(items[index], list):
            break


def _parse_item(is_digit: bool, text: str, followed_by_digit: bool = False) -> Item:
    if is_digit:
        return int(text)
    if followed_by_digit and text in _ABBREVIATIONS:
        text = _ABBREVIATIONS[text]
    return _Qualifier(_ALIASES.get(text, text))


def _items(version: str) -> list[Item]:
    root: list[Item] = []
    lists = [root]

    def open_list() -> None:
        if len(lists) > _MAX_NESTING:
            raise ValueError(f"more than {_MAX_NESTING} '-' or letter/digit switches")
        nested: list[Item] = []
        lists[-1].append(nested)
        lists.append(nested)

    is_digit = False
    start = 0
    for index, char in enumerate(version):
        if char in ".-":
            lists[-1].append(0 if index == start else _parse_item(is_digit, version[start:index]))
            start = index + 1
            if char == "-":
                open_list()
        elif "0" <= char <= "9":
            if not is_digit and index > start:
                lists[-1].append(_parse_item(False, version[start:index], followed_by_digit=True))
                start = index
                open_list()
            is_digit = True
        else:
            if is_digit and index > start:
                lists[-1].append(_parse_item(True, version[start:index]))
                start = index
                open_list()
            is_digit = False
    if len(version) > start:
        lists[-1].append(_parse_item(is_digit, version[start:]))
    for items in reversed(lists):
        _normalize(items)
    return root


def _canonical(items: list[Item]) -> str:
    """A spelling that parses back to the same items: the release qualifier is written "ga", and a
    list that opens with a nested list (what "1-ga-1" normalises to) keeps that "ga-" in front."""
    text = ""
    for index, item in enumerate(items):
        if isinstance(item, list):
            text += ("-" if index else "ga-") + _canonical(item)
        else:
            text += ("." if index else "") + (str(item) or "ga")
    return text


@total_ordering
class MavenKey:
    """Orders like ComparableVersion; equal keys have equal canonical spellings, hence equal hashes."""

    __slots__ = ("canonical", "items")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.canonical = _canonical(items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and _compare(self.items, other.items) == 0

    def __lt__(self, other: MavenKey) -> bool:
        return _compare(self.items, other.items) < 0

    def __hash__(self) -> int:
        return hash(self.canonical)

    def __repr__(self) -> str:
        return f"MavenKey({self.canonical!r})"


@dataclass(frozen=True, slots=True)
class MavenVersion:
    text: str
    key: MavenKey

    def __str__(self) -> str:
        return self.key.canonical or "0"  # every item of "0", "0.0", "ga" ... is null


def parse(text: str) -> MavenVersion:
    version = text.strip()
    if not version or any(char.isspace() for char in version):
        raise ValueError("empty or contains whitespace")
    return MavenVersion(version, MavenKey(_items(version.lower())))


SCHEME = Scheme("maven", parse)
