"""A finding's fix: the state and the versions to install, merged from the rows that matched.

When records of one group disagree, the most actionable state wins (`fixed` first). Fixed versions are
offered only above the installed version, in the package's own terms (a binary judged as its source
package gets the binary version built from the source's fix, `installable_version`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from scanner import versions
from scanner.db.store import AffectedRow
from scanner.match.lookup import Hit, implied_epoch
from scanner.model import Fix, FixState, Package
from scanner.names import normalize_package_name

# When records of one group disagree, the most actionable state wins.
_STATE_ORDER = (FixState.FIXED, FixState.WONT_FIX, FixState.END_OF_LIFE, FixState.NOT_FIXED,
                FixState.UNDER_INVESTIGATION, FixState.UNKNOWN)


def sort_versions(ecosystem: str, items: Iterable[str]) -> list[str]:
    def key_of(value: str) -> tuple[int, Any]:
        try:
            return 0, versions.sort_key(ecosystem, value)
        except (versions.InvalidVersion, versions.UnknownEcosystem):
            return 1, value
    return sorted(set(items), key=key_of)


def _newer_than(ecosystem: str, installed: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """Candidates above the installed version, in version order; all of them when they cannot be compared.

    Empty when every candidate is at or below the installed version: the fixes named are for older
    lines (`introduced 0, fixed 1.0` beside `introduced 2.0` with no fix), none for the installed one.
    """
    ordered = sort_versions(ecosystem, candidates)
    newer: list[str] = []
    for candidate in ordered:
        try:
            if versions.compare(ecosystem, candidate, installed) > 0:
                newer.append(candidate)
        except (versions.InvalidVersion, versions.UnknownEcosystem):
            return tuple(ordered)
    return tuple(newer)


def fix_rows(hit: Hit) -> list[AffectedRow]:
    """The rows a finding's fix and remediation come from.

    The group's own (per-CVE) records when one of them names a fixed version, or when no advisory was
    expanded into the group; else an expanded advisory's rows (the advisory's fix for the release stands
    when the per-CVE record has none); else all rows, so that the most actionable state is kept.
    """
    own = [row for row, _ in hit.rows]
    advisory = [row for row, _ in hit.advisory_rows]
    if not advisory or any(row.fix_state is FixState.FIXED for row in own):
        return own
    if not own or any(row.fix_state is FixState.FIXED for row in advisory):
        return advisory
    return own + advisory


_EPOCH = re.compile(r"^([0-9]+):(.*)$", re.DOTALL)
_BINNMU = re.compile(r"\+b[0-9]+$")  # a Debian binary-only rebuild: "2.36.1-8+b1" of source "2.36.1-8"


def _split_epoch(version: str) -> tuple[str, str]:
    """("1", "2.36.1-8") for "1:2.36.1-8"; ("", version) without an epoch."""
    found = _EPOCH.match(version)
    return (found.group(1), found.group(2)) if found else ("", version)


def installable_version(package: Package, ecosystem: str, judged_at: str, fixed: str) -> str:
    """The version of `package` built from `fixed`, a fixed version of what it was judged as at `judged_at`.

    Judged as itself, that is `fixed`. Judged as its source package, the binary's version is the
    source's with the binary's own epoch (bsdutils 1:2.36.1-8 from util-linux 2.36.1-8: the fix
    util-linux 2.36.1-8+deb11u1 is installed as bsdutils 1:2.36.1-8+deb11u1); a binNMU (`+b1`) of the
    installed source names the source's fix, the lowest binary that has it. "" when the binary carries a
    version of its own (libdevmapper1.02.1 2:1.02.175 from lvm2 2.03.11) or the fix changes the source's
    epoch: no version of this binary can be named, only the source's. "" also when the version would not
    sort above the installed one: a fix is never offered below what is installed.
    """
    if judged_at == package.version:
        return fixed if _above(ecosystem, package.version, fixed) else ""
    binary_epoch, binary_rest = _split_epoch(package.version)
    source_epoch, source_rest = _split_epoch(judged_at)
    fixed_epoch, fixed_rest = _split_epoch(fixed)
    if package.type == "deb":
        binary_rest = _BINNMU.sub("", binary_rest)
    if int(fixed_epoch or 0) != int(source_epoch or 0) or binary_rest != source_rest:
        return ""
    binary = f"{binary_epoch}:{fixed_rest}" if binary_epoch else fixed_rest
    return binary if _above(ecosystem, package.version, binary) else ""


def _above(ecosystem: str, installed: str, candidate: str) -> bool:
    """Whether `candidate` sorts above `installed`; True when they cannot be compared (the candidate is kept)."""
    try:
        return versions.compare(ecosystem, candidate, installed) > 0
    except (versions.InvalidVersion, versions.UnknownEcosystem):
        return True


def merge_fix(package: Package, ecosystem: str, rows: Sequence[tuple[AffectedRow, str]]) -> Fix:
    """The fix of a finding from its rows, each with the installed version it was judged at.

    A row judged as the package itself (its own name and version) gives versions to install directly;
    one judged as its source package gives the source's fixed versions, and the binary versions built
    from them (`installable_version`). Every version offered sorts above what is installed.
    """
    states = {row.fix_state for row, _ in rows}
    state = next((s for s in _STATE_ORDER if s in states), FixState.UNKNOWN)
    if state is not FixState.FIXED:
        return Fix(state=state)
    own_name = normalize_package_name(ecosystem, package.name)
    named_any = False
    binary: set[str] = set()
    source: set[str] = set()
    for row, installed in rows:
        if row.fix_state is not FixState.FIXED:
            continue
        named_any = named_any or bool(row.fixed)
        epoch = implied_epoch(row, installed)
        newer = _newer_than(ecosystem, installed, [epoch + fixed for fixed in row.fixed])
        if row.package == own_name and installed == package.version:
            binary.update(newer)
            continue
        source.update(newer)
        built = (installable_version(package, ecosystem, installed, fixed) for fixed in newer)
        binary.update(version for version in built if version)
    if named_any and not binary and not source:
        # The installed version is affected and no named fix is above it: not fixed for this version
        # (reporting "fixed in" an older version would send the user to a downgrade).
        return Fix(state=FixState.NOT_FIXED)
    return Fix(state=state, versions=tuple(sort_versions(ecosystem, binary)),
               source=package.match_source_name if source else "",
               source_versions=tuple(sort_versions(ecosystem, source)))
