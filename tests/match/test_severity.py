"""Severity: taken from any record of the alias group, said where it came from, and gated fail-closed.

Go's vulnerability database rates nothing: a GO- record's finding is rated by the CVE's NVD (or CNA)
score, a GHSA's text rating or an OSV severity vector of another record of its group, and the report
names that record. A finding nobody rates trips every `--fail-on` level unless `--unknown-as` ranks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.db.store import VulnStore
from scanner.match.matcher import Matcher
from scanner.match.scan import ScanOptions, ScanReport, run_scan
from scanner.match.severity import gate_severity
from scanner.model import Finding, Package, Severity, SeverityOrigin
from scanner.report.base import FINDINGS, get_format
from scanner.targets import ScanInput, TargetInfo
from tests.match.dbfixture import DATABASE_INFO, Rows, db_from_records
from tests.match.test_matcher import record
from tests.report.schemas import validate

CNA_V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3
V2 = "AV:N/AC:L/Au:N/C:P/I:N/A:N"  # 5.0


def go(name: str, version: str) -> Package:
    return Package(name=name, version=version, type="golang", ecosystem="Go", purl=f"pkg:golang/{name}@{version}")


def go_record(record_id: str, module: str, cve: str, ghsa: str) -> dict[str, object]:
    # As golang/vulndb writes them: no severity, the placeholder dates.
    return record(record_id, "Go", module, [{"introduced": "0"}, {"fixed": "1.5.0"}], aliases=[cve, ghsa],
                  published="0001-01-01T00:00:00Z", modified="0001-01-01T00:00:00Z")


RECORDS: list[dict[str, Any]] = [
    go_record("GO-2030-0001", "example.com/sqlinjection", "CVE-2030-1001", "GHSA-aaaa-aaaa-aaaa"),
    go_record("GO-2030-0002", "example.com/ghsarated", "CVE-2030-1002", "GHSA-bbbb-bbbb-bbbb"),
    {"id": "GHSA-bbbb-bbbb-bbbb", "aliases": ["CVE-2030-1002"], "database_specific": {"severity": "MODERATE"},
     "published": "2030-02-01T00:00:00Z", "affected": []},
    go_record("GO-2030-0003", "example.com/osvvector", "CVE-2030-1003", "GHSA-cccc-cccc-cccc"),
    {"id": "RUSTSEC-2030-0003", "aliases": ["CVE-2030-1003"], "severity": [{"type": "CVSS_V4", "score": V4}],
     "affected": []},
    go_record("GO-2030-0004", "example.com/legacy", "CVE-2030-1004", "GHSA-dddd-dddd-dddd"),
    go_record("GO-2030-0005", "example.com/unrated", "CVE-2030-1005", "GHSA-eeee-eeee-eeee"),
]
MODULES = tuple(go(f"example.com/{name}", "v1.0.0")
                for name in ("sqlinjection", "ghsarated", "osvvector", "legacy", "unrated"))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    extra = Rows()
    # NVD has not scored CVE-2030-1001 itself: the CNA's score (a Secondary metric) is all there is.
    extra.vulnerabilities += [("CVE-2030-1001", "nvd", "CVE-2030-1001", None, "2030-01-05T00:00:00Z", None, None,
                               "SQL injection"),
                              ("CVE-2030-1004", "nvd", "CVE-2030-1004", None, None, None, None, "legacy")]
    # Scores stored without a base score (an older builder): the scanner scores the vector itself.
    extra.severities += [("CVE-2030-1001", "nvd/security-advisories@github.com", "CVSS_V3", CNA_V31, None),
                         ("CVE-2030-1004", "nvd", "CVSS_V2", V2, None)]
    return db_from_records(tmp_path / "v.sqlite", RECORDS, extra)


@pytest.fixture
def findings(database: Path) -> Iterator[dict[str, Finding]]:
    with VulnStore(database) as store:
        yield {f.package.name.rsplit("/", 1)[1]: f for f in Matcher(store).match(MODULES).findings}


def report(database: Path, options: ScanOptions) -> ScanReport:
    target = TargetInfo(kind="sbom", name="go-app", format="cyclonedx-json", digest="sha256:" + "9" * 64)
    return run_scan(ScanInput(target, MODULES, ()), database_path=database, database=DATABASE_INFO, options=options)


def test_a_cna_score_of_the_cve_rates_a_go_finding(findings: dict[str, Finding]) -> None:
    vulnerability = findings["sqlinjection"].vulnerability
    assert vulnerability.id == "CVE-2030-1001" and vulnerability.severity is Severity.CRITICAL
    origin = vulnerability.severity_origin
    assert origin is not None and origin.cvss is not None
    assert (origin.kind, origin.source, origin.record) == ("cvss", "nvd/security-advisories@github.com", "CVE-2030-1001")
    assert (origin.cvss.vector, origin.cvss.score) == (CNA_V31, 9.8)


@pytest.mark.parametrize(("module", "severity", "origin"), [
    ("ghsarated", Severity.MEDIUM, SeverityOrigin(kind="rating", source="osv", record="GHSA-bbbb-bbbb-bbbb",
                                                  rating="moderate")),
    ("unrated", Severity.UNKNOWN, None),
])
def test_text_ratings_and_unrated_groups(findings: dict[str, Finding], module: str, severity: Severity,
                                         origin: SeverityOrigin | None) -> None:
    vulnerability = findings[module].vulnerability
    assert (vulnerability.severity, vulnerability.severity_origin) == (severity, origin)


@pytest.mark.parametrize(("module", "severity", "record_id", "version"), [
    ("osvvector", Severity.CRITICAL, "RUSTSEC-2030-0003", "4.0"),  # an OSV CVSS_V4 vector of another record
    ("legacy", Severity.MEDIUM, "CVE-2030-1004", "2.0"),  # NVD's CVSS v2, scored at scan time
])
def test_vectors_of_every_cvss_version_are_scored(findings: dict[str, Finding], module: str, severity: Severity,
                                                  record_id: str, version: str) -> None:
    vulnerability = findings[module].vulnerability
    origin = vulnerability.severity_origin
    assert vulnerability.severity is severity
    assert origin is not None and origin.cvss is not None
    assert (origin.record, origin.cvss.version) == (record_id, version)


def test_placeholder_dates_are_absent_and_a_real_one_of_the_group_is_used(findings: dict[str, Finding]) -> None:
    assert findings["unrated"].vulnerability.published == findings["unrated"].vulnerability.modified == ""
    assert findings["sqlinjection"].vulnerability.published == "2030-01-05T00:00:00Z"
    assert findings["ghsarated"].vulnerability.published == "2030-02-01T00:00:00Z"


def test_the_json_report_names_the_record_that_rated_each_finding(database: Path) -> None:
    document = json.loads(get_format(FINDINGS, "json").render(report(database, ScanOptions())))
    by_id = {f["vulnerability"]["id"]: f["vulnerability"] for f in document["findings"]}
    assert by_id["CVE-2030-1001"]["severity_origin"] == {
        "kind": "cvss", "source": "nvd/security-advisories@github.com", "record": "CVE-2030-1001",
        "version": "3.1", "vector": CNA_V31, "score": 9.8}
    assert by_id["CVE-2030-1002"]["severity_origin"] == {
        "kind": "rating", "source": "osv", "record": "GHSA-bbbb-bbbb-bbbb", "rating": "moderate"}
    assert by_id["CVE-2030-1005"]["severity_origin"] is None and by_id["CVE-2030-1005"]["severity"] == "unknown"
    assert by_id["CVE-2030-1005"]["published"] is None  # not "1-01-01T00:00:00Z"


def test_gate_severity_fails_closed() -> None:
    assert gate_severity(Severity.UNKNOWN, None) is Severity.CRITICAL
    assert gate_severity(Severity.UNKNOWN, Severity.LOW) is Severity.LOW
    assert gate_severity(Severity.MEDIUM, Severity.CRITICAL) is Severity.MEDIUM  # a known rating is never re-ranked


@pytest.mark.parametrize(("unknown_as", "threshold"), [
    (None, Severity.CRITICAL),  # unknown trips every level
    (None, Severity.NEGLIGIBLE),
    (Severity.LOW, Severity.CRITICAL),  # fails all the same: CVE-2030-1001 and -1003 are critical
    (Severity.LOW, Severity.LOW),
])
def test_fail_on_counts_unknown_findings_unless_ranked_below(database: Path, unknown_as: Severity | None,
                                                            threshold: Severity) -> None:
    scanned = report(database, ScanOptions(fail_on=threshold, unknown_as=unknown_as))
    assert scanned.fails(threshold)
    unknown = [f for f in scanned.gate_failures(threshold) if f.vulnerability.severity is Severity.UNKNOWN]
    assert bool(unknown) is (unknown_as is None or unknown_as >= threshold)


def test_unknown_as_ranks_unknowns_below_the_threshold(database: Path) -> None:
    only_unrated = (MODULES[-1],)
    target = TargetInfo(kind="sbom", name="go-app", format="cyclonedx-json", digest="sha256:" + "9" * 64)

    def scanned(options: ScanOptions) -> ScanReport:
        return run_scan(ScanInput(target, only_unrated, ()), database_path=database, database=DATABASE_INFO,
                        options=options)

    assert scanned(ScanOptions()).fails(Severity.CRITICAL)
    assert not scanned(ScanOptions(unknown_as=Severity.LOW)).fails(Severity.MEDIUM)
    assert scanned(ScanOptions(unknown_as=Severity.LOW)).fails(Severity.LOW)


@pytest.mark.parametrize(("unknown_as", "level", "security_severity"), [
    (None, "error", None), (Severity.LOW, "note", "2.0"), (Severity.HIGH, "error", "8.0")])
def test_sarif_levels_follow_the_gate(database: Path, unknown_as: Severity | None, level: str,
                                      security_severity: str | None) -> None:
    data = get_format(FINDINGS, "sarif").render(report(database, ScanOptions(unknown_as=unknown_as)))
    validate("sarif", data)
    document = json.loads(data)
    run = document["runs"][0]
    [result] = [r for r in run["results"] if r["ruleId"] == "CVE-2030-1005"]
    assert result["level"] == level
    rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert rule["defaultConfiguration"]["level"] == level
    assert rule["properties"].get("security-severity") == security_severity
    [rated] = [r for r in run["results"] if r["ruleId"] == "CVE-2030-1001"]
    assert rated["level"] == "error"
    assert run["tool"]["driver"]["rules"][rated["ruleIndex"]]["properties"]["security-severity"] == "9.8"
