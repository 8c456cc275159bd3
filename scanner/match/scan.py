"""One scan, start to end: read the target, match against a verified database, filter, remediate.

The result, `ScanReport`, is everything a report format needs, provenance included. Time stamps
come from SOURCE_DATE_EPOCH when set, else from the bundle (`built_at`), so the same target and
bundle give the same report bytes; data ages (the bundle's, and each provider's from its captured_at)
are counted in whole days up to the scan date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner import __version__
from scanner.catalog import catalog_image
from scanner.db import VerifiedDatabase
from scanner.db.store import VulnStore
from scanner.match.filters import IgnoreRule, VexStatement, apply_filters, today
from scanner.match.matcher import Matcher, Unevaluated
from scanner.match.remediation import Remediation, remediations
from scanner.match.sbom_input import looks_like_sbom, read_sbom
from scanner.model import Distro, Finding, Package, Severity
from scanner.report.sbom import iso_timestamp, timestamp_from_environment


@dataclass(frozen=True)
class TargetInfo:
    kind: str  # "image" or "sbom"
    name: str  # first tag, the SBOM's subject, or the file name
    format: str  # docker-archive, oci-archive, oci-dir, cyclonedx-json, spdx-json
    digest: str  # image config digest, or "sha256:<hex>" of the SBOM file
    tags: tuple[str, ...] = ()
    platform: str = ""
    distro: Distro | None = None
    layers: tuple[str, ...] = ()  # layer digests, in order


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


@dataclass(frozen=True)
class ScanOptions:
    only_fixed: bool = False
    include_os_owned: bool = False
    cpe_match: bool = False
    ignore_file: str = ""
    vex_file: str = ""
    fail_on: Severity | None = None
    image: str = ""
    platform: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "only_fixed": self.only_fixed,
            "include_os_owned": self.include_os_owned,
            "cpe_match": self.cpe_match,
            "ignore_file": self.ignore_file or None,
            "vex_file": self.vex_file or None,
            "fail_on": self.fail_on.label if self.fail_on is not None else None,
            "image": self.image or None,
            "platform": self.platform or None,
        }


@dataclass(frozen=True)
class ScanReport:
    scanner_version: str
    generated_at: str  # RFC 3339 UTC: SOURCE_DATE_EPOCH, else the bundle's built_at
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
        return text + (f", oldest provider {oldest[0]} {oldest[1]} day(s)" if oldest else "")

    def severity_counts(self) -> dict[str, int]:
        counts = {severity.label: 0 for severity in sorted(Severity, reverse=True)}
        for finding in self.findings:
            counts[finding.vulnerability.severity.label] += 1
        return counts

    def fails(self, threshold: Severity | None) -> bool:
        """True when an active finding is at or above `threshold` (the `--fail-on` exit status)."""
        return threshold is not None and any(f.vulnerability.severity >= threshold for f in self.findings)


@dataclass(frozen=True)
class ScanInput:
    target: TargetInfo
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]


def report_time(built_at: str) -> str:
    moment = timestamp_from_environment()
    return iso_timestamp(moment) if moment is not None else built_at


def database_info(database: VerifiedDatabase) -> DatabaseInfo:
    manifest = database.manifest
    return DatabaseInfo(
        channel=manifest.channel,
        bundle_version=manifest.bundle_version,
        schema_version=manifest.schema_version,
        built_at=iso_timestamp(manifest.built_at),
        expires_at=iso_timestamp(manifest.expires_at),
        bundle_sha256=database.bundle_sha256,
        manifest_sha256=database.manifest_sha256,
        key_ids=database.key_ids,
        providers=tuple((p.name, iso_timestamp(p.captured_at)) for p in manifest.providers),
        warnings=database.warnings,
    )


def data_age_days(moment: str) -> int:
    """Whole days from an RFC 3339 time (a bundle's built_at, a provider's captured_at) to the scan date."""
    try:
        then = dt.datetime.fromisoformat(moment.replace("Z", "+00:00")).date()
    except ValueError:
        return 0
    return max((today() - then).days, 0)


def finding_order(finding: Finding) -> tuple[Any, ...]:
    """Most severe first, then by package, then by id: the order every report uses."""
    return (-int(finding.vulnerability.severity), finding.package.name.lower(), finding.package.version,
            finding.package.ecosystem, finding.vulnerability.id, finding.package.purl)


def read_target(path: Path, *, image: str | None = None, platform: str | None = None) -> ScanInput:
    """An SBOM file (CycloneDX or SPDX JSON) or an image archive / OCI directory."""
    if looks_like_sbom(path):
        sbom = read_sbom(path)
        return ScanInput(
            TargetInfo(kind="sbom", name=sbom.name, format=sbom.format, digest=f"sha256:{sbom.sha256}",
                       distro=sbom.distro),
            sbom.packages, sbom.warnings)
    metadata, catalog = catalog_image(path, image=image, platform=platform)
    return ScanInput(
        TargetInfo(kind="image", name=metadata.tags[0] if metadata.tags else path.name, format=metadata.format,
                   digest=metadata.config_digest, tags=metadata.tags, platform=metadata.platform,
                   distro=catalog.distro, layers=tuple(layer.digest for layer in metadata.layers)),
        tuple(catalog.packages), tuple(catalog.warnings))


def run_scan(
    scan_input: ScanInput,
    *,
    database_path: Path,
    database: DatabaseInfo,
    options: ScanOptions,
    rules: Sequence[IgnoreRule] = (),
    vex: Sequence[VexStatement] = (),
) -> ScanReport:
    with VulnStore(database_path) as store:
        matched = Matcher(store, include_os_owned=options.include_os_owned,
                          cpe_match=options.cpe_match).match(scan_input.packages)
    outcome = apply_filters(matched.findings, rules=rules, vex=vex, only_fixed=options.only_fixed)
    considered = len(set(scan_input.packages)) - len(matched.skipped_os_owned)
    return ScanReport(
        scanner_version=__version__,
        generated_at=report_time(database.built_at),
        data_age_days=data_age_days(database.built_at),
        target=scan_input.target,
        database=database,
        options=options,
        packages=considered,
        findings=tuple(sorted(outcome.active, key=finding_order)),
        suppressed=tuple(sorted(outcome.suppressed, key=finding_order)),
        unevaluated=matched.unevaluated,
        remediations=remediations(outcome.active, matched.evidence),
        hidden_unfixed=outcome.hidden_unfixed,
        skipped_os_owned=len(matched.skipped_os_owned),
        warnings=(*database.warnings, *scan_input.warnings, *outcome.warnings),
        provider_age_days=tuple((name, data_age_days(captured)) for name, captured in database.providers),
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
