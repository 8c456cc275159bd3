"""Wolfi's and Chainguard's secdb: one `security.json` each, downloaded conditionally and checked to be a
whole JSON object, into DEST/wolfi/ and DEST/chainguard/ (what `dbbuilder build --wolfi` / `--chainguard`
read). The locations are packages.wolfi.dev/os/security.json and packages.cgr.dev/chainguard/security.json
(docs/connected-side.md, "Sources").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .http import HttpClient
from .source import FetchedFile, Fetcher, check_json_object, fetch_file
from .state import FetchState

SECDB_FILE = "security.json"
MAX_SECDB_BYTES = 256 << 20  # the published files are a few MB


def secdb_fetcher(directory: str) -> Fetcher:
    def fetch(client: HttpClient, base_url: str, dest: Path, state: FetchState,
              items: Sequence[str]) -> list[FetchedFile]:
        del items  # one file
        return [fetch_file(client, f"{base_url.rstrip('/')}/{SECDB_FILE}", dest, f"{directory}/{SECDB_FILE}",
                           state, check_json_object, MAX_SECDB_BYTES)]

    return fetch
