"""`scanner diff OLD NEW`: findings added and resolved between two builds of an image (table or json)."""

from __future__ import annotations

from typing import Any

from scanner.match.scan import ScanDiff, ScanReport
from scanner.model import Finding
from scanner.report import dumps
from scanner.report.base import DIFF, ReportFormat, register
from scanner.report.findings_json import (
    database_json,
    finding_json,
    fix_text,
    summary_json,
    target_json,
)
from scanner.report.table import installed_cell, package_cell, paragraph, repeated
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


# Files and pipes; on a terminal, its width. Lines wrap between words only: a name, version or id stays whole.
WIDTH = 140


def _lines(findings: tuple[Finding, ...], width: int) -> list[str]:
    located = repeated(finding.package for finding in findings)
    lines = []
    for finding in findings:
        package = finding.package
        fixed = f" (fixed in {fix_text(finding.fix)})" if fix_text(finding.fix) else ""
        line = (f"{finding.vulnerability.severity.label.upper():<10} "
                f"{package_cell(package, (package.name, package.version) in located)} "
                f"{installed_cell(package)}  {finding.vulnerability.id}{fixed}")
        lines.append(paragraph(printable(line), width, "  "))
    return lines or ["  none"]


def render_table(diff: ScanDiff) -> bytes:
    return render_table_for_terminal(diff, WIDTH)


def render_table_for_terminal(diff: ScanDiff, width: int) -> bytes:
    heading = [f"Old: {diff.old.target.name} {diff.old.target.digest}",
               f"New: {diff.new.target.name} {diff.new.target.digest}",
               f"Database: {diff.new.database.channel} v{diff.new.database.bundle_version}, "
               f"built {diff.new.database.built_at}, data age: {diff.new.data_age_text()}"]
    lines = [paragraph(printable(line), width) for line in heading] + [""]  # names come from the images
    lines.append(f"Added ({len(diff.added)}):")
    lines += _lines(diff.added, width)
    lines.append(f"Resolved ({len(diff.resolved)}):")
    lines += _lines(diff.resolved, width)
    lines += ["", f"{len(diff.added)} added, {len(diff.resolved)} resolved, {diff.unchanged} unchanged"]
    return "".join(line + "\n" for line in lines).encode("utf-8")


register(ReportFormat(DIFF, "table", "added and resolved findings, for people", render_table,
                      render_table_for_terminal))
register(ReportFormat(DIFF, "json", "added and resolved findings as JSON (docs/report-json.md)", render_json))
