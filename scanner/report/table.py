"""`scanner scan -o table` (the default): findings grouped by severity, then package, for people.

Rendered without colour, at the terminal's width when shown on one and at a fixed width otherwise (files,
pipes), so that the bytes written are the same for the same scan. A package name, a version or an
advisory id is never broken across lines: the columns get at least their longest word, and when the
terminal is too narrow for that, each finding is written as a short paragraph instead of a row.
"""

from __future__ import annotations

import io
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from scanner.match.coverage import entry_text
from scanner.match.exploitation import in_kev
from scanner.match.matcher import Unevaluated
from scanner.match.scan import ScanReport
from scanner.model import Finding, FixState, Package, Severity
from scanner.report.base import FINDINGS, ReportFormat, register
from scanner.report.findings_json import exploitation_text, fix_text, remediation_text
from scanner.terminal import printable

WIDTH = 160  # files and pipes

# A table row; None between rows starts a new section (a rule).
Rows = Sequence[tuple[str, ...] | None]


def _words_width(text: str) -> int:
    """The widest word of `text`: the narrowest a column can be without breaking inside one."""
    return max((cell_len(word) for word in text.split()), default=0)


def fitted_table(headers: Sequence[str], rows: Rows, width: int, title: str | None = None) -> Table | None:
    """A table of `rows` no wider than `width` whose cells wrap only between words; None when it cannot be.

    rich shrinks the widest columns when a table is too wide, breaking a package name in the middle
    even when a column of free text could have wrapped; so the widths are chosen here: each column
    its longest line, then the widest columns narrowed one cell at a time, never below their longest word.
    """
    cells = [row for row in rows if row is not None]
    natural = [max(cell_len(text) for text in (header, *(row[i] for row in cells))) for i, header in enumerate(headers)]
    minimum = [max(_words_width(text) for text in (header, *(row[i] for row in cells)))
               for i, header in enumerate(headers)]
    # box.SIMPLE_HEAD without edges: a divider between columns, a blank each side of every inner cell side
    overhead = (len(headers) - 1) * 3
    if sum(minimum) + overhead > width:
        return None
    widths = list(natural)
    excess = sum(widths) + overhead - width
    while excess > 0:
        column = max((i for i in range(len(widths)) if widths[i] > minimum[i]), key=lambda i: (widths[i], -i))
        widths[column] -= 1
        excess -= 1
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", expand=False, show_edge=False,
                  pad_edge=False)
    for header, column_width in zip(headers, widths, strict=True):
        table.add_column(header, width=column_width, overflow="fold")
    for index, row in enumerate(rows):
        if row is None:
            if index:
                table.add_section()
            continue
        table.add_row(*row)
    return table


def paragraph(text: str, width: int, indent: str = "") -> str:
    """`text` wrapped to `width` between words only (a word longer than a line stays whole)."""
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)


def repeated(packages: Iterable[Package]) -> set[tuple[str, str]]:
    """The (name, version) pairs that more than one package of `packages` has: rows that only their path tells apart."""
    counts = Counter((package.name, package.version) for package in set(packages))
    return {key for key, count in counts.items() if count > 1}


def location_text(package: Package) -> str:
    """Where in the image the package was found ("app/lib/a.jar"); "" when the record names no path."""
    return ", ".join(package.locations)


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


def package_cell(package: Package, located: bool = False) -> str:
    """The name, and the OS package whose executable it is compiled into (the findings tables' mark).

    `located`: also where it was found, for a name and version the image holds more than once.
    """
    text = f"{package.name} (in {package.compiled_into})" if package.compiled_into else package.name
    location = location_text(package) if located else ""
    return f"{text} at {location}" if location else text


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


_FINDING_COLUMNS = ("SEVERITY", "PACKAGE", "TYPE", "INSTALLED", "FIXED IN", "VULNERABILITY", "KEV / EPSS", "LAYER")


def _finding_cells(finding: Finding, located: bool) -> tuple[str, ...]:
    cells = (finding.vulnerability.severity.label.upper(), package_cell(finding.package, located),
             finding.package.type, installed_cell(finding.package), _fixed_in(finding), _vulnerability(finding),
             exploitation_text(finding.vulnerability), _layer(finding))
    return tuple(printable(cell) for cell in cells)


