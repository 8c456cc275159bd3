from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dbbuilder.fetch import HttpClient, fetch_nvd
from dbbuilder.fetch.nvd import INTERVAL_WITHOUT_KEY, windows
from dbbuilder.fetch.state import FetchState
from scanner.errors import FeedError
from tests.dbbuilder.fetch.conftest import FakeTime, FeedServer, nvd_item

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def client(fake_time: FakeTime, **options: object) -> HttpClient:
    return HttpClient(sleep=fake_time.sleep, clock=fake_time.clock, backoff=1.0, timeout=10, **options)  # type: ignore[arg-type]


def stored_ids(directory: Path) -> list[str]:
    ids = []
    for page in sorted(directory.glob("page-*.json")):
        ids += [item["cve"]["id"] for item in json.loads(page.read_text())["vulnerabilities"]]
    return ids


def test_pages_through_everything(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.nvd_items = [nvd_item(n, "2026-11-01T00:00:00.000") for n in range(5)]
    run = fetch_nvd(client(fake_time), f"{feed_server.url}/nvd", tmp_path, FetchState.load(tmp_path),
                    since=None, now=NOW, results_per_page=2)
    assert (run.pages, run.total_results, run.resumed) == (3, 5, False)
    assert [q["startIndex"] for q, _ in feed_server.scenario.requests_for("/nvd")] == ["0", "2", "4"]
    assert stored_ids(run.directory) == [f"CVE-2026-{n:04d}" for n in range(5)]
    assert run.directory.name == "full-20261129T000000Z"
    state = FetchState.load(tmp_path)
    assert "pending" not in state.nvd
    assert state.nvd["last_until"] == NOW.isoformat()


def test_rate_limit_spaces_requests(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.nvd_items = [nvd_item(n, "2026-11-01T00:00:00.000") for n in range(3)]
    fetch_nvd(client(fake_time, min_interval=INTERVAL_WITHOUT_KEY, headers={"apiKey": "k"}), f"{feed_server.url}/nvd",
              tmp_path, FetchState.load(tmp_path), since=None, now=NOW, results_per_page=1)
    assert fake_time.sleeps == [INTERVAL_WITHOUT_KEY, INTERVAL_WITHOUT_KEY]
    assert all(headers.get("Apikey") == "k" for _, headers in feed_server.scenario.requests_for("/nvd"))


def test_incremental_windows(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.nvd_items = [
        nvd_item(1, "2026-01-01T00:00:00.000"),  # before since
        nvd_item(2, "2026-06-01T00:00:00.000"),
        nvd_item(3, "2026-11-20T00:00:00.000"),
    ]
    since = NOW - timedelta(days=200)
    run = fetch_nvd(client(fake_time), f"{feed_server.url}/nvd", tmp_path, FetchState.load(tmp_path),
                    since=since, now=NOW)
    queries = [q for q, _ in feed_server.scenario.requests_for("/nvd")]
    assert len(queries) == 2  # 200 days = two windows of at most 120 days
    for query in queries:
        start = datetime.fromisoformat(query["lastModStartDate"])
        end = datetime.fromisoformat(query["lastModEndDate"])
        assert timedelta(0) < end - start <= timedelta(days=120)
    assert queries[0]["lastModStartDate"] == "2026-05-13T00:00:00.000+00:00"
    assert queries[-1]["lastModEndDate"] == "2026-11-29T00:00:00.000+00:00"
    assert sorted(stored_ids(run.directory)) == ["CVE-2026-0002", "CVE-2026-0003"]


def test_windows_cover_the_span_exactly() -> None:
    since = NOW - timedelta(days=365)
    spans = list(windows(since, NOW))
    assert spans[0][0] == since
    assert spans[-1][1] == NOW
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_interrupted_run_resumes(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.nvd_items = [nvd_item(n, "2026-11-01T00:00:00.000") for n in range(4)]
    calls = {"count": 0}
    real = HttpClient.get_json

    def flaky(self: HttpClient, url: str, params: dict[str, str | int] | None = None) -> object:
        calls["count"] += 1
        if calls["count"] == 2:
            raise FeedError("network gone")
        return real(self, url, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HttpClient, "get_json", flaky)
        with pytest.raises(FeedError, match="network gone"):
            fetch_nvd(client(fake_time), f"{feed_server.url}/nvd", tmp_path, FetchState.load(tmp_path),
                      since=None, now=NOW, results_per_page=2)
    assert FetchState.load(tmp_path).nvd["pending"]["until"] == NOW.isoformat()
    later = NOW + timedelta(hours=5)
    run = fetch_nvd(client(fake_time), f"{feed_server.url}/nvd", tmp_path, FetchState.load(tmp_path),
                    since=None, now=later, results_per_page=2)
    assert run.resumed
    assert run.pages == 1  # page 0 was already on disk
    assert run.directory.name == "full-20261129T000000Z"  # the interrupted run's end time, not `later`
    assert stored_ids(run.directory) == [f"CVE-2026-{n:04d}" for n in range(4)]


def test_malformed_page_is_refused(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.files["/bad"] = b'{"totalResults": "many"}'
    with pytest.raises(FeedError, match="not an NVD CVE API 2"):
        fetch_nvd(client(fake_time), f"{feed_server.url}/bad", tmp_path, FetchState.load(tmp_path),
                  since=None, now=NOW)
    assert list((tmp_path / "nvd").rglob("page-*")) == []


def test_truncated_json_is_retried(tmp_path: Path, feed_server: FeedServer, fake_time: FakeTime) -> None:
    feed_server.scenario.files["/page"] = json.dumps(
        {"totalResults": 1, "vulnerabilities": [nvd_item(1, "2026-11-01T00:00:00.000")]}).encode()
    feed_server.scenario.truncate_once["/page"] = 10
    run = fetch_nvd(client(fake_time), f"{feed_server.url}/page", tmp_path, FetchState.load(tmp_path),
                    since=None, now=NOW)
    assert stored_ids(run.directory) == ["CVE-2026-0001"]
    assert len(fake_time.sleeps) == 1
