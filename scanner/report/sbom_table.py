"""`scanner sbom -o table` (the default): one row per package, for people.

Rendered without colour at a fixed width so that the bytes are the same for the same image.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table

from scanner.catalog.distro import osv_ecosystem
from scanner.model import Package
from scanner.report.base import SBOM, ReportFormat, register
from scanner.report.sbom import SbomReport
from scanner.terminal import printable

WIDTH = 160


def _source(package: Package) -> str:
    if not package.source_name and not package.source_version:
        return ""
    if package.source_version:
        return f"{package.match_source_name} {package.source_version}"
    return package.source_name


def render(report: SbomReport) -> bytes:
    catalog = report.catalog
    table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False)
    for column in ("NAME", "VERSION", "TYPE", "SOURCE", "LAYER", "OWNED BY"):
        table.add_column(column, overflow="fold")
    for package in catalog.packages:
        layer = "" if package.layer_index is None else str(package.layer_index)
        owner = f"{package.owned_by} (compiled in)" if package.compiled_into else package.owned_by
        version = f"{package.version} (inferred)" if package.version_inferred_from else package.version
        cells = (package.name, version, package.type, _source(package), layer, owner)
        table.add_row(*(printable(cell) for cell in cells))
    buffer = io.StringIO()
    # markup=False: a "[red]" in a package name is text, not a style (table cells follow the console's setting)
    console = Console(file=buffer, width=WIDTH, color_system=None, force_terminal=False, emoji=False,
                      highlight=False, soft_wrap=False, markup=False)

    def emit(text: str) -> None:  # names, tags and warnings come from the image
        console.print(printable(text))

    distro = catalog.distro
    if distro is not None:
        ecosystem = osv_ecosystem(distro)
        emit(f"Distro: {distro.pretty_name or distro.id} ({ecosystem or 'no advisory ecosystem'})")
    emit(f"Image: {report.subject.name}  Packages: {len(catalog.packages)}")
    console.print(table)
    for warning in catalog.warnings:
        emit(f"warning: {warning}")
    text = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    return (text + "\n").encode()


register(ReportFormat(SBOM, "table", "one row per package (default)", render))
