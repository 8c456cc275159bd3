"""`scanner --version` and `--help` import only what parsing flags needs (docs/performance.md, start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# What a command imports only when it runs: each costs tens of milliseconds of start-up.
HEAVY = ("cryptography", "rich", "zstandard", "sqlite3", "yaml", "packageurl", "scanner.attest", "scanner.catalog",
         "scanner.db", "scanner.image", "scanner.match", "scanner.report.table", "scanner.report.findings_json")


def loaded_modules(*args: str) -> list[str]:
    code = ("import json, sys\n"
            "from scanner.cli import main\n"
            f"sys.argv = ['scanner', *{list(args)!r}]\n"
            "try:\n"
            "    main()\n"
            "except SystemExit:\n"
            "    pass\n"
            "sys.stderr.write('\\n' + json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[1])
    loaded: list[str] = json.loads(result.stderr.splitlines()[-1])  # after the command's own messages
    return loaded


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("scan", "--help"), ("db", "--help")])
def test_version_and_help_import_no_heavy_module(args: tuple[str, ...]) -> None:
    loaded = loaded_modules(*args)
    assert "scanner.cli" in loaded
    for heavy in HEAVY:
        assert not [m for m in loaded if m == heavy or m.startswith(heavy + ".")], heavy


def test_parsing_a_command_imports_no_pydantic() -> None:
    """typer 0.29 builds a pydantic TypeAdapter per parameter (100-130 ms a command); pyproject keeps it below."""
    loaded = loaded_modules("sbom", "no-such-image.tar", "-o", "json", "--max-uncompressed-size", "1G")
    assert "scanner.image" in loaded  # the command ran past flag parsing
    assert not [m for m in loaded if m == "pydantic" or m.startswith("pydantic.")]
