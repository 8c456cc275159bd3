"""Coverage: a target is clean only where the bundle holds a whole export of its packages' ecosystems."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.compile import compile_database
from scanner.db.store import LEGACY_BASIS, SourceCoverage, VulnStore
from scanner.errors import DatabaseError
from scanner.match.coverage import CoverageStatus, EcosystemCoverage, gap_text, source_lines, target_coverage
from scanner.match.scan import ScanOptions, ScanReport, run_scan
from scanner.model import Package
from scanner.report.base import FINDINGS, get_format
from scanner.targets import ScanInput, TargetInfo
from tests.match.dbfixture import DATABASE_INFO, Rows, write_db

FEEDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "feeds"


def deb(name: str, release: str = "Debian:12", version: str = "1.0-1") -> Package:
    return Package(name=name, version=version, type="deb", ecosystem=release,
                   purl=f"pkg:deb/debian/{name}@{version}")


def pypi(name: str) -> Package:
    return Package(name=name, version="1.0", type="pypi", ecosystem="PyPI", purl=f"pkg:pypi/{name}@1.0")


def source(provider: str, ecosystem: str, complete: bool, records: int = 3) -> SourceCoverage:
    return SourceCoverage(provider, ecosystem, records, None, complete, "whole" if complete else "loose records")


def statuses(coverage: tuple[EcosystemCoverage, ...]) -> dict[str, tuple[CoverageStatus, int, tuple[str, ...]]]:
    return {entry.ecosystem: (entry.status, entry.packages, entry.providers) for entry in coverage}


def test_stray_records_of_a_release_are_partial_and_a_whole_export_is_complete() -> None:
    packages = [deb("openssl"), deb("zlib"), deb("expat", "Debian:11"), pypi("pillow"), pypi("urllib3")]
    sources = [source("osv", "Debian:12", False, 6), source("debian", "Debian:11", True), source("osv", "PyPI", True)]
    assert statuses(target_coverage(packages, sources)) == {
        "Debian:11": (CoverageStatus.COMPLETE, 1, ("debian",)),
        "Debian:12": (CoverageStatus.PARTIAL, 2, ("osv",)),
        "PyPI": (CoverageStatus.COMPLETE, 2, ("osv",)),
    }
    sources.append(source("debian", "Debian:12", True))
    assert statuses(target_coverage(packages, sources))["Debian:12"] == (CoverageStatus.COMPLETE, 2,
                                                                         ("debian", "osv"))


def test_ecosystems_without_any_data_are_none() -> None:
    unknown_release = Package(name="busybox", version="1.36", type="apk", ecosystem="", purl="pkg:apk/x/busybox@1.36")
    npm = Package(name="lodash", version="4.17.15", type="npm", ecosystem="npm", purl="pkg:npm/lodash@4.17.15")
    coverage = statuses(target_coverage([unknown_release, npm], [source("osv", "PyPI", True)]))
    assert coverage == {"apk (no advisory ecosystem)": (CoverageStatus.NONE, 1, ()),
                        "npm": (CoverageStatus.NONE, 1, ())}


def test_release_spellings_follow_the_matcher() -> None:
    jammy = Package(name="openssl", version="3.0.2-0ubuntu1", type="deb", ecosystem="Ubuntu:22.04",
                    purl="pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1")
    edge = Package(name="busybox", version="1.36.1-r0", type="apk", ecosystem="Alpine:v3.19",
                   purl="pkg:apk/alpine/busybox@1.36.1-r0?distro=alpine-3.19_alpha20230901")
    # Ubuntu Pro's ESM records add data to a release without making it whole.
    pro_only = [source("osv", "Ubuntu:Pro:22.04:LTS", True), source("alpine", "Alpine:edge", True)]
    assert statuses(target_coverage([jammy, edge], pro_only)) == {
        "Alpine:v3.19": (CoverageStatus.COMPLETE, 1, ("alpine",)),  # an edge image reads the edge branch
        "Ubuntu:22.04": (CoverageStatus.PARTIAL, 1, ("osv",)),
    }
    whole = [source("osv", "Ubuntu:22.04:LTS", True)]
    assert statuses(target_coverage([jammy], whole))["Ubuntu:22.04"][0] is CoverageStatus.COMPLETE
    # A language ecosystem is read exactly, as the matcher reads it; CPE data completes nothing.
    assert statuses(target_coverage([pypi("x")], [source("osv", "PyPI:other", True),
                                                  source("nvd", "CPE", True)]))["PyPI"][0] is CoverageStatus.NONE


def test_gap_text_and_source_lines() -> None:
    coverage = target_coverage([deb("a"), deb("b"), pypi("c")], [source("osv", "Debian:12", False)])
    assert gap_text(coverage) == "coverage incomplete: 2 package(s) checked against partial data, 1 against none"
    assert gap_text(target_coverage([pypi("c")], [source("osv", "PyPI", True)])) == "coverage complete"
    lines = source_lines([SourceCoverage("osv", "Debian:12", 6, "2024-01-01T00:00:00Z", False, "loose records"),
                          SourceCoverage("debian", "Debian:12", 900, None, True, "Debian DSA list")])
    assert lines == ["Debian:12                complete debian: 900 records, newest undated, complete "
                     "(Debian DSA list); osv: 6 records, newest 2024-01-01T00:00:00Z, partial (loose records)"]


# --- whole scans against databases the compiler built from the real feeds ---------------------------


def scan(database: Path, packages: list[Package], **options: Any) -> ScanReport:
    target = TargetInfo(kind="sbom", name="t", format="cyclonedx-json", digest="sha256:" + "0" * 64)
    return run_scan(ScanInput(target, tuple(packages), ()), database_path=database, database=DATABASE_INFO,
                    options=ScanOptions(**options))


@pytest.fixture(scope="module")
def debian_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What issue 12 found: OSV's Debian sample records and the tracker's JSON samples hold six Debian:12
    rows between them, nothing more, beside whole DSA and DLA lists for the older releases."""
    out = tmp_path_factory.mktemp("coverage") / "vulns.sqlite"
    compile_database(out, {"osv": [FEEDS / "osv" / "Debian"], "debian": [FEEDS / "debian"]})
    return out


