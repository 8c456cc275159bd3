"""`scanner scan -o json`: the stable findings document (docs/report-json.md).

The other findings formats reuse `provenance` and the per-finding helpers so that every format
carries the same facts.
"""

from __future__ import annotations

import json
from typing import Any

from scanner.match.matcher import Unevaluated
from scanner.match.remediation import Remediation
from scanner.match.scan import ScanReport
from scanner.model import CvssScore, Finding, FixState, Package
from scanner.report.base import FINDINGS, ReportFormat, register

DOCUMENT_SCHEMA = "airgap-scanner/findings/v1"


def dumps(document: Any) -> bytes:
    """UTF-8 JSON, two-space indent, key order as built, trailing newline: byte-stable."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def package_json(package: Package) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "type": package.type,
        "ecosystem": package.ecosystem,
        "purl": package.purl,
        "source_name": package.source_name or None,
        "source_version": package.source_version or None,
        "layer": package.layer_digest or None,
        "layer_index": package.layer_index,
        "locations": list(package.locations),
        "owned_by": package.owned_by or None,
    }


def cvss_json(score: CvssScore) -> dict[str, Any]:
    return {"version": score.version, "vector": score.vector, "score": score.score, "source": score.source}


def finding_json(finding: Finding) -> dict[str, Any]:
    vulnerability = finding.vulnerability
    entry: dict[str, Any] = {
        "package": package_json(finding.package),
        "vulnerability": {
            "id": vulnerability.id,
            "aliases": list(vulnerability.aliases),
            "severity": vulnerability.severity.label,
            "severity_source": vulnerability.severity_source or None,
            "cvss": [cvss_json(score) for score in vulnerability.cvss],
            "summary": vulnerability.summary or None,
            "published": vulnerability.published or None,
            "modified": vulnerability.modified or None,
            "references": list(vulnerability.references),
            "cwes": list(vulnerability.cwes),
        },
        "fix": {"state": finding.fix.state.value, "versions": list(finding.fix.versions)},
        "matched_by": finding.matched_by,
        "advisory_id": finding.advisory_id,
    }
    if finding.suppressed_by:
        entry["suppressed_by"] = finding.suppressed_by
    return entry


def unevaluated_json(item: Unevaluated) -> dict[str, Any]:
    return {"package": package_json(item.package), "advisory_id": item.advisory_id or None, "reason": item.reason}


def remediation_json(item: Remediation) -> dict[str, Any]:
    return {
        "package": {"name": item.package.name, "version": item.package.version,
                    "ecosystem": item.package.ecosystem, "purl": item.package.purl},
        "findings": item.findings,
        "upgrade_to": item.fixed_version or None,
        "fixes": item.fixes,
        "unfixed": list(item.unfixed),
    }


def remediation_text(item: Remediation) -> str:
    """"Pillow 8.4.0 -> 9.0.1 fixes 12" (or "fixes 3 of 5", or "no fix known for 2")."""
    head = f"{item.package.name} {item.package.version}"
    if not item.fixed_version:
        return f"{head}: no fixed version known for {item.findings}"
    count = f"{item.fixes}" if item.fixes == item.findings else f"{item.fixes} of {item.findings}"
    return f"{head} -> {item.fixed_version} fixes {count}"


def target_json(report: ScanReport) -> dict[str, Any]:
    target = report.target
    distro = target.distro
    return {
        "kind": target.kind,
        "name": target.name,
        "format": target.format,
        "digest": target.digest,
        "tags": list(target.tags),
        "platform": target.platform or None,
        "distro": None if distro is None else {
            "id": distro.id, "version_id": distro.version_id, "codename": distro.codename or None,
            "pretty_name": distro.pretty_name or None,
        },
        "layers": list(target.layers),
    }


def database_json(report: ScanReport) -> dict[str, Any]:
    database = report.database
    ages = dict(report.provider_age_days)
    oldest = report.oldest_provider
    return {
        "channel": database.channel,
        "bundle_version": database.bundle_version,
        "schema_version": database.schema_version,
        "built_at": database.built_at,
        "expires_at": database.expires_at,
        "data_age_days": report.data_age_days,
        "bundle_sha256": database.bundle_sha256,
        "manifest_sha256": database.manifest_sha256,
        "key_ids": list(database.key_ids),
        "providers": [{"name": name, "captured_at": captured, "age_days": ages.get(name)}
                      for name, captured in database.providers],
        "oldest_provider": None if oldest is None else {"name": oldest[0], "age_days": oldest[1]},
    }


def summary_json(report: ScanReport) -> dict[str, Any]:
    return {
        "packages": report.packages,
        "vulnerable_packages": len({f.package for f in report.findings}),
        "findings": len(report.findings),
        "by_severity": report.severity_counts(),
        "fixable": sum(1 for f in report.findings if f.fix.state is FixState.FIXED),
        "suppressed": len(report.suppressed),
        "unevaluated": len(report.unevaluated),
        "hidden_unfixed": report.hidden_unfixed,
        "skipped_os_owned": report.skipped_os_owned,
        "fail_on_exceeded": report.fails(report.options.fail_on) if report.options.fail_on is not None else None,
    }


def provenance(report: ScanReport) -> dict[str, Any]:
    """Who produced the report, from what, with which options: carried by every format."""
    return {
        "scanner": {"name": "airgap-scanner", "version": report.scanner_version},
        "generated_at": report.generated_at,
        "image": target_json(report),
        "database": database_json(report),
        "options": report.options.to_json(),
    }


def document(report: ScanReport) -> dict[str, Any]:
    return {
        "schema": DOCUMENT_SCHEMA,
        **provenance(report),
        "summary": summary_json(report),
        "findings": [finding_json(f) for f in report.findings],
        "remediation": [remediation_json(r) for r in report.remediations],
        "suppressed": [finding_json(f) for f in report.suppressed],
        "unevaluated": [unevaluated_json(u) for u in report.unevaluated],
        "warnings": list(report.warnings),
    }


def render(report: ScanReport) -> bytes:
    return dumps(document(report))


register(ReportFormat(FINDINGS, "json", "stable JSON document (docs/report-json.md)", render))
