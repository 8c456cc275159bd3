"""`scanner scan -o json`: the stable findings document (docs/report-json.md).

The other findings formats reuse `provenance` and the per-finding helpers so that every format
carries the same facts.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from scanner.match.coverage import EcosystemCoverage
from scanner.match.exploitation import in_kev
from scanner.match.matcher import Unevaluated
from scanner.match.remediation import Remediation
from scanner.match.scan import ScanReport
from scanner.model import (
    CvssScore,
    ExploitPrediction,
    Finding,
    Fix,
    FixState,
    KnownExploited,
    Package,
    SeverityOrigin,
    Vulnerability,
)
from scanner.report import dumps
from scanner.report.base import FINDINGS, ReportFormat, register

DOCUMENT_SCHEMA = "airgap-scanner/findings/v1"
# An absolute URI as RFC 3986 writes it (ASCII, escapes well formed): what SARIF's `uri` and CycloneDX's
# `iri-reference` formats accept. Feeds' reference texts are not always one.
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:(?:{_PCHAR}|/)*(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?")


def is_uri(text: str) -> bool:
    """Whether `text` is an absolute URI (a reference link a report may pass on as one)."""
    if not _URI.fullmatch(text):
        return False
    try:
        urllib.parse.urlsplit(text).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return True


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
        "compiled_into": package.compiled_into or None,
        "version_inferred_from": package.version_inferred_from or None,
    }


def cvss_json(score: CvssScore) -> dict[str, Any]:
    return {"version": score.version, "vector": score.vector, "score": score.score, "source": score.source,
            "record": score.record}


def severity_origin_json(origin: SeverityOrigin | None) -> dict[str, Any] | None:
    """Which record rated the finding: `{"kind": "cvss", "source": "nvd", "record": "CVE-...", "vector": ...}`."""
    if origin is None:
        return None
    entry: dict[str, Any] = {"kind": origin.kind, "source": origin.source, "record": origin.record}
    if origin.cvss is not None:
        entry.update(version=origin.cvss.version, vector=origin.cvss.vector, score=origin.cvss.score)
    else:
        entry["rating"] = origin.rating
    return entry


def fix_json(fix: Fix) -> dict[str, Any]:
    """`versions` of the package to install; `source` when the finding was judged as its source package."""
    return {"state": fix.state.value, "versions": list(fix.versions),
            "source": {"name": fix.source, "versions": list(fix.source_versions)} if fix.source else None}


def fix_text(fix: Fix) -> str:
    """"1:2.36.1-8+deb11u1 (source util-linux 2.36.1-8+deb11u1)"; the source alone when no binary version can be named."""
    shown = ", ".join(fix.versions)
    if not fix.source or fix.source_versions == fix.versions:
        return shown
    source = f"source {fix.source} {', '.join(fix.source_versions)}"
    return f"{shown} ({source})" if shown else source


def kev_json(entry: KnownExploited | None) -> dict[str, Any] | None:
    """The CISA KEV entry of the finding's CVE; None when it is not in the catalog (or the database has none)."""
    if entry is None:
        return None
    return {"cve": entry.cve, "date_added": entry.date_added, "due_date": entry.due_date,
            "known_ransomware_use": entry.known_ransomware_use, "required_action": entry.required_action}


def epss_json(prediction: ExploitPrediction | None) -> dict[str, Any] | None:
    if prediction is None:
        return None
    return {"cve": prediction.cve, "score": prediction.score, "percentile": prediction.percentile,
            "date": prediction.date}


def headline_cvss(vulnerability: Vulnerability) -> CvssScore | None:
    """The CVSS score a one-number column shows: the one that rated the finding, else the highest, else None."""
    origin = vulnerability.severity_origin
    if origin is not None and origin.cvss is not None:
        return origin.cvss
    return max(vulnerability.cvss, key=lambda score: (score.score, score.version, score.source), default=None)


def kev_text(entry: KnownExploited) -> str:
    """"KEV due 2025-09-15" ("..., ransomware" when the catalog knows of ransomware use)."""
    return f"KEV due {entry.due_date}" + (", ransomware" if entry.known_ransomware_use == "Known" else "")


def epss_text(prediction: ExploitPrediction) -> str:
    """"EPSS 91.96% (percentile 0.99)": the probability of exploitation in the next 30 days."""
    return f"EPSS {prediction.score:.2%} (percentile {prediction.percentile:.2f})"


