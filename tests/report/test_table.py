"""The table formats on a terminal: fitted to its width without breaking a name, version or id; rows told apart."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.cells import cell_len

from scanner.catalog import Catalog
from scanner.match.matcher import Unevaluated
from scanner.match.scan import ScanReport, diff_reports
from scanner.model import Finding, Package
from scanner.report.base import DIFF, FINDINGS, SBOM, get_format
from scanner.report.sbom import SbomReport, Subject
from tests.image.builders import ImageSpec, docker_archive, file
from tests.match.dbfixture import Rows
from tests.report.test_findings_formats import PACKAGES, build_report, reproducible
from tests.scanner_cli import Run, runner, trusted_bundle

__all__ = ["reproducible"]

LONG_NAME = "org.apache.logging.log4j:log4j-core"
JARS = ("app/lib/Pillow-8.4.0.jar", "app/lib/outer.jar!/BOOT-INF/lib/Pillow-8.4.0.jar")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return runner(capsys, monkeypatch)


def _located(package: Package, location: str) -> Package:
    return replace(package, locations=(location,), purl=f"{package.purl}#{location}")


@pytest.fixture
def report(tmp_path: Path) -> ScanReport:
    """Pillow installed twice at two paths (same name and version), and one finding on a long Maven name."""
    pillow = PACKAGES[0]
    scanned = build_report(tmp_path, packages=(*(_located(pillow, jar) for jar in JARS), *PACKAGES[1:]))
    findings = list(scanned.findings)
    findings[-1] = replace(findings[-1], package=replace(findings[-1].package, name=LONG_NAME))
    return replace(scanned, findings=tuple(findings))


def _words(findings: tuple[Finding, ...], aliases: bool = True) -> set[str]:
    """What must appear whole: every name, version, id (and alias, where shown) and path of the findings."""
    words = set()
    for finding in findings:
        words |= {finding.package.name, finding.package.version, finding.vulnerability.id, *finding.fix.versions}
        words |= set(finding.vulnerability.aliases) if aliases else set()
    return words | set(JARS)


def _check_fits(text: str, width: int, words: set[str]) -> None:
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    for word in words:
        assert any(re.search(rf"(?<![\w.:-]){re.escape(word)}(?![\w-])", line) for line in lines), \
            f"{word!r} is broken across lines at width {width}"


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_findings_table_fits_the_terminal_and_keeps_names_whole(report: ScanReport, width: int) -> None:
    rendering = get_format(FINDINGS, "table").render_for_terminal
    assert rendering is not None
    text = rendering(report, width).decode()
    _check_fits(text.split("Remediation")[0].split("Vulnerabilities\n", 1)[1], width, _words(report.findings))
    if width in (60, 200):  # a table when the words fit, one paragraph per finding when they do not
        assert ("SEVERITY" in text) == (width == 200)


def test_files_and_pipes_get_a_fixed_width(report: ScanReport) -> None:
    table = get_format(FINDINGS, "table")
    assert table.render(report) == table.render_for_terminal(report, 160)  # type: ignore[misc]


@pytest.mark.parametrize("width", [60, 80, 200])
def test_sbom_table_fits_the_terminal_and_keeps_names_whole(width: int) -> None:
    packages = [Package(name=LONG_NAME, version="2.14.1", type="maven", ecosystem="Maven", purl="pkg:maven/x"),
                Package(name="zlib1g", version="1:1.2.11.dfsg-2+deb11u2", type="deb", ecosystem="Debian:11",
                        purl="pkg:deb/debian/zlib1g", source_name="zlib", source_version="1:1.2.11.dfsg-2+deb11u2",
                        layer_index=0, owned_by="")]
    catalog = Catalog(distro=None, packages=tuple(packages))
    rendering = get_format(SBOM, "table").render_for_terminal
    assert rendering is not None
    text = rendering(SbomReport(Subject(name="x"), catalog, datetime(2026, 1, 1, tzinfo=UTC)), width).decode()
    _check_fits(text, width, {LONG_NAME, "2.14.1", "1:1.2.11.dfsg-2+deb11u2"})


@pytest.mark.parametrize("width", [60, 80])
def test_diff_table_fits_the_terminal_and_keeps_names_whole(tmp_path: Path, report: ScanReport, width: int) -> None:
    rendering = get_format(DIFF, "table").render_for_terminal
    assert rendering is not None
    old = build_report(tmp_path, packages=PACKAGES[1:])
    changes = diff_reports(old, report)
    text = rendering(changes, width).decode()
    _check_fits(text.split("Added")[1], width, _words(changes.added, aliases=False))


def test_the_same_package_at_two_paths_shows_both_paths(report: ScanReport) -> None:
    text = get_format(FINDINGS, "table").render(report).decode()
    rows = text.split("CRITICAL")[1:]
    assert len(rows) == 2 and all("Pillow at " in row for row in rows)
    assert {jar for jar in JARS if any(jar in row for row in rows)} == set(JARS)
    remediations = text.split("Remediation")[1].split("\n\n")[0].splitlines()[1:]
    assert sorted(line.rsplit(" at ", 1)[1] for line in remediations if "Pillow" in line) == sorted(JARS)
    assert not any(" at " in line for line in remediations if "Pillow" not in line)  # unique: no path



def test_the_same_package_at_two_paths_shows_both_paths_in_a_diff(tmp_path: Path, report: ScanReport) -> None:
    old = build_report(tmp_path, packages=PACKAGES[1:])
    text = get_format(DIFF, "table").render(diff_reports(old, report)).decode()
    added = [line for line in text.split("Resolved")[0].splitlines() if "Pillow" in line]
    assert {jar for jar in JARS if any(f"Pillow at {jar} 8.4.0" in line for line in added)} == set(JARS)


def test_unevaluated_items_have_one_heading_per_reason(report: ScanReport) -> None:
    package = PACKAGES[2]
    items = (Unevaluated(package, "X-1", "version not understood: bad 1"),
             Unevaluated(package, "X-2", "version not understood: bad 2"),
             Unevaluated(package, "", "Maven artifact without a group id; advisories name group:artifact, not checked"),
             Unevaluated(package, "X-3", "CPE range not evaluated: odd"))
    text = get_format(FINDINGS, "table").render(replace(report, unevaluated=items)).decode()
    headings = [line for line in text.splitlines() if line.startswith("Not evaluated")]
    assert headings == ["Not evaluated (version not understood):",
                        "Not evaluated (Maven artifact without a group id; advisories name group:artifact, not checked):",
                        "Not evaluated (CPE range not evaluated):"]
    assert "  weird 1.0-is-not-pep440! X-2: bad 2" in text


def test_os_owned_packages_skipped_are_counted_and_explained(report: ScanReport) -> None:
    assert report.skipped_os_owned == 1
    text = get_format(FINDINGS, "table").render(report).decode()
    assert "1 language package(s) not matched: installed by OS packages" in text and "--include-os-owned" in text
    quiet = get_format(FINDINGS, "table").render(replace(report, skipped_os_owned=0)).decode()
    assert "not matched: installed by OS packages" not in quiet


@pytest.mark.parametrize("arguments", [(), ("-o", "json"), ("--file", "REPORT"), ("-o", "json", "--file", "REPORT")])
def test_a_stale_data_warning_is_shown_once(tmp_path: Path, run: Run, arguments: tuple[str, ...]) -> None:
    (tmp_path / "db").mkdir()
    bundle = trusted_bundle(tmp_path / "db", Rows())
    assert run("--state-dir", str(bundle.state), "db", "policy", "--max-age", "0.01")[0] == 0
    image = tmp_path / "empty.tar"
    docker_archive(image, ImageSpec(layers=[[file("etc/hostname", b"x\n")]]))
    report = tmp_path / "report.out"
    code, out, err = run(*bundle.scanner_args("scan", str(image), *(str(report) if a == "REPORT" else a
                                                                       for a in arguments)))
    assert code == 0, err
    # Once where a person reads: the table, or standard error beside a file or a machine format.
    shown = err + (out if "json" not in arguments else "")
    warnings = re.findall(r"stale data: [^\n]*", shown)
    assert len(warnings) == 2 and len(set(warnings)) == 2, shown  # the bundle's age and the feed's, once each
    if "--file" in arguments:
        assert all(warning in report.read_text() for warning in warnings)
