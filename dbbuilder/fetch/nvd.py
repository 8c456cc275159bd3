"""NVD CVE API 2.0 (https://nvd.nist.gov/developers/vulnerabilities): paged, rate-limited, resumable.

Pages are written as they arrive to DEST/nvd/<run>/page-<window>-<startIndex>.json, each atomically,
so an interrupted run resumes by skipping the pages already on disk: the run's parameters (and its
fixed end time) are kept in DEST/fetch-state.json until it completes. `since` asks only for CVEs
modified after that time, in windows of at most 120 days (the API's limit for lastModStartDate /
lastModEndDate); without it the whole database is fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scanner.errors import FeedError
from scanner.fileio import write_atomically

from .http import HttpClient
from .state import FetchState

NVD_BASE_URL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
RESULTS_PER_PAGE = 2000  # the API's maximum
MAX_WINDOW = timedelta(days=120)
# NVD: 5 requests per rolling 30 seconds without an API key, 50 with one.
INTERVAL_WITHOUT_KEY = 6.0
INTERVAL_WITH_KEY = 0.6


@dataclass(frozen=True)
class NvdRun:
    directory: Path
    pages: int  # pages written by this call (pages already on disk from an interrupted call excluded)
    resumed: bool
    total_results: int


def _api_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def windows(since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
    start = since
    while start < until:
        end = min(start + MAX_WINDOW, until)
        yield start, end
        start = end


def _check_page(page: Any, url: str) -> tuple[int, int]:
    """(totalResults, records on this page) of a well-formed page; FeedError otherwise."""
    if not isinstance(page, dict):
        raise FeedError(f"{url}: response is not a JSON object")
    total, items = page.get("totalResults"), page.get("vulnerabilities")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0 or not isinstance(items, list):
        raise FeedError(f"{url}: response is not an NVD CVE API 2.0 page (totalResults, vulnerabilities)")
    return total, len(items)


def _stored_page(path: Path) -> Any:
    """A page an interrupted run already wrote (pages are written atomically), or None."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:
        raise FeedError(f"{path}: unreadable page from an earlier run ({error}); delete it and fetch again") from error


def _run_parameters(state: FetchState, since: datetime | None, now: datetime) -> tuple[datetime, bool]:
    """The run's end time: the pending run's if it asked for the same `since` (resume), else now."""
    pending = state.nvd.get("pending")
    wanted = _api_time(since) if since else None
    if isinstance(pending, dict) and pending.get("since") == wanted and isinstance(pending.get("until"), str):
        try:
            return datetime.fromisoformat(pending["until"]), True
        except ValueError:
            pass
    state.nvd["pending"] = {"since": wanted, "until": now.astimezone(UTC).isoformat()}
    state.save()
    return now, False


def fetch_nvd(client: HttpClient, base_url: str, dest: Path, state: FetchState, *, since: datetime | None,
              now: datetime, results_per_page: int = RESULTS_PER_PAGE) -> NvdRun:
    until, resumed = _run_parameters(state, since, now)
    name = f"since-{_stamp(since)}-until-{_stamp(until)}" if since else f"full-{_stamp(until)}"
    directory = dest / "nvd" / name
    directory.mkdir(parents=True, exist_ok=True)
    spans: list[tuple[datetime, datetime] | None] = list(windows(since, until)) if since else [None]
    written = 0
    grand_total = 0
    for index, span in enumerate(spans):
        params: dict[str, str | int] = {"resultsPerPage": results_per_page}
        if span is not None:
            params |= {"lastModStartDate": _api_time(span[0]), "lastModEndDate": _api_time(span[1])}
        start, total = 0, None
        while total is None or start < total:
            page_path = directory / f"page-{index:03d}-{start:09d}.json"
            stored = _stored_page(page_path)
            if stored is not None:
                total, count = _check_page(stored, str(page_path))
            else:
                url = f"{base_url}?startIndex={start}"
                page = client.get_json(base_url, {**params, "startIndex": start})
                total, count = _check_page(page, url)
                write_atomically(page_path, (json.dumps(page, ensure_ascii=False) + "\n").encode("utf-8"))
                written += 1
            if count == 0 and start < total:
                raise FeedError(f"{base_url}: empty page at startIndex {start} of {total}: the API changed "
                                "under us; run the fetch again")
            start += count
        grand_total += total or 0
    state.nvd.pop("pending", None)
    state.nvd["last_until"] = until.astimezone(UTC).isoformat()
    state.save()
    return NvdRun(directory, written, resumed, grand_total)
