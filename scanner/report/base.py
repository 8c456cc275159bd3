"""The report-format registries: one per kind of document, each naming its formats' modules.

A format is one module under scanner/report/ that calls `register` with a `ReportFormat` when it
is imported. Formats are grouped by what they render: `FINDINGS_FORMATS` take a
`scanner.match.scan.ScanReport` (`scanner scan -o NAME`), `SBOM_FORMATS` an `SbomReport`
(`scanner sbom -o NAME`), `DIFF_FORMATS` a `scanner.match.scan.ScanDiff` (`scanner diff -o NAME`);
the same name may exist in several (cyclonedx-json). Each registry maps a name to the module that
defines it and imports that module only when the format is used, so that a command's start-up does
not pay for every renderer (and what they import). The command line's `-o` choices and help text
come from here. Every renderer returns the complete document as bytes, so the CLI can write it
atomically, and must be deterministic for the same input.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from scanner.errors import OperatorInputError

if TYPE_CHECKING:
    from scanner.match.scan import ScanDiff, ScanReport
    from scanner.report.sbom import SbomReport

FINDINGS = "findings"
SBOM = "sbom"
DIFF = "diff"

Document = TypeVar("Document")


@dataclass(frozen=True)
class ReportFormat(Generic[Document]):
    kind: str  # FINDINGS, SBOM or DIFF
    name: str  # the -o value: "table", "json", "sarif", "cyclonedx-json" ...
    description: str
    render: Callable[[Document], bytes]
    # The table formats: the same document laid out for a terminal this many columns wide (`render`
    # uses a fixed width, so files and pipes get the same bytes for the same input).
    render_for_terminal: Callable[[Document, int], bytes] | None = None


# What the format modules registered on import: (kind, name) -> format.
_REGISTERED: dict[tuple[str, str], ReportFormat[Any]] = {}


def register(report_format: ReportFormat[Any]) -> ReportFormat[Any]:
    key = (report_format.kind, report_format.name)
    if key in _REGISTERED:
        raise ValueError(f"{report_format.kind} format {report_format.name!r} registered twice")
    _REGISTERED[key] = report_format
    return report_format


@dataclass(frozen=True)
class FormatRegistry(Generic[Document]):
    """The formats of one kind of document: name -> the module that registers it, in help order."""

    kind: str
    modules: Mapping[str, str]

    def names(self) -> tuple[str, ...]:
        return tuple(self.modules)

    def help(self, what: str) -> str:
        """`-o` help: "table, json or sarif." plus what is rendered."""
        names = self.names()
        choices = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
        return f"{what}: {choices}."

    def get(self, name: str) -> ReportFormat[Document]:
        """The format `name`, its module imported now; an OperatorInputError naming the choices when there is none."""
        module = self.modules.get(name)
        if module is None:
            raise OperatorInputError(f"unknown output format {name!r}; choose one of: {', '.join(sorted(self.names()))}")
        importlib.import_module(module)
        found = _REGISTERED.get((self.kind, name))
        if found is None:  # a table entry whose module does not register it: a bug here, not bad input
            raise LookupError(f"{module} does not register the {self.kind} format {name!r}")
        return found


FINDINGS_FORMATS: FormatRegistry[ScanReport] = FormatRegistry(FINDINGS, {
    "table": "scanner.report.table",
    "json": "scanner.report.findings_json",
    "sarif": "scanner.report.sarif",
    "cyclonedx-json": "scanner.report.cyclonedx_vex",
    "html": "scanner.report.html",
    "csv": "scanner.report.csv_findings",
})
SBOM_FORMATS: FormatRegistry[SbomReport] = FormatRegistry(SBOM, {
    "table": "scanner.report.sbom_table",
    "json": "scanner.report.json_sbom",
    "cyclonedx-json": "scanner.report.cyclonedx",
    "spdx-json": "scanner.report.spdx",
})
DIFF_FORMATS: FormatRegistry[ScanDiff] = FormatRegistry(DIFF, {
    "table": "scanner.report.diff",
    "json": "scanner.report.diff",
})
_BY_KIND: dict[str, FormatRegistry[Any]] = {r.kind: r for r in (FINDINGS_FORMATS, SBOM_FORMATS, DIFF_FORMATS)}


def format_names(kind: str) -> tuple[str, ...]:
    return _BY_KIND[kind].names()


def get_format(kind: str, name: str) -> ReportFormat[Any]:
    """The format `name` of `kind` (FINDINGS, SBOM or DIFF); an OperatorInputError naming the choices when there is none."""
    return _BY_KIND[kind].get(name)
