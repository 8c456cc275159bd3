from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.compile import CompileSummary, compile_database
from dbbuilder.sources.records import MalformedFeedError
from scanner.db.schema import SCHEMA_VERSION
from scanner.errors import FeedError, OperatorInputError

FEEDS = Path(__file__).resolve().parents[4] / "shared" / "data" / "feeds"


def full_inputs() -> dict[str, list[Path]]:
    return {"osv": [FEEDS / "osv", FEEDS / "osv-samples"], "nvd": [FEEDS / "nvd"],
            "debian": [FEEDS / "debian"], "alpine": [FEEDS / "alpine"]}


@pytest.fixture(scope="module")
def full_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CompileSummary]:
    if not FEEDS.is_dir():
        pytest.fail(f"shared test data missing: {FEEDS}")
    out = tmp_path_factory.mktemp("full") / "vulns.sqlite"
    return out, compile_database(out, full_inputs())


@pytest.fixture
def db(full_build: tuple[Path, CompileSummary]) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{full_build[0]}?mode=ro", uri=True)
    yield connection
    connection.close()


def one(db: sqlite3.Connection, sql: str, *args: Any) -> Any:
    row = db.execute(sql, args).fetchone()
    return row[0] if row and len(row) == 1 else row


def distinct_ids(paths: list[Path], key: str = "id") -> set[str]:
    return {json.loads(path.read_text())[key] for root in paths for path in root.rglob("*.json")}


def test_provider_counts(full_build: tuple[Path, CompileSummary], db: sqlite3.Connection) -> None:
    _, summary = full_build
    providers = {p.name: p for p in summary.providers}
    assert list(providers) == ["osv", "debian", "alpine", "nvd"]  # registry (precedence) order
    assert all(p.skipped == 0 and len(p.input_sha256) == 64 for p in providers.values())
    assert providers["osv"].records == len(distinct_ids(full_inputs()["osv"]))
    # PyPI 10, Go 17, crates.io 13, Ubuntu 3, and the withdrawn copy of PYSEC-2021-63 beats its twin.
    assert providers["osv"].withdrawn == 44
    assert providers["osv"].ecosystems["PyPI"] == 2661 and providers["osv"].ecosystems["Go"] == 4291
    nvd_ids = {item["cve"]["id"] for path in (FEEDS / "nvd").glob("*.json")
               for item in json.loads(path.read_text())["vulnerabilities"]}
    nvd_ids |= {item["cve"]["CVE_data_meta"]["ID"]
                for item in json.loads((FEEDS / "nvd/legacy-1.1/nvdcve-1.1-test-data.json").read_text())["CVE_Items"]}
    assert providers["nvd"].records == len(nvd_ids)
    assert providers["debian"].ecosystems["Debian:11"] > 1000
    assert providers["alpine"].ecosystems["Alpine:v3.11"] > 1000
    stored = {row[0]: row[1:] for row in db.execute(
        "SELECT name, captured_at, input_sha256, records, skipped, skipped_reasons, withdrawn FROM providers")}
    for p in providers.values():
        assert stored[p.name] == (p.captured_at, p.input_sha256, p.records, 0, "{}", p.withdrawn)
    assert providers["debian"].captured_at == "2023-04-01T00:00:00Z"  # the newest DLA's date
    assert summary.vulnerabilities == one(db, "SELECT COUNT(*) FROM vulnerabilities")
    assert summary.database_size == full_build[0].stat().st_size
    assert one(db, "SELECT value FROM meta WHERE key = 'schema_version'") == SCHEMA_VERSION


def test_alias_group_of_a_pypi_advisory(db: sqlite3.Connection) -> None:
    group = one(db, "SELECT group_id FROM vulnerabilities WHERE id = 'PYSEC-2021-137'")
    assert group == "CVE-2021-25287"
    members = {row[0] for row in db.execute("SELECT id FROM aliases WHERE group_id = ?", (group,))}
    assert {"PYSEC-2021-137", "GHSA-77gc-v2xv-rvvh", "CVE-2021-25287"} <= members
    assert one(db, "SELECT package FROM affected WHERE vuln_id = 'PYSEC-2021-137'") == "pillow"


