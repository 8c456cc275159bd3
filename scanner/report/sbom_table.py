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
        table.add_row(package.name, package.version, package.type, _source(package), layer, package.owned_by)
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, color_system=None, force_terminal=False, emoji=False,
                      highlight=False, soft_wrap=False)
    distro = catalog.distro
    if distro is not None:
        ecosystem = osv_ecosystem(distro)
        console.print(f"Distro: {distro.pretty_name or distro.id} ({ecosystem or 'no advisory ecosystem'})",
                      markup=False)
    console.print(f"Image: {report.subject.name}  Packages: {len(catalog.packages)}", markup=False)
    console.print(table)
    for warning in catalog.warnings:
        console.print(f"warning: {warning}", markup=False)
    text = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    return (text + "\n").encode()


register(ReportFormat(SBOM, "table", "one row per package (default)", render))
