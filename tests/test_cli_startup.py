"""`scanner --version` and `--help` import only what parsing flags needs, and a scan only what scanning its
target needs (docs/performance.md, start-up)."""

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


# What a scan of an image without --ignore or --vex never needs: the YAML parser (those files only), the CVSS
# library (rows are stored with their scores), packaging.utils (PEP 503 is scanner.names' own), cryptography's
# key-file reader (trust add, --trust), and the version schemes of ecosystems the image has no package of.
NOT_FOR_A_SCAN = ("yaml", "cvss", "packaging.utils", "packaging.tags",
                  "cryptography.hazmat.primitives.serialization", "scanner.versions.rpm", "scanner.versions.apk",
                  "scanner.versions.nuget", "scanner.versions.rubygems", "scanner.versions.composer",
                  "scanner.versions.cran")


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory set up as the README's demo does: the demo key trusted."""
    state = tmp_path_factory.mktemp("demo-state") / "state"
    loaded_modules("--state-dir", str(state), "trust", "add", "--demo", "bundles/demo-key.pub.pem", "--name", "demo")
    return state


def scan_demo(state: Path, report: Path, *db: str) -> list[str]:
    loaded = loaded_modules("--state-dir", str(state), "scan", "bundles/demo-image.tar", *db, "-o", "json",
                            "--file", str(report))
    assert json.loads(report.read_text(encoding="utf-8"))["summary"]["findings"] > 0  # the scan ran to its end
    assert {"scanner.db.verify", "scanner.versions.dpkg", "scanner.versions.pep440"} <= set(loaded)
    return loaded


def heavy_imports(loaded: list[str], heavy: tuple[str, ...]) -> list[str]:
    return [m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy)]


def test_a_scan_with_a_bundle_imports_only_what_it_uses(demo_state: Path, tmp_path: Path) -> None:
    first = scan_demo(demo_state, tmp_path / "first.json", "--db", "bundles/demo.bundle")
    assert heavy_imports(first, NOT_FOR_A_SCAN) == []
    assert "scanner.db.archive" in first  # the bundle was read and decompressed into the cache
    # Verified again from the cache, as an installed database is: the signed documents beside it, re-hashed.
    again = scan_demo(demo_state, tmp_path / "again.json", "--db", "bundles/demo.bundle")
    assert heavy_imports(again, (*NOT_FOR_A_SCAN, "scanner.db.archive")) == []
    assert "cryptography.hazmat.primitives.asymmetric.ed25519" in again  # the signatures were checked


def test_a_scan_of_the_installed_database_reads_no_bundle(demo_state: Path, tmp_path: Path) -> None:
    loaded_modules("--state-dir", str(demo_state), "db", "import", "bundles/demo.bundle")
    loaded = scan_demo(demo_state, tmp_path / "report.json")
    assert heavy_imports(loaded, (*NOT_FOR_A_SCAN, "scanner.db.archive")) == []
    assert "cryptography.hazmat.primitives.asymmetric.ed25519" in loaded
