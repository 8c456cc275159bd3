"""Distro security data: the Debian security tracker and the Alpine secdb, as their publishers serve them.

Layout under DEST, the one `dbbuilder build --debian DEST/debian --alpine DEST/alpine` reads:
- `debian/tracker.json`: the tracker's JSON export (every source package, CVE and release);
- `debian/DSA/list`, `debian/DLA/list`: the advisory lists from the tracker's data repository;
- `alpine/<branch>/<repository>.json`: one secdb file per branch and repository (`v3.20/main.json`).

Each file is downloaded conditionally (ETag / Last-Modified from the previous run), resumed after an
interruption, checked to be whole, then renamed into place, as OSV archives are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from scanner.errors import FeedError, OperatorInputError

from .http import HttpClient, NotFoundError
from .source import HEAD_BYTES, FetchedFile, check_json_object, fetch_file
from .state import FetchState

DEBIAN_TRACKER_URL = "https://security-tracker.debian.org/tracker/data/json"
DEBIAN_LISTS_URL = "https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data"
DEBIAN_LISTS = ("DSA", "DLA")
ALPINE_SECDB_URL = "https://secdb.alpinelinux.org"
ALPINE_REPOSITORIES = ("main", "community")
_BRANCH = re.compile(r"v\d+\.\d+|edge")
_BRANCH_LINK = re.compile(r'href="(v\d+\.\d+|edge)/"')
# Caps far above the real files (the tracker export is about 70 MB, a secdb file a few MB).
MAX_TRACKER_BYTES = 2 << 30
MAX_LIST_BYTES = 256 << 20
MAX_SECDB_BYTES = 256 << 20


def _check_advisory_list(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not re.match(rb"\[\d\d \w{3} \d{4}\] D[SL]A-", head):
        raise FeedError(f"{path.name}: downloaded file is not a Debian advisory list")


def fetch_debian(client: HttpClient, dest: Path, state: FetchState, *, tracker_url: str = DEBIAN_TRACKER_URL,
                 lists_url: str = DEBIAN_LISTS_URL) -> list[FetchedFile]:
    """The tracker JSON export and the DSA and DLA lists, into `dest/debian`."""
    fetched = [fetch_file(client, tracker_url, dest, "debian/tracker.json", state, check_json_object,
                          MAX_TRACKER_BYTES)]
    for kind in DEBIAN_LISTS:
        fetched.append(fetch_file(client, f"{lists_url.rstrip('/')}/{kind}/list", dest, f"debian/{kind}/list", state,
                                  _check_advisory_list, MAX_LIST_BYTES))
    return fetched


def alpine_branches(client: HttpClient, base_url: str) -> list[str]:
    """The branches the secdb index lists (`v3.20`, ..., `edge`)."""
    index = client.get_text(f"{base_url.rstrip('/')}/")
    return sorted(set(_BRANCH_LINK.findall(index)))


def fetch_alpine(client: HttpClient, dest: Path, state: FetchState, branches: Iterable[str] | None = None, *,
                 base_url: str = ALPINE_SECDB_URL) -> list[FetchedFile]:
    """Every repository file of `branches` (all that the index lists when None), into `dest/alpine`.

    A branch without a `community` file (the oldest ones) is fine; a branch with no file at all is not.
    """
    chosen = alpine_branches(client, base_url) if branches is None else list(branches)
    for branch in chosen:
        if not _BRANCH.fullmatch(branch):
            raise OperatorInputError(f"Alpine branch {branch!r}: expected v3.20 or edge")
    if not chosen:
        raise FeedError(f"{base_url}: the secdb index lists no branches")
    fetched = []
    for branch in chosen:
        found = 0
        for repository in ALPINE_REPOSITORIES:
            url = f"{base_url.rstrip('/')}/{branch}/{repository}.json"
            try:
                fetched.append(fetch_file(client, url, dest, f"alpine/{branch}/{repository}.json", state,
                                          check_json_object, MAX_SECDB_BYTES))
                found += 1
            except NotFoundError:
                continue
        if not found:
            raise FeedError(f"{base_url}: branch {branch} has neither main.json nor community.json")
    return fetched