def test_a_handful_of_stray_rows_never_make_a_release_clean(debian_samples: Path) -> None:
    with VulnStore(debian_samples) as store:
        bookworm = [(s.provider, s.records, s.complete) for s in store.coverage() if s.ecosystem == "Debian:12"]
    assert bookworm == [("debian", 5, False), ("osv", 1, False)]
    packages = [deb(f"package{index}") for index in range(88)]
    report = scan(debian_samples, packages)
    assert not report.findings and not report.unevaluated  # the rows exist: every package was "checked"
    assert not report.clean and not report.coverage_complete
    assert report.packages_without_complete_data == (88, 0)
    table = get_format(FINDINGS, "table").render(report).decode()
    assert "No vulnerabilities found in the bundle's data: not a clean result (verdict at the end)." in table
    assert "Debian:12                partial      88 package(s)  debian, osv" in table
    assert table.endswith("\nNot clean: 88 package(s) were checked against partial data, 0 against none "
                          "(see Coverage).\n")
    document = json.loads(get_format(FINDINGS, "json").render(report))
    assert document["coverage"] == [{"ecosystem": "Debian:12", "status": "partial", "packages": 88,
                                     "providers": ["debian", "osv"]}]
    assert document["summary"]["clean"] is False and document["summary"]["packages_partial_coverage"] == 88
    sarif = json.loads(get_format(FINDINGS, "sarif").render(report))
    notice = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]
    assert notice["descriptor"]["id"] == "coverage-incomplete" and sarif["runs"][0]["properties"]["clean"] is False


def test_a_whole_tracker_list_makes_its_release_clean(debian_samples: Path) -> None:
    """The bullseye lines of the real DSA list make Debian 11 whole (and not Debian 12, which it does not name)."""
    bullseye = [deb("no-such-package", "Debian:11"), deb("another", "Debian:11")]
    report = scan(debian_samples, bullseye)
    assert report.clean
    assert statuses(report.coverage) == {"Debian:11": (CoverageStatus.COMPLETE, 2, ("debian", "osv"))}
    table = get_format(FINDINGS, "table").render(report).decode()
    assert "\nNo vulnerabilities found.\n" in table
    assert table.endswith("\nClean: all 2 packages were checked against complete data; nothing was found.\n")
    assert json.loads(get_format(FINDINGS, "json").render(report))["summary"]["clean"] is True
    trixie = scan(debian_samples, [deb("openssl", "Debian:14")])
    assert not trixie.clean and trixie.coverage[0].status is CoverageStatus.NONE
    assert not scan(debian_samples, []).clean  # nothing found is not "nothing vulnerable"


def test_a_database_without_coverage_data_is_partial_everywhere(tmp_path: Path) -> None:
    rows = Rows(affected=[("PYSEC-1", "PyPI", "pillow", None, '["1.0"]', "not-fixed", None, None)])
    database = write_db(tmp_path / "old.sqlite", rows)
    with sqlite3.connect(database) as connection:  # as a schema 1.0 database was
        connection.execute("DROP TABLE coverage")
        connection.execute("UPDATE providers SET ecosystems = '{\"PyPI\": 1}'")
    with VulnStore(database) as store:
        assert store.coverage() == (SourceCoverage("osv", "PyPI", 1, None, False, LEGACY_BASIS),)
    report = scan(database, [pypi("requests")])
    assert statuses(report.coverage) == {"PyPI": (CoverageStatus.PARTIAL, 1, ("osv",))} and not report.clean


@pytest.mark.parametrize("ecosystems", ["{", "[1]", '"PyPI"'])
def test_unreadable_legacy_ecosystem_counts_are_a_database_error(tmp_path: Path, ecosystems: str) -> None:
    database = write_db(tmp_path / "old.sqlite", Rows())
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE coverage")
        connection.execute("UPDATE providers SET ecosystems = ?", (ecosystems,))
    with VulnStore(database) as store, pytest.raises(DatabaseError, match="provider osv: ecosystems"):
        store.coverage()
