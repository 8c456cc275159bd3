"""`scanner scan -o sarif`: SARIF 2.1.0 for code-scanning dashboards.

One rule per vulnerability, one result per finding. Suppressed findings are results carrying a
SARIF `suppressions` entry, so dashboards show them as dismissed with the reason. `security-severity`
(the CVSS score, or a representative score for a text rating) lets GitHub rank results.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

from scanner.match.scan import ScanReport
from scanner.model import Finding, FixState, Severity
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import dumps, provenance, remediation_text

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.NEGLIGIBLE: "note", Severity.UNKNOWN: "warning"}
# GitHub buckets security-severity as critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0.
_REPRESENTATIVE_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                         Severity.LOW: "2.0", Severity.NEGLIGIBLE: "0.5", Severity.UNKNOWN: "0.0"}


def _security_severity(finding: Finding) -> str:
    vulnerability = finding.vulnerability
    if vulnerability.cvss and vulnerability.severity_source.startswith("cvss:"):
        return f"{vulnerability.cvss[0].score:.1f}"
    return _REPRESENTATIVE_SCORE[vulnerability.severity]


def _rule(finding: Finding) -> dict[str, Any]:
    vulnerability = finding.vulnerability
    summary = vulnerability.summary or vulnerability.id
    aliases = ", ".join(vulnerability.aliases)
    help_text = f"{vulnerability.id}: {summary}" + (f" (aliases: {aliases})" if aliases else "")
    rule: dict[str, Any] = {
        "id": vulnerability.id,
        "name": "VulnerablePackage",
        "shortDescription": {"text": f"{vulnerability.id}: {summary}"[:1024]},
        "fullDescription": {"text": summary},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": _LEVEL[vulnerability.severity]},
        "properties": {
            "security-severity": _security_severity(finding),
            "tags": ["security", "vulnerability", vulnerability.severity.label],
        },
    }
    if vulnerability.references:
        rule["helpUri"] = vulnerability.references[0]
    return rule


def _location(finding: Finding, report: ScanReport) -> dict[str, Any]:
    package = finding.package
    path = package.locations[0].split("!/", 1)[0] if package.locations else report.target.name
    return {
        # An image path (or the target's name) as a relative URI reference: spaces and the like escaped.
        "physicalLocation": {"artifactLocation": {"uri": urllib.parse.quote(path, safe="/:@!$&'()*+,;=")}},
        "logicalLocations": [{"name": package.purl or package.name, "kind": "package"}],
    }


def _message(finding: Finding) -> str:
    package = finding.package
    text = f"{package.name} {package.version} ({package.ecosystem or package.type}) is affected by " \
           f"{finding.vulnerability.id}"
    if finding.fix.state is FixState.FIXED and finding.fix.versions:
        text += f"; fixed in {', '.join(finding.fix.versions)}"
    else:
        text += f"; fix state: {finding.fix.state.value}"
    if finding.matched_by == "cpe":
        text += " (matched by NVD CPE, opt-in)"
    return text


def _result(finding: Finding, rule_index: int, report: ScanReport) -> dict[str, Any]:
    package = finding.package
    fingerprint = hashlib.sha256(
        f"{package.type}|{package.name}|{package.version}|{finding.vulnerability.id}".encode()).hexdigest()
    result: dict[str, Any] = {
        "ruleId": finding.vulnerability.id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.vulnerability.severity],
        "message": {"text": _message(finding)},
        "locations": [_location(finding, report)],
        "partialFingerprints": {"packageVulnerability/v1": fingerprint},
        "properties": {
            "package": package.name,
            "installedVersion": package.version,
            "purl": package.purl,
            "ecosystem": package.ecosystem,
            "layer": package.layer_digest,
            "fixState": finding.fix.state.value,
            "fixedVersions": list(finding.fix.versions),
            "aliases": list(finding.vulnerability.aliases),
            "matchedBy": finding.matched_by,
            "severity": finding.vulnerability.severity.label,
            "severitySource": finding.vulnerability.severity_source,
        },
    }
    if finding.suppressed_by:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": finding.suppressed_by}]
    return result


def document(report: ScanReport) -> dict[str, Any]:
    findings = (*report.findings, *report.suppressed)
    rule_index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for finding in sorted(findings, key=lambda f: f.vulnerability.id):
        if finding.vulnerability.id not in rule_index:
            rule_index[finding.vulnerability.id] = len(rules)
            rules.append(_rule(finding))
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "airgap-scanner",
                "version": report.scanner_version,
                "semanticVersion": report.scanner_version,
                "rules": rules,
            }},
            "automationDetails": {"id": f"airgap-scanner/{report.target.digest}"},
            "results": [_result(f, rule_index[f.vulnerability.id], report) for f in findings],
            "properties": {
                **provenance(report),
                "remediation": [remediation_text(r) for r in report.remediations],
                "unevaluated": [f"{u.package.name} {u.package.version} {u.advisory_id}: {u.reason}".strip()
                                for u in report.unevaluated],
                "warnings": list(report.warnings),
            },
        }],
    }


def render(report: ScanReport) -> bytes:
    return dumps(document(report))


register(ReportFormat(FINDINGS, "sarif", "SARIF 2.1.0 for code-scanning dashboards", render))
