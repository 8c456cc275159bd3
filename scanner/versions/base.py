"""What every version scheme provides: a parser whose result carries an ordering key."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
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


MAX_VERSION_LENGTH = 1024  # real versions stay under ~100 characters; anything far longer is refused


class Scheme:
    """One ordering of version strings. `parse` raises ValueError, with a short reason, on refusal.

    `key` is `parse(text).key` behind a bounded LRU cache of its own: matching compares the same
    few thousand strings again and again, and a hit costs one dictionary lookup. Schemes are
    singletons, compared and hashed by identity.
    """

    __slots__ = ("_parse", "key", "name")

    def __init__(self, name: str, parse: Callable[[str], ParsedVersion], cache_size: int = 1 << 15) -> None:
        self.name = name
        self._parse = parse
        self.key = lru_cache(maxsize=cache_size)(self._uncached_key)

    def parse(self, text: str) -> ParsedVersion:
        if len(text) > MAX_VERSION_LENGTH:
            raise ValueError(f"longer than {MAX_VERSION_LENGTH} characters")
        return self._parse(text)

    def _uncached_key(self, text: str) -> SortKey:
        return self.parse(text).key

    def __repr__(self) -> str:
        return f"Scheme({self.name!r})"
