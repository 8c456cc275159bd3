"""CISA KEV catalog reader: the full shared catalog, checked against CISA's own schema, and hostile variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dbbuilder.sources import kev
from dbbuilder.sources.records import MalformedFeedError, SkipLog
from scanner.errors import FeedError


@pytest.fixture
def catalog_path(feeds: Path) -> Path:
    return feeds / "kev" / "known_exploited_vulnerabilities.json"


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "kev.json"
    path.write_text(json.dumps(document))
    return path


def small_catalog(*entries: dict[str, Any], count: int | None = None) -> dict[str, Any]:
    return {"title": "t", "catalogVersion": "2026.11.30", "dateReleased": "2026-11-30T16:00:01.123Z",
            "count": len(entries) if count is None else count, "vulnerabilities": list(entries)}


def entry(cve: str = "CVE-2024-3400", **changes: Any) -> dict[str, Any]:
    value = {"cveID": cve, "vendorProject": "Palo Alto Networks", "product": "PAN-OS",
             "vulnerabilityName": "PAN-OS Command Injection", "dateAdded": "2024-04-12",
             "shortDescription": "...", "requiredAction": "Apply mitigations.", "dueDate": "2024-04-19",
             "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-77"]}
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


def test_shared_catalog_is_valid_against_cisas_schema_and_read_whole(feeds: Path, catalog_path: Path) -> None:
    document = json.loads(catalog_path.read_text())
    schema = json.loads((feeds / "kev" / "known_exploited_vulnerabilities_schema.json").read_text())
    jsonschema.validate(document, schema)
    skips = SkipLog("kev")
    catalog = kev.read_kev(catalog_path, skips)
    assert (catalog.version, catalog.released) == ("2025.08.25", "2025-08-25T17:04:19Z")
    assert len(catalog.entries) == document["count"] == 1404 and skips.skipped == 0
    git = next(e for e in catalog.entries if e.cve == "CVE-2025-48384")
    assert (git.date_added, git.due_date, git.known_ransomware_use, git.vendor_project) == (
        "2025-08-25", "2025-09-15", "Unknown", "Git")
    assert {e.known_ransomware_use for e in catalog.entries} == {"Known", "Unknown"}
    assert len({e.cve for e in catalog.entries}) == len(catalog.entries)


@pytest.mark.parametrize(("document", "message"), [
    ([], "expected a JSON object"),
    ({**small_catalog(entry()), "catalogVersion": 3}, "field 'catalogVersion' missing or not a string"),
    ({**small_catalog(entry()), "catalogVersion": " "}, "field 'catalogVersion' is blank"),
    ({**small_catalog(entry()), "dateReleased": "yesterday"}, "not a date-time"),
    ({**small_catalog(entry()), "dateReleased": None}, "not a date-time"),
    ({**small_catalog(entry()), "vulnerabilities": {}}, "not a list"),
    (small_catalog(entry(), count=2), "cut short or edited"),
    (small_catalog(entry(), count=True), "cut short or edited"),
])
def test_a_catalog_that_contradicts_itself_is_refused(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        kev.read_kev(write(tmp_path, document), SkipLog("kev"))


def test_duplicate_json_keys_and_oversize_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kev.json"
    path.write_text('{"catalogVersion": "1", "catalogVersion": "2", "dateReleased": "2026-01-01T00:00:00Z", '
                    '"count": 0, "vulnerabilities": []}')
    with pytest.raises(FeedError, match="duplicate key"):
        kev.read_kev(path, SkipLog("kev"))
    monkeypatch.setattr(kev, "MAX_CATALOG_BYTES", 10)
    with pytest.raises(FeedError, match="larger than 10 bytes"):
        kev.read_kev(path, SkipLog("kev"))
    with pytest.raises(FeedError, match="cannot read"):
        kev.read_kev(tmp_path / "absent.json", SkipLog("kev"))


@pytest.mark.parametrize(("bad", "reason"), [
    ("not an entry", "entry: expected a JSON object"),
    (entry(cveID=None), "entry: field 'cveID' missing or not a string"),
    (entry(dueDate=20240419), "entry: field 'dueDate' missing or not a string"),
    (entry(product=True), "entry: field 'product' missing or not a string"),
    (entry(cve="CVE-24-1"), "malformed cveID"),
    (entry(cve="CVE-2024-3400\n"), "malformed cveID"),
    (entry(dateAdded="2024-02-30"), "malformed date"),
    (entry(dueDate="19/04/2024"), "malformed date"),
    (entry(knownRansomwareCampaignUse=True), "entry: field 'knownRansomwareCampaignUse' missing or not a string"),
    (entry(requiredAction="x" * (kev.MAX_TEXT_CHARS + 1)), "field too long"),
])
def test_entries_breaking_the_schema_are_skipped_or_fatal_when_strict(tmp_path: Path, bad: Any, reason: str) -> None:
    path = write(tmp_path, small_catalog(entry("CVE-2021-44228"), bad))
    skips = SkipLog("kev")
    catalog = kev.read_kev(path, skips)
    assert [e.cve for e in catalog.entries] == ["CVE-2021-44228"] and skips.reasons == {reason: 1}
    with pytest.raises(MalformedFeedError, match="vulnerabilities\\[1\\]"):
        kev.read_kev(path, SkipLog("kev", strict=True))


def test_duplicates_keep_the_first_and_an_absent_ransomware_field_is_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, small_catalog(entry(dueDate="2024-04-19"), entry(dueDate="2030-01-01"),
                                         entry("CVE-2023-4966", knownRansomwareCampaignUse=None)))
    skips = SkipLog("kev")
    catalog = kev.read_kev(path, skips)
    assert [(e.cve, e.due_date, e.known_ransomware_use) for e in catalog.entries] == [
        ("CVE-2024-3400", "2024-04-19", "Known"), ("CVE-2023-4966", "2024-04-19", "Unknown")]
    assert skips.reasons == {"duplicate cveID": 1}
