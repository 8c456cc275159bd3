"""What the bundle's data covers of a scan target: per ecosystem with packages, complete, partial or none.

"No findings" means "clean" only where the data is a whole export (docs/scanning.md, "Coverage"). The
builder records, per provider and ecosystem, whether its input was one (the `coverage` table, read from
the verified database); here each ecosystem the target has packages in gets a status:

- `complete`: some provider holds a whole export of it;
- `partial`: providers have records there, none a whole export (stray OSV records of a release);
- `none`: no provider has anything there.

OS packages belong to their release, spelled as the matcher reads it (`Debian:12`; Ubuntu 22.04 is also
`Ubuntu:22.04:LTS`); language packages to their ecosystem (`PyPI`, `Go`). NVD's CPE data belongs to no
package ecosystem, so the opt-in CPE matcher never makes anything complete, and Ubuntu Pro data (ESM
fixes beyond the release's own) adds records to a release without completing it; so does a Red Hat
minor release's extended-support (EUS, AUS ...) data, which such an image reads before its major
release's mainline streams. An Oracle Linux release counts its Ksplice ecosystem (`Oracle Linux:8:ksplice`)
too. A release no provider has data for (Amazon Linux, SUSE, Oracle, Azure Linux, Wolfi and Chainguard
as much as Debian) is `none`, never clean.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scanner.db.store import SourceCoverage
from scanner.match.lookup import is_os_package
from scanner.match.releases import is_spelling, route
from scanner.model import Package


class CoverageStatus(enum.StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"
    NONE = "none"


@dataclass(frozen=True)
class EcosystemCoverage:
    """The coverage of one ecosystem (or OS release) the target has packages in."""

    ecosystem: str  # "Debian:12", "PyPI"; "<type> (no advisory ecosystem)" for an unknown OS release
    status: CoverageStatus
    packages: int  # the target's packages in it
    providers: tuple[str, ...]  # providers with data for it, sorted


def coverage_ecosystem(package: Package) -> str:
    """The ecosystem whose data a package is checked against: its release for OS packages."""
    return package.ecosystem or f"{package.type} (no advisory ecosystem)"


def _reads(package: Package) -> tuple[tuple[str, bool, bool], ...]:
    """(prefix, with suffixes, completes) of the ecosystems the matcher reads for a package (`releases.route`)."""
    if not package.ecosystem:
        return ()
    if is_os_package(package):
        chosen = route(package)
        return tuple((prefix, not chosen.exact, prefix not in chosen.extra) for prefix in chosen.prefixes)
    return ((package.ecosystem, False, True),)


def target_coverage(packages: Iterable[Package], sources: Sequence[SourceCoverage]) -> tuple[EcosystemCoverage, ...]:
    """The coverage of every ecosystem `packages` are in, by ecosystem name."""
    counts: dict[str, int] = defaultdict(int)
    reads: dict[str, set[tuple[str, bool, bool]]] = defaultdict(set)
    for package in packages:
        ecosystem = coverage_ecosystem(package)
        counts[ecosystem] += 1
        reads[ecosystem].update(_reads(package))
    found = []
    for ecosystem in sorted(counts):
        held = [(completes, source) for prefix, suffixed, completes in sorted(reads[ecosystem]) for source in sources
                if (is_spelling(source.ecosystem, prefix) if suffixed else source.ecosystem == prefix)]
        if any(source.complete and completes for completes, source in held):
            status = CoverageStatus.COMPLETE
        elif held:
            status = CoverageStatus.PARTIAL
        else:
            status = CoverageStatus.NONE
        found.append(EcosystemCoverage(ecosystem, status, counts[ecosystem],
                                       tuple(sorted({source.provider for _, source in held}))))
    return tuple(found)


def packages_by_status(coverage: Iterable[EcosystemCoverage]) -> dict[CoverageStatus, int]:
    totals = dict.fromkeys(CoverageStatus, 0)
    for entry in coverage:
        totals[entry.status] += entry.packages
    return totals


def gap_text(coverage: Sequence[EcosystemCoverage]) -> str:
    """"coverage complete", or how many packages were checked against partial or no data."""
    totals = packages_by_status(coverage)
    if not totals[CoverageStatus.PARTIAL] and not totals[CoverageStatus.NONE]:
        return "coverage complete"
    return (f"coverage incomplete: {totals[CoverageStatus.PARTIAL]} package(s) checked against partial data, "
            f"{totals[CoverageStatus.NONE]} against none")


def entry_text(entry: EcosystemCoverage) -> str:
    """One line of a report: "Debian:12  partial  88 package(s)  osv"."""
    return (f"{entry.ecosystem:<24} {entry.status.value:<8} {entry.packages:>6} package(s)  "
            f"{', '.join(entry.providers) or '(no provider)'}")


def source_lines(sources: Sequence[SourceCoverage]) -> list[str]:
    """Per ecosystem, what each provider holds: the bundle's coverage as `scanner db status` and
    `dbbuilder inspect` show it ("Debian:12  partial  osv: 6 records, newest …, partial (loose records)")."""
    by_ecosystem: dict[str, list[SourceCoverage]] = defaultdict(list)
    for source in sources:
        by_ecosystem[source.ecosystem].append(source)
    lines = []
    for ecosystem in sorted(by_ecosystem):
        entries = sorted(by_ecosystem[ecosystem], key=lambda source: source.provider)
        status = CoverageStatus.COMPLETE if any(source.complete for source in entries) else CoverageStatus.PARTIAL
        held = "; ".join(f"{source.provider}: {source.records} records, newest {source.newest or 'undated'}, "
                         f"{'complete' if source.complete else 'partial'} ({source.basis})" for source in entries)
        lines.append(f"{ecosystem:<24} {status.value:<8} {held}")
    return lines