def exploitation_text(vulnerability: Vulnerability) -> str:
    """KEV and EPSS in one phrase for the text formats; "" when the finding has neither."""
    parts = [kev_text(vulnerability.kev) if vulnerability.kev else "",
             epss_text(vulnerability.epss) if vulnerability.epss else ""]
    return "; ".join(part for part in parts if part)


def finding_json(finding: Finding) -> dict[str, Any]:
    vulnerability = finding.vulnerability
    entry: dict[str, Any] = {
        "package": package_json(finding.package),
        "vulnerability": {
            "id": vulnerability.id,
            "aliases": list(vulnerability.aliases),
            "severity": vulnerability.severity.label,
            "severity_source": vulnerability.severity_source or None,
            "severity_origin": severity_origin_json(vulnerability.severity_origin),
            "cvss": [cvss_json(score) for score in vulnerability.cvss],
            "summary": vulnerability.summary or None,
            "published": vulnerability.published or None,
            "modified": vulnerability.modified or None,
            "references": list(vulnerability.references),
            "cwes": list(vulnerability.cwes),
            "kev": kev_json(vulnerability.kev),
            "epss": epss_json(vulnerability.epss),
        },
        "fix": fix_json(finding.fix),
        "matched_by": finding.matched_by,
        "advisory_id": finding.advisory_id,
    }
    if finding.suppressed_by:
        entry["suppressed_by"] = finding.suppressed_by
    return entry


def unevaluated_json(item: Unevaluated) -> dict[str, Any]:
    return {"package": package_json(item.package), "advisory_id": item.advisory_id or None, "reason": item.reason}


def coverage_json(entry: EcosystemCoverage) -> dict[str, Any]:
    return {"ecosystem": entry.ecosystem, "status": entry.status.value, "packages": entry.packages,
            "providers": list(entry.providers)}


def remediation_json(item: Remediation) -> dict[str, Any]:
    return {
        "package": {"name": item.package.name, "version": item.package.version,
                    "ecosystem": item.package.ecosystem, "purl": item.package.purl},
        "findings": item.findings,
        "upgrade_to": item.fixed_version or None,
        "source": {"name": item.source, "version": item.source_version} if item.source else None,
        "fixes": item.fixes,
        "unfixed": list(item.unfixed),
    }


def remediation_text(item: Remediation) -> str:
    """"Pillow 8.4.0 -> 9.0.1 fixes 12" (or "fixes 3 of 5", or "no fix known for 2").

    A fix judged as the source package names it: "bsdutils 1:2.36.1-8 -> 1:2.36.1-8+deb11u1 (source
    util-linux 2.36.1-8+deb11u1) fixes 2", or the source alone when no version of the binary can be named.
    """
    head = f"{item.package.name} {item.package.version}"
    if not item.fixed_version and not item.source_version:
        return f"{head}: no fixed version known for {item.findings}"
    count = f"{item.fixes}" if item.fixes == item.findings else f"{item.fixes} of {item.findings}"
    target = item.fixed_version
    if item.source and item.source_version != item.fixed_version:
        source = f"source {item.source} {item.source_version}"
        target = f"{target} ({source})" if target else source
    return f"{head} -> {target} fixes {count}"


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
        "known_exploited": len(in_kev(report.findings)),
        "suppressed": len(report.suppressed),
        "unevaluated": len(report.unevaluated),
        "hidden_unfixed": report.hidden_unfixed,
        "skipped_os_owned": report.skipped_os_owned,
        "fail_on_exceeded": report.fails(report.options.fail_on) if report.options.fail_on is not None else None,
        "clean": report.clean,
        "coverage_complete": report.coverage_complete,
        "packages_partial_coverage": report.packages_without_complete_data[0],
        "packages_no_coverage": report.packages_without_complete_data[1],
    }


def provenance(report: ScanReport) -> dict[str, Any]:
    """Who produced the report, from what, with which options, and what the data covers of the target:
    carried by every format."""
    return {
        "scanner": {"name": "airgap-scanner", "version": report.scanner_version},
        "generated_at": report.generated_at,
        "started_at": report.started_at,
        "image": target_json(report),
        "database": database_json(report),
        "options": report.options.to_json(),
        "coverage": [coverage_json(entry) for entry in report.coverage],
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
        **({"attestation_sha256": report.attestation_sha256} if report.attestation_sha256 else {}),
    }


def render(report: ScanReport) -> bytes:
    return dumps(document(report))


register(ReportFormat(FINDINGS, "json", "stable JSON document (docs/report-json.md)", render))
