"""Per package, the lowest version that fixes all of its (remaining) findings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scanner import versions
from scanner.match.matcher import Evidence, lookup_key, sort_versions
from scanner.model import Finding, Package


@dataclass(frozen=True)
class Remediation:
    package: Package
    findings: int  # findings of this package
    fixed_version: str  # lowest candidate fixing the most findings ("" when no fix is known)
    fixes: int  # how many findings `fixed_version` resolves
    unfixed: tuple[str, ...]  # vulnerability ids no known version resolves


def _still_affected(evidence: Evidence, candidate: str) -> bool:
    """True when any entry still affects `candidate`; an entry that cannot be evaluated counts as affected."""
    for entry in evidence.affected:
        try:
            if versions.is_affected(evidence.ecosystem, candidate, entry):
                return True
        except (versions.InvalidVersion, versions.UnknownEcosystem, ValueError, TypeError):
            return True
    return False


def remediations(findings: Iterable[Finding], evidence: Mapping[tuple[Package, str], Evidence]) -> tuple[Remediation, ...]:
    """One entry per package with findings, in package order.

    Candidates are the fixed versions the findings name; the lowest candidate that leaves none of them
    affected wins, else the lowest that resolves the most.
    """
    by_package: dict[Package, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_package[finding.package].append(finding)
    result: list[Remediation] = []
    for package in sorted(by_package):
        own = by_package[package]
        ecosystem = next((evidence[(package, f.vulnerability.id)].ecosystem for f in own
                          if (package, f.vulnerability.id) in evidence), lookup_key(package)[0])
        candidates = sort_versions(ecosystem, (v for f in own for v in f.fix.versions))
        best, best_fixed, resolved_ids = "", 0, set[str]()
        for candidate in candidates:
            fixed_here = {f.vulnerability.id for f in own
                          if (package, f.vulnerability.id) in evidence
                          and not _still_affected(evidence[(package, f.vulnerability.id)], candidate)}
            resolved_ids |= fixed_here
            if len(fixed_here) > best_fixed:
                best, best_fixed = candidate, len(fixed_here)
            if best_fixed == len(own):
                break
        unfixed = tuple(sorted({f.vulnerability.id for f in own} - resolved_ids))
        result.append(Remediation(package=package, findings=len(own), fixed_version=best, fixes=best_fixed,
                                  unfixed=unfixed))
    return tuple(result)
