"""`scanner sbom -o table` (the default): one row per package, for people.

Rendered without colour, at the terminal's width when shown on one and at a fixed width otherwise, so
that the bytes written are the same for the same image; names and versions are never broken across
lines (scanner.report.table.fitted_table).
"""

from __future__ import annotations

import io

from rich.console import Console

from scanner.catalog.distro import osv_ecosystem
from scanner.model import Package
from scanner.report.base import SBOM, ReportFormat, register
from scanner.report.sbom import SbomReport
from scanner.report.table import fitted_table, paragraph
from scanner.terminal import printable

WIDTH = 160


def _source(package: Package) -> str:
    if not package.source_name and not package.source_version:
        return ""
    if package.source_version:
        return f"{package.match_source_name} {package.source_version}"
    return package.source_name


_COLUMNS = ("NAME", "VERSION", "TYPE", "SOURCE", "LAYER", "OWNED BY")


def _cells(package: Package) -> tuple[str, ...]:
    layer = "" if package.layer_index is None else str(package.layer_index)
    owner = f"{package.owned_by} (compiled in)" if package.compiled_into else package.owned_by
    version = f"{package.version} (inferred)" if package.version_inferred_from else package.version
    return tuple(printable(cell) for cell in (package.name, version, package.type, _source(package), layer, owner))


def _paragraph(cells: tuple[str, ...], width: int) -> str:
    """One package for a terminal too narrow for the table."""
    name, version, kind, source, layer, owner = cells
    details = [f"source {source}" if source else "", f"layer {layer}" if layer else "",
               f"owned by {owner}" if owner else ""]
    lines = [f"{name} {version} ({kind})", "; ".join(detail for detail in details if detail)]
    return "\n".join(paragraph(line, width, "  " if index else "") for index, line in enumerate(lines) if line)


def render(report: SbomReport) -> bytes:
    return render_for_terminal(report, WIDTH)


def render_for_terminal(report: SbomReport, width: int) -> bytes:
    catalog = report.catalog
    rows = [_cells(package) for package in catalog.packages]
    table = fitted_table(_COLUMNS, rows, width)
    buffer = io.StringIO()
    # markup=False: a "[red]" in a package name is text, not a style (table cells follow the console's setting)
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, emoji=False,
                      highlight=False, soft_wrap=False, markup=False)

    def emit(text: str) -> None:  # names, tags and warnings come from the image
        console.print(printable(text))

    distro = catalog.distro
    if distro is not None:
        ecosystem = osv_ecosystem(distro)
        emit(f"Distro: {distro.pretty_name or distro.id} ({ecosystem or 'no advisory ecosystem'})")
    emit(f"Image: {report.subject.name}  Packages: {len(catalog.packages)}")
    if table is not None:
        console.print(table)
    for row in rows if table is None else ():
        console.print(_paragraph(row, width))
    for warning in catalog.warnings:
        emit(f"warning: {warning}")
    text = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    return (text + "\n").encode()


register(ReportFormat(SBOM, "table", "one row per package (default)", render, render_for_terminal))
