"""`scanner scan -o table` (the default): findings grouped by severity, then package, for people.

Rendered without colour at a fixed width so that the bytes are the same for the same scan.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.table import Table

from scanner.match.coverage import entry_text
from scanner.match.exploitation import in_kev
from scanner.match.scan import ScanReport
from scanner.model import Finding, FixState, Package, Severity
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import exploitation_text, fix_text, remediation_text
from scanner.terminal import printable

WIDTH = 140


def _fixed_in(finding: Finding) -> str:
    if finding.fix.state is FixState.FIXED:
        return fix_text(finding.fix) or "fixed"
    return f"({finding.fix.state.value})"


def _layer(finding: Finding) -> str:
    package = finding.package
    if package.layer_index is None and not package.layer_digest:
        return ""
    digest = package.layer_digest.removeprefix("sha256:")[:12]
    return f"{package.layer_index} {digest}".strip() if package.layer_index is not None else digest


def package_cell(package: Package) -> str:
    """The name, and the OS package whose executable it is compiled into (the findings tables' mark)."""
    return f"{package.name} (in {package.compiled_into})" if package.compiled_into else package.name


def installed_cell(package: Package) -> str:
    """The version, marked when it was inferred."""
    return f"{package.version} (inferred)" if package.version_inferred_from else package.version


def _notes(findings: Iterable[Finding]) -> list[str]:
    """What the "(in ...)" and "(inferred)" marks of the table mean, when it has any."""
    packages = {finding.package for finding in findings}
    notes = []
    if any(package.compiled_into for package in packages):
        notes.append("(in P): compiled into an executable that OS package P installed; the distro's advisories "
                     "for P do not cover it")
    notes.extend(f"(inferred): {package.name} {package.version} read from {package.version_inferred_from}, "
                 "not recorded by the package" for package in sorted(packages) if package.version_inferred_from)
    return notes


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
    for column in ("SEVERITY", "PACKAGE", "TYPE", "INSTALLED", "FIXED IN", "VULNERABILITY", "KEV / EPSS", "LAYER"):
        table.add_column(column, overflow="fold")
    current: Severity | None = None
    for finding in findings:
        severity = finding.vulnerability.severity
        if current is not None and severity != current:
            table.add_section()
        current = severity
        cells = (severity.label.upper(), package_cell(finding.package), finding.package.type,
                 installed_cell(finding.package), _fixed_in(finding), _vulnerability(finding),
                 exploitation_text(finding.vulnerability), _layer(finding))
        table.add_row(*(printable(cell) for cell in cells))
    return table


def summary_line(report: ScanReport) -> str:
    counts = ", ".join(f"{n} {label}" for label, n in report.severity_counts().items() if n)
    vulnerable = len({f.package for f in report.findings})
    fixable = sum(1 for f in report.findings if f.fix.state is FixState.FIXED)
    parts = [f"{len(report.findings)} vulnerabilities in {vulnerable} of {report.packages} packages"
             + (f" ({counts})" if counts else ""),
             f"{fixable} fixable", f"{len(in_kev(report.findings))} in CISA KEV", f"{len(report.suppressed)} suppressed", f"{len(report.unevaluated)} unevaluated"]
    if report.hidden_unfixed:
        parts.append(f"{report.hidden_unfixed} without fix hidden")
    return "; ".join(parts)


def verdict_line(report: ScanReport) -> str:
    """Whether the report may be read as "clean", and if not, how much was checked against what."""
    if report.clean:
        return f"Clean: all {report.packages} packages were checked against complete data; nothing was found."
    if not report.packages:
        return "Nothing checked: no packages were found."
    partial, uncovered = report.packages_without_complete_data
    if partial or uncovered:
        return (f"Not clean: {partial} package(s) were checked against partial data, {uncovered} against none "
                "(see Coverage).")
    if report.findings:
        return "Coverage complete: every package was checked against complete data."
    return f"Not clean: {len(report.unevaluated)} check(s) could not be evaluated."


def _no_findings_text(report: ScanReport) -> str:
    """Say "clean" only when the data supports it (scanner.match.coverage)."""
    if report.clean:
        return f"No vulnerabilities found: all {report.packages} packages were checked against complete data."
    if not report.packages:
        return "No packages found: nothing was checked."
    partial, uncovered = report.packages_without_complete_data
    if partial or uncovered:
        return (f"No vulnerabilities found in the data the bundle holds, which is not complete for {partial + uncovered} "
                f"of {report.packages} packages: not a clean result (see Coverage).")
    return (f"No vulnerabilities found, but {len(report.unevaluated)} package checks could not be evaluated: "
            "not a clean result.")


def render(report: ScanReport) -> bytes:
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, no_color=True, color_system=None, force_terminal=False,
                      highlight=False, emoji=False, markup=False, legacy_windows=False)

    def emit(text: str) -> None:  # every line carries names from the image, the SBOM or the feeds
        console.print(printable(text))

    target, database = report.target, report.database
    distro = target.distro.pretty_name or f"{target.distro.id} {target.distro.version_id}" if target.distro else ""
    emit(f"Target:   {target.name} ({target.kind}, {target.format}) {target.digest}")
    details = [d for d in (distro, target.platform, ", ".join(target.tags)) if d]
    if details:
        emit(f"          {' | '.join(details)}")
    keys = ", ".join(k[:16] for k in database.key_ids)
    emit(f"Database: {database.channel} v{database.bundle_version} (schema {database.schema_version}), "
         f"built {database.built_at}, expires {database.expires_at}")
    emit(f"          data age: {report.data_age_text()}")
    emit(f"          bundle sha256:{database.bundle_sha256} signed by {keys or 'no key'}")
    emit(f"Scanner:  airgap-scanner {report.scanner_version}, scan {report.started_at} to {report.generated_at}")
    emit("")
    if report.findings:
        console.print(_findings_table(report.findings, "Vulnerabilities"))
        for note in _notes(report.findings):
            emit(note)
    else:
        emit(_no_findings_text(report))
    if report.remediations:
        emit("")
        emit("Remediation (lowest version fixing the package's findings):")
        for remediation in report.remediations:
            emit(f"  {remediation_text(remediation)}")
    if report.suppressed:
        emit("")
        emit("Suppressed:")
        for finding in report.suppressed:
            emit(f"  {finding.vulnerability.id} in {finding.package.name} {finding.package.version}: "
                 f"{finding.suppressed_by}")
    if report.unevaluated:
        emit("")
        emit("Not evaluated (version or range not understood):")
        for item in report.unevaluated:
            advisory = f" {item.advisory_id}" if item.advisory_id else ""
            emit(f"  {item.package.name} {item.package.version}{advisory}: {item.reason}")
    for warning in report.warnings:
        emit(f"warning: {warning}")
    if report.coverage:
        emit("")
        emit("Coverage (advisory data for each ecosystem with packages: complete, partial or none):")
        for entry in report.coverage:
            emit(f"  {entry_text(entry)}")
    emit("")
    emit(summary_line(report))
    emit(verdict_line(report))
    # rich pads cells to the column width; trailing blanks only make diffs of saved reports noisy
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()).encode("utf-8")


register(ReportFormat(FINDINGS, "table", "human-readable table grouped by severity (default)", render))