def test_nvd_severity_and_details(db: sqlite3.Connection) -> None:
    rows = set(db.execute("SELECT source, type, vector, score FROM severities WHERE vuln_id = 'CVE-2022-0778'"))
    assert ("nvd", "CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5) in rows
    details, cwes = one(db, "SELECT details, cwes FROM details WHERE vuln_id = 'CVE-2022-0778'")
    assert "BN_mod_sqrt" in details and json.loads(cwes) == ["CWE-835"]
    assert one(db, "SELECT COUNT(*) FROM cpes WHERE vuln_id = 'CVE-2022-0778' AND product = 'openssl'") >= 3


def test_withdrawn_records_are_stored_and_marked(db: sqlite3.Connection) -> None:
    assert one(db, "SELECT withdrawn FROM vulnerabilities WHERE id = 'PYSEC-2021-63'") == "2021-02-10T20:15:00Z"
    # A withdrawn record links to nothing: it stays out of its former CVE's group.
    assert one(db, "SELECT group_id FROM vulnerabilities WHERE id = 'PYSEC-2021-63'") == "PYSEC-2021-63"


def test_debian_states_for_bullseye_openssl(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT vuln_id, fix_state, fixed, ranges FROM affected WHERE ecosystem = 'Debian:11' "
                      "AND package = 'openssl' AND vuln_id = 'DEBIAN-CVE-2022-0778'").fetchall()
    assert rows == [("DEBIAN-CVE-2022-0778", "fixed", '["1.1.1k-1+deb11u2"]',
                     '[{"events":[{"introduced":"0"},{"fixed":"1.1.1k-1+deb11u2"}],"type":"ECOSYSTEM"}]')]
    assert one(db, "SELECT group_id FROM vulnerabilities WHERE id = 'DEBIAN-CVE-2022-0778'") == "CVE-2022-0778"
    assert "DSA-5103-1" in json.loads(one(db, "SELECT related FROM details WHERE vuln_id = 'DEBIAN-CVE-2022-0778'"))
    states = {row[0] for row in db.execute("SELECT DISTINCT fix_state FROM affected WHERE ecosystem LIKE 'Debian:%'")}
    assert {"fixed", "not-affected", "end-of-life", "wont-fix"} <= states


def test_alpine_rows_merged_across_copies_of_a_branch(db: sqlite3.Connection) -> None:
    # v3.11/main.json and v3.11-sample/main.json both list apache2's CVE-2018-1333 fix.
    assert one(db, "SELECT COUNT(*) FROM affected WHERE vuln_id = 'ALPINE-CVE-2018-1333' "
                   "AND ecosystem = 'Alpine:v3.11' AND package = 'apache2'") == 1
    assert one(db, "SELECT COUNT(*) FROM affected WHERE ecosystem LIKE 'Alpine:%' AND fix_state = 'not-affected'") > 0


def test_database_layout(full_build: tuple[Path, CompileSummary], db: sqlite3.Connection) -> None:
    assert one(db, "PRAGMA integrity_check") == "ok"
    assert one(db, "PRAGMA page_size") == 4096
    assert one(db, "PRAGMA freelist_count") == 0  # VACUUMed
    assert one(db, "SELECT COUNT(*) FROM sqlite_stat1") > 0  # ANALYZEd
    plan = " ".join(str(row) for row in db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM affected WHERE ecosystem = 'PyPI' AND package = 'pillow'"))
    assert "affected_lookup" in plan
    assert not list(full_build[0].parent.glob(".*"))  # no staging or partial file left behind


def test_two_builds_are_byte_identical(full_build: tuple[Path, CompileSummary], tmp_path: Path) -> None:
    again = tmp_path / "again.sqlite"
    inputs = full_inputs()
    inputs["osv"].reverse()
    summary = compile_database(again, inputs)
    assert again.read_bytes() == full_build[0].read_bytes()
    assert summary == full_build[1]


# Small feeds written by the tests, for what the real ones cannot show.

def osv_record(vuln_id: str, modified: str = "2024-01-01T00:00:00Z", fixed: str = "1.0",
               **extra: Any) -> dict[str, Any]:
    return {"id": vuln_id, "modified": modified, "affected": [{
        "package": {"ecosystem": "PyPI", "name": "demo"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}], **extra}


def nvd_page(*cve_ids: str) -> dict[str, Any]:
    return {"vulnerabilities": [{"cve": {
        "id": cve_id, "lastModified": "2024-03-01T00:00:00", "descriptions": [{"lang": "en", "value": "Flaw."}],
        "metrics": {"cvssMetricV31": [{"type": "Primary", "source": "nvd@nist.gov", "cvssData": {
            "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]}}} for cve_id in cve_ids]}


def small_feeds(root: Path) -> dict[str, list[Path]]:
    osv_dir, nvd_dir, debian_dir, alpine_dir = (root / name for name in ("osv", "nvd", "debian", "alpine"))
    for directory in (osv_dir, nvd_dir, debian_dir / "DSA", alpine_dir / "v3.18"):
        directory.mkdir(parents=True)
    (osv_dir / "a.json").write_text(json.dumps(osv_record("GHSA-demo", aliases=["CVE-2099-0001"])))
    (nvd_dir / "page.json").write_text(json.dumps(nvd_page("CVE-2099-0001")))
    (debian_dir / "DSA" / "list").write_text(
        "[02 Jan 2024] DSA-9000-1 demo - security update\n\t{CVE-2099-0001}\n\t[bookworm] - demo 1.0-1+deb12u1\n")
    (alpine_dir / "v3.18" / "main.json").write_text(json.dumps(
        {"distroversion": "v3.18", "packages": [{"pkg": {"name": "demo", "secfixes": {"1.0-r0": ["CVE-2099-0001"]}}}]}))
    return {"osv": [osv_dir], "nvd": [nvd_dir], "debian": [debian_dir], "alpine": [alpine_dir]}


CORRUPTIONS = {
    "osv": ("osv/b.json", '{"id": "GHSA-broken", "modified": '),
    "nvd": ("nvd/page2.json", '{"vulnerabilities": [{"cve": {"id": 42}}]}'),
    "debian": ("debian/DLA/list", "[02 Jan 2024] DLA-1-1 demo - x\n\t[bookworm] - demo <nonsense>\n"),
    "alpine": ("alpine/v3.18/community.json", '{"packages": [{"pkg": {"name": "x", "secfixes": [1]}}]}'),
}


@pytest.mark.parametrize("provider", sorted(CORRUPTIONS))
def test_a_corrupt_record_is_counted_not_fatal_and_fatal_when_strict(tmp_path: Path, provider: str) -> None:
    inputs = small_feeds(tmp_path / "feeds")
    name, content = CORRUPTIONS[provider]
    target = tmp_path / "feeds" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    out = tmp_path / "out" / "vulns.sqlite"
    out.parent.mkdir()
    summary = compile_database(out, inputs)
    skipped = {p.name: p.skipped for p in summary.providers}
    assert skipped == {name: int(name == provider) for name in ("osv", "nvd", "debian", "alpine")}
    with sqlite3.connect(out) as db:
        assert one(db, "SELECT skipped FROM providers WHERE name = ?", provider) == 1
    out.unlink()
    with pytest.raises(MalformedFeedError, match=provider):
        compile_database(out, inputs, strict=True)
    assert list(out.parent.iterdir()) == []  # neither output nor temporary files


def test_small_build_merges_providers_into_one_group(tmp_path: Path) -> None:
    out = tmp_path / "vulns.sqlite"
    compile_database(out, small_feeds(tmp_path / "feeds"))
    with sqlite3.connect(out) as db:
        groups = dict(db.execute("SELECT id, group_id FROM vulnerabilities"))
        assert groups == {"GHSA-demo": "CVE-2099-0001", "CVE-2099-0001": "CVE-2099-0001",
                          "DSA-9000-1": "CVE-2099-0001", "DEBIAN-CVE-2099-0001": "CVE-2099-0001",
                          "ALPINE-CVE-2099-0001": "CVE-2099-0001"}
        lookups = set(db.execute("SELECT ecosystem, package, vuln_id FROM affected"))
        assert lookups == {("PyPI", "demo", "GHSA-demo"), ("Debian:12", "demo", "DEBIAN-CVE-2099-0001"),
                           ("Alpine:v3.18", "demo", "ALPINE-CVE-2099-0001")}


def test_a_record_naming_several_cves_keeps_its_aliases_as_upstream(tmp_path: Path) -> None:
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "dsa.json").write_text(json.dumps(osv_record(
        "DSA-9100-1", aliases=["CVE-2099-0002", "CVE-2099-0001"], upstream=["DEBIAN-CVE-2099-0001"])))
    (tmp_path / "osv" / "ghsa.json").write_text(json.dumps(osv_record("GHSA-one", aliases=["CVE-2099-0003"])))
    out = tmp_path / "vulns.sqlite"
    compile_database(out, {"osv": [tmp_path / "osv"]})
    with sqlite3.connect(out) as db:
        assert one(db, "SELECT group_id FROM vulnerabilities WHERE id = 'DSA-9100-1'") == "DSA-9100-1"
        assert json.loads(one(db, "SELECT upstream FROM details WHERE vuln_id = 'DSA-9100-1'")) == [
            "CVE-2099-0001", "CVE-2099-0002", "DEBIAN-CVE-2099-0001"]
        # A record in its CVE's group keeps its aliases in the group only.
        assert one(db, "SELECT upstream FROM details WHERE vuln_id = 'GHSA-one'") is None


def test_newest_version_of_a_record_wins(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "old" / "r.json").write_text(json.dumps(osv_record("GHSA-x", "2024-01-01T00:00:00Z", "1.0")))
    (tmp_path / "new" / "r.json").write_text(json.dumps(osv_record("GHSA-x", "2024-06-01T00:00:00Z", "2.0")))
    out = tmp_path / "vulns.sqlite"
    summary = compile_database(out, {"osv": [tmp_path / "new", tmp_path / "old"]})
    assert summary.providers[0].records == 1
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT fixed FROM affected").fetchall() == [('["2.0"]',)]


def test_tracker_json_outranks_the_advisory_list(tmp_path: Path) -> None:
    (tmp_path / "DSA").mkdir()
    (tmp_path / "DSA" / "list").write_text(
        "[02 Jan 2024] DSA-9000-1 demo - x\n\t{CVE-2099-0001}\n\t[bookworm] - demo 1.0-1+deb12u1\n")
    (tmp_path / "tracker.json").write_text(json.dumps({"demo": {"CVE-2099-0001": {"releases": {
        "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "low"}}}}}))
    out = tmp_path / "vulns.sqlite"
    compile_database(out, {"debian": [tmp_path]})
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT vuln_id, fix_state, severity FROM affected").fetchall() == [
            ("DEBIAN-CVE-2099-0001", "not-affected", "low")]


def test_capture_times(tmp_path: Path) -> None:
    inputs = small_feeds(tmp_path / "feeds")
    summary = compile_database(tmp_path / "a.sqlite", inputs, captured_at={"osv": "2024-05-05T05:05:05+02:00"})
    captured = {p.name: (p.captured_at, p.captured_at_basis) for p in summary.providers}
    assert captured == {"osv": ("2024-05-05T03:05:05Z", "given"), "nvd": ("2024-03-01T00:00:00Z", "records"),
                        "debian": ("2024-01-02T00:00:00Z", "records"),
                        "alpine": ("1970-01-01T00:00:00Z", "unknown")}  # secdb has no dates
    with sqlite3.connect(tmp_path / "a.sqlite") as db:
        assert dict(db.execute("SELECT name, captured_at_basis FROM providers")) == {
            name: basis for name, (_, basis) in captured.items()}
    with pytest.raises(FeedError, match="captured_at for nvd"):
        compile_database(tmp_path / "b.sqlite", inputs, captured_at={"nvd": "last week"})


def test_a_feed_timestamp_is_the_capture_time(tmp_path: Path) -> None:
    (tmp_path / "nvd").mkdir()
    page = nvd_page("CVE-2099-0001")
    (tmp_path / "nvd" / "page.json").write_text(json.dumps({**page, "timestamp": "2024-03-05T06:07:08.123"}))
    summary = compile_database(tmp_path / "a.sqlite", {"nvd": [tmp_path / "nvd"]})
    assert (summary.providers[0].captured_at, summary.providers[0].captured_at_basis) == (
        "2024-03-05T06:07:08Z", "feed")


def test_the_real_feeds_capture_times_come_from_their_data(full_build: tuple[Path, CompileSummary]) -> None:
    captured = {p.name: (p.captured_at, p.captured_at_basis) for p in full_build[1].providers}
    assert captured["nvd"] == ("2026-10-08T22:17:07Z", "feed")  # the newest page's own timestamp
    assert captured["debian"] == ("2023-04-01T00:00:00Z", "records")  # the newest DLA
    assert captured["alpine"] == ("1970-01-01T00:00:00Z", "unknown")  # secdb carries no date at all


def test_bad_paths_are_feed_errors(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="feed input not found"):
        compile_database(tmp_path / "x.sqlite", {"osv": [tmp_path / "missing"]})
    with pytest.raises(FeedError, match="not a directory"):
        compile_database(tmp_path / "no" / "x.sqlite", {"osv": [tmp_path]})


def test_page_size_is_configurable(tmp_path: Path) -> None:
    out = tmp_path / "vulns.sqlite"
    compile_database(out, small_feeds(tmp_path / "feeds"), page_size=65536)
    with sqlite3.connect(out) as db:
        assert one(db, "PRAGMA page_size") == 65536
    with pytest.raises(ValueError, match="page_size"):
        compile_database(tmp_path / "other.sqlite", small_feeds(tmp_path / "feeds2"), page_size=1000)


def test_an_undated_feed_is_never_dated_by_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Years-old secdb files copied a minute ago: file times say nothing about the data's age (issue 12)."""
    inputs = small_feeds(tmp_path / "feeds")
    copied = 1795000000  # when `cp -r` wrote the files
    for path in inputs["alpine"]:
        for file in ([path] if path.is_file() else path.rglob("*")):
            os.utime(file, (copied, copied))
    for epoch in (None, "1700000000"):
        if epoch is None:
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        else:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        summary = compile_database(tmp_path / f"{epoch}.sqlite", {"alpine": inputs["alpine"]})
        assert (summary.providers[0].captured_at, summary.providers[0].captured_at_basis) == (
            "1970-01-01T00:00:00Z", "unknown")
    summary = compile_database(tmp_path / "given.sqlite", {"alpine": inputs["alpine"]}, captured_at={"alpine": "2026-11-01T00:00:00Z"})
    assert (summary.providers[0].captured_at, summary.providers[0].captured_at_basis) == (
        "2026-11-01T00:00:00Z", "given")


# Coverage: which ecosystems the inputs are a whole export of (docs/database.md, "Coverage").

def coverage_of(summary: CompileSummary) -> dict[tuple[str, str], tuple[int, bool, str]]:
    return {(entry.provider, entry.ecosystem): (entry.records, entry.complete, entry.basis)
            for provider in summary.providers for entry in provider.coverage}


def test_coverage_of_the_real_feeds(full_build: tuple[Path, CompileSummary], db: sqlite3.Connection) -> None:
    coverage = coverage_of(full_build[1])
    # The six Debian:12 rows of issue 12: OSV's sample DSA (loose records) and the tracker JSON samples
    # (the export's form, but two and three issues for bookworm, where the export lists thousands).
    assert coverage[("osv", "Debian:12")] == (1, False, "loose records")
    assert coverage[("debian", "Debian:12")] == (5, False, "Debian tracker JSON with 2 issue(s) for it: an extract")
    assert coverage[("osv", "PyPI")] == (2661, False, "loose records")
    assert coverage[("debian", "Debian:11")][1:] == (True, "Debian DSA list")  # bullseye lines in DSA/list
    assert coverage[("debian", "Debian:9")][1:] == (True, "Debian DLA list")
    assert coverage[("alpine", "Alpine:v3.11")][1:] == (True, "Alpine secdb branch")
    # v3.12/community.json says it is v3.3's: v3.12 has main only.
    assert coverage[("alpine", "Alpine:v3.12")][1:] == (False, "Alpine secdb without community")
    assert coverage[("alpine", "Alpine:edge")][1:] == (False, "Alpine secdb with 1 package(s): an extract")
    assert coverage[("nvd", "CPE")][1:] == (True, "NVD CVE data")
    assert not {ecosystem for provider, ecosystem in coverage if provider == "nvd"} - {"CPE"}
    newest = max(json.loads(path.read_text())["modified"] for path in (FEEDS / "osv" / "PyPI").glob("*.json"))
    by_key = {(e.provider, e.ecosystem): e for p in full_build[1].providers for e in p.coverage}
    assert by_key[("osv", "PyPI")].newest == newest.replace(".000", "").rstrip("Z")[:19] + "Z"
    assert by_key[("alpine", "Alpine:v3.11")].newest is None  # undated
    stored = {(provider, ecosystem): (records, bool(complete), basis)
              for provider, ecosystem, records, _, complete, basis in db.execute("SELECT * FROM coverage")}
    assert stored == coverage


def _write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def test_whole_exports_are_recognised_by_their_form(tmp_path: Path) -> None:
    two_ecosystems = osv_record("GHSA-both")
    two_ecosystems["affected"].append({"package": {"ecosystem": "npm", "name": "demo"}, "versions": ["1.0.0"]})
    (tmp_path / "osv" / "PyPI").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "osv" / "PyPI" / "all.zip", "w") as archive:
        archive.writestr("GHSA-both.json", json.dumps(two_ecosystems))
    with zipfile.ZipFile(tmp_path / "osv" / "picked.zip", "w") as archive:
        go = osv_record("GO-2099-0001")
        go["affected"][0]["package"]["ecosystem"] = "Go"
        archive.writestr("GO-2099-0001.json", json.dumps(go))
    secdb = {"packages": [{"pkg": {"name": f"p{n}", "secfixes": {"1.0-r0": [f"CVE-2099-{n:04d}"]}}}
                          for n in range(50)]}
    _write(tmp_path / "alpine" / "v3.18" / "main.json", json.dumps({**secdb, "reponame": "main"}))
    _write(tmp_path / "alpine" / "v3.18" / "community.json", json.dumps({"packages": None}))
    _write(tmp_path / "alpine" / "v3.19" / "main.json", json.dumps(secdb))
    for repository in ("main", "community"):  # a handful of packages is a sample of a branch
        _write(tmp_path / "alpine" / "v3.20" / f"{repository}.json", json.dumps({"packages": secdb["packages"][:2]}))
    _write(tmp_path / "debian" / "tracker.json", json.dumps({f"p{n}": {f"CVE-2099-{n:04d}": {"releases": {
        "bookworm": {"status": "open", "urgency": "low"}, "sid": {"status": "open"},
        **({"bullseye": {"status": "open"}} if n < 10 else {})}}} for n in range(1000)}))
    _write(tmp_path / "debian" / "CVE" / "list", "CVE-2099-0003 (flaw)\n\t[buster] - demo <not-affected>\n")
    _write(tmp_path / "debian" / "DTSA" / "list",
           "[August 26th, 2005] DTSA-1-1 demo - x\n\t{CVE-2099-0004}\n\t[etch] - demo 1.0-1\n")
    _write(tmp_path / "debian" / "DLA" / "list", "".join(  # 100 advisories, every number: the whole list
        f"[01 Jan 2024] DLA-{n}-1 p{n} - x\n\t{{CVE-2099-{n:04d}}}\n\t[stretch] - p{n} 1.0-1\n" for n in range(100, 0, -1)))
    _write(tmp_path / "debian" / "DSA" / "list", "".join(  # one advisory in ten: trimmed to some packages
        f"[01 Jan 2024] DSA-{n}-1 p{n} - x\n\t{{CVE-2099-{n:04d}}}\n\t[jessie] - p{n} 1.0-1\n"
        for n in range(1000, 0, -10)))
    summary = compile_database(tmp_path / "a.sqlite", {"osv": [tmp_path / "osv"], "alpine": [tmp_path / "alpine"], "debian": [tmp_path / "debian"]})
    assert coverage_of(summary) == {
        ("osv", "PyPI"): (1, True, "OSV PyPI/all.zip"),
        ("osv", "npm"): (1, False, "loose records"),  # in PyPI's export, not npm's
        ("osv", "Go"): (1, False, "loose records"),  # an archive, but not an osv.dev export
        ("alpine", "Alpine:v3.18"): (50, True, "Alpine secdb branch"),
        ("alpine", "Alpine:v3.19"): (50, False, "Alpine secdb without community"),
        ("alpine", "Alpine:v3.20"): (2, False, "Alpine secdb with 4 package(s): an extract"),
        ("debian", "Debian:12"): (1000, True, "Debian security tracker JSON export"),
        ("debian", "Debian:11"): (10, False, "Debian tracker JSON with 10 issue(s) for it: an extract"),
        ("debian", "Debian:10"): (1, False, "loose records"),  # the CVE list is not whole for any release
        ("debian", "Debian:9"): (100, True, "Debian DLA list"),
        ("debian", "Debian:8"): (100, False, "Debian DSA list extract (100 advisories)"),
        ("debian", "Debian:4.0"): (1, False, "loose records"),  # DTSAs were for testing
    }


def test_the_operator_may_declare_loose_records_complete(tmp_path: Path) -> None:
    inputs = small_feeds(tmp_path / "feeds")
    summary = compile_database(tmp_path / "a.sqlite", inputs, complete=["PyPI"])
    assert coverage_of(summary)[("osv", "PyPI")] == (1, True, "--complete")
    with pytest.raises(OperatorInputError, match="--complete Debian:12: no input has records for it"):
        compile_database(tmp_path / "b.sqlite", {"osv": inputs["osv"]}, complete=["Debian:12"])
    assert not (tmp_path / "b.sqlite").exists()
