"""What every version scheme provides: a parser whose result carries an ordering key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class SortKey(Protocol):
    """An ordered, hashable value; two versions of one scheme compare as their keys do."""

    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...
    def __gt__(self, other: Any, /) -> bool: ...
    def __ge__(self, other: Any, /) -> bool: ...
    def __hash__(self) -> int: ...


class ParsedVersion(Protocol):
    """A parsed version: `key` orders it, `str()` spells it so that it parses back to an equal key."""

    @property
    def key(self) -> SortKey: ...

    def __str__(self) -> str: ...


@dataclass(frozen=True)
class Scheme:
    """One ordering of version strings. `parse` raises ValueError, with a short reason, on refusal."""

    name: str
    parse: Callable[[str], ParsedVersion]
