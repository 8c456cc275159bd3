"""Evaluation of an OSV `affected` entry against one installed version (OSV schema, "Evaluation").

Rules, in order:
1. A version listed in `versions` is affected: first by exact string, then (when both parse) by
   version equality in the ecosystem's order, so PyPI 1.0 matches a listed 1.0.0.
2. Each `ECOSYSTEM` range is evaluated in the ecosystem's order, each `SEMVER` range in SemVer
   order (or the ecosystem's own when it is SemVer-based, such as Go or npm). `GIT` ranges name
   commits, which an installed package does not carry: only the `versions` list counts for them.
3. Within a range, events are sorted by version (`introduced: "0"` first; equal versions keep
   their order in the record) and walked: `introduced` at or below the version switches to
   affected, `fixed` at or below it switches back, `last_affected` strictly below it switches back.
   `limit` events bound the whole range: the version must be below at least one of them (a limit of
   "*" is no bound). Several introduced/fixed pairs in one range therefore work in any order.

"Cannot evaluate" is never turned into an answer. If the installed version does not parse and is
not listed verbatim, or a range event does not parse, or an entry is malformed, and no other range
or list entry shows the version affected, InvalidVersion (InvalidRange for malformed entries) is
raised naming the ecosystem and the offending string; callers report the record as not evaluable.
A version found affected by one range is affected even if another range of the same entry is broken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from scanner.versions.base import Scheme, SortKey
from scanner.versions.ecosystems import key_with, scheme_for, semver_scheme_for
from scanner.versions.errors import InvalidRange, InvalidVersion, UnknownEcosystem

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_LOWEST: tuple[int] = (0,)


def is_affected(ecosystem: str, version: str, affected: Mapping[str, Any]) -> bool:
    """Whether `version` of a package in `ecosystem` falls inside the OSV `affected` entry."""
    if not isinstance(affected, Mapping):
        raise InvalidRange(ecosystem, f"affected entry is {type(affected).__name__}, not an object")
    listed = _sequence(ecosystem, affected.get("versions"), "versions")
    if version in listed:
        return True
    failure: InvalidVersion | None = None
    for index, range_ in enumerate(_sequence(ecosystem, affected.get("ranges"), "ranges")):
        try:
            if _range_affects(ecosystem, version, range_, index):
                return True
        except InvalidVersion as error:
            failure = failure or error
    if listed and _listed_equivalent(ecosystem, version, listed):
        return True
    if failure is not None:
        raise failure
    return False


def _range_affects(ecosystem: str, version: str, range_: object, index: int) -> bool:
    if not isinstance(range_, Mapping):
        raise InvalidRange(ecosystem, f"ranges[{index}] is not an object")
    range_type = range_.get("type")
    if range_type == "GIT":
        return False
    if range_type == "ECOSYSTEM":
        scheme = scheme_for(ecosystem)
    elif range_type == "SEMVER":
        scheme = semver_scheme_for(ecosystem)
    else:
        raise InvalidRange(ecosystem, f"ranges[{index}] has unknown type {range_type!r}")
    events = _sequence(ecosystem, range_.get("events"), f"ranges[{index}].events")
    bounds, limits = _sorted_events(ecosystem, scheme, events, index)
    installed = key_with(scheme, ecosystem, version)
    state = False
    for bound, kind in bounds:
        if kind == "introduced":
            if bound is None or installed >= bound:
                state = True
        elif kind == "fixed":
            if installed >= bound:
                state = False
        elif installed > bound:  # last_affected
            state = False
    return state and (not limits or any(installed < limit for limit in limits))


def _sorted_events(
    ecosystem: str, scheme: Scheme, events: Sequence[object], index: int
) -> tuple[list[tuple[Any, str]], list[SortKey]]:
    """(bound key or None for introduced "0", kind) in version order, and the limit keys."""
    bounds: list[tuple[tuple[Any, ...], Any, str]] = []
    limits: list[SortKey] = []
    for position, event in enumerate(events):
        kind, value = _event(ecosystem, event, f"ranges[{index}].events[{position}]")
        if kind == "limit":
            if value != "*":
                limits.append(key_with(scheme, ecosystem, value))
        elif kind == "introduced" and value == "0":
            bounds.append((_LOWEST, None, kind))
        else:
            bound = key_with(scheme, ecosystem, value)
            bounds.append(((1, bound), bound, kind))
    bounds.sort(key=lambda item: item[0])
    return [(bound, kind) for _, bound, kind in bounds], limits


def _event(ecosystem: str, event: object, where: str) -> tuple[str, str]:
    if isinstance(event, Mapping):
        for kind in _EVENT_KINDS:
            value = event.get(kind)
            if isinstance(value, str) and value:
                return kind, value
    raise InvalidRange(ecosystem, f"{where} is not one of {', '.join(_EVENT_KINDS)} with a version")


def _listed_equivalent(ecosystem: str, version: str, listed: Sequence[object]) -> bool:
    """Whether a listed version equals `version` in the ecosystem's order (1.0 == 1.0.0 in PyPI)."""
    try:
        scheme = scheme_for(ecosystem)
        installed = key_with(scheme, ecosystem, version)
    except (InvalidVersion, UnknownEcosystem):
        return False
    return installed in _listed_keys(scheme, ecosystem, tuple(listed))


@lru_cache(maxsize=4096)
def _listed_keys(scheme: Scheme, ecosystem: str, listed: tuple[object, ...]) -> frozenset[SortKey]:
    """Keys of the listed versions that parse; one that does not cannot equal a parsable version,
    and the exact-string check has already run."""
    keys: set[SortKey] = set()
    for candidate in listed:
        if not isinstance(candidate, str):
            raise InvalidRange(ecosystem, f"versions holds {type(candidate).__name__} {candidate!r}, not a string")
        try:
            keys.add(key_with(scheme, ecosystem, candidate))
        except InvalidVersion:
            continue
    return frozenset(keys)


def _sequence(ecosystem: str, value: object, where: str) -> Sequence[object]:
    if value is None:
        return ()
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    raise InvalidRange(ecosystem, f"{where} is not a list")