def _finding_paragraph(cells: tuple[str, ...], width: int) -> str:
    """One finding for a terminal too narrow for the table: the advisory, then the package and its fix."""
    severity, package, kind, installed, fixed, vulnerability, exploitation, layer = cells
    lines = [f"{severity} {vulnerability}", f"{package} {installed} ({kind}), fixed in: {fixed}"]
    lines += [f"{exploitation}"] if exploitation else []
    lines += [f"layer {layer}"] if layer else []
    return "\n".join(paragraph(line, width, "  " if index else "") for index, line in enumerate(lines))


def _write_findings(console: Console, findings: Sequence[Finding], title: str, width: int) -> None:
    located = repeated(finding.package for finding in findings)
    rows: list[tuple[str, ...] | None] = []
    current: Severity | None = None
    for finding in findings:
        if finding.vulnerability.severity != current:
            rows.append(None)
            current = finding.vulnerability.severity
        rows.append(_finding_cells(finding, (finding.package.name, finding.package.version) in located))
    table = fitted_table(_FINDING_COLUMNS, rows, width, title=title)
    if table is not None:
        console.print(table)
        return
    console.print(title)
    for row in rows:
        console.print("" if row is None else _finding_paragraph(row, width))


def _unevaluated_groups(items: Iterable[Unevaluated]) -> dict[str, list[tuple[Unevaluated, str]]]:
    """The items under one heading per reason ("version not understood"), each with its own detail.

    The matcher's reasons are "what: detail" (the detail names the version or range at fault) or a
    sentence of their own; items with the same "what" share a heading.
    """
    groups: dict[str, list[tuple[Unevaluated, str]]] = {}
    for item in items:
        what, _, detail = item.reason.partition(": ")
        groups.setdefault(what, []).append((item, detail))
    return groups


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
    """The headline where the findings table would be; what the absence of findings is worth is the verdict
    line's to say, once, at the end."""
    if not report.packages:
        return "No packages found."
    if report.clean:
        return "No vulnerabilities found."
    return "No vulnerabilities found in the bundle's data: not a clean result (verdict at the end)."


def _skipped_text(report: ScanReport) -> str:
    """Why `scan` counts fewer packages than `sbom` lists for the same image."""
    return (f"{report.skipped_os_owned} language package(s) not matched: installed by OS packages, whose "
            "advisories cover them (the distro patches those); --include-os-owned matches them too")


def render(report: ScanReport) -> bytes:
    return render_for_terminal(report, WIDTH)


def render_for_terminal(report: ScanReport, width: int) -> bytes:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, color_system=None, force_terminal=False,
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
        _write_findings(console, report.findings, "Vulnerabilities", width)
        for note in _notes(report.findings):
            emit(note)
    else:
        emit(_no_findings_text(report))
    if report.remediations:
        emit("")
        emit("Remediation (lowest version fixing the package's findings):")
        located = repeated(remediation.package for remediation in report.remediations)
        for remediation in report.remediations:
            package = remediation.package
            location = location_text(package) if (package.name, package.version) in located else ""
            emit(f"  {remediation_text(remediation)}" + (f" at {location}" if location else ""))
    if report.suppressed:
        emit("")
        emit("Suppressed:")
        for finding in report.suppressed:
            emit(f"  {finding.vulnerability.id} in {finding.package.name} {finding.package.version}: "
                 f"{finding.suppressed_by}")
    for what, items in _unevaluated_groups(report.unevaluated).items():
        emit("")
        emit(f"Not evaluated ({what}):")
        for item, detail in items:
            advisory = f" {item.advisory_id}" if item.advisory_id else ""
            emit(f"  {item.package.name} {item.package.version}{advisory}" + (f": {detail}" if detail else ""))
    for warning in report.warnings:
        emit(f"warning: {warning}")
    if report.coverage:
        emit("")
        emit("Coverage (advisory data for each ecosystem with packages: complete, partial or none):")
        for entry in report.coverage:
            emit(f"  {entry_text(entry)}")
    if report.skipped_os_owned:
        emit("")
        emit(_skipped_text(report))
    emit("")
    emit(summary_line(report))
    emit(verdict_line(report))
    # rich pads cells to the column width; trailing blanks only make diffs of saved reports noisy
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()).encode("utf-8")


register(ReportFormat(FINDINGS, "table", "human-readable table grouped by severity (default)", render,
                      render_for_terminal))
