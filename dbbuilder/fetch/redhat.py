"""Red Hat's CSAF VEX files (security.access.redhat.com/data/csaf/v2/vex/): one document per CVE.

Protocol (docs/connected-side.md, "Sources"): `archive_latest.txt` names the newest archive of every VEX
document, `csaf_vex_YYYY-MM-DD.tar.zst`; `changes.csv` lists `"YYYY/cve-….json","<time>"` for every
document changed, and `deletions.csv` every document removed. The first run (or a run after Red Hat
published a new archive) downloads the archive and unpacks it; every run then downloads the documents
changed since the archive's date (or since the newest change the last run applied) and removes the
deleted ones.

DEST/redhat/csaf/<year>/cve-….json is what `dbbuilder build --redhat DEST/redhat/csaf` reads. The
archive is kept in DEST/redhat/.download/ (conditional and resumable). It is unpacked into a new directory
beside the tree, which then replaces the old tree by rename: a failed unpacking leaves the previous tree
as it was. Members other than `YYYY/cve-….json` documents and directories are refused, as are oversized
members and archives.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import zstandard

from scanner.errors import FeedError

from .http import Download, HttpClient, Validators
from .source import DOWNLOADS, FetchedFile, FetchSource, check_json_object, fetch_file, replace_tree
from .state import FetchState

VEX_BASE_URL = "https://security.access.redhat.com/data/csaf/v2/vex"
LATEST = "archive_latest.txt"
TREE = "redhat/csaf"
# The archive is some hundreds of MB; a VEX document at most tens of MB (kernel CVEs list every stream).
MAX_ARCHIVE_BYTES = 8 << 30
MAX_UNPACKED_BYTES = 128 << 30
MAX_DOCUMENT_BYTES = 256 << 20
MAX_LIST_BYTES = 512 << 20
_ARCHIVE_NAME = re.compile(r"csaf_vex_(\d{4}-\d{2}-\d{2})\.tar\.zst")
_DOCUMENT = re.compile(r"\d{4}/cve-\d{4}-\d{4,}\.json")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _check_zstd(path: Path) -> None:
    with path.open("rb") as handle:
        if handle.read(4) != _ZSTD_MAGIC:
            raise FeedError(f"{path.name}: downloaded archive is not zstd compressed")


def _listed(text: str, what: str) -> list[tuple[str, datetime]]:
    """The (document path, time) rows of changes.csv / deletions.csv; FeedError on any other row."""
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        try:
            path, stamp = row
            when = datetime.fromisoformat(stamp)
        except ValueError:
            raise FeedError(f"{what} line {number}: not a \"path\",\"time\" row") from None
        if not _DOCUMENT.fullmatch(path) or when.tzinfo is None:
            raise FeedError(f"{what} line {number}: unexpected document path or time {row[0][:80]!r}")
        rows.append((path, when))
    return rows


def _unpack(archive: Path, tree: Path) -> int:
    """Every document of `archive` into a new directory that then replaces `tree`; the documents unpacked."""
    staging = tree.with_name(f".{tree.name}.unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = total = 0
    try:
        with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as members:
            for member in members:
                name = member.name.removeprefix("./")
                if member.isdir() and re.fullmatch(r"\d{4}/?|\.?", name):
                    continue
                if not member.isreg() or not _DOCUMENT.fullmatch(name):
                    raise FeedError(f"{archive.name}: unexpected member {member.name[:120]!r}")
                total += member.size
                if member.size > MAX_DOCUMENT_BYTES or total > MAX_UNPACKED_BYTES:
                    raise FeedError(f"{archive.name}: member {name} exceeds the size limits")
                source = members.extractfile(member)
                if source is None:
                    raise FeedError(f"{archive.name}: unreadable member {name}")
                target = staging / name
                target.parent.mkdir(exist_ok=True)
                with target.open("wb") as output:
                    shutil.copyfileobj(source, output)
                count += 1
        replace_tree(staging, tree)
    except (tarfile.TarError, zstandard.ZstdError, OSError, EOFError) as error:
        raise FeedError(f"{archive.name}: cannot unpack ({error})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return count


def fetch_redhat(client: HttpClient, base_url: str, dest: Path, state: FetchState,
                 items: Sequence[str]) -> list[FetchedFile]:
    del items
    base = base_url.rstrip("/")
    latest = client.get_text(f"{base}/{LATEST}", max_bytes=1024).strip()
    named = _ARCHIVE_NAME.fullmatch(latest)
    if named is None:
        raise FeedError(f"{base}/{LATEST}: does not name a csaf_vex_YYYY-MM-DD.tar.zst archive ({latest[:80]!r})")
    tree = dest / TREE
    recorded = state.files.get(TREE)
    record = recorded if isinstance(recorded, dict) else {}
    fetched: list[FetchedFile] = []
    if record.get("archive") != latest or not tree.is_dir():
        archive = fetch_file(client, f"{base}/{latest}", dest, f"redhat/{DOWNLOADS}/{latest}", state, _check_zstd,
                             MAX_ARCHIVE_BYTES)
        documents = _unpack(archive.download.path, tree)
        for older in (dest / "redhat" / DOWNLOADS).glob("csaf_vex_*.tar.zst"):
            if older.name != latest:
                older.unlink()
                state.files.pop(f"redhat/{DOWNLOADS}/{older.name}", None)
        record = {"archive": latest, "applied_through": f"{named.group(1)}T00:00:00+00:00"}
        state.files[TREE] = record
        state.save()
        fetched.append(FetchedFile(f"{TREE} ({latest}: {documents:,} documents)", archive.download))
    since = datetime.fromisoformat(str(record.get("applied_through")))
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    changes = _listed(client.get_text(f"{base}/changes.csv", max_bytes=MAX_LIST_BYTES), "changes.csv")
    deletions = _listed(client.get_text(f"{base}/deletions.csv", max_bytes=MAX_LIST_BYTES), "deletions.csv")
    newest: dict[str, datetime] = {}
    for path, when in changes:
        newest[path] = max(when, newest.get(path, when))
    for path in sorted(p for p, when in newest.items() if when >= since):
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        download = client.download(f"{base}/{path}", target, check=check_json_object, max_bytes=MAX_DOCUMENT_BYTES)
        fetched.append(FetchedFile(f"{TREE}/{path}", download))
    for path, when in deletions:
        if path not in newest or newest[path] < when:  # a document deleted, not re-published since
            with contextlib.suppress(FileNotFoundError):
                (tree / path).unlink()
                fetched.append(FetchedFile(f"{TREE}/{path} (deleted)", Download(tree / path, True, Validators(), 0)))
    record["applied_through"] = max([since, *newest.values()]).isoformat()
    state.files[TREE] = record
    state.save()
    return fetched


SOURCE = FetchSource("redhat", "Fetch Red Hat's CSAF VEX archive and the documents changed since.", VEX_BASE_URL,
                     fetch_redhat, TREE)
