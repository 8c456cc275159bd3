"""FIRST's daily EPSS scores (`dbbuilder build --epss DEST/epss/epss_scores-current.csv.gz`).

`<base>/epss_scores-current.csv.gz` (the server redirects it to the day's `epss_scores-YYYY-MM-DD.csv.gz`)
is downloaded conditionally and kept compressed, as the builder reads it. Before it replaces the previous
copy it must start with the gzip magic bytes and be read whole by the builder's own EPSS reader
(`dbbuilder.sources.epss.read_epss`): the first line `#model_version:…,score_date:…` with a valid date,
the second `cve,epss,percentile`, and a gzip stream that ends where its trailer says (a body cut short is
refused). An HTML error page or a file of another format is refused and the previous copy stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dbbuilder.sources.epss import PROVIDER, read_epss
from dbbuilder.sources.records import SkipLog

from .http import HttpClient
from .source import FetchedFile, FetchSource, compressed_check, fetch_file
from .state import FetchState

EPSS_BASE_URL = "https://epss.empiricalsecurity.com"
SCORES = "epss_scores-current.csv.gz"
TARGET = f"epss/{SCORES}"
# The file is about 2 MB compressed for some 300,000 CVEs.
MAX_DOWNLOAD_BYTES = 256 << 20
_is_gzip = compressed_check(".gz")


def check_scores(path: Path) -> None:
    """FeedError unless `path` is a whole gzip EPSS file with both header lines (rows are judged by the build)."""
    _is_gzip(path)
    with read_epss(path, SkipLog(PROVIDER)) as scores:
        for _ in scores.rows:  # to the end of the stream, so a cut body fails its gzip trailer check
            pass


def fetch_epss(client: HttpClient, base_url: str, dest: Path, state: FetchState,
               items: Sequence[str]) -> list[FetchedFile]:
    del items
    return [fetch_file(client, f"{base_url.rstrip('/')}/{SCORES}", dest, TARGET, state, check_scores,
                       MAX_DOWNLOAD_BYTES)]


SOURCE = FetchSource("epss", "Fetch FIRST's daily EPSS scores (for build --epss).", EPSS_BASE_URL, fetch_epss,
                     TARGET)
