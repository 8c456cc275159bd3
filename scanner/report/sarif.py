"""`scanner scan -o sarif`: SARIF 2.1.0 for code-scanning dashboards.

One rule per vulnerability, one result per finding. Suppressed findings are results carrying a
SARIF `suppressions` entry, so dashboards show them as dismissed with the reason. `security-severity`
(the CVSS score, or a representative score for a text rating) lets GitHub rank results. Levels follow
the `--fail-on` rule: a finding of unknown severity is an `error` unless `--unknown-as` ranks it, and
has a `security-severity` only when ranked.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

from scanner.match.coverage import gap_text
from scanner.match.scan import ScanReport
from scanner.match.severity import gate_severity
from scanner.model import Finding, FixState, Severity
from scanner.report import dumps
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import (
    epss_json,
    fix_text,
    is_uri,
    kev_json,
    provenance,
    remediation_text,
)

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.NEGLIGIBLE: "note"}
# GitHub buckets security-severity as critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0.
_REPRESENTATIVE_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                         Severity.LOW: "2.0", Severity.NEGLIGIBLE: "0.5"}


def _level(finding: Finding, unknown_as: Severity | None) -> str:
    return _LEVEL[gate_severity(finding.vulnerability.severity, unknown_as)]


def _security_severity(finding: Finding, unknown_as: Severity | None) -> str | None:
    """The CVSS score that rated the finding, else its (or `--unknown-as`'s) level's representative score."""
    origin = finding.vulnerability.severity_origin
    if origin is not None and origin.cvss is not None:
        return f"{origin.cvss.score:.1f}"
    severity = finding.vulnerability.severity
    if severity is Severity.UNKNOWN:
        return None if unknown_as is None else _REPRESENTATIVE_SCORE[unknown_as]
    return _REPRESENTATIVE_SCORE[severity]


def _rule(finding: Finding, unknown_as: Severity | None) -> dict[str, Any]:
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
        "defaultConfiguration": {"level": _level(finding, unknown_as)},
        "properties": {"tags": ["security", "vulnerability", vulnerability.severity.label]},
    }
    security_severity = _security_severity(finding, unknown_as)
    if security_severity is not None:
        rule["properties"]["security-severity"] = security_severity
    help_uri = next((url for url in vulnerability.references if is_uri(url)), None)
    if help_uri is not None:
        rule["helpUri"] = help_uri
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
    if finding.fix.state is FixState.FIXED and fix_text(finding.fix):
        text += f"; fixed in {fix_text(finding.fix)}"
    else:
        text += f"; fix state: {finding.fix.state.value}"
    if finding.matched_by == "cpe":
        text += " (matched by NVD CPE, opt-in)"
    if package.compiled_into:
        text += f"; compiled into an executable of OS package {package.compiled_into}"
    if package.version_inferred_from:
        text += f"; version inferred from {package.version_inferred_from}"
    return text


def _result(finding: Finding, rule_index: int, report: ScanReport) -> dict[str, Any]:
    package = finding.package
    fingerprint = hashlib.sha256(
        f"{package.type}|{package.name}|{package.version}|{finding.vulnerability.id}".encode()).hexdigest()
    result: dict[str, Any] = {
        "ruleId": finding.vulnerability.id,
        "ruleIndex": rule_index,
        "level": _level(finding, report.options.unknown_as),
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
            "fixSource": finding.fix.source or None,
            "fixSourceVersions": list(finding.fix.source_versions),
            "aliases": list(finding.vulnerability.aliases),
            "matchedBy": finding.matched_by,
            "severity": finding.vulnerability.severity.label,
            "severitySource": finding.vulnerability.severity_source,
            "kev": kev_json(finding.vulnerability.kev),
            "epss": epss_json(finding.vulnerability.epss),
            "compiledInto": package.compiled_into or None,
            "versionInferredFrom": package.version_inferred_from or None,
        },
    }
    if finding.suppressed_by:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": finding.suppressed_by}]
    return result


def _coverage_notice(report: ScanReport) -> dict[str, Any]:
    """A dashboard shows a run without results as clean: say when the data could not support that."""
    if report.coverage_complete:
        return {}
    return {"toolExecutionNotifications": [{
        "level": "warning", "descriptor": {"id": "coverage-incomplete"},
        "message": {"text": f"{gap_text(report.coverage)}: the absence of a result there is not evidence of "
                            "no vulnerability (see properties.coverage)"},
    }]}


def document(report: ScanReport) -> dict[str, Any]:
    findings = (*report.findings, *report.suppressed)
    rule_index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for finding in sorted(findings, key=lambda f: f.vulnerability.id):
        if finding.vulnerability.id not in rule_index:
            rule_index[finding.vulnerability.id] = len(rules)
            rules.append(_rule(finding, report.options.unknown_as))
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
            "invocations": [{"executionSuccessful": True, "startTimeUtc": report.started_at,
                             "endTimeUtc": report.generated_at, **_coverage_notice(report)}],
            "results": [_result(f, rule_index[f.vulnerability.id], report) for f in findings],
            "properties": {
                **provenance(report),
                "clean": report.clean,
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
