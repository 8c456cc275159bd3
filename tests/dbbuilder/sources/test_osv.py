from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.sources import osv
from dbbuilder.sources.feedio import input_files
from scanner.errors import FeedError
from scanner.model import FixState

from .conftest import by_id, read_all, read_skipping_once, read_with_facts


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "GHSA-aaaa-bbbb-cccc",
        "modified": "2024-01-02T03:04:05Z",
        "published": "2023-12-01T00:00:00Z",
        "aliases": ["CVE-2024-0001"],
        "summary": "Example flaw",
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "Example_Pkg.Name"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]},
                       {"type": "GIT", "repo": "https://example.org/r.git",
                        "events": [{"introduced": "0"}, {"fixed": "abc123"}]}],
            "versions": ["1.0", "1.2.2"],
        }],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        "database_specific": {"severity": "MODERATE", "cwe_ids": ["CWE-400"]},
        "references": [{"type": "WEB", "url": "https://example.org/advisory"}],
    }
    base.update(overrides)
    return base


def write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_real_records_from_every_ecosystem(feeds: Path) -> None:
    records, skips = read_all("osv", [feeds / "osv"])
    assert skips.skipped == 0
    assert len(records) == len(list((feeds / "osv").rglob("*.json")))
    found = by_id(records)
    pillow = found["PYSEC-2021-137"]
    assert set(pillow.aliases) == {"CVE-2021-25287", "GHSA-77gc-v2xv-rvvh"}
    assert pillow.affected[0].ecosystem == "PyPI" and pillow.affected[0].package == "pillow"
    assert pillow.affected[0].fix_state is FixState.FIXED
    # Ubuntu names its CVE in `upstream` and rates it with its own text severity.
    ubuntu = found["UBUNTU-CVE-2021-3782"]
    assert ubuntu.upstream == ("CVE-2021-3782",) and ubuntu.severity == "medium"
    assert {row.severity for row in ubuntu.affected} == {"medium"}
    # RustSec carries CVSS v4 vectors, scored by the cvss library.
    v4 = [row for r in records if r.id.startswith("RUSTSEC-") for row in r.severities if row.type == "CVSS_V4"]
    assert v4 and all(row.score is not None and 0.0 <= row.score <= 10.0 for row in v4)
    assert sum(1 for r in records if r.withdrawn) == 43


def test_record_fields(tmp_path: Path) -> None:
    [parsed], skips = read_all("osv", [write(tmp_path / "r.json", record())])
    assert skips.skipped == 0
    assert parsed.severity == "medium"  # GHSA's "MODERATE"
    assert parsed.cwes == ("CWE-400",)
    assert parsed.references == ("https://example.org/advisory",)
    [row] = parsed.affected
    assert row.package == "example-pkg-name"  # PEP 503
    assert json.loads(row.ranges or "") == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]  # GIT range left out
    assert json.loads(row.versions or "") == ["1.0", "1.2.2"]
    assert json.loads(row.fixed or "") == ["1.2.3"]
    [severity] = parsed.severities
    assert (severity.type, severity.score, severity.source) == ("CVSS_V3", 7.5, "osv")


@pytest.mark.parametrize(("ranges", "state"), [
    ([{"type": "SEMVER", "events": [{"introduced": "1.0.0"}]}], FixState.NOT_FIXED),
    ([{"type": "SEMVER", "events": [{"introduced": "0"}, {"last_affected": "1.4.0"}]}], FixState.NOT_FIXED),
    ([{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}, {"fixed": "abc"}]}], FixState.UNKNOWN),
])
def test_fix_state_follows_ranges(tmp_path: Path, ranges: list[object], state: FixState) -> None:
    document = record(affected=[{"package": {"ecosystem": "Go", "name": "example.com/Mod"}, "ranges": ranges}])
    [parsed], _ = read_all("osv", [write(tmp_path / "r.json", document)])
    assert parsed.affected[0].fix_state is state
    assert parsed.affected[0].package == "example.com/Mod"  # Go paths keep their case


def test_withdrawn_is_kept_and_marked(feeds: Path) -> None:
    [parsed], _ = read_all("osv", [feeds / "osv-samples" / "withdrawn"])
    assert parsed.id == "PYSEC-2021-63" and parsed.withdrawn == "2021-02-10T20:15:00Z"


