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
"""

from __future__ import annotations

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
        for package in sorted(set(packages)):
            if package.owned_by and not is_os_package(package) and not package.compiled_into \
                    and not self.include_os_owned:
                skipped.append(package)
            else:
                selected.append(package)
        unevaluated: list[Unevaluated] = []
        hits = self._match_advisories(selected, unevaluated)
        if self.cpe_match:
            match_cpes(self.store, selected, hits, unevaluated)
        findings, evidence = self._findings(selected, hits)
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
        for lookup in plan.lookups:
            index = lookup.index
            for row, record, version in rows_for(rows_by_key, records, lookup):
                decided.add((index, record.group_id))
                if row.fix_state is FixState.NOT_AFFECTED:
                    continue
                affected = judge(packages[index], row, version)
                if isinstance(affected, Unevaluated):
                    unevaluated.append(affected)
                elif affected:
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


def _unevaluated_key(item: Unevaluated) -> tuple[Package, str, str]:
    return item.package, item.advisory_id, item.reason
