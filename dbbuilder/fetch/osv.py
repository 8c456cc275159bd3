"""OSV: one `all.zip` per ecosystem from the OSV bucket (https://google.github.io/osv.dev/data/).

Layout under DEST: `osv/<Ecosystem>/all.zip`, the same as the bucket, which `dbbuilder build --osv
DEST/osv` reads. Each archive is downloaded conditionally (ETag / Last-Modified from the previous run),
resumed when a previous download was interrupted, checked to be a whole zip, then renamed into place.
"""

from __future__ import annotations

import urllib.parse
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import FeedError, OperatorInputError

from .http import Download, HttpClient, Validators
from .state import FetchState

OSV_BASE_URL = "https://osv-vulnerabilities.storage.googleapis.com"
ARCHIVE_NAME = "all.zip"
ECOSYSTEMS_LIST = "ecosystems.txt"


@dataclass(frozen=True)
class FetchedArchive:
    ecosystem: str
    download: Download


def check_ecosystem_name(name: str) -> str:
    """An ecosystem name becomes a directory name: refuse anything that could escape DEST."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name or name != name.strip():
        raise OperatorInputError(f"ecosystem name {name!r} is not usable as a directory name")
    return name


def check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise FeedError(f"{path.name}: downloaded archive is not a whole zip file ({error})") from error


def list_ecosystems(client: HttpClient, base_url: str) -> list[str]:
    text = client.get_text(f"{base_url.rstrip('/')}/{ECOSYSTEMS_LIST}")
    return [check_ecosystem_name(line.strip()) for line in text.splitlines() if line.strip()]


def fetch_osv(client: HttpClient, base_url: str, dest: Path, ecosystems: Iterable[str] | None,
              state: FetchState) -> list[FetchedArchive]:
    """Download the archives of `ecosystems` (all that OSV lists when None) into `dest/osv`."""
    names = list_ecosystems(client, base_url) if ecosystems is None else [check_ecosystem_name(e) for e in ecosystems]
    fetched = []
    for name in names:
        directory = dest / "osv" / name
        directory.mkdir(parents=True, exist_ok=True)
        url = f"{base_url.rstrip('/')}/{urllib.parse.quote(name, safe='')}/{ARCHIVE_NAME}"
        known = Validators.from_json(state.osv.get(name))
        download = client.download(url, directory / ARCHIVE_NAME, known=known, check=check_zip)
        state.osv[name] = download.validators.to_json()
        state.save()
        fetched.append(FetchedArchive(name, download))
    return fetched