def test_yaml_records_with_timestamps(tmp_path: Path) -> None:
    (tmp_path / "PYSEC-2099-1.yaml").write_text(
        "id: PYSEC-2099-1\nmodified: 2024-05-06T07:08:09Z\npublished: 2024-05-01\n"
        "affected:\n- package: {ecosystem: PyPI, name: Flask}\n"
        "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: '0'\n    - fixed: 2.3.2\n")
    [parsed], skips = read_all("osv", [tmp_path])
    assert skips.skipped == 0
    assert parsed.modified == "2024-05-06T07:08:09Z" and parsed.published == "2024-05-01T00:00:00Z"
    assert json.loads(parsed.affected[0].fixed or "") == ["2.3.2"]


@pytest.mark.parametrize("content", ["id: [unclosed\n", "[" * 100_000, "- &a x\n- *b\n"])
def test_hostile_yaml(tmp_path: Path, content: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    records, skips = read_all("osv", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"invalid YAML": 1}


def test_all_zip_archives(tmp_path: Path) -> None:
    archive = tmp_path / "PyPI" / "all.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("B.json", json.dumps(record(id="B")))
        bundle.writestr("A.json", json.dumps(record(id="A")))
        bundle.writestr("broken.json", "{not json")
        bundle.writestr("notes.txt", "ignored")
    records, skips = read_all("osv", [tmp_path])
    assert [r.id for r in records] == ["A", "B"]  # member name order, whatever the archive order
    assert dict(skips.reasons) == {"invalid JSON": 1}


@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "invalid JSON"),
    (b"\xff\xfe\x00garbage", "invalid JSON"),
    (b"[1, 2, 3]", "record is not an object"),
    (json.dumps(record(id=None)).encode(), "missing id"),
    (json.dumps(record(modified="yesterday")).encode(), "missing or invalid modified"),
    (json.dumps(record(affected={"a": 1})).encode(), "malformed affected"),
    (json.dumps(record(affected=[{"package": {"name": "x"}}])).encode(), "affected package without ecosystem or name"),
    (json.dumps(record(affected=[{"package": {"ecosystem": "npm", "name": "x"},
                                  "ranges": [{"type": "SEMVER", "events": [{"fixed": 1}]}]}])).encode(),
     "malformed ranges"),
    (json.dumps(record(affected=[{"package": {"ecosystem": "npm", "name": "x"},
                                  "ranges": [{"type": "SEMVER", "events": []}]}])).encode(), "malformed ranges"),
    (json.dumps(record(severity="high")).encode(), "malformed severity"),
    (b"[" * 100_000, "invalid JSON"),
])
def test_hostile_records_are_skipped_and_counted(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.json").write_bytes(content)
    write(tmp_path / "good.json", record())
    records = read_skipping_once("osv", [tmp_path], reason)
    assert [r.id for r in records] == ["GHSA-aaaa-bbbb-cccc"]


def test_oversized_files_and_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osv, "MAX_RECORD_BYTES", 1000)
    write(tmp_path / "big.json", record(details="x" * 2000))
    with zipfile.ZipFile(tmp_path / "all.zip", "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("bomb.json", json.dumps(record(details=" " * 10_000_000)))
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 not really")
    records, skips = read_all("osv", [tmp_path])
    assert records == []
    assert dict(skips.reasons) == {"file too large": 2, "unreadable archive": 1}


def test_a_fifo_in_a_feed_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "GHSA-fifo.json")
    with pytest.raises(FeedError, match="not a regular file"):
        input_files([tmp_path], osv.accepts)


def test_only_an_osv_ecosystem_export_is_whole_and_only_for_its_ecosystem(tmp_path: Path) -> None:
    both = record(id="GHSA-both")
    both["affected"].append({"package": {"ecosystem": "npm", "name": "x"}, "versions": ["1.0.0"]})
    debian = record(id="DSA-1-1")
    debian["affected"] = [{"package": {"ecosystem": "Debian:12", "name": "x"}, "versions": ["1.0-1"]}]
    for directory, name in (("PyPI", "all.zip"), ("Debian", "all.zip"), ("Go", "some.zip")):
        (tmp_path / directory).mkdir()
        with zipfile.ZipFile(tmp_path / directory / name, "w") as archive:
            archive.writestr("a.json", json.dumps(debian if directory == "Debian" else both))
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "b.json").write_text(json.dumps(record(id="PYSEC-loose")))
    _, _, facts = read_with_facts("osv", [tmp_path])
    assert facts.exports == {"PyPI": "OSV PyPI/all.zip", "Debian:12": "OSV Debian/all.zip"}
