"""The report-format registry.

A format is one module under scanner/report/ that calls `register` with a `ReportFormat`. Formats
are grouped by what they render: `FINDINGS` formats take a `scanner.match.scan.ScanReport`
(`scanner scan -o NAME`), `SBOM` formats take a catalog (`scanner sbom -o NAME`); the same name may
exist in both groups (cyclonedx-json). `DIFF` formats take a `scanner.match.scan.ScanDiff`
(`scanner diff -o NAME`). Every renderer returns the complete document as bytes, so
the CLI can write it atomically, and must be deterministic for the same input.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scanner.errors import UsageError

FINDINGS = "findings"
SBOM = "sbom"
DIFF = "diff"


@dataclass(frozen=True)
class ReportFormat:
    kind: str  # FINDINGS, SBOM or DIFF
    name: str  # the -o value: "table", "json", "sarif", "cyclonedx-json" ...
    description: str
    render: Callable[[Any], bytes]
    # The table formats: the same document laid out for a terminal this many columns wide (`render`
    # uses a fixed width, so files and pipes get the same bytes for the same input).
    render_for_terminal: Callable[[Any, int], bytes] | None = None


_REGISTRY: dict[tuple[str, str], ReportFormat] = {}


def register(report_format: ReportFormat) -> ReportFormat:
    key = (report_format.kind, report_format.name)
    if key in _REGISTRY:
        raise ValueError(f"{report_format.kind} format {report_format.name!r} registered twice")
    _REGISTRY[key] = report_format
    return report_format


def _load_all() -> None:
    package = importlib.import_module("scanner.report")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"scanner.report.{module.name}")


def format_names(kind: str) -> tuple[str, ...]:
    _load_all()
    return tuple(sorted(name for k, name in _REGISTRY if k == kind))


def get_format(kind: str, name: str) -> ReportFormat:
    """The format `name` of `kind`; a UsageError naming the choices when there is none."""
    _load_all()
    found = _REGISTRY.get((kind, name))
    if found is None:
        raise UsageError(f"unknown output format {name!r}; choose one of: {', '.join(format_names(kind))}")
    return found
