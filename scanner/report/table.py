"""`scanner scan -o table` (the default): findings grouped by severity, then package, for people.

Rendered without colour at a fixed width so that the bytes are the same for the same scan.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.table import Table

from scanner.match.scan import ScanReport
from scanner.model import Finding, FixState, Severity
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import remediation_text

WIDTH = 140


def _fixed_in(finding: Finding) -> str:
    if finding.fix.state is FixState.FIXED:
        return ", ".join(finding.fix.versions) or "fixed"
    return f"({finding.fix.state.value})"


def _layer(finding: Finding) -> str:
    package = finding.package
    if package.layer_index is None and not package.layer_digest:
        return ""
    digest = package.layer_digest.removeprefix("sha256:")[:12]
    return f"{package.layer_index} {digest}".strip() if package.layer_index is not None else digest


def _vulnerability(finding: Finding) -> str:
    vulnerability = finding.vulnerability
    text = vulnerability.id
    if vulnerability.aliases:
        shown = ", ".join(vulnerability.aliases[:3])
        more = f" +{len(vulnerability.aliases) - 3}" if len(vulnerability.aliases) > 3 else ""
        text += f" ({shown}{more})"
    if finding.matched_by == "cpe":
        text += " [cpe]"
    return text


def _findings_table(findings: Iterable[Finding], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", expand=False)
    for column in ("SEVERITY", "PACKAGE", "TYPE", "INSTALLED", "FIXED IN", "VULNERABILITY", "LAYER"):
        table.add_column(column, overflow="fold")
    current: Severity | None = None
    for finding in findings:
        severity = finding.vulnerability.severity
        if current is not None and severity != current:
            table.add_section()
        current = severity
        table.add_row(severity.label.upper(), finding.package.name, finding.package.type, finding.package.version,
                      _fixed_in(finding), _vulnerability(finding), _layer(finding))
    return table


def summary_line(report: ScanReport) -> str:
    counts = ", ".join(f"{n} {label}" for label, n in report.severity_counts().items() if n)
    vulnerable = len({f.package for f in report.findings})
    fixable = sum(1 for f in report.findings if f.fix.state is FixState.FIXED)
    parts = [f"{len(report.findings)} vulnerabilities in {vulnerable} of {report.packages} packages"
             + (f" ({counts})" if counts else ""),
             f"{fixable} fixable", f"{len(report.suppressed)} suppressed", f"{len(report.unevaluated)} unevaluated"]
    if report.hidden_unfixed:
        parts.append(f"{report.hidden_unfixed} without fix hidden")
    return "; ".join(parts)


def render(report: ScanReport) -> bytes:
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, no_color=True, color_system=None, force_terminal=False,
                      highlight=False, emoji=False, markup=False, legacy_windows=False)
    target, database = report.target, report.database
    distro = target.distro.pretty_name or f"{target.distro.id} {target.distro.version_id}" if target.distro else ""
    console.print(f"Target:   {target.name} ({target.kind}, {target.format}) {target.digest}")
    details = [d for d in (distro, target.platform, ", ".join(target.tags)) if d]
    if details:
        console.print(f"          {' | '.join(details)}")
    keys = ", ".join(k[:16] for k in database.key_ids)
    console.print(f"Database: {database.channel} v{database.bundle_version} (schema {database.schema_version}), "
                  f"built {database.built_at}, expires {database.expires_at}")
    console.print(f"          data age: {report.data_age_text()}")
    console.print(f"          bundle sha256:{database.bundle_sha256} signed by {keys or 'no key'}")
    console.print(f"Scanner:  airgap-scanner {report.scanner_version}, report time {report.generated_at}")
    console.print("")
    if report.findings:
        console.print(_findings_table(report.findings, "Vulnerabilities"))
    else:
        console.print("No vulnerabilities found in the packages the database covers.")
    if report.remediations:
        console.print("")
        console.print("Remediation (lowest version fixing the package's findings):")
        for remediation in report.remediations:
            console.print(f"  {remediation_text(remediation)}")
    if report.suppressed:
        console.print("")
        console.print("Suppressed:")
        for finding in report.suppressed:
            console.print(f"  {finding.vulnerability.id} in {finding.package.name} {finding.package.version}: "
                          f"{finding.suppressed_by}")
    if report.unevaluated:
        console.print("")
        console.print("Not evaluated (version or range not understood):")
        for item in report.unevaluated:
            advisory = f" {item.advisory_id}" if item.advisory_id else ""
            console.print(f"  {item.package.name} {item.package.version}{advisory}: {item.reason}")
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    console.print("")
    console.print(summary_line(report))
    # rich pads cells to the column width; trailing blanks only make diffs of saved reports noisy
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()).encode("utf-8")


register(ReportFormat(FINDINGS, "table", "human-readable table grouped by severity (default)", render))
