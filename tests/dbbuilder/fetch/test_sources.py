"""The registered distro fetch sources against the local server: locations, update protocols, wholeness checks,
size caps, and `dbbuilder build` reading what `dbbuilder fetch` wrote."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from dbbuilder.fetch import SOURCES, HttpClient
from dbbuilder.fetch import oval as oval_module
from dbbuilder.fetch.state import FetchState
from scanner.errors import FeedError, OperatorInputError
from tests.dbbuilder.fetch.conftest import FakeTime, FeedServer, no_distro_sources
from tests.dbbuilder.test_cli import run

FEEDS = Path(__file__).resolve().parents[4] / "shared" / "data" / "feeds"
OVAL = b'<?xml version="1.0"?>\n<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5">' \
       b"<definitions/></oval_definitions>\n"


def client(fake_time: FakeTime) -> HttpClient:
    return HttpClient(sleep=fake_time.sleep, clock=fake_time.clock, backoff=1.0, timeout=10, retries=1)


def fetch(name: str, server: FeedServer, dest: Path, fake_time: FakeTime, *items: str, path: str = "") -> list[str]:
    source = SOURCES[name]
    fetched = source.fetch(client(fake_time), f"{server.url}{path}", dest, FetchState.load(dest),
                           items or source.items)
    return [f.name for f in fetched if f.download.changed]


def test_every_source_has_an_official_https_location() -> None:
    assert {name: source.base_url for name, source in SOURCES.items()} == {
        "amazon": "https://alas.aws.amazon.com",
        "azure-linux": "https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main",
        "chainguard": "https://packages.cgr.dev/chainguard",
        "cve5": "https://api.github.com/repos/CVEProject/cvelistV5",
        "epss": "https://epss.empiricalsecurity.com",
        "kev": "https://www.cisa.gov/sites/default/files/feeds",
        "oracle": "https://linux.oracle.com/security/oval",
        "redhat": "https://security.access.redhat.com/data/csaf/v2/vex",
        "redhat-oval": "https://security.access.redhat.com/data/oval/v2",
        "suse": "https://ftp.suse.com/pub/projects/security/oval",
        "wolfi": "https://packages.wolfi.dev/os",
    }


def test_fetch_wolfi_and_chainguard_then_build(tmp_path: Path, feed_server: FeedServer,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    files = feed_server.scenario.files
    files["/os/security.json"] = (FEEDS / "wolfi" / "security.json").read_bytes()
    files["/chainguard/security.json"] = (FEEDS / "chainguard" / "security.json").read_bytes()
    dest = tmp_path / "feeds"
    args = ["fetch", "--dest", str(dest), "--no-osv", "--no-nvd", "--no-debian", "--no-alpine",
            *no_distro_sources("wolfi", "chainguard"), "--wolfi-base-url", f"{feed_server.url}/os",
            "--chainguard-base-url", f"{feed_server.url}/chainguard"]
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "wolfi/security.json: 5,709 bytes" in out and "chainguard/security.json:" in out
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0 and "wolfi/security.json: unchanged" in out
    assert "If-None-Match" in feed_server.scenario.requests_for("/os/security.json")[-1][1]
    assert run(monkeypatch, capsys, "keygen", "--out", str(tmp_path))[0] == 0
    code, out, err = run(monkeypatch, capsys, "build", "--wolfi", str(dest / SOURCES["wolfi"].build_path),
                         "--chainguard", str(dest / SOURCES["chainguard"].build_path), "--key",
                         str(tmp_path / "bundle-key.pem"), "--channel", "c", "--bundle-version", "1",
                         "--out", str(tmp_path / "x.bundle"), "--level", "3")
    assert code == 0, err
    assert "Wolfi" in out and "Chainguard" in out


def test_a_source_failure_is_one_line(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    feed_server.scenario.files["/os/security.json"] = b"<html>maintenance</html>"
    code, out, err = run(monkeypatch, capsys, "fetch", "--dest", str(tmp_path), "--no-osv", "--no-nvd", "--no-debian",
                         "--no-alpine", *no_distro_sources("wolfi"), "--wolfi-base-url", f"{feed_server.url}/os")
    assert (code, out) == (9, "") and err.count("\n") == 1 and "not a whole JSON object" in err
    assert not (tmp_path / "wolfi" / "security.json").exists()


def test_oval_files_plain_gzip_and_bzip2(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    files = feed_server.scenario.files
    files["/suse/suse.linux.enterprise.server.15.xml.gz"] = gzip.compress(OVAL)
    files["/oracle/com.oracle.elsa-all.xml.bz2"] = bz2.compress(OVAL)
    files["/azl/azurelinux-3.0-oval.xml"] = OVAL
    assert fetch("suse", feed_server, tmp_path, fake_time, "suse.linux.enterprise.server.15.xml.gz",
                 path="/suse") == ["suse/suse.linux.enterprise.server.15.xml"]
    assert (tmp_path / "suse" / "suse.linux.enterprise.server.15.xml").read_bytes() == OVAL
    assert (tmp_path / "suse" / ".download" / "suse.linux.enterprise.server.15.xml.gz").exists()
    assert fetch("oracle", feed_server, tmp_path, fake_time, path="/oracle") == ["oracle/com.oracle.elsa-all.xml"]
    assert (tmp_path / "oracle" / "com.oracle.elsa-all.xml").read_bytes() == OVAL
    assert fetch("azure-linux", feed_server, tmp_path, fake_time, "azurelinux-3.0-oval.xml",
                 path="/azl") == ["azure-linux/azurelinux-3.0-oval.xml"]
    # Unchanged on the server: nothing is downloaded or decompressed again.
    assert fetch("suse", feed_server, tmp_path, fake_time, "suse.linux.enterprise.server.15.xml.gz",
                 path="/suse") == []
    # The hidden download directory is not an input of the build.
    assert [p.name for p in (tmp_path / "suse").iterdir() if not p.name.startswith(".")] == [
        "suse.linux.enterprise.server.15.xml"]


def test_oval_decompression_is_bounded_and_checked(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    files = feed_server.scenario.files
    files["/suse/a.xml.gz"] = gzip.compress(OVAL)
    fetch("suse", feed_server, tmp_path, fake_time, "a.xml.gz", path="/suse")
    plain = tmp_path / "suse" / "a.xml"
    files["/suse/a.xml.gz"] = gzip.compress(OVAL.replace(b"<definitions/>", b"<definitions>" + b" " * 50_000))
    monkeypatch.setattr(oval_module, "MAX_PLAIN_BYTES", 10_000)
    with pytest.raises(FeedError, match="decompresses to more than 10000 bytes"):
        fetch("suse", feed_server, tmp_path, fake_time, "a.xml.gz", path="/suse")
    assert plain.read_bytes() == OVAL  # the previous copy stays
    files["/suse/a.xml.gz"] = gzip.compress(b"<html>Service Unavailable</html>")
    with pytest.raises(FeedError, match="not a whole <oval_definitions> XML document"):
        fetch("suse", feed_server, tmp_path, fake_time, "a.xml.gz", path="/suse")
    files["/suse/a.xml.gz"] = b"<html>not gzip</html>"
    with pytest.raises(FeedError, match=r"not \.gz compressed"):
        fetch("suse", feed_server, tmp_path, fake_time, "a.xml.gz", path="/suse")
    files["/suse/a.xml.gz"] = gzip.compress(OVAL)[:-20]
    with pytest.raises(FeedError, match="cannot decompress"):
        fetch("suse", feed_server, tmp_path, fake_time, "a.xml.gz", path="/suse")
    assert plain.read_bytes() == OVAL and not list((tmp_path / "suse").glob(".a.xml.*.tmp"))
    with pytest.raises(OperatorInputError, match="plain file or release name"):
        fetch("suse", feed_server, tmp_path, fake_time, "../../etc/passwd", path="/suse")


def test_downloads_are_size_capped(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.files["/big.json"] = b"{" + b" " * 5000 + b"}"
    with pytest.raises(FeedError, match="larger than 1000 bytes"):
        client(fake_time).download(f"{feed_server.url}/big.json", tmp_path / "big.json", max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def _vex(cve: str, revision: int = 1) -> bytes:
    return json.dumps({"document": {"category": "csaf_vex", "tracking": {"id": cve, "version": str(revision)}}}
                      ).encode()


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return zstandard.ZstdCompressor().compress(buffer.getvalue())


def _csv(rows: list[tuple[str, str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def serve_vex(server: FeedServer) -> None:
    files = server.scenario.files
    files["/vex/archive_latest.txt"] = b"csaf_vex_2026-11-01.tar.zst"
    files["/vex/csaf_vex_2026-11-01.tar.zst"] = _archive({
        "2024/cve-2024-0001.json": _vex("CVE-2024-0001"), "2024/cve-2024-0002.json": _vex("CVE-2024-0002"),
        "2025/cve-2025-0003.json": _vex("CVE-2025-0003")})
    # Newest first, as Red Hat writes them; the 10-31 change is already in the archive.
    files["/vex/changes.csv"] = _csv([("2024/cve-2024-0001.json", "2026-11-02T10:00:00+00:00"),
                                      ("2026/cve-2026-0004.json", "2026-11-01T09:00:00+00:00"),
                                      ("2024/cve-2024-0002.json", "2026-10-31T08:00:00+00:00")])
    files["/vex/deletions.csv"] = _csv([("2025/cve-2025-0003.json", "2026-11-02T11:00:00+00:00")])
    files["/vex/2024/cve-2024-0001.json"] = _vex("CVE-2024-0001", 2)
    files["/vex/2026/cve-2026-0004.json"] = _vex("CVE-2026-0004")


def test_red_hat_archive_then_changes_and_deletions(tmp_path: Path, feed_server: FeedServer,
                                                    fake_time: FakeTime) -> None:
    serve_vex(feed_server)
    fetch("redhat", feed_server, tmp_path, fake_time, path="/vex")
    tree = tmp_path / SOURCES["redhat"].build_path
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.json")) == [
        "2024/cve-2024-0001.json", "2024/cve-2024-0002.json", "2026/cve-2026-0004.json"]
    assert (tree / "2024/cve-2024-0001.json").read_bytes() == _vex("CVE-2024-0001", 2)  # the change, not the archive's
    log = feed_server.scenario.log
    assert not any(path == "/vex/2024/cve-2024-0002.json" for path, _, _ in log)  # older than the archive
    # Next run, same archive: not downloaded again; only changes since the newest applied one are fetched.
    del log[:]
    feed_server.scenario.files["/vex/changes.csv"] = _csv([
        ("2024/cve-2024-0002.json", "2026-11-03T00:00:00+00:00"),
        ("2024/cve-2024-0001.json", "2026-11-02T10:00:00+00:00")])
    feed_server.scenario.files["/vex/2024/cve-2024-0002.json"] = _vex("CVE-2024-0002", 3)
    fetch("redhat", feed_server, tmp_path, fake_time, path="/vex")
    requested = {path for path, _, _ in log}
    assert "/vex/csaf_vex_2026-11-01.tar.zst" not in requested and "/vex/2024/cve-2024-0002.json" in requested
    assert (tree / "2024/cve-2024-0002.json").read_bytes() == _vex("CVE-2024-0002", 3)
    assert not (tree / "2025/cve-2025-0003.json").exists()
    # A new archive replaces the tree as a whole.
    feed_server.scenario.files["/vex/archive_latest.txt"] = b"csaf_vex_2026-11-05.tar.zst\n"
    feed_server.scenario.files["/vex/csaf_vex_2026-11-05.tar.zst"] = _archive({"2024/cve-2024-0009.json": b"{}"})
    fetch("redhat", feed_server, tmp_path, fake_time, path="/vex")
    assert [p.name for p in tree.rglob("*.json")] == ["cve-2024-0009.json"]
    assert [p.name for p in (tmp_path / "redhat" / ".download").iterdir()] == ["csaf_vex_2026-11-05.tar.zst"]


@pytest.mark.parametrize(("change", "message"), [
    ({"/vex/csaf_vex_2026-11-01.tar.zst": _archive({"../../evil.json": b"{}"})}, "unexpected member"),
    ({"/vex/csaf_vex_2026-11-01.tar.zst": _archive({"2024/cve-2024-0001.json": b"{}", "2024/notes.txt": b"x"})},
     "unexpected member"),
    ({"/vex/csaf_vex_2026-11-01.tar.zst": (FEEDS / "redhat/vunnel-csaf/server/csaf_advisories_2025-02-15.tar.zst")
      .read_bytes()}, "not zstd compressed"),  # the fixture server's placeholder archive
    ({"/vex/csaf_vex_2026-11-01.tar.zst": zstandard.ZstdCompressor().compress(b"not a tar")}, "cannot unpack"),
    ({"/vex/archive_latest.txt": b"../../etc/passwd"}, "does not name"),
    ({"/vex/changes.csv": _csv([("../x.json", "2026-11-02T00:00:00+00:00")])}, "unexpected document path"),
    ({"/vex/deletions.csv": b"garbage\n"}, "not a"),
    ({"/vex/2024/cve-2024-0001.json": b"<html>"}, "not a whole JSON object"),
])
def test_red_hat_hostile_server(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime,
                                change: dict[str, bytes], message: str) -> None:
    serve_vex(feed_server)
    feed_server.scenario.files.update(change)
    with pytest.raises(FeedError, match=message):
        fetch("redhat", feed_server, tmp_path, fake_time, path="/vex")
    assert not (tmp_path / "evil.json").exists() and not (tmp_path / "redhat" / ".csaf.unpacking").exists()


def test_amazon_feeds_and_pages(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    files = feed_server.scenario.files
    for release, directory, advisory in (("2", "AL2", "ALAS-2018-939"), ("2023", "AL2023", "ALAS-2023-126")):
        files[f"/{directory}/alas.rss"] = (FEEDS / "amazon" / f"{release}_rss.xml").read_bytes()
        files[f"/{directory}/{advisory}.html"] = (FEEDS / "amazon" / f"{release}_html" / advisory).read_bytes()
    assert fetch("amazon", feed_server, tmp_path, fake_time, "2", "2023") == [
        "amazon/2_rss.xml", "amazon/2_html/ALAS-2018-939", "amazon/2023_rss.xml", "amazon/2023_html/ALAS-2023-126"]
    assert (tmp_path / "amazon/2023_html/ALAS-2023-126").read_bytes() == (
        FEEDS / "amazon/2023_html/ALAS-2023-126").read_bytes()
    # Next run: the feed is unchanged and so is every item's date, so no page is asked for again.
    del feed_server.scenario.log[:]
    assert fetch("amazon", feed_server, tmp_path, fake_time, "2", "2023") == []
    assert {path for path, _, _ in feed_server.scenario.log} == {"/AL2/alas.rss", "/AL2023/alas.rss"}
    with pytest.raises(OperatorInputError, match="--amazon-release '1'"):
        fetch("amazon", feed_server, tmp_path, fake_time, "1")


@pytest.mark.parametrize(("feed", "message"), [
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel></channel></rss>', "declares a DTD"),
    (b"<rss><channel><item><link>https://evil.example/AL2023/x.html</link></item></channel></rss>",
     "is not an advisory page"),
    (b"<rss><channel><item><link>https://alas.aws.amazon.com/AL2/ALAS-2018-939.html</link></item></channel></rss>",
     "is not an advisory page of AL2023"),
    (b"<rss><channel><item></rss>", "not XML"),
])
def test_amazon_hostile_feed(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime, feed: bytes,
                             message: str) -> None:
    feed_server.scenario.files["/AL2023/alas.rss"] = feed
    with pytest.raises(FeedError, match=message):
        fetch("amazon", feed_server, tmp_path, fake_time, "2023")
