"""Fetching the Debian security tracker and the Alpine secdb from a local server, then building from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbbuilder.fetch import HttpClient
from dbbuilder.fetch.distro import alpine_branches, fetch_alpine, fetch_debian
from dbbuilder.fetch.state import FetchState
from scanner.errors import FeedError, OperatorInputError
from tests.dbbuilder.fetch.conftest import FakeTime, FeedServer, no_distro_sources
from tests.dbbuilder.test_cli import run

FEEDS = Path(__file__).resolve().parents[4] / "shared" / "data" / "feeds"
SECDB_INDEX = b'<html><a href="../">../</a><a href="v3.11/">v3.11/</a><a href="v3.12/">v3.12/</a>' \
              b'<a href="edge/">edge/</a><a href="last-update">last-update</a></html>'


def client(fake_time: FakeTime) -> HttpClient:
    return HttpClient(sleep=fake_time.sleep, clock=fake_time.clock, backoff=1.0, timeout=10)


def serve_distro_feeds(server: FeedServer) -> None:
    files = server.scenario.files
    files["/tracker/data/json"] = (FEEDS / "debian/tracker-json/sample-1.json").read_bytes()
    files["/data/DSA/list"] = (FEEDS / "debian/DSA/list").read_bytes()
    files["/data/DLA/list"] = (FEEDS / "debian/DLA/list").read_bytes()
    files["/secdb/"] = SECDB_INDEX
    for branch in ("v3.11", "v3.12", "edge"):
        for repository in ("main", "community"):
            source = FEEDS / "alpine" / branch / f"{repository}.json"
            if source.exists():
                files[f"/secdb/{branch}/{repository}.json"] = source.read_bytes()


def test_debian_and_alpine_then_unchanged(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    serve_distro_feeds(feed_server)
    url = feed_server.url
    state = FetchState.load(tmp_path)
    debian = fetch_debian(client(fake_time), tmp_path, state, tracker_url=f"{url}/tracker/data/json",
                          lists_url=f"{url}/data")
    assert [f.name for f in debian] == ["debian/tracker.json", "debian/DSA/list", "debian/DLA/list"]
    assert (tmp_path / "debian/DSA/list").read_bytes() == (FEEDS / "debian/DSA/list").read_bytes()
    assert alpine_branches(client(fake_time), f"{url}/secdb") == ["edge", "v3.11", "v3.12"]
    alpine = fetch_alpine(client(fake_time), tmp_path, state, base_url=f"{url}/secdb")
    names = {f.name for f in alpine}
    assert "alpine/v3.12/main.json" in names and "alpine/edge/main.json" in names
    again = fetch_debian(client(fake_time), tmp_path, FetchState.load(tmp_path),
                         tracker_url=f"{url}/tracker/data/json", lists_url=f"{url}/data")
    assert not any(f.download.changed for f in again)
    assert "If-None-Match" in feed_server.scenario.requests_for("/data/DSA/list")[-1][1]


def test_an_error_page_never_replaces_a_good_copy(tmp_path: Path, feed_server: FeedServer,
                                                 fake_time: FakeTime) -> None:
    serve_distro_feeds(feed_server)
    url = feed_server.url
    fetch_debian(client(fake_time), tmp_path, FetchState.load(tmp_path), tracker_url=f"{url}/tracker/data/json",
                 lists_url=f"{url}/data")
    good = (tmp_path / "debian/tracker.json").read_bytes()
    feed_server.scenario.files["/tracker/data/json"] = b"<html>Service Unavailable</html>"
    with pytest.raises(FeedError, match="not a whole JSON object"):
        fetch_debian(client(fake_time), tmp_path, FetchState.load(tmp_path), tracker_url=f"{url}/tracker/data/json",
                     lists_url=f"{url}/data")
    assert (tmp_path / "debian/tracker.json").read_bytes() == good
    feed_server.scenario.files["/data/DSA/list"] = b"<html>login</html>"
    feed_server.scenario.files["/tracker/data/json"] = good
    with pytest.raises(FeedError, match="not a Debian advisory list"):
        fetch_debian(client(fake_time), tmp_path, FetchState.load(tmp_path), tracker_url=f"{url}/tracker/data/json",
                     lists_url=f"{url}/data")


def test_alpine_branch_names_and_missing_branches(tmp_path: Path, feed_server: FeedServer,
                                                  fake_time: FakeTime) -> None:
    serve_distro_feeds(feed_server)
    with pytest.raises(OperatorInputError):
        fetch_alpine(client(fake_time), tmp_path, FetchState.load(tmp_path), ["../etc"], base_url=feed_server.url)
    with pytest.raises(FeedError, match=r"neither main\.json nor community\.json"):
        fetch_alpine(client(fake_time), tmp_path, FetchState.load(tmp_path), ["v3.99"],
                     base_url=f"{feed_server.url}/secdb")


def test_fetch_everything_then_build(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    serve_distro_feeds(feed_server)
    url = feed_server.url
    dest = tmp_path / "feeds"
    code, out, err = run(monkeypatch, capsys, "fetch", "--dest", str(dest), "--no-osv", "--no-nvd",
                         "--debian-tracker-url", f"{url}/tracker/data/json", "--debian-lists-url", f"{url}/data",
                         "--alpine-base-url", f"{url}/secdb", "--alpine-branch", "v3.12", *no_distro_sources())
    assert code == 0, err
    assert "debian/tracker.json:" in out and "alpine/v3.12/main.json:" in out
    assert run(monkeypatch, capsys, "keygen", "--out", str(tmp_path))[0] == 0
    code, out, err = run(monkeypatch, capsys, "build", "--debian", str(dest / "debian"), "--alpine",
                         str(dest / "alpine"), "--key", str(tmp_path / "bundle-key.pem"), "--channel", "c",
                         "--bundle-version", "1", "--out", str(tmp_path / "x.bundle"), "--level", "3")
    assert code == 0, err
    code, out, err = run(monkeypatch, capsys, "inspect", str(tmp_path / "x.bundle"))
    assert code == 0, err
    assert "Debian:11                complete" in out and "Alpine:v3.12" in out


def test_a_deeply_nested_state_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "fetch-state.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FeedError, match="unreadable fetch state"):
        FetchState.load(tmp_path)
