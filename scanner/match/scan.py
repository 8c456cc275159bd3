"""One scan, start to end: read the target, match against a verified database, filter, remediate.

The result, `ScanReport`, is everything a report format needs, provenance included. Its times are
when the scan started and ended, stamped by the caller's `scanner.clock.Clock` (SOURCE_DATE_EPOCH, when
set, replaces both: the same target and bundle then give the same report bytes); data ages (the bundle's, and each
provider's from its captured_at) are counted in whole days up to the scan's start date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner import __version__
from scanner.clock import SYSTEM_CLOCK, Clock, parse_rfc3339_utc, rfc3339
from scanner.db.store import VulnStore
from scanner.match.coverage import CoverageStatus, EcosystemCoverage, packages_by_status, target_coverage
from scanner.match.exploitation import with_exploitation
from scanner.match.filters import IgnoreRule, VexStatement, apply_filters
from scanner.match.matcher import Matcher, Unevaluated
from scanner.match.remediation import Remediation, remediations
from scanner.match.severity import gate_severity
from scanner.model import Finding, Severity
from scanner.targets import ScanInput, TargetInfo

if TYPE_CHECKING:  # the caller loads the database: matching needs no module of it
    from scanner.db.install import VerifiedDatabase


@dataclass(frozen=True)
class DatabaseInfo:
    """Provenance of the verified database the scan used."""

    channel: str
    bundle_version: int
    schema_version: str
    built_at: str  # RFC 3339 UTC
    expires_at: str
    bundle_sha256: str
    manifest_sha256: str
    key_ids: tuple[str, ...]
    providers: tuple[tuple[str, str], ...] = ()  # (name, captured_at)
    warnings: tuple[str, ...] = ()
    undated_providers: tuple[str, ...] = ()  # no date in their feeds: captured_at is the epoch, the age unknown


@dataclass(frozen=True)
class ScanOptions:
    only_fixed: bool = False
    include_os_owned: bool = False
    cpe_match: bool = False
    ignore_file: str = ""
    vex_file: str = ""
    fail_on: Severity | None = None
    require_complete: bool = False  # coverage short of complete fails the scan (docs/exit-codes.md)
    unknown_as: Severity | None = None  # the rank of unknown severities for the gate; None: fail closed
    image: str = ""
    platform: str = ""
    sort: str = "severity"  # the findings' order: "severity" (finding_order) or "risk" (risk_order)
    fail_on_kev: bool = False  # a finding in CISA's KEV catalog fails the scan (exit code 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "only_fixed": self.only_fixed,
            "include_os_owned": self.include_os_owned,
            "cpe_match": self.cpe_match,
            "ignore_file": self.ignore_file or None,
            "vex_file": self.vex_file or None,
            "fail_on": self.fail_on.label if self.fail_on is not None else None,
            "require_complete": self.require_complete,
            "unknown_as": self.unknown_as.label if self.unknown_as is not None else None,
            "image": self.image or None,
            "platform": self.platform or None,
            "sort": self.sort,
            "fail_on_kev": self.fail_on_kev,
        }


@dataclass(frozen=True)
class ScanReport:
    scanner_version: str
    generated_at: str  # RFC 3339 UTC: when the scan ended (SOURCE_DATE_EPOCH when set)
    started_at: str  # RFC 3339 UTC: when the scan started, before the target was read
    data_age_days: int
    target: TargetInfo
    database: DatabaseInfo
    options: ScanOptions
    packages: int  # packages considered (after skipping OS-owned language packages)
    findings: tuple[Finding, ...]  # active findings, most severe first
    suppressed: tuple[Finding, ...] = ()
    unevaluated: tuple[Unevaluated, ...] = ()
    remediations: tuple[Remediation, ...] = ()
    hidden_unfixed: int = 0
    skipped_os_owned: int = 0
    warnings: tuple[str, ...] = field(default=())
    provider_age_days: tuple[tuple[str, int], ...] = ()  # (provider, whole days since its captured_at)
    coverage: tuple[EcosystemCoverage, ...] = ()  # per ecosystem with packages (scanner.match.coverage)
    attestation_sha256: str = ""  # of the signed attestation written with the report (docs/attestations.md)

    @property
    def oldest_provider(self) -> tuple[str, int] | None:
        """(name, age in days) of the provider with the oldest data (ties: first by name), None without any."""
        if not self.provider_age_days:
            return None
        return min(self.provider_age_days, key=lambda item: (-item[1], item[0]))

    def data_age_text(self) -> str:
        """"bundle 0 day(s), oldest provider nvd 120 day(s)": the bundle's age hides stale feeds inside it."""
        text = f"bundle {self.data_age_days} day(s)"
        oldest = self.oldest_provider
        if oldest is None:
            return text
        if oldest[0] in self.database.undated_providers:  # its age counts from the epoch: no fact to state
            return f"{text}, oldest provider {oldest[0]}: capture time unknown (no date in its feed)"
        return f"{text}, oldest provider {oldest[0]} {oldest[1]} day(s)"

    def severity_counts(self) -> dict[str, int]:
        counts = {severity.label: 0 for severity in sorted(Severity, reverse=True)}
        for finding in self.findings:
            counts[finding.vulnerability.severity.label] += 1
        return counts

    def gate_failures(self, threshold: Severity | None) -> tuple[Finding, ...]:
        """The active findings at or above `threshold`, unknown severities ranked by `options.unknown_as`."""
        if threshold is None:
            return ()
        unknown_as = self.options.unknown_as
        return tuple(f for f in self.findings if gate_severity(f.vulnerability.severity, unknown_as) >= threshold)

    @property
    def coverage_complete(self) -> bool:
        """Every ecosystem with packages was checked against a whole export."""
        return all(entry.status is CoverageStatus.COMPLETE for entry in self.coverage)

    @property
    def packages_without_complete_data(self) -> tuple[int, int]:
        """(packages checked against partial data, packages checked against none)."""
        totals = packages_by_status(self.coverage)
        return totals[CoverageStatus.PARTIAL], totals[CoverageStatus.NONE]

    @property
    def clean(self) -> bool:
        """The claim "no known vulnerability": packages were found, every one was checked against complete
        data and evaluated, and no finding remains."""
        return bool(self.packages) and self.coverage_complete and not self.findings and not self.unevaluated

    def fails(self, threshold: Severity | None) -> bool:
        """True when a finding trips the `--fail-on` gate (`gate_failures`): exit status 1."""
        return bool(self.gate_failures(threshold))


