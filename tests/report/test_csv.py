"""`scanner scan -o csv`: RFC 4180, one row per finding, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest

from scanner.match.scan import ScanReport
from scanner.report.base import FINDINGS, get_format
from scanner.report.csv_findings import COLUMNS, defused
from tests.report.test_findings_formats import build_report


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScanReport:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    return build_report(tmp_path)


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_one_row_per_finding_with_every_column(report: ScanReport) -> None:
    data = get_format(FINDINGS, "csv").render(report)
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    header, *body = rows(data)
    assert tuple(header) == COLUMNS
    assert len(body) == len(report.findings)
    by_id = {row[4]: dict(zip(header, row, strict=True)) for row in body}
    openssl = by_id["CVE-2022-0778"]
    assert (openssl["image"], openssl["package"], openssl["ecosystem"], openssl["severity"], openssl["cvss"],
            openssl["kev_due_date"], openssl["epss"], openssl["fix"], openssl["location"]) == (
        "demo:latest", "libssl1.1", "Debian:11", "high", "7.5", "2026-12-15", "0.01234", "1.1.1n-0+deb11u1",
        "var/lib/dpkg/status")
    assert by_id["CVE-2022-22817"]["aliases"] == "GHSA-8vj2-vxx3-667w PYSEC-2022-10"
    assert by_id["CVE-2023-0001"]["fix"] == "not-fixed" and by_id["CVE-2023-0001"]["kev_due_date"] == ""


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_defused(report: ScanReport, name: str) -> None:
    first = report.findings[0]
    finding = dataclasses.replace(first, package=dataclasses.replace(first.package, name=name, version=name))
    [_, row] = rows(get_format(FINDINGS, "csv").render(dataclasses.replace(report, findings=(finding,))))
    for cell in row[1:3]:
        assert cell.startswith("'"), cell
        assert not cell[1:].startswith(("\t", "\r"))  # invisible characters are written as escapes


def test_quoting_round_trips_and_hides_nothing(report: ScanReport) -> None:
    first = report.findings[0]
    name = 'a,b "quoted"\nnext line\u202e'
    finding = dataclasses.replace(first, package=dataclasses.replace(first.package, name=name,
                                                                      locations=("a;b", "c d")))
    [_, row] = rows(get_format(FINDINGS, "csv").render(dataclasses.replace(report, findings=(finding,))))
    assert row[1] == 'a,b "quoted"\\x0anext line\\u202e'
    assert row[11] == "a;b; c d"
    assert defused("1.0") == "1.0" and defused("") == ""


def test_no_findings_is_a_header_only(report: ScanReport) -> None:
    data = get_format(FINDINGS, "csv").render(dataclasses.replace(report, findings=()))
    assert rows(data) == [list(COLUMNS)]
