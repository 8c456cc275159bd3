"""Distro OVAL files: SUSE, Oracle Linux and Azure Linux / CBL-Mariner publish one OVAL XML document per
product (or one for all releases), plain or compressed, at a fixed location.

DEST/<source>/<file>.xml is what `dbbuilder build --suse DEST/suse` (`--oracle`, `--azure-linux`) reads;
a compressed download is kept in DEST/<source>/.download/ for the next conditional request and
decompressed (bounded) only when it changed. Every file is checked to be a whole `<oval_definitions>`
document before it replaces the previous copy. Locations: docs/connected-side.md, "Sources".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .http import HttpClient
from .source import FetchedFile, Fetcher, check_item, fetch_compressed
from .state import FetchState

OVAL_ROOT = "oval_definitions"
# Compressed downloads are tens of MB; Oracle's all-release OVAL is the largest, about 1.5 GB plain (caps
# are generous bounds against a runaway or hostile server, not estimates).
MAX_DOWNLOAD_BYTES = 2 << 30
MAX_PLAIN_BYTES = 16 << 30


def oval_fetcher(directory: str) -> Fetcher:
    def fetch(client: HttpClient, base_url: str, dest: Path, state: FetchState,
              items: Sequence[str]) -> list[FetchedFile]:
        return [fetch_compressed(client, f"{base_url.rstrip('/')}/{check_item(item, f'--{directory}-file')}", dest,
                                 directory, item, state, root=OVAL_ROOT, max_bytes=MAX_DOWNLOAD_BYTES,
                                 max_plain_bytes=MAX_PLAIN_BYTES)
                for item in items]

    return fetch
