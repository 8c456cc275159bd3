"""CISA's Known Exploited Vulnerabilities catalog (`dbbuilder build --kev DEST/kev/known_exploited_vulnerabilities.json`).

One JSON document at `<base>/known_exploited_vulnerabilities.json`, downloaded conditionally. Before it
replaces the previous copy it is read by the builder's own KEV reader (`dbbuilder.sources.kev.read_kev`):
a JSON object whose `vulnerabilities` list is as long as its `count` says, with a release time. An HTML
error page, a body cut short or a catalog edited by hand is refused and the previous copy stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dbbuilder.sources.kev import MAX_CATALOG_BYTES, PROVIDER, read_kev
from dbbuilder.sources.records import SkipLog

from .http import HttpClient
from .source import FetchedFile, FetchSource, fetch_file
from .state import FetchState

KEV_BASE_URL = "https://www.cisa.gov/sites/default/files/feeds"
CATALOG = "known_exploited_vulnerabilities.json"
TARGET = f"kev/{CATALOG}"


def check_catalog(path: Path) -> None:
    """FeedError unless `path` is a whole catalog (the entries themselves are judged by the build)."""
    read_kev(path, SkipLog(PROVIDER))


def fetch_kev(client: HttpClient, base_url: str, dest: Path, state: FetchState,
              items: Sequence[str]) -> list[FetchedFile]:
    del items
    return [fetch_file(client, f"{base_url.rstrip('/')}/{CATALOG}", dest, TARGET, state, check_catalog,
                       MAX_CATALOG_BYTES)]


SOURCE = FetchSource("kev", "Fetch CISA's Known Exploited Vulnerabilities catalog (for build --kev).", KEV_BASE_URL,
                     fetch_kev, TARGET)
