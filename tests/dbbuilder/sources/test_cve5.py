from __future__ import annotations

import copy
import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.bundle.keys import generate_key_pair, load_private_key
from dbbuilder.bundle.manifest import BundleIdentity
from dbbuilder.bundle.writer import write_bundle
from dbbuilder.compile import compile_database
from dbbuilder.sources.cve5 import (
    AFFECTED_BY_DEFAULT,
    NESTED_RANGES,
    NO_NAME,
    NOT_DERIVED,
    NOT_PLAIN,
    NOT_SEMVER,
    WITH_CHANGES,
    parse_record,
)
from dbbuilder.sources.records import CpeRow, RecordError
from scanner.cli import main
from scanner.db import trust
from scanner.db.state import StateDir
from tests.dbbuilder.sources.conftest import by_id, read_all, read_skipping_once

RECORD: dict[str, Any] = {
    "dataType": "CVE_RECORD", "dataVersion": "5.1",
    "cveMetadata": {"cveId": "CVE-2099-0001", "state": "PUBLISHED", "assignerShortName": "acme",
                    "datePublished": "2099-01-02T03:04:05.678Z", "dateUpdated": "2099-02-03T04:05:06.789Z"},
    "containers": {
        "cna": {
            "providerMetadata": {"orgId": "x", "shortName": "acme"},
            "title": "Widget overflow",
            "descriptions": [{"lang": "de", "value": "Nein."}, {"lang": "en", "value": "A widget overflows."}],
            "metrics": [{"format": "CVSS", "cvssV4_0": {
                "vectorString": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "baseScore": 1}},
                {"cvssV3_1": {"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
                {"cvssV2_0": {"vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}},
                {"other": {"type": "vendor rating", "content": {"value": "High"}}}],
            "problemTypes": [{"descriptions": [{"type": "CWE", "cweId": "CWE-787", "lang": "en"},
                                               {"type": "text", "description": "overflow", "lang": "en"}]}],
            "references": [{"url": "https://acme.example/advisory"}],
        },
        "adp": [{"providerMetadata": {"shortName": "CISA-ADP"},
                 "metrics": [{"cvssV3_1": {"vectorString": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N"}}],
                 "problemTypes": [{"descriptions": [{"cweId": "CWE-120"}]}]}],
    },
}


def write_record(directory: Path, record: object, name: str = "CVE-2099-0001.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(record))
    return directory


def test_real_cvelist_records_read_without_skips(feeds: Path) -> None:
    records, skips = read_all("cve5", [feeds / "cve5"])
    # Every record is read; what is counted is affected data no CPE row could be derived from.
    assert len(records) == 22 and all(reason.startswith(NOT_DERIVED) for reason in skips.reasons)
    found = by_id(records)
    tokio = found["CVE-2023-22466"]
    assert [(row.source, row.type, row.score) for row in tokio.severities] == [("cve5/GitHub_M", "CVSS_V3", 5.4)]
    assert tokio.cwes == ("CWE-665",) and tokio.details and tokio.summary
    # Log4Shell: the CNA (apache) gave no CVSS; CISA's ADP did, and the row says it was an ADP.
    assert [row.source for row in found["CVE-2021-44228"].severities] == ["cve5/adp/CISA-ADP"]
    assert [row.type for row in found["CVE-2025-4565"].severities] == ["CVSS_V4"]


def test_record_fields_and_sources(tmp_path: Path) -> None:
    [record], _ = read_all("cve5", [write_record(tmp_path, RECORD)])
    assert (record.id, record.provider, record.summary, record.details) == (
        "CVE-2099-0001", "cve5", "Widget overflow", "A widget overflows.")
    assert (record.published, record.modified, record.withdrawn) == (
        "2099-01-02T03:04:05Z", "2099-02-03T04:05:06Z", None)
    assert [(row.source, row.type) for row in record.severities] == [
        ("cve5/acme", "CVSS_V4"), ("cve5/acme", "CVSS_V3"), ("cve5/acme", "CVSS_V2"), ("cve5/adp/CISA-ADP", "CVSS_V3")]
    # Scores come from the vectors, not from a record's own `baseScore`.
    assert record.severities[0].score == 9.3 and record.severities[2].score == 7.5
    assert record.cwes == ("CWE-787", "CWE-120") and record.references == ("https://acme.example/advisory",)


def test_rejected_record_is_withdrawn_and_other_files_are_not_read(tmp_path: Path) -> None:
    rejected = copy.deepcopy(RECORD)
    rejected["cveMetadata"].update(state="REJECTED", dateRejected="2099-03-01T00:00:00Z")
    write_record(tmp_path, rejected)
    (tmp_path / "delta.json").write_text("{}")  # cvelistV5's change lists are no records
    (tmp_path / "deltaLog.json").write_text("[]")
    records, skips = read_all("cve5", [tmp_path])
    assert [r.withdrawn for r in records] == ["2099-03-01T00:00:00Z"] and skips.skipped == 0


def _mutated(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    record = copy.deepcopy(RECORD)
    target: Any = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return record


@pytest.mark.parametrize(("document", "reason"), [
    ([], "CVE record is not an object"),
    ({"dataType": "CVE_RECORD", "dataVersion": "4.0"}, "unsupported CVE JSON version"),
    (_mutated(("dataType",), "CVE_SOMETHING"), "not a CVE JSON 5 record"),
    (_mutated(("cveMetadata", "cveId"), "CVE-99"), "missing or invalid CVE id"),
    (_mutated(("cveMetadata", "cveId"), 7), "malformed CVE record"),
    (_mutated(("cveMetadata", "state"), "RESERVED"), "unknown CVE state"),
    (_mutated(("containers",), []), "malformed CVE record"),
    (_mutated(("containers", "cna", "metrics"), {"cvssV3_1": {}}), "malformed CVE record"),
    (_mutated(("containers", "cna", "metrics"), [{"cvssV3_1": {"baseScore": 9.8}}]), "malformed CVE record"),
    (_mutated(("containers", "cna", "metrics"), [{"cvssV3_1": {"vectorString": "CVSS:4.0/AV:N"}}]),
     "CVSS vector of another version"),
    (_mutated(("containers", "cna", "metrics"), [{"cvssV2_0": {"vectorString": "CVSS:3.1/AV:N"}}]),
     "CVSS vector of another version"),
    (_mutated(("containers", "cna", "descriptions"), "text"), "malformed CVE record"),
    (_mutated(("containers", "cna", "problemTypes"), [{"descriptions": [5]}]), "malformed CVE record"),
    (_mutated(("containers", "adp"), [{"metrics": []}]), "no ADP name"),
    (_mutated(("containers", "cna", "providerMetadata"), {"shortName": ["acme"]}), "malformed CVE record"),
])
def test_hostile_records_are_skipped_with_a_reason_and_fatal_when_strict(tmp_path: Path, document: object,
                                                                         reason: str) -> None:
    write_record(tmp_path, document)
    assert read_skipping_once("cve5", [tmp_path], reason) == []


@pytest.mark.parametrize(("document", "detail"), [
    (_mutated(("cveMetadata", "cveId"), 7), "cveMetadata: field 'cveId' missing or not a string"),
    (_mutated(("dataVersion",), None), "record: field 'dataVersion' missing or not a string"),
    (_mutated(("containers", "cna", "title"), ["t"]), "containers.cna: field 'title' is not a string"),
    (_mutated(("containers", "cna", "problemTypes"), [{"descriptions": [5]}]),
     "containers.cna.problemTypes[0].descriptions[0]: expected a JSON object"),
])
def test_a_malformed_record_names_the_field_in_its_skip_detail(document: object, detail: str) -> None:
    with pytest.raises(RecordError) as raised:
        parse_record(document)
    assert (raised.value.reason, raised.value.detail) == ("malformed CVE record", detail)


@pytest.mark.parametrize("content", [b"{", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b"null"])
def test_unparsable_files_are_skipped(tmp_path: Path, content: bytes) -> None:
    tmp_path.joinpath("CVE-2099-0002.json").write_bytes(content)
    records, skips = read_all("cve5", [tmp_path])
    assert records == [] and skips.skipped == 1


def _scan(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    monkeypatch.setattr(sys, "argv", ["scanner", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    assert exited.value.code in (0, 1, None), out.err
    document: dict[str, Any] = json.loads(out.out)
    return document


def test_a_cve_with_only_cna_cvss_gets_its_severity_from_cve5(
        tmp_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # RUSTSEC-2023-0001 (tokio, CVE-2023-22466) carries no severity of its own; GitHub, the CNA, scored it.
    advisory = feeds / "osv" / "crates.io" / "RUSTSEC-2023-0001.json"
    keys = generate_key_pair(tmp_path, "test-key")
    state = tmp_path / "state"
    now = datetime.now(UTC).replace(microsecond=0)
    trust.add_key(StateDir.resolve(state), trust.read_key_file(keys.public_key), "test", str(keys.public_key), now)
    sbom = tmp_path / "sbom.json"
    sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "tokio", "version": "1.20.0", "purl": "pkg:cargo/tokio@1.20.0"}]}))

    def severity(**feeds_given: list[Path]) -> tuple[str, Any]:
        name = "-".join(sorted(feeds_given))
        database, bundle = tmp_path / f"{name}.sqlite", tmp_path / f"{name}.bundle"
        compile_database(database, feeds_given)
        write_bundle(bundle, database, BundleIdentity("t", 1, now, now + timedelta(days=3)),
                     [load_private_key(keys.private_key)])
        report = _scan(monkeypatch, capsys, "--state-dir", str(state), "scan", str(sbom), "--db", str(bundle),
                       "-o", "json")
        [finding] = report["findings"]
        return finding["vulnerability"]["severity"], finding["vulnerability"].get("severity_origin")

    assert severity(osv=[advisory])[0] == "unknown"
    rated, origin = severity(osv=[advisory], cve5=[feeds / "cve5"])
    assert rated == "medium"
    assert origin["source"] == "cve5/GitHub_M" and origin["record"] == "CVE-2023-22466"


def _with_affected(*entries: dict[str, Any], adp: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    record = copy.deepcopy(RECORD)
    record["containers"]["cna"]["affected"] = list(entries)
    if adp is not None:
        record["containers"]["adp"][0]["affected"] = adp
    return record


def semver(version: str, **bounds: str) -> dict[str, str]:
    return {"version": version, "status": "affected", "versionType": "semver", **bounds}


def test_real_records_give_cpe_rows_only_where_unambiguous(feeds: Path) -> None:
    records, skips = read_all("cve5", [feeds / "cve5"])
    found = by_id(records)
    # curl lists each affected release as version..lessThanOrEqual the same version, defaultStatus unaffected.
    curl = found["CVE-2024-7264"].cpes
    assert len(curl) == 95 and curl[0] == CpeRow("curl", "curl", "cpe:2.3:a:curl:curl:*:*:*:*:*:*:*:*",
                                                 version_start_including="8.9.0", version_end_including="8.9.0")
    # GitLab names its CPE itself.
    assert found["CVE-2025-1110"].cpes == (CpeRow("gitlab", "gitlab", "cpe:2.3:a:gitlab:gitlab:*:*:*:*:*:*:*:*",
                                                  version_start_including="18.0", version_end_excluding="18.0.1"),)
    # Log4Shell's CNA data is versionType custom with `changes`; protobuf's three ranges all start at 0;
    # the kernel's entries are git commits or "affected by default": none is expressible as CPE bounds.
    assert found["CVE-2021-44228"].cpes == () and found["CVE-2025-4565"].cpes == ()
    assert found["CVE-2025-21631"].cpes == ()
    assert skips.reasons[NOT_SEMVER] and skips.reasons[AFFECTED_BY_DEFAULT] == 2
    assert skips.reasons[NESTED_RANGES] == 2 and skips.reasons[NO_NAME]


def test_cpe_rows_from_names_and_version_forms(tmp_path: Path) -> None:
    record = _with_affected(
        {"vendor": "Acme Corp", "product": "Widget", "defaultStatus": "unaffected", "versions": [
            semver("0", lessThan="1.2.3"), semver("2.0.0", lessThanOrEqual="2.4.1"), semver("3.0.0+build.1"),
            {"version": "3.1.0", "status": "unaffected", "versionType": "semver"}]},
        {"vendor": "x", "product": "y", "cpes": ["cpe:2.3:a:acme:gadget:*:*:*:*:*:node.js:*:*"],
         "versions": [semver("1.0", lessThan="1.1")]},
        adp=[{"vendor": "acme", "product": "tool", "versions": [semver("5.0", lessThan="5.1")]}])
    [parsed], skips = read_all("cve5", [write_record(tmp_path, record)])
    assert skips.skipped == 0
    assert parsed.cpes == (
        CpeRow("acme_corp", "widget", "cpe:2.3:a:acme_corp:widget:*:*:*:*:*:*:*:*", version_end_excluding="1.2.3"),
        CpeRow("acme_corp", "widget", "cpe:2.3:a:acme_corp:widget:*:*:*:*:*:*:*:*", version_start_including="2.0.0",
               version_end_including="2.4.1"),
        CpeRow("acme_corp", "widget", "cpe:2.3:a:acme_corp:widget:3.0.0\\+build.1:*:*:*:*:*:*:*"),
        CpeRow("acme", "gadget", "cpe:2.3:a:acme:gadget:*:*:*:*:*:node.js:*:*", version_start_including="1.0",
               version_end_excluding="1.1"),
        CpeRow("acme", "tool", "cpe:2.3:a:acme:tool:*:*:*:*:*:*:*:*", version_start_including="5.0",
               version_end_excluding="5.1"),
    )


@pytest.mark.parametrize(("entry", "reason"), [
    ({"vendor": "n/a", "product": "widget", "versions": [semver("1.0")]}, NO_NAME),
    ({"vendor": "acme", "product": "[UNKNOWN]", "versions": [semver("1.0")]}, NO_NAME),
    ({"packageName": "xz", "versions": [semver("5.6.0")]}, NO_NAME),
    ({"cpes": ["cpe:/o:redhat:enterprise_linux:7"], "defaultStatus": "affected"}, NO_NAME),  # CPE 2.2
    ({"cpes": ["cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*"], "versions": [semver("1.0")]}, NO_NAME),
    ({"cpes": ["cpe:2.3:a:acme:widget:*:*:*"], "versions": [semver("1.0")]}, NO_NAME),
    ({"vendor": "acme", "product": "widget", "defaultStatus": "affected",
      "versions": [{"version": "2.0", "status": "unaffected", "versionType": "semver"}]}, AFFECTED_BY_DEFAULT),
    ({"vendor": "acme", "product": "widget", "versions": [{"version": "1.0", "status": "affected"}]}, NOT_SEMVER),
    ({"vendor": "acme", "product": "widget", "versions": [
        {"version": "abc123", "lessThan": "def456", "status": "affected", "versionType": "git"}]}, NOT_SEMVER),
    ({"vendor": "acme", "product": "widget", "versions": [
        {**semver("1.0", lessThan="2.0"), "changes": [{"at": "1.5", "status": "unaffected"}]}]}, WITH_CHANGES),
    ({"vendor": "acme", "product": "widget", "versions": [semver("5.15.0", lessThanOrEqual="5.15.*")]}, NOT_PLAIN),
    ({"vendor": "acme", "product": "widget", "versions": [semver("unspecified", lessThan="1.3")]}, NOT_PLAIN),
    ({"vendor": "acme", "product": "widget", "versions": [semver("1.0", lessThan="2", lessThanOrEqual="2")]},
     NOT_PLAIN),
    ({"vendor": "acme", "product": "widget", "versions": [semver("0", lessThan="1.5"), semver("0", lessThan="2.3")]},
     NESTED_RANGES),
])
def test_affected_data_without_a_cpe_reading_is_counted_never_guessed(tmp_path: Path, entry: dict[str, Any],
                                                                      reason: str) -> None:
    [parsed], skips = read_all("cve5", [write_record(tmp_path, _with_affected(entry))])
    assert parsed.cpes == () and dict(skips.reasons) == {reason: 1}
    [strict], _ = read_all("cve5", [tmp_path], strict=True)  # not malformed: never fatal
    assert strict.cpes == ()


@pytest.mark.parametrize("affected", [
    {"vendor": 7}, [5], "text", {"versions": {"version": "1"}}, {"cpes": "cpe:2.3:a:b:c:*:*:*:*:*:*:*:*"},
    {"vendor": "a", "product": "b", "versions": [{"version": "1", "status": "affected", "lessThan": 2,
                                                 "versionType": "semver"}]},
    {"vendor": "a", "product": "b", "defaultStatus": "vulnerable"},
    {"vendor": "a", "product": "b", "versions": [{"version": "1"}]},
])
def test_malformed_affected_data_skips_the_record(tmp_path: Path, affected: Any) -> None:
    record = copy.deepcopy(RECORD)
    record["containers"]["cna"]["affected"] = affected if isinstance(affected, list | str) else [affected]
    records, skips = read_all("cve5", [write_record(tmp_path, record)])
    assert records == [] and dict(skips.reasons) == {"malformed CVE record": 1}


def _nvd_page(cve_id: str, criteria: str, **bounds: str) -> dict[str, Any]:
    match = {"vulnerable": True, "criteria": criteria, "matchCriteriaId": "X", **bounds}
    return {"resultsPerPage": 1, "startIndex": 0, "totalResults": 1, "format": "NVD_CVE", "version": "2.0",
            "timestamp": "2099-03-01T00:00:00.000", "vulnerabilities": [{"cve": {
                "id": cve_id, "published": "2099-01-01T00:00:00.000", "lastModified": "2099-02-01T00:00:00.000",
                "vulnStatus": "Analyzed", "descriptions": [{"lang": "en", "value": "flaw"}],
                "configurations": [{"nodes": [{"operator": "OR", "cpeMatch": [match]}]}]}}]}


def test_nvd_configurations_stay_primary_and_cve5_fills_in(tmp_path: Path) -> None:
    cve5 = tmp_path / "cve5"
    both = _with_affected({"vendor": "acme", "product": "widget", "versions": [semver("0", lessThan="9.9")]})
    write_record(cve5, both)
    only_cve5 = copy.deepcopy(both)
    only_cve5["cveMetadata"]["cveId"] = "CVE-2099-0002"
    write_record(cve5, only_cve5, "CVE-2099-0002.json")
    nvd = tmp_path / "nvd"
    nvd.mkdir()
    (nvd / "page.json").write_text(json.dumps(_nvd_page("CVE-2099-0001", "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*",
                                                        versionEndExcluding="1.5")))
    database = tmp_path / "db.sqlite"
    summary = compile_database(database, {"nvd": [nvd], "cve5": [cve5]})
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT vuln_id, version_end_excluding FROM cpes ORDER BY vuln_id").fetchall()
    # CVE-2099-0001: NVD says < 1.5 and the CNA < 9.9; NVD's rows alone are kept. CVE-2099-0002 has only the CNA's.
    assert rows == [("CVE-2099-0001", "1.5"), ("CVE-2099-0002", "9.9")]
    coverage = {p.name: [(c.ecosystem, c.records) for c in p.coverage] for p in summary.providers}
    assert coverage == {"nvd": [("CPE", 1)], "cve5": [("CPE", 1)]}
