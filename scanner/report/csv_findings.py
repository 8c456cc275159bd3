"""`scanner scan -o csv`: one row per active finding, for remediation trackers and spreadsheets.

RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a double quote, CR or
LF, and quotes inside doubled. UTF-8 without a byte order mark.

Spreadsheet formula injection: a cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage
return is taken by Excel, LibreOffice and Google Sheets as a formula (`=HYPERLINK(...)` in a package
name would run when the sheet is opened). Such a cell gets a leading apostrophe (`'=HYPERLINK(...)`),
which spreadsheets show as text and which a reader of the CSV sees as added: every cell, whatever its
column, since package names, versions, ids and paths all come from the image or the feeds. Text that
would be invisible (controls, bidirectional overrides) is written as visible escapes
(scanner.terminal.printable), as in the table format.
"""

from __future__ import annotations

import csv
import io

from scanner.match.scan import ScanReport
from scanner.model import Finding, FixState
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import fix_text, headline_cvss
from scanner.terminal import printable

COLUMNS = ("image", "package", "version", "ecosystem", "vulnerability", "aliases", "severity", "cvss",
           "kev_due_date", "epss", "fix", "location")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defused(cell: str) -> str:
    """`cell` as text a spreadsheet will not evaluate, and with no invisible character."""
    shown = printable(cell)
    return "'" + shown if cell.startswith(FORMULA_PREFIXES) else shown


def _row(report: ScanReport, finding: Finding) -> tuple[str, ...]:
    package, vulnerability = finding.package, finding.vulnerability
    cvss = headline_cvss(vulnerability)
    fix = fix_text(finding.fix) if finding.fix.state is FixState.FIXED else ""
    return (
        report.target.name,
        package.name,
        package.version,
        package.ecosystem or package.type,
        vulnerability.id,
        " ".join(vulnerability.aliases),
        vulnerability.severity.label,
        f"{cvss.score:.1f}" if cvss else "",
        vulnerability.kev.due_date if vulnerability.kev else "",
        f"{vulnerability.epss.score:.5f}" if vulnerability.epss else "",
        fix or finding.fix.state.value,
        "; ".join(package.locations),
    )


def render(report: ScanReport) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for finding in report.findings:
        writer.writerow([defused(cell) for cell in _row(report, finding)])
    return buffer.getvalue().encode("utf-8")


register(ReportFormat(FINDINGS, "csv", "one row per finding, RFC 4180, for remediation trackers", render))
