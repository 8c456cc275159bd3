"""Matching packages against the vulnerability database: the `Matcher` and its result.

The rules live with the concern they belong to: where each package is searched and which rows judge it
(`lookup.py`), which ecosystems an OS release reads (`releases.py`: spellings, Red Hat streams, modules
and extended support, Oracle Ksplice, Alpine edge), advisories covering several CVEs (`expansion.py`),
NVD CPE matching (`cpe.py`), fixes (`fixes.py`) and the vulnerability with its severity (`groups.py`).

- OS packages (deb, apk, rpm) match only their own distro release's advisories, with the distro's
  version order.
- Language packages match their ecosystem by normalised name; those whose files an OS package owns
  are skipped unless asked for (the distro patches them; their upstream advisories mislead). Go modules
  and Rust crates compiled into an OS package's executable are matched all the same
  (`Package.compiled_into`): a distro issues no advisories for the Go standard library in its restic.
- Withdrawn records never match; a record whose fix state is "not affected" never matches.
- One finding per (package, alias group); its id is the group id (the CVE when there is one).
- A version or range that cannot be evaluated gives an `Unevaluated` entry, never a silent answer.
- NVD CPE matching runs only when asked for, and its findings say `matched_by="cpe"`.
- Copies of one package found in several places (another layer or path) match alike: the first is matched,
  and every copy gets its findings.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.db.store import AffectedRow, VulnStore
from scanner.match.cpe import match_cpes
from scanner.match.expansion import expand_advisories, fixing_advisories
from scanner.match.fixes import fix_rows, merge_fix
from scanner.match.groups import GroupFacts
from scanner.match.lookup import (
    Hit,
    HitKey,
    Unevaluated,
    is_os_package,
    judge,
    lookup_key,
    lookup_names,
    plan_lookups,
    rows_for,
)
from scanner.model import Finding, FixState, Package

__all__ = ["Evidence", "MatchResult", "Matcher", "Unevaluated"]


@dataclass(frozen=True)
class Evidence:
    """The affected entries behind one finding, kept to compute remediations after filtering."""

    ecosystem: str
    affected: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class MatchResult:
    findings: tuple[Finding, ...]
    unevaluated: tuple[Unevaluated, ...] = ()
    skipped_os_owned: tuple[Package, ...] = ()
    evidence: Mapping[tuple[Package, str], Evidence] = field(default_factory=dict)


class Matcher:
    def __init__(self, store: VulnStore, *, include_os_owned: bool = False, cpe_match: bool = False) -> None:
        self.store = store
        self.include_os_owned = include_os_owned
        self.cpe_match = cpe_match

    def match(self, packages: Sequence[Package]) -> MatchResult:
        selected: list[Package] = []
        skipped: list[Package] = []
        # Readers list packages in order already: kept in it (first of equals kept, as a set would), the sort
        # is one pass.
        for package in sorted(dict.fromkeys(packages)):
            if package.owned_by and not is_os_package(package) and not package.compiled_into \
                    and not self.include_os_owned:
                skipped.append(package)
            else:
                selected.append(package)
        copy_of = _first_copies(selected)
        distinct = [package for package, first in zip(selected, copy_of, strict=True) if package is first]
        unevaluated: list[Unevaluated] = []
        hits = self._match_advisories(distinct, unevaluated)
        if self.cpe_match:
            match_cpes(self.store, distinct, hits, unevaluated)
        findings, evidence = self._findings(distinct, hits)
        if len(distinct) < len(selected):
            findings, evidence, unevaluated = _repeat_for_copies(selected, copy_of, findings, evidence, unevaluated)
        return MatchResult(findings=findings, unevaluated=tuple(sorted(set(unevaluated), key=_unevaluated_key)),
                           skipped_os_owned=tuple(skipped), evidence=evidence)

    def _match_advisories(self, packages: list[Package], unevaluated: list[Unevaluated]) -> dict[HitKey, Hit]:
        plan = plan_lookups(self.store, packages, unevaluated)
        rows_by_key: dict[tuple[str, str], list[AffectedRow]] = {}
        for eco in sorted(plan.wanted):
            for name, rows in self.store.affected(eco, plan.wanted[eco]).items():
                rows_by_key[(eco, name)] = rows
        records = self.store.vulnerabilities(row.vuln_id for rows in rows_by_key.values() for row in rows)

        matched_by = ["distro" if is_os_package(package) else "ecosystem" for package in packages]
        hits: dict[HitKey, Hit] = {}
        decided: set[HitKey] = set()  # (package, group) pairs some record of the group itself speaks about
        # Binary packages of one source (libssl3 and openssl from the openssl source) are searched by the
        # source's name and version: each (row, version) is judged once. Rows live as long as rows_by_key.
        verdicts: dict[tuple[int, str], bool | str] = {}
        for lookup in plan.lookups:
            index = lookup.index
            for row, record, version in rows_for(rows_by_key, records, lookup):
                decided.add((index, record.group_id))
                if row.fix_state is FixState.NOT_AFFECTED:
                    continue
                verdict = verdicts.get((id(row), version))
                if verdict is None:
                    verdict = verdicts[(id(row), version)] = judge(row, version)
                if isinstance(verdict, str):
                    unevaluated.append(Unevaluated(packages[index], row.vuln_id, verdict))
                elif verdict:
                    hit = hits.setdefault((index, record.group_id), Hit(matched_by=matched_by[index]))
                    hit.rows.append((row, record))
        expand_advisories(self.store, packages, hits, decided)
        return hits

    def _findings(self, packages: list[Package], hits: Mapping[HitKey, Hit]) -> tuple[
            tuple[Finding, ...], dict[tuple[Package, str], Evidence]]:
        groups = {group for _, group in hits}
        members = self.store.group_members(groups)
        all_ids = set(groups)
        for group in groups:
            all_ids.update(members.get(group, ()))
        matched_ids_all = {row.vuln_id for hit in hits.values() for row, _ in (*hit.rows, *hit.advisory_rows)}
        all_ids |= matched_ids_all
        details = self.store.details(matched_ids_all | groups)
        facts = GroupFacts(members, self.store.severities(all_ids), self.store.vulnerabilities(all_ids), details,
                           fixing_advisories(self.store, hits, members, details))
        entries: dict[int, Mapping[str, Any]] = {}  # id(row) -> entry: rows are shared by many findings
        findings: list[Finding] = []
        evidence: dict[tuple[Package, str], Evidence] = {}
        for (index, group), hit in sorted(hits.items(), key=lambda item: item[0]):
            package = packages[index]
            rows = fix_rows(hit)
            ecosystem, _, installed = lookup_key(package)
            installed_by_name = dict(lookup_names(package))
            judged = [(row, installed_by_name.get(row.package, installed)) for row in rows]
            vulnerability = facts.vulnerability(group, hit, os_package=is_os_package(package))
            findings.append(Finding(package=package, vulnerability=vulnerability,
                                    fix=merge_fix(package, ecosystem, judged), matched_by=hit.matched_by,
                                    advisory_id=min(row.vuln_id for row in rows)))
            for row in rows:
                if id(row) not in entries:
                    entries[id(row)] = _evidence_entry(row)
            evidence[(package, group)] = Evidence(ecosystem=rows[0].ecosystem,
                                                  affected=tuple(entries[id(row)] for row in rows))
        return tuple(findings), evidence


def _evidence_entry(row: AffectedRow) -> Mapping[str, Any]:
    entry = row.osv_affected
    if entry:
        return entry
    # Rows without a range: CPE rows carry an end bound only; distro rows without a fix affect every version.
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if row.fixed:
        events.append({"fixed": row.fixed[0]})
    return {"ranges": [{"type": "ECOSYSTEM", "events": events}]}


# Where a package was found; matching reads none of it. Every other field that tells packages apart (those
# added later included) tells copies apart, and so does `metadata`, which equality ignores but matching may
# read (an rpm's modularity label routes it to its module stream).
_PLACE_FIELDS = frozenset({"layer_index", "layer_digest", "locations"})
_MATCHED_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Package)
                                        if (f.compare or f.name == "metadata") and f.name not in _PLACE_FIELDS))


def _first_copies(packages: Sequence[Package]) -> list[Package]:
    """For each of the sorted `packages`, the first one it is a copy of (itself when none): the same package
    found in another place, such as the Go standard library compiled into each Go executable of an image.

    Copies match alike, so only the first of them is matched (`_repeat_for_copies`). They share a name and a
    version, which sorted packages keep together.
    """
    firsts: list[Package] = []
    previous: Package | None = None
    seen: dict[tuple[object, ...], Package] = {}  # the first copies among packages named as `previous`
    for package in packages:
        if previous is None or package.name != previous.name or package.version != previous.version:
            seen.clear()
            firsts.append(package)
        else:
            if not seen:
                seen[_MATCHED_FIELDS(previous)] = previous
            firsts.append(seen.setdefault(_MATCHED_FIELDS(package), package))
        previous = package
    return firsts


def _repeat_for_copies(
    packages: Sequence[Package], copy_of: Sequence[Package], findings: Sequence[Finding],
    evidence: Mapping[tuple[Package, str], Evidence], unevaluated: Sequence[Unevaluated],
) -> tuple[tuple[Finding, ...], dict[tuple[Package, str], Evidence], list[Unevaluated]]:
    """What the first copies matched, repeated for every copy, in the order matching each one would give:
    by package, then as the first copy's findings are (by alias group)."""
    by_package: dict[Package, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_package[finding.package].append(finding)
    copies: dict[Package, list[Package]] = defaultdict(list)
    repeated: list[Finding] = []
    every_evidence = dict(evidence)
    for package, first in zip(packages, copy_of, strict=True):
        if package is first:
            repeated.extend(by_package.get(package, ()))
            continue
        copies[first].append(package)
        for finding in by_package.get(first, ()):
            repeated.append(dataclasses.replace(finding, package=package))
            group = finding.vulnerability.id
            every_evidence[(package, group)] = evidence[(first, group)]
    every_unevaluated = [*unevaluated, *(dataclasses.replace(item, package=package) for item in unevaluated
                                         for package in copies.get(item.package, ()))]
    return tuple(repeated), every_evidence, every_unevaluated


def _unevaluated_key(item: Unevaluated) -> tuple[Package, str, str]:
    return item.package, item.advisory_id, item.reason
