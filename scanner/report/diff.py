"""`scanner diff OLD NEW`: findings added and resolved between two builds of an image (table or json)."""

from __future__ import annotations

from typing import Any

from scanner.match.scan import ScanDiff, ScanReport
from scanner.model import Finding
from scanner.report.base import DIFF, ReportFormat, register
from scanner.report.findings_json import (
    database_json,
    dumps,
    finding_json,
    fix_text,
    summary_json,
    target_json,
)
from scanner.report.table import installed_cell, package_cell
from scanner.terminal import printable


def _side(report: ScanReport) -> dict[str, Any]:
    return {"image": target_json(report), "summary": summary_json(report)}


def document(diff: ScanDiff) -> dict[str, Any]:
    return {
        "schema": "airgap-scanner/diff/v1",
        "scanner": {"name": "airgap-scanner", "version": diff.new.scanner_version},
        "generated_at": diff.new.generated_at,
        "database": database_json(diff.new),
        "options": diff.new.options.to_json(),
        "old": _side(diff.old),
        "new": _side(diff.new),
        "added": [finding_json(f) for f in diff.added],
        "resolved": [finding_json(f) for f in diff.resolved],
        "unchanged": diff.unchanged,
    }


def render_json(diff: ScanDiff) -> bytes:
    return dumps(document(diff))


def _line(finding: Finding) -> str:
    fixed = f" (fixed in {fix_text(finding.fix)})" if fix_text(finding.fix) else ""
    return (f"  {finding.vulnerability.severity.label.upper():<10} {package_cell(finding.package)} "
            f"{installed_cell(finding.package)}  {finding.vulnerability.id}{fixed}")


def render_table(diff: ScanDiff) -> bytes:
    lines = [f"Old: {diff.old.target.name} {diff.old.target.digest}",
             f"New: {diff.new.target.name} {diff.new.target.digest}",
             f"Database: {diff.new.database.channel} v{diff.new.database.bundle_version}, "
             f"built {diff.new.database.built_at}, data age: {diff.new.data_age_text()}", ""]
    lines.append(f"Added ({len(diff.added)}):")
    lines += [_line(f) for f in diff.added] or ["  none"]
    lines.append(f"Resolved ({len(diff.resolved)}):")
    lines += [_line(f) for f in diff.resolved] or ["  none"]
    lines += ["", f"{len(diff.added)} added, {len(diff.resolved)} resolved, {diff.unchanged} unchanged"]
    return "".join(printable(line) + "\n" for line in lines).encode("utf-8")  # names come from the images


register(ReportFormat(DIFF, "table", "added and resolved findings, for people", render_table))
register(ReportFormat(DIFF, "json", "added and resolved findings as JSON (docs/report-json.md)", render_json))