def database_info(database: VerifiedDatabase) -> DatabaseInfo:
    manifest = database.manifest
    return DatabaseInfo(
        channel=manifest.channel,
        bundle_version=manifest.bundle_version,
        schema_version=manifest.schema_version,
        built_at=rfc3339(manifest.built_at),
        expires_at=rfc3339(manifest.expires_at),
        bundle_sha256=database.bundle_sha256,
        manifest_sha256=database.manifest_sha256,
        key_ids=database.key_ids,
        providers=tuple((p.name, rfc3339(p.captured_at)) for p in manifest.providers),
        warnings=database.warnings,
        undated_providers=tuple(p.name for p in manifest.providers if not p.captured_at_known),
    )


def data_age_days(moment: str, scan_date: dt.date) -> int:
    """Whole days from an RFC 3339 time (a bundle's built_at, a provider's captured_at) to the scan date."""
    try:
        then = parse_rfc3339_utc(moment).date()
    except ValueError:
        return 0
    return max((scan_date - then).days, 0)


def finding_order(finding: Finding) -> tuple[Any, ...]:
    """Most severe first, then by package, then by id: the order every report uses."""
    return (-int(finding.vulnerability.severity), finding.package.name.lower(), finding.package.version,
            finding.package.ecosystem, finding.vulnerability.id, finding.package.purl)


def risk_order(finding: Finding) -> tuple[Any, ...]:
    """`--sort risk`: in CISA's KEV catalog first, then by EPSS score (unscored last), then as finding_order."""
    epss = finding.vulnerability.epss
    return (finding.vulnerability.kev is None, -epss.score if epss is not None else 1.0, *finding_order(finding))


def run_scan(
    scan_input: ScanInput,
    *,
    database_path: Path,
    database: DatabaseInfo,
    options: ScanOptions,
    rules: Sequence[IgnoreRule] = (),
    vex: Sequence[VexStatement] = (),
    started_at: dt.datetime | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> ScanReport:
    """Match, filter and remediate; `started_at` is when the caller began reading the target (default:
    `clock.stamp()`, as the report's end time is)."""
    started = started_at or clock.stamp()
    scan_date = started.date()
    with VulnStore(database_path) as store:
        matched = Matcher(store, include_os_owned=options.include_os_owned,
                          cpe_match=options.cpe_match).match(scan_input.packages)
        sources = store.coverage()
        findings = with_exploitation(matched.findings, store)
    outcome = apply_filters(findings, rules=rules, vex=vex, only_fixed=options.only_fixed, on=scan_date)
    considered = set(scan_input.packages) - set(matched.skipped_os_owned)
    fixes = remediations(outcome.active, matched.evidence)
    order = risk_order if options.sort == "risk" else finding_order
    return ScanReport(
        scanner_version=__version__,
        generated_at=rfc3339(clock.stamp()),  # the end: everything the report states is known by now
        started_at=rfc3339(started),
        data_age_days=data_age_days(database.built_at, scan_date),
        target=scan_input.target,
        database=database,
        options=options,
        packages=len(considered),
        findings=tuple(sorted(outcome.active, key=order)),
        suppressed=tuple(sorted(outcome.suppressed, key=order)),
        unevaluated=matched.unevaluated,
        remediations=fixes,
        hidden_unfixed=outcome.hidden_unfixed,
        skipped_os_owned=len(matched.skipped_os_owned),
        warnings=(*database.warnings, *scan_input.warnings, *outcome.warnings),
        provider_age_days=tuple((name, data_age_days(captured, scan_date)) for name, captured in database.providers),
        coverage=target_coverage(considered, sources),
    )


@dataclass(frozen=True)
class ScanDiff:
    old: ScanReport
    new: ScanReport
    added: tuple[Finding, ...]  # in the new scan only
    resolved: tuple[Finding, ...]  # in the old scan only
    unchanged: int


def _diff_key(finding: Finding) -> tuple[str, str, str, str]:
    # The version is left out on purpose: an upgraded package that keeps a vulnerability is "unchanged".
    package = finding.package
    return package.type, package.ecosystem.split(":", 1)[0], package.name.lower(), finding.vulnerability.id


def diff_reports(old: ScanReport, new: ScanReport) -> ScanDiff:
    old_keys = {_diff_key(f) for f in old.findings}
    new_keys = {_diff_key(f) for f in new.findings}
    return ScanDiff(
        old=old, new=new,
        added=tuple(f for f in new.findings if _diff_key(f) not in old_keys),
        resolved=tuple(f for f in old.findings if _diff_key(f) not in new_keys),
        unchanged=len(old_keys & new_keys),
    )
