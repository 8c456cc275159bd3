"""Per package, the lowest version that fixes all of its (remaining) findings.

Candidates are weighed in the terms the findings were judged in (a deb's source package and version,
say), and the winner is offered in the package's own terms, with the source's version beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scanner import versions
from scanner.match.fixes import installable_version, sort_versions
from scanner.match.lookup import epoch_read_at, lookup_key
from scanner.match.matcher import Evidence
from scanner.model import Finding, Package


@dataclass(frozen=True)
class Remediation:
    package: Package
    findings: int  # findings of this package
    fixed_version: str  # the package's version to install ("" when no fix is known, or none can be named)
    fixes: int  # how many findings the fix resolves
    unfixed: tuple[str, ...]  # vulnerability ids no known version resolves
    source: str = ""  # the source package the fix is a version of, when judged as the source
    source_version: str = ""  # that source's lowest version fixing the most findings


class _AffectedCache:
    """is_affected per (entry, candidate): entries are shared by every finding of the same record."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, str, str], bool] = {}

    def entry_affects(self, ecosystem: str, entry: Mapping[str, Any], candidate: str) -> bool:
        key = (id(entry), ecosystem, candidate)
        if key not in self._known:
            try:
                # A candidate offered at the installed epoch (an Amazon fix written without one) is weighed
                # against such an entry without it, as the finding was judged.
                judged = candidate.removeprefix(epoch_read_at(ecosystem, entry, candidate))
                self._known[key] = versions.is_affected(ecosystem, judged, entry)
            except (versions.InvalidVersion, versions.UnknownEcosystem, ValueError, TypeError):
                self._known[key] = True  # cannot be evaluated: not counted as a fix
        return self._known[key]

    def still_affected(self, evidence: Evidence, candidate: str) -> bool:
        return any(self.entry_affects(evidence.ecosystem, entry, candidate) for entry in evidence.affected)

    def lowest_fix(self, candidates: Iterable[str], backed: list[tuple[str, Evidence]],
                   wanted: int) -> tuple[str, int, frozenset[str]]:
        """(the lowest candidate resolving the most findings, how many it resolves, the ids some candidate
        weighed resolves), weighing candidates from the lowest until one resolves `wanted` findings."""
        best, best_fixed, resolved = "", 0, set[str]()
        for candidate in candidates:
            fixed_here = {vuln_id for vuln_id, found in backed if not self.still_affected(found, candidate)}
            resolved |= fixed_here
            if len(fixed_here) > best_fixed:
                best, best_fixed = candidate, len(fixed_here)
            if best_fixed == wanted:
                break
        return best, best_fixed, frozenset(resolved)


def remediations(findings: Iterable[Finding], evidence: Mapping[tuple[Package, str], Evidence]) -> tuple[Remediation, ...]:
    """One entry per package with findings, in package order.

    Candidates are the fixed versions the findings name; the lowest candidate that leaves none of them
    affected wins, else the lowest that resolves the most.
    """
    cache = _AffectedCache()
    # Packages with the same findings at the same version (the Go standard library in each binary of an
    # image) weigh the same candidates against the same entries: each such outcome is worked out once.
    outcomes: dict[tuple[object, ...], tuple[str, int, frozenset[str]]] = {}
    by_package: dict[Package, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_package[finding.package].append(finding)
    result: list[Remediation] = []
    for package in sorted(by_package):
        own = by_package[package]
        backed = [(f.vulnerability.id, found) for f in own
                  if (found := evidence.get((package, f.vulnerability.id))) is not None]
        ecosystem = backed[0][1].ecosystem if backed else lookup_key(package)[0]
        # A finding judged as its source package is weighed by the source's versions, as its evidence is.
        candidates = sort_versions(ecosystem, (v for f in own
                                               for v in (f.fix.source_versions if f.fix.source else f.fix.versions)))
        source = next((f.fix.source for f in own if f.fix.source), "")
        weighed = (tuple(candidates), len(own),
                   tuple((vuln_id, found.ecosystem, tuple(map(id, found.affected))) for vuln_id, found in backed))
        if weighed not in outcomes:
            outcomes[weighed] = cache.lowest_fix(candidates, backed, len(own))
        best, best_fixed, resolved_ids = outcomes[weighed]
        unfixed = tuple(sorted({f.vulnerability.id for f in own} - resolved_ids))
        result.append(Remediation(
            package=package, findings=len(own), unfixed=unfixed, fixes=best_fixed,
            fixed_version=installable_version(package, ecosystem, package.match_source_version, best)
            if best and source else best,
            source=source if best else "", source_version=best if source else ""))
    return tuple(result)
