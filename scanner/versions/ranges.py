"""Evaluation of an OSV `affected` entry against one installed version (OSV schema, "Evaluation").

Rules, in order:
1. A version listed in `versions` is affected: first by exact string, then (when both parse) by
   version equality in the ecosystem's order, so PyPI 1.0 matches a listed 1.0.0.
2. Each `ECOSYSTEM` range is evaluated in the ecosystem's order, each `SEMVER` range in SemVer
   order (or the ecosystem's own when it is SemVer-based, such as Go or npm). `GIT` ranges name
   commits, which an installed package does not carry: only the `versions` list counts for them.
3. Within a range, events are taken in version order (`introduced: "0"` first; equal versions
   keep their order in the record) and walked: `introduced` at or below the version switches to
   affected, `fixed` at or below it switches back, `last_affected` strictly below it switches back.
   `limit` events bound the whole range: the version must be below at least one of them (a limit of
   "*" is no bound). Several introduced/fixed pairs in one range therefore work in any order.

"Cannot evaluate" is never turned into an answer. If the installed version does not parse and is
not listed verbatim, or a range event does not parse, or an entry is malformed, and no other range
or list entry shows the version affected, InvalidVersion (InvalidRange for malformed entries) is
raised naming the ecosystem and the offending string; callers report the record as not evaluable.
A version found affected by one range is affected even if another range of the same entry is broken.
An `ECOSYSTEM` range in an ecosystem without a known order raises UnknownEcosystem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from scanner.versions.base import Scheme, SortKey
from scanner.versions.ecosystems import key_with, scheme_for, semver_scheme_for
from scanner.versions.errors import InvalidRange, InvalidVersion, UnknownEcosystem

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")  # OSV allows one per event


def is_affected(ecosystem: str, version: str, affected: Mapping[str, Any]) -> bool:
    """Whether `version` of a package in `ecosystem` falls inside the OSV `affected` entry."""
    if not isinstance(affected, dict | Mapping):
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
    if not isinstance(range_, dict | Mapping):
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
    installed = key_with(scheme, ecosystem, version)
    # Walking the events in version order, the last one at or below the installed version decides
    # (last_affected only once strictly below it). So no sort is needed: keep the applicable event
    # with the highest bound, the later one in the record on a tie (the order a stable sort keeps).
    decided = False
    decisive_bound: SortKey | None = None  # None: introduced "0", below every version
    state = False
    limited = below_a_limit = False
    for position, event in enumerate(events):
        kind, value = _event(ecosystem, event, index, position)
        if kind == "limit":
            if value != "*":
                limited = True
                below_a_limit = below_a_limit or installed < key_with(scheme, ecosystem, value)
            continue
        if kind == "introduced" and value == "0":
            if not decided or decisive_bound is None:
                decided, state = True, True
            continue
        bound = key_with(scheme, ecosystem, value)
        applies = installed > bound if kind == "last_affected" else installed >= bound
        if applies and (not decided or decisive_bound is None or not bound < decisive_bound):
            decided, decisive_bound, state = True, bound, kind == "introduced"
    return state and (not limited or below_a_limit)


def _event(ecosystem: str, event: object, index: int, position: int) -> tuple[str, str]:
    if isinstance(event, dict | Mapping):
        for kind, value in event.items():
            if kind in _EVENT_KINDS and isinstance(value, str) and value:
                return kind, value
    raise InvalidRange(ecosystem, f"ranges[{index}].events[{position}] is not one of {', '.join(_EVENT_KINDS)} "
                                  "with a version")


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
    if isinstance(value, list | tuple) or (isinstance(value, Sequence) and not isinstance(value, str | bytes)):
        return value
    raise InvalidRange(ecosystem, f"{where} is not a list")
