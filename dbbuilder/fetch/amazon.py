"""Amazon Linux security bulletins (alas.aws.amazon.com): one RSS feed per release, one HTML page per advisory.

Layout under DEST (what `dbbuilder build --amazon DEST/amazon` reads): `amazon/<release>_rss.xml` and
`amazon/<release>_html/<ALAS id>` for releases 2, 2022 and 2023 (the feeds at `AL2/alas.rss`,
`AL2022/alas.rss`, `AL2023/alas.rss`). The feed is downloaded conditionally; an advisory page is
downloaded when it is missing or its item's date in the feed changed since the last run. Page URLs are
the feed's `<link>` paths under the base URL (a mirror serves the same paths), and must name an advisory
of that release; anything else in the feed stops the fetch.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

from scanner.errors import FeedError, OperatorInputError

from .http import HttpClient
from .source import HEAD_BYTES, FetchedFile, FetchSource, fetch_file, xml_check
from .state import FetchState

ALAS_BASE_URL = "https://alas.aws.amazon.com"
RELEASES = {"2": "AL2", "2022": "AL2022", "2023": "AL2023"}
MAX_FEED_BYTES = 64 << 20
MAX_PAGE_BYTES = 16 << 20
SAVE_EVERY = 200
_ADVISORY = re.compile(r"ALAS[0-9A-Z]*-\d{4}-\d{3,}")


def _check_page(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES).lower()
    if b"<html" not in head:
        raise FeedError(f"{path.name}: downloaded advisory page is not HTML")


def advisories(feed: Path, directory: str) -> list[tuple[str, str, str]]:
    """(advisory id, page path, item date) of every item of an ALAS feed."""
    data = feed.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise FeedError(f"{feed.name}: feed declares a DTD; refused")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise FeedError(f"{feed.name}: not XML ({error})") from error
    found = []
    for item in root.iterfind("channel/item"):
        link = (item.findtext("link") or "").strip()
        path = urllib.parse.urlsplit(link).path
        named = re.fullmatch(rf"/{directory}/({_ADVISORY.pattern})\.html", path)
        if named is None:
            raise FeedError(f"{feed.name}: item link {link[:120]!r} is not an advisory page of {directory}")
        stamp = (item.findtext("lastBuildDate") or item.findtext("pubDate") or "").strip()
        found.append((named.group(1), path, stamp))
    return found


def fetch_amazon(client: HttpClient, base_url: str, dest: Path, state: FetchState,
                 items: Sequence[str]) -> list[FetchedFile]:
    base = base_url.rstrip("/")
    fetched = []
    for release in items:
        directory = RELEASES.get(release)
        if directory is None:
            raise OperatorInputError(f"--amazon-release {release!r}: expected one of {', '.join(RELEASES)}")
        feed = fetch_file(client, f"{base}/{directory}/alas.rss", dest, f"amazon/{release}_rss.xml", state,
                          xml_check("rss"), MAX_FEED_BYTES)
        fetched.append(feed)
        for advisory, path, stamp in advisories(feed.download.path, directory):
            name = f"amazon/{release}_html/{advisory}"
            recorded = state.files.get(name)
            if (dest / name).exists() and isinstance(recorded, dict) and recorded.get("item") == stamp:
                continue
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            download = client.download(f"{base}{path}", dest / name, check=_check_page, max_bytes=MAX_PAGE_BYTES)
            state.files[name] = {"item": stamp}
            fetched.append(FetchedFile(name, download))
            if len(fetched) % SAVE_EVERY == 0:  # an interrupted run keeps most of its pages' records
                state.save()
        state.save()
    return fetched


SOURCE = FetchSource("amazon", "Fetch Amazon Linux's ALAS feeds and advisory pages.", ALAS_BASE_URL, fetch_amazon,
                     "amazon", items=tuple(RELEASES), item_flag="release",
                     item_help="Amazon Linux release to fetch: 2, 2022 or 2023 (repeatable)")
