from __future__ import annotations

from pathlib import Path

import pytest

from dbbuilder.fetch import HttpClient, fetch_osv
from dbbuilder.fetch.state import FetchState
from scanner.errors import FeedError, OperatorInputError
from tests.dbbuilder.fetch.conftest import FakeTime, FeedServer, osv_zip


def client(fake_time: FakeTime, **options: float) -> HttpClient:
    return HttpClient(sleep=fake_time.sleep, clock=fake_time.clock, backoff=1.0, timeout=10, **options)  # type: ignore[arg-type]


def test_downloads_then_skips_unchanged(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    files = feed_server.scenario.files
    files["/PyPI/all.zip"] = osv_zip("PYSEC-1", "PYSEC-2")
    files["/Debian%3A11/all.zip"] = osv_zip("DSA-1")
    state = FetchState.load(tmp_path)
    fetched = fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI", "Debian:11"], state)
    assert [f.download.changed for f in fetched] == [True, True]
    assert (tmp_path / "osv" / "PyPI" / "all.zip").read_bytes() == files["/PyPI/all.zip"]
    assert (tmp_path / "osv" / "Debian:11" / "all.zip").read_bytes() == files["/Debian%3A11/all.zip"]
    assert set(FetchState.load(tmp_path).osv) == {"PyPI", "Debian:11"}

    again = fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert not again[0].download.changed
    headers = feed_server.scenario.requests_for("/PyPI/all.zip")[-1][1]
    assert "If-None-Match" in headers

    files["/PyPI/all.zip"] = osv_zip("PYSEC-1", "PYSEC-2", "PYSEC-3")
    third = fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert third[0].download.changed
    assert (tmp_path / "osv" / "PyPI" / "all.zip").read_bytes() == files["/PyPI/all.zip"]


def test_all_ecosystems_from_the_list(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    files = feed_server.scenario.files
    files["/ecosystems.txt"] = b"Go\nnpm\n"
    files["/Go/all.zip"] = osv_zip("GO-1")
    files["/npm/all.zip"] = osv_zip("GHSA-1")
    fetched = fetch_osv(client(fake_time), feed_server.url, tmp_path, None, FetchState.load(tmp_path))
    assert [f.ecosystem for f in fetched] == ["Go", "npm"]


def test_retries_with_backoff_and_retry_after(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.files["/PyPI/all.zip"] = osv_zip("PYSEC-1")
    feed_server.scenario.failures["/PyPI/all.zip"] = [503, 429, 403]
    fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert fake_time.sleeps == [1.0, 3.0, 4.0]  # backoff 1 * 2**0, Retry-After 3, backoff 1 * 2**2
    assert (tmp_path / "osv" / "PyPI" / "all.zip").exists()


def test_gives_up_after_retries(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.files["/PyPI/all.zip"] = osv_zip("PYSEC-1")
    feed_server.scenario.failures["/PyPI/all.zip"] = [500] * 10
    with pytest.raises(FeedError, match="HTTP 500"):
        fetch_osv(client(fake_time, retries=2), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert len(feed_server.scenario.requests_for("/PyPI/all.zip")) == 3
    assert not (tmp_path / "osv" / "PyPI" / "all.zip").exists()


def test_not_found_is_not_retried(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    with pytest.raises(FeedError, match="HTTP 404"):
        fetch_osv(client(fake_time), feed_server.url, tmp_path, ["Nope"], FetchState.load(tmp_path))
    assert len(feed_server.scenario.log) == 1


def test_interrupted_download_resumes_with_range(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    body = osv_zip(*(f"PYSEC-{n}" for n in range(300)))
    feed_server.scenario.files["/PyPI/all.zip"] = body
    feed_server.scenario.truncate_once["/PyPI/all.zip"] = len(body) // 2
    fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert (tmp_path / "osv" / "PyPI" / "all.zip").read_bytes() == body
    second = feed_server.scenario.requests_for("/PyPI/all.zip")[1][1]
    assert second["Range"] == f"bytes={len(body) // 2}-"
    assert sorted(p.name for p in (tmp_path / "osv" / "PyPI").iterdir()) == ["all.zip"]


def test_broken_archive_is_refused_and_leaves_nothing(tmp_path: Path, feed_server: FeedServer,
                                                      fake_time: FakeTime) -> None:
    feed_server.scenario.files["/PyPI/all.zip"] = b"<html>captive portal</html>"
    with pytest.raises(FeedError, match="not a whole zip"):
        fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert list((tmp_path / "osv" / "PyPI").iterdir()) == []


@pytest.mark.parametrize("name", ["..", "a/b", "", " PyPI", "x\\y"])
def test_hostile_ecosystem_names(tmp_path: Path, name: str, fake_time: FakeTime) -> None:
    with pytest.raises(OperatorInputError):
        fetch_osv(client(fake_time), "http://127.0.0.1:9", tmp_path, [name], FetchState.load(tmp_path))


def test_corrupt_state_file(tmp_path: Path) -> None:
    (tmp_path / "fetch-state.json").write_text("{nope")
    with pytest.raises(FeedError, match="fetch state"):
        FetchState.load(tmp_path)


def test_stale_partial_download_is_discarded(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    body = osv_zip("PYSEC-1")
    feed_server.scenario.files["/PyPI/all.zip"] = body
    directory = tmp_path / "osv" / "PyPI"
    directory.mkdir(parents=True)
    (directory / "all.zip.part").write_bytes(b"bytes of an older archive")
    (directory / "all.zip.part.json").write_text('{"etag": "\\"old\\""}')
    fetch_osv(client(fake_time), feed_server.url, tmp_path, ["PyPI"], FetchState.load(tmp_path))
    assert (directory / "all.zip").read_bytes() == body
    first = feed_server.scenario.requests_for("/PyPI/all.zip")[0][1]
    assert first["If-Range"] == '"old"'
    assert sorted(p.name for p in directory.iterdir()) == ["all.zip"]
