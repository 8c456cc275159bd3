"""Lookup planning: under which ecosystems, names and versions each package is searched, and which rows judge it.

- OS packages (deb, apk, rpm) are searched under the ecosystems their release's route reads
  (`releases.route`); deb and apk by SOURCE package (the name Debian, Ubuntu, Alpine, Wolfi and
  Chainguard advisories use), rpm by binary AND source name, because the rpm distros' records list
  binary rpms ("openssl-libs", "python3-libs"), sometimes beside the source name. An advisory naming the
  binary rpm is judged by that row only.
- Language packages are searched under their ecosystem by normalised name. A Maven artifact without a
  group id is not searched.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner import versions
from scanner.db.store import AffectedRow, VulnRecord, VulnStore
from scanner.match.releases import Route, route, spellings
from scanner.model import FixState, Package
from scanner.names import normalize_package_name

OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})

# Fix states of rows that carry no range: the distro says every version is affected.
_UNRANGED_AFFECTED = frozenset({FixState.NOT_FIXED, FixState.WONT_FIX, FixState.END_OF_LIFE,
                                FixState.UNDER_INVESTIGATION})


@dataclass(frozen=True)
class Unevaluated:
    """A package (and advisory, when known) the matcher could not decide about, and why."""

    package: Package
    advisory_id: str
    reason: str


@dataclass
class Hit:
    """What matched one (package, alias group)."""

    rows: list[tuple[AffectedRow, VulnRecord]] = field(default_factory=list)  # records of the group itself
    matched_by: str = "ecosystem"
    # Rows of an advisory covering several CVEs (a DSA, a USN), expanded into this CVE's group.
    advisory_rows: list[tuple[AffectedRow, VulnRecord]] = field(default_factory=list)


# Internal maps key packages by their position in the sorted, de-duplicated input: hashing and
# comparing whole Package records dominated the cost on inputs with tens of thousands of packages.
HitKey = tuple[int, str]  # (package index, alias group)


def is_os_package(package: Package) -> bool:
    return package.type in OS_PACKAGE_TYPES


def is_cve(vuln_id: str) -> bool:
    return vuln_id.startswith("CVE-")


def lookup_key(package: Package) -> tuple[str, str, str]:
    """(ecosystem, name, version) the database is searched with first (`lookup_names` gives them all)."""
    if is_os_package(package) and package.type != "rpm":
        return package.ecosystem, package.match_source_name, package.match_source_version
    return package.ecosystem, package.name, package.version


def lookup_names(package: Package) -> tuple[tuple[str, str], ...]:
    """Every (normalised name, version) the database is searched with, the most specific first.

    An rpm is searched by its binary name with its own version, then by its source rpm's name with the
    source version (a subpackage can carry a version of its own: perl-Carp from perl). Both are EVRs with
    the epoch as the rpm header has it; an absent epoch is 0 on both sides of the comparison.
    """
    ecosystem, name, version = lookup_key(package)
    first = (normalize_package_name(ecosystem, name), version)
    if package.type != "rpm" or not package.source_name:
        return (first,)
    source = (normalize_package_name(ecosystem, package.source_name), package.match_source_version)
    return (first,) if source[0] == first[0] else (first, source)


@dataclass(frozen=True)
class Lookup:
    """Where one package is searched: ecosystems in precedence tiers (one tier but for Red Hat
    extended-support images) and its (name, version) pairs."""

    index: int
    tiers: tuple[tuple[str, ...], ...]
    names: tuple[tuple[str, str], ...]


@dataclass
class LookupPlan:
    lookups: list[Lookup] = field(default_factory=list)
    wanted: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # ecosystem -> names to fetch


def plan_lookups(store: VulnStore, packages: Sequence[Package], unevaluated: list[Unevaluated]) -> LookupPlan:
    """Where each package is searched; a package that cannot be searched is listed as unevaluated."""
    plan = LookupPlan()
    routed: dict[Route, tuple[tuple[str, ...], ...] | str] = {}
    for index, package in enumerate(packages):
        ecosystem, name, _ = lookup_key(package)
        if is_os_package(package):
            if not ecosystem:
                unevaluated.append(Unevaluated(package, "", "no advisory source known for this OS release; "
                                                            "distro advisories not checked"))
                continue
            chosen = route(package)
            if chosen not in routed:
                routed[chosen] = spellings(store, chosen)
            found = routed[chosen]
            if isinstance(found, str):
                unevaluated.append(Unevaluated(package, "", found))
                continue
            tiers = found
        elif ecosystem == "Maven" and ":" not in name:
            # Advisories name group:artifact; guessing a group from the artifact alone is how peers
            # matched any "core.jar" to unrelated products, so say so instead of guessing.
            unevaluated.append(Unevaluated(package, "", "Maven artifact without a group id; "
                                                        "advisories name group:artifact, not checked"))
            continue
        else:
            tiers = ((ecosystem,),)
        names = lookup_names(package)
        for tier in tiers:
            for eco in tier:
                plan.wanted[eco].update(key_name for key_name, _ in names)
        plan.lookups.append(Lookup(index, tiers, names))
    return plan


def rows_for(rows_by_key: Mapping[tuple[str, str], list[AffectedRow]], records: Mapping[str, VulnRecord],
             lookup: Lookup) -> Iterator[tuple[AffectedRow, VulnRecord, str]]:
    """The rows a package is judged by, each with its record and the installed version to judge it at.

    Withdrawn records never judge. An advisory with a row for a name listed earlier (an rpm's binary
    name) is judged by those rows only: its row for the source name is about the binary rpm of that
    name, not this one. When the package reads tiers of ecosystems, the first tier with a row for a
    vulnerability (alias group) decides it; later tiers' rows for that group are not looked at.
    """
    decided: set[str] = set()
    for tier in lookup.tiers:
        claimed: set[str] = set()
        in_tier: set[str] = set()
        for key_name, version in lookup.names:
            found = [row for eco in tier for row in rows_by_key.get((eco, key_name), ())]
            for row in found:
                record = records.get(row.vuln_id)
                if row.vuln_id in claimed or record is None or record.withdrawn or record.group_id in decided:
                    continue
                in_tier.add(record.group_id)
                yield row, record, version
            claimed.update(row.vuln_id for row in found)
        decided |= in_tier


class NoEvaluableRange(ValueError):
    """A row with neither a range nor a version list, and no distro state saying every version is affected."""


def row_affects(row: AffectedRow, version: str) -> bool:
    affected = row.osv_affected
    if not affected:
        if row.fix_state in _UNRANGED_AFFECTED:
            return True
        # An OSV entry whose only range is a commit (GIT) range, without the versions it covers: the
        # builder drops GIT ranges, and nothing is left that an installed version can be checked against.
        raise NoEvaluableRange("only commit (GIT) ranges and no affected versions listed; cannot be evaluated")
    return versions.is_affected(row.ecosystem, version.removeprefix(epoch_read_at(row.ecosystem, affected, version)),
                                affected)


# Amazon's advisory pages list fixed packages without their epoch (openssl-1.0.2k-24.amzn2.0.7 for an epoch-1
# openssl). Read as epoch 0, such a fix would sit below every epoch-1 build and nothing would ever be found, so
# a row that names no epoch anywhere is judged at the installed package's own epoch: version-release decide.
FIXES_WITHOUT_EPOCH = ("Amazon Linux:",)
_EPOCH_PREFIX = re.compile(r"^[0-9]+:")


def epoch_read_at(ecosystem: str, affected: Mapping[str, Any], version: str) -> str:
    """`version`'s epoch ("1:") when an `affected` entry that names no epoch is read at it
    (FIXES_WITHOUT_EPOCH), else "": comparing `version` without it is comparing the entry at that epoch."""
    if not ecosystem.startswith(FIXES_WITHOUT_EPOCH):  # first: every row of every package is judged here
        return ""
    found = _EPOCH_PREFIX.match(version)
    return "" if found is None or _names_an_epoch(affected) else found[0]


def implied_epoch(row: AffectedRow, installed: str) -> str:
    """The epoch a row's fixed versions are offered with: the installed version's, under FIXES_WITHOUT_EPOCH."""
    return epoch_read_at(row.ecosystem, row.osv_affected, installed)


def _names_an_epoch(affected: Mapping[str, Any]) -> bool:
    listed = affected.get("versions") or []
    events = [value for entry in affected.get("ranges") or [] if isinstance(entry, Mapping)
              for event in entry.get("events") or [] if isinstance(event, Mapping) for value in event.values()]
    return any(isinstance(value, str) and _EPOCH_PREFIX.match(value) for value in [*listed, *events])


def judge(row: AffectedRow, version: str) -> bool | str:
    """Whether `row` affects the installed `version`; when it cannot be evaluated, why not (the reason of an
    `Unevaluated`). Nothing else decides it: rows are judged once per version, not once per package."""
    try:
        return row_affects(row, version)
    except versions.InvalidVersion as error:
        return f"version not understood: {error}"
    except versions.UnknownEcosystem as error:
        return f"ecosystem not understood: {error}"
    except NoEvaluableRange as error:
        return str(error)
    except (ValueError, TypeError) as error:  # a malformed range in the database
        return f"range not understood: {error}"
