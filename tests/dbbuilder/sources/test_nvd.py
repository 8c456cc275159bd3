from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.sources import nvd
from dbbuilder.sources.records import MalformedFeedError

from .conftest import by_id, read_all, read_with_facts


def cve(cve_id: str = "CVE-2024-0001", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": cve_id,
        "published": "2024-01-01T10:00:00.000",
        "lastModified": "2024-02-01T10:00:00.000",
        "vulnStatus": "Analyzed",
        "descriptions": [{"lang": "es", "value": "Una falla."}, {"lang": "en", "value": "A flaw. More text."}],
        "metrics": {"cvssMetricV31": [
            {"source": "nvd@nist.gov", "type": "Primary",
             "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
            {"source": "cna@example.org", "type": "Secondary",
             "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]},
        "weaknesses": [{"description": [{"lang": "en", "value": "CWE-79"}, {"lang": "en", "value": "NVD-CWE-Other"}]}],
        "references": [{"url": "https://example.org/1"}],
        "configurations": [{"nodes": [{"operator": "OR", "cpeMatch": [
            {"vulnerable": True, "criteria": "cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*", "versionEndExcluding": "2.0"},
            {"vulnerable": False, "criteria": "cpe:2.3:o:acme:os:-:*:*:*:*:*:*:*"}]}]}],
    }
    base.update(overrides)
    return base


def page(*cves: dict[str, Any]) -> dict[str, Any]:
    return {"resultsPerPage": len(cves), "startIndex": 0, "totalResults": len(cves), "format": "NVD_CVE",
            "version": "2.0", "vulnerabilities": [{"cve": item} for item in cves]}


def test_real_api_pages_and_legacy_feed(feeds: Path) -> None:
    records, skips = read_all("nvd", [feeds / "nvd"])
    assert skips.skipped == 0
    found = by_id(records)
    openssl = found["CVE-2022-0778"]
    scores = {(row.source, row.type): row.score for row in openssl.severities}
    assert scores == {("nvd", "CVSS_V3"): 7.5, ("nvd", "CVSS_V2"): 5.0}
    assert openssl.cwes == ("CWE-835",)
    assert openssl.published == "2022-03-15T17:15:08Z"
    assert any(row.vendor == "openssl" and row.product == "openssl" and row.version_end_excluding == "1.1.1n"
               for row in openssl.cpes)
    assert openssl.summary and openssl.summary.startswith("The BN_mod_sqrt() function")
    # The legacy 1.1 feed nests CPE matches under `children` and keeps CWE ids in `problemtype`.
    legacy = found["CVE-2022-0090"]
    assert legacy.cwes == ("CWE-269",) and len(legacy.cpes) == 6
    assert {row.type: row.score for row in legacy.severities}["CVSS_V3"] == 6.5


def test_api_record_fields(tmp_path: Path) -> None:
    (tmp_path / "page.json").write_text(json.dumps(page(cve())))
    [parsed], _ = read_all("nvd", [tmp_path])
    assert parsed.summary == "A flaw" and parsed.details == "A flaw. More text."
    assert parsed.cwes == ("CWE-79",)  # NVD's placeholders are not CWE ids
    assert [(row.source, row.score) for row in parsed.severities] == [("nvd", 9.8), ("nvd/cna@example.org", 8.4)]
    [cpe] = parsed.cpes  # only vulnerable matches
    assert (cpe.vendor, cpe.product, cpe.version_end_excluding) == ("acme", "widget", "2.0")
    assert parsed.modified == "2024-02-01T10:00:00Z" and parsed.withdrawn is None


def test_v4_and_v2_vectors_and_rejected_cves(tmp_path: Path) -> None:
    metrics = {"cvssMetricV40": [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": {
        "vectorString": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}}],
        "cvssMetricV2": [{"source": "nvd@nist.gov", "type": "Primary",
                          "cvssData": {"vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}]}
    rejected = cve("CVE-2024-0002", vulnStatus="Rejected", metrics={})
    (tmp_path / "page.json").write_text(json.dumps(page(cve(metrics=metrics), rejected)))
    found = by_id(read_all("nvd", [tmp_path])[0])
    assert {(row.type, row.score) for row in found["CVE-2024-0001"].severities} == {("CVSS_V4", 9.3),
                                                                                    ("CVSS_V2", 7.5)}
    assert found["CVE-2024-0002"].withdrawn == "2024-02-01T10:00:00Z"


def test_gzipped_feeds_and_bare_cve_objects(tmp_path: Path) -> None:
    (tmp_path / "nvdcve-2.0-2024.json.gz").write_bytes(gzip.compress(json.dumps(page(cve())).encode()))
    (tmp_path / "CVE-2024-0003.json").write_text(json.dumps(cve("CVE-2024-0003")))
    records, skips = read_all("nvd", [tmp_path])
    assert sorted(r.id for r in records) == ["CVE-2024-0001", "CVE-2024-0003"] and skips.skipped == 0


def test_invalid_vector_keeps_the_record_without_a_score(tmp_path: Path) -> None:
    metrics = {"cvssMetricV31": [{"type": "Primary", "cvssData": {"vectorString": "CVSS:3.1/AV:Q"}}]}
    (tmp_path / "page.json").write_text(json.dumps(page(cve(metrics=metrics))))
    [parsed], _ = read_all("nvd", [tmp_path])
    assert [(row.vector, row.score) for row in parsed.severities] == [("CVSS:3.1/AV:Q", None)]


@pytest.mark.parametrize(("document", "reason"), [
    ({"unexpected": 1}, "not an NVD file"),
    ({"vulnerabilities": {"cve": 1}}, "malformed NVD page"),
    ({"CVE_Items": "x"}, "malformed NVD feed"),
    (page(cve("GHSA-1234")), "missing or invalid CVE id"),
    (page(cve(configurations=[{"nodes": [{"cpeMatch": [{"vulnerable": True, "criteria": "acme"}]}]}])),
     "malformed CPE"),
    ({"vulnerabilities": [None]}, "item is not an object"),
])
def test_hostile_pages(tmp_path: Path, document: object, reason: str) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(document))
    (tmp_path / "good.json").write_text(json.dumps(page(cve("CVE-2024-0009"))))
    records, skips = read_all("nvd", [tmp_path])
    assert [r.id for r in records] == ["CVE-2024-0009"]
    assert dict(skips.reasons) == {reason: 1}
    with pytest.raises(MalformedFeedError):
        read_all("nvd", [tmp_path], strict=True)


def test_gzip_bomb_and_broken_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvd, "MAX_FILE_BYTES", 10_000)
    (tmp_path / "bomb.json.gz").write_bytes(gzip.compress(b" " * 1_000_000))
    (tmp_path / "broken.json.gz").write_bytes(b"\x1f\x8b\x08garbage")
    records, skips = read_all("nvd", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"file too large": 1, "invalid gzip": 1}


def test_pages_state_their_own_capture_time_and_cover_cpe(feeds: Path) -> None:
    _, _, facts = read_with_facts("nvd", [feeds / "nvd"])
    assert max(facts.timestamps) == "2026-10-08T22:17:07Z"  # nvd-api2-fkie-cad.json's `timestamp`
    assert "2022-08-31T05:00:00Z" in facts.timestamps  # the legacy feed's CVE_data_timestamp
    assert facts.exports == {"CPE": "NVD CVE data"}
