"""`scanner scan -o cyclonedx-json`: CycloneDX 1.6 with `vulnerabilities`, ready to be used as VEX.

Components are the packages with findings; each finding is one vulnerability entry whose `affects`
points at its component and whose `analysis` says where it stands: `in_triage` for active findings,
`not_affected`/`resolved` for findings an OpenVEX statement suppressed, and `will_not_fix` with the
reason for findings an ignore rule suppressed. Provenance goes into `metadata.properties`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from typing import Any

from scanner.match.scan import ScanReport
from scanner.model import CvssScore, Finding, FixState, Package, Severity, Vulnerability
from scanner.report import dumps
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import epss_json, is_uri, kev_json, provenance

# CycloneDX's cwe is an integer >= 1. ASCII digits: str.isdigit() also accepts "²", which int() refuses.
_CWE = re.compile(r"CWE-([1-9][0-9]{0,8})", re.IGNORECASE)

_SEVERITY = {Severity.CRITICAL: "critical", Severity.HIGH: "high", Severity.MEDIUM: "medium",
             Severity.LOW: "low", Severity.NEGLIGIBLE: "info", Severity.UNKNOWN: "unknown"}
_METHOD = {"4.0": "CVSSv4", "3.1": "CVSSv31", "3.0": "CVSSv3", "2.0": "CVSSv2"}
_SOURCES = (  # id prefix -> (source name, advisory URL prefix)
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/"),
    ("GHSA-", "GitHub", "https://github.com/advisories/"),
    ("PYSEC-", "PyPA", "https://osv.dev/vulnerability/"),
    ("GO-", "Go", "https://pkg.go.dev/vuln/"),
    ("RUSTSEC-", "RustSec", "https://rustsec.org/advisories/"),
    ("DSA-", "Debian", "https://security-tracker.debian.org/tracker/"),
    ("DLA-", "Debian", "https://security-tracker.debian.org/tracker/"),
    ("USN-", "Ubuntu", "https://ubuntu.com/security/notices/"),
)
# OpenVEX justification -> CycloneDX impact analysis justification
_JUSTIFICATIONS = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def _source(vuln_id: str) -> dict[str, str]:
    quoted = urllib.parse.quote(vuln_id, safe="")  # ids come from feeds: keep the URL one
    for prefix, name, url in _SOURCES:
        if vuln_id.startswith(prefix):
            return {"name": name, "url": url + quoted}
    return {"name": "OSV", "url": f"https://osv.dev/vulnerability/{quoted}"}


def _rating(score: CvssScore) -> dict[str, Any]:
    return {"source": {"name": score.source}, "score": score.score,
            "severity": _SEVERITY[Severity.from_cvss_score(score.score)],
            "method": _METHOD.get(score.version, "other"), "vector": score.vector}


def _ratings(finding: Finding) -> list[dict[str, Any]]:
    vulnerability = finding.vulnerability
    ratings = [_rating(score) for score in vulnerability.cvss]
    if not vulnerability.severity_source.startswith("cvss:"):
        ratings.insert(0, {"source": {"name": vulnerability.severity_source or "unknown"},
                           "severity": _SEVERITY[vulnerability.severity], "method": "other"})
    return ratings


def _analysis(finding: Finding) -> dict[str, Any]:
    reason = finding.suppressed_by
    if reason.startswith("vex: fixed"):
        return {"state": "resolved", "detail": reason}
    if reason.startswith("vex: not_affected"):
        analysis: dict[str, Any] = {"state": "not_affected", "detail": reason}
        justification = next((cdx for vex, cdx in _JUSTIFICATIONS.items() if vex in reason), None)
        if justification:
            analysis["justification"] = justification
        return analysis
    if reason:
        return {"detail": reason, "response": ["will_not_fix"]}
    analysis = {"state": "in_triage"}
    if finding.fix.state is FixState.FIXED:
        analysis["response"] = ["update"]
    elif finding.fix.state is FixState.WONT_FIX:
        analysis["response"] = ["will_not_fix"]
    return analysis


def _component_refs(packages: list[Package]) -> dict[Package, str]:
    refs: dict[Package, str] = {}
    used: dict[str, int] = {}
    for package in packages:
        base = package.purl or f"{package.name}@{package.version}"
        used[base] = used.get(base, 0) + 1
        refs[package] = base if used[base] == 1 else f"{base}#{used[base]}"
    return refs


def _component(package: Package, ref: str) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "library", "bom-ref": ref, "name": package.name,
                                 "version": package.version}
    if package.purl:
        component["purl"] = package.purl
    properties = [("airgap-scanner:ecosystem", package.ecosystem), ("airgap-scanner:layer", package.layer_digest),
                  ("airgap-scanner:source_name", package.source_name),
                  *(("airgap-scanner:location", location) for location in package.locations),
                  ("airgap-scanner:compiled_into", package.compiled_into),
                  ("airgap-scanner:version_inferred_from", package.version_inferred_from)]
    component["properties"] = [{"name": k, "value": v} for k, v in properties if v]
    return component


def _exploitation_properties(vulnerability: Vulnerability) -> list[tuple[str, str]]:
    """CISA KEV and FIRST EPSS as properties: CycloneDX 1.6 has no rating method for either."""
    return [*_flatten("airgap-scanner:kev", kev_json(vulnerability.kev)),
            *_flatten("airgap-scanner:epss", epss_json(vulnerability.epss))]


def _vulnerability(finding: Finding, ref: str) -> dict[str, Any]:
    vulnerability = finding.vulnerability
    entry: dict[str, Any] = {
        "bom-ref": f"{vulnerability.id}@{ref}",
        "id": vulnerability.id,
        "source": _source(vulnerability.id),
        "references": [{"id": alias, "source": _source(alias)} for alias in vulnerability.aliases],
        "ratings": _ratings(finding),
        "cwes": [int(match[1]) for match in map(_CWE.fullmatch, vulnerability.cwes) if match],
        "description": vulnerability.summary,
        "advisories": [{"url": url} for url in vulnerability.references if is_uri(url)],
        "analysis": _analysis(finding),
        "affects": [{"ref": ref, "versions": [{
            "version": finding.package.version,
            "status": "unaffected" if finding.suppressed_by.startswith(("vex: not_affected", "vex: fixed"))
            else "affected",
        }]}],
        "properties": [{"name": "airgap-scanner:fix_state", "value": finding.fix.state.value},
                       {"name": "airgap-scanner:matched_by", "value": finding.matched_by},
                       *({"name": name, "value": value} for name, value in _exploitation_properties(vulnerability))],
    }
    if vulnerability.published:
        entry["published"] = vulnerability.published
    if vulnerability.modified:
        entry["updated"] = vulnerability.modified
    fix = finding.fix
    if fix.state is FixState.FIXED and fix.versions:
        entry["recommendation"] = f"Upgrade {finding.package.name} to {fix.versions[0]} or later" + (
            f" (source {fix.source} {fix.source_versions[0]})"
            if fix.source_versions and fix.source_versions[0] != fix.versions[0] else "")
    elif fix.state is FixState.FIXED and fix.source_versions:
        entry["recommendation"] = (f"Upgrade {finding.package.name} to its build from source {fix.source} "
                                   f"{fix.source_versions[0]} or later")
    for key in ("references", "cwes", "advisories"):
        if not entry[key]:
            del entry[key]
    if not entry["description"]:
        del entry["description"]
    return entry


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _flatten(f"{prefix}:{key}", item)]
    if isinstance(value, list):
        return [(prefix, json.dumps(value, separators=(",", ":")))] if value else []
    if value is None:
        return []
    return [(prefix, str(value).lower() if isinstance(value, bool) else str(value))]


def document(report: ScanReport) -> dict[str, Any]:
    findings = (*report.findings, *report.suppressed)
    packages = sorted({f.package for f in findings})
    refs = _component_refs(packages)
    facts = provenance(report)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "airgap-scanner:" + json.dumps(facts, sort_keys=True))
    target = report.target
    subject: dict[str, Any] = {"type": "container" if target.kind == "image" else "file",
                               "bom-ref": "scan-target", "name": target.name}
    algorithm, _, digest = target.digest.partition(":")
    if algorithm == "sha256" and len(digest) == 64:
        subject["hashes"] = [{"alg": "SHA-256", "content": digest}]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": report.generated_at,
            "tools": {"components": [{"type": "application", "name": "airgap-scanner",
                                      "version": report.scanner_version}]},
            "component": subject,
            "properties": [{"name": name, "value": value}
                           for name, value in _flatten("airgap-scanner", {**{k: v for k, v in facts.items()
                                                                             if k != "scanner"},
                                                                          "clean": report.clean})],
        },
        "components": [_component(p, refs[p]) for p in packages],
        "vulnerabilities": [_vulnerability(f, refs[f.package]) for f in findings],
    }


def render(report: ScanReport) -> bytes:
    return dumps(document(report))


register(ReportFormat(FINDINGS, "cyclonedx-json", "CycloneDX 1.6 with vulnerabilities (VEX-ready)", render))
