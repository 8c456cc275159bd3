"""The report-format registries: the tables name every format module, and a format loads only its own."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import scanner.report
from scanner.errors import OperatorInputError
from scanner.report import base
from scanner.report.base import DIFF_FORMATS, FINDINGS_FORMATS, SBOM_FORMATS, FormatRegistry

REGISTRIES: tuple[FormatRegistry[Any], ...] = (FINDINGS_FORMATS, SBOM_FORMATS, DIFF_FORMATS)


def test_the_tables_name_exactly_the_formats_the_modules_register() -> None:
    for found in pkgutil.iter_modules(scanner.report.__path__):
        importlib.import_module(f"scanner.report.{found.name}")
    tables = {(registry.kind, name): module for registry in REGISTRIES for name, module in registry.modules.items()}
    assert set(tables) == set(base._REGISTERED)
    for (kind, name), module in tables.items():
        assert base._REGISTERED[(kind, name)].render.__module__ == module, (kind, name)


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(OperatorInputError, match="unknown output format 'xml'; choose one of: cyclonedx-json, json, "
                                         "spdx-json, table"):
        SBOM_FORMATS.get("xml")


def test_help_text_lists_the_choices_in_table_order() -> None:
    assert FINDINGS_FORMATS.help("The report format") == \
        "The report format: table, json, sarif, cyclonedx-json, html or csv."
    assert DIFF_FORMATS.help("x") == "x: table or json."


def test_a_table_entry_whose_module_does_not_register_it_is_a_bug_not_bad_input() -> None:
    broken: FormatRegistry[object] = FormatRegistry("findings", {"nope": "scanner.report.csv_findings"})
    with pytest.raises(LookupError, match="does not register"):
        broken.get("nope")


@pytest.mark.parametrize(("kind", "name", "absent"), [
    ("sbom", "cyclonedx-json", ["scanner.match", "scanner.db", "rich", "scanner.report.table",
                                "scanner.report.spdx", "scanner.report.html"]),
    ("sbom", "json", ["scanner.match", "scanner.db", "rich", "scanner.report.findings_json"]),
    ("findings", "csv", ["scanner.report.html", "scanner.report.sarif", "scanner.report.cyclonedx"]),
])
def test_a_format_imports_only_what_it_needs(kind: str, name: str, absent: list[str]) -> None:
    code = ("import json, sys\n"
            "from scanner.report.base import get_format\n"
            f"get_format({kind!r}, {name!r})\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=Path(__file__).parents[2]).stdout)
    for prefix in absent:
        assert not [m for m in loaded if m == prefix or m.startswith(prefix + ".")], prefix
