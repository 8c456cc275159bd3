"""CVE JSON 5 records from the CVE Program's cvelistV5 releases (`dbbuilder build --cve5 DEST/cve5`).

Protocol (docs/connected-side.md, "Sources"): the GitHub releases API's `<base>/releases/latest` names
the newest release of github.com/CVEProject/cvelistV5; its assets include the day's baseline,
`YYYY-MM-DD_all_CVEs_at_midnight.zip` (as published, with a second `.zip`: a zip holding `cves.zip`, which
holds `cves/<year>/<N>xxx/CVE-….json`, every record as of midnight UTC), and a delta,
`YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip` or `…_at_end_of_day.zip` (a zip of `deltaCves/CVE-….json`: every
record added or changed since that day's baseline). Assets are downloaded from their
`browser_download_url`, which must be HTTPS (or on the base URL's own host, for a mirror).

The first run (or a run after the baseline changed) downloads the baseline and unpacks it into a new
directory that then replaces DEST/cve5/cves by rename: a failed unpacking leaves the previous tree as it
was. A delta newer than the one last applied, of the baseline's day, is unpacked beside the tree and its
records are then moved into it one by one (each replaced whole; an interrupted run leaves whole records
of either version, and the next run applies the delta again). A delta of a later day than the tree's
baseline, with no baseline in the release, would leave a gap: it is refused. Downloads are kept in
DEST/cve5/.download/ (conditional and resumable), the previous day's removed.

Archives are read bounded (`LIMITS`): the entries are counted by walking the central directory's headers
before zipfile loads them, every record's size and the total are capped, and only directories and
`CVE-YYYY-N.json` records at the expected paths are accepted (plus plain `.json`, `.md` and `.txt` files
at the top, such as `cves/delta.json`, which are skipped); anything else (a path outside the tree, a
symlink, a device, a duplicate) refuses the archive. A record must look like a JSON object; `dbbuilder
build` parses it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import struct
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dbbuilder.sources.cve5 import MAX_FILE_BYTES
from scanner.errors import FeedError

from .http import Download, HttpClient, Validators
from .source import DOWNLOADS, FetchedFile, FetchSource, fetch_file, replace_tree
from .state import FetchState

CVELIST_API_URL = "https://api.github.com/repos/CVEProject/cvelistV5"
TREE = "cve5/cves"
_BASELINE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})_all_CVEs_at_midnight\.zip(?:\.zip)?")
_DELTA = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})_delta_CVEs_at_([0-9]{4}Z|end_of_day)\.zip")
_RECORD = r"CVE-([0-9]{4})-([0-9]{4,19})\.json"
_BASELINE_RECORD = re.compile(rf"cves/[0-9]{{4}}/[0-9]{{1,16}}xxx/({_RECORD})")
_BASELINE_DIRECTORY = re.compile(r"cves/(?:[0-9]{4}/(?:[0-9]{1,16}xxx/)?)?")
_DELTA_RECORD = re.compile(rf"deltaCves/({_RECORD})")
# Files beside the records at the top (cves/delta.json, cves/deltaLog.json, …): not records, skipped.
_LIST = re.compile(r"(?:cves|deltaCves)/[A-Za-z][A-Za-z0-9_-]{0,63}\.(?:json|md|txt)")
_INNER = "cves.zip"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with entries, an empty one
_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_DIRECTORY_ENTRY = b"PK\x01\x02"


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps on what a release may make this fetcher download, hold and write."""

    # The baseline is about 600 MB (2026) and grows some 10% a year; the delta a few MB by the end of a day.
    baseline_bytes: int = 8 << 30
    delta_bytes: int = 1 << 30
    inner_bytes: int = 16 << 30  # the baseline's cves.zip, once taken out of the outer zip
    # Some 320,000 records and a few thousand directories (2026).
    entries: int = 2_000_000
    record_bytes: int = MAX_FILE_BYTES  # what `dbbuilder build --cve5` reads of one record
    unpacked_bytes: int = 64 << 30


LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    day: str  # YYYY-MM-DD
    stamp: str  # a delta's HHMMZ or end_of_day; "" for a baseline


def _assets(release: object, base_url: str) -> tuple[str, Asset | None, Asset | None]:
    """(tag, baseline, delta) of a releases API answer; FeedError when it is not one or is ambiguous."""
    if not isinstance(release, dict) or not isinstance(release.get("assets"), list):
        raise FeedError(f"{base_url}/releases/latest: not a GitHub release (no assets list)")
    tag = str(release.get("tag_name", "?"))[:80]
    found: dict[str, Asset] = {}
    for value in release["assets"]:
        name = value.get("name") if isinstance(value, dict) else None
        url = value.get("browser_download_url") if isinstance(value, dict) else None
        if not isinstance(name, str) or not isinstance(url, str):
            raise FeedError(f"release {tag}: an asset without a name or browser_download_url")
        for kind, pattern in (("baseline", _BASELINE), ("delta", _DELTA)):
            named = pattern.fullmatch(name)
            if named is None:
                continue
            if kind in found:
                raise FeedError(f"release {tag}: two {kind} assets ({found[kind].name}, {name})")
            found[kind] = Asset(name, _asset_url(url, name, base_url, tag), named.group(1),
                                named.group(2) if kind == "delta" else "")
    return tag, found.get("baseline"), found.get("delta")


def _asset_url(url: str, name: str, base_url: str, tag: str) -> str:
    """`url`, when it is HTTPS (or on the base URL's scheme and host) and names the asset; FeedError otherwise."""
    parts, base = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base_url)
    if parts.scheme != "https" and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        raise FeedError(f"release {tag}: asset URL {url[:120]!r} is neither HTTPS nor on {base.netloc}")
    if urllib.parse.unquote(parts.path.rsplit("/", 1)[-1]) != name or parts.query or parts.fragment:
        raise FeedError(f"release {tag}: asset URL {url[:120]!r} does not name {name}")
    return url


def _check_zip(path: Path) -> None:
    """A cheap wholeness check before a download replaces a copy: zip magic first, an end record last."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic not in _ZIP_MAGIC or not zipfile.is_zipfile(path):
        raise FeedError(f"{path.name}: downloaded file is not a whole zip archive")


def _count_entries(handle: BinaryIO, limit: int, what: str) -> int:
    """The entries of a zip's central directory, counted by walking their headers where zipfile finds and
    reads them, before zipfile holds them all in memory; FeedError past `limit`."""
    size = handle.seek(0, os.SEEK_END)
    tail_start = max(0, size - (22 + 0xFFFF))
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(_END)
    if at < 0 or len(tail) - at < 22:
        raise FeedError(f"{what}: no zip end record")
    directory_size = struct.unpack_from("<I", tail, at + 12)[0]
    directory_end = tail_start + at
    if at >= 20 and tail[at - 20:at - 16] == _END64_LOCATOR:
        directory_end -= 20 + 56
        handle.seek(max(0, directory_end))
        record = handle.read(56)
        if directory_end < 0 or len(record) < 56 or record[:4] != _END64:
            raise FeedError(f"{what}: zip64 end record missing")
        directory_size = struct.unpack_from("<Q", record, 40)[0]
    if directory_size > directory_end:
        raise FeedError(f"{what}: central directory out of bounds")
    handle.seek(directory_end - directory_size)
    count = walked = 0
    while walked < directory_size:
        header = handle.read(46)
        if len(header) < 46 or header[:4] != _DIRECTORY_ENTRY:
            raise FeedError(f"{what}: malformed central directory")
        variable = sum(struct.unpack_from("<HHH", header, 28))
        handle.seek(variable, os.SEEK_CUR)
        walked += 46 + variable
        count += 1
        if count > limit:
            raise FeedError(f"{what}: more than {limit:,} entries; refused")
    return count


@contextlib.contextmanager
def _open_bounded(path: Path, what: str, limits: ArchiveLimits) -> Iterator[zipfile.ZipFile]:
    with path.open("rb") as handle:
        counted = _count_entries(handle, limits.entries, what)
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            if len(archive.infolist()) != counted:
                raise FeedError(f"{what}: central directory read two ways gives two entry counts; refused")
            yield archive


def _kind(info: zipfile.ZipInfo, what: str) -> str:
    """'dir' or 'file'; FeedError for a symlink, a device or anything else zip can carry."""
    mode = info.external_attr >> 16
    file_type = stat.S_IFMT(mode)
    if info.flag_bits & 0x1:
        raise FeedError(f"{what}: entry {info.filename[:120]!r} is encrypted")
    if info.is_dir():
        if file_type not in (0, stat.S_IFDIR):
            raise FeedError(f"{what}: entry {info.filename[:120]!r} is not a directory")
        return "dir"
    if file_type not in (0, stat.S_IFREG):
        raise FeedError(f"{what}: entry {info.filename[:120]!r} is not a regular file (a symlink or device)")
    return "file"


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    if info.file_size > limit:
        raise FeedError(f"{what}: entry {info.filename[:120]} is larger than {limit:,} bytes; refused")
    with archive.open(info) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise FeedError(f"{what}: entry {info.filename[:120]} is larger than {limit:,} bytes; refused")
    return data


def _records(archive: zipfile.ZipFile, record: re.Pattern[str], directory: re.Pattern[str], what: str,
             limits: ArchiveLimits) -> Iterator[tuple[str, bytes]]:
    """(record file name, content) of every record of `archive`; FeedError for anything unexpected."""
    seen: set[str] = set()
    names: set[str] = set()
    total = 0
    for info in archive.infolist():
        if info.filename in names:
            raise FeedError(f"{what}: entry {info.filename[:120]!r} appears twice")
        names.add(info.filename)
        kind = _kind(info, what)
        if kind == "dir" and directory.fullmatch(info.filename):
            continue
        named = record.fullmatch(info.filename) if kind == "file" else None
        if named is None:
            if kind == "file" and _LIST.fullmatch(info.filename):
                continue
            raise FeedError(f"{what}: unexpected entry {info.filename[:120]!r}")
        if named.group(1) in seen:
            raise FeedError(f"{what}: record {named.group(1)} appears twice")
        seen.add(named.group(1))
        total += info.file_size
        if total > limits.unpacked_bytes:
            raise FeedError(f"{what}: unpacks to more than {limits.unpacked_bytes:,} bytes; refused")
        data = _read_entry(archive, info, limits.record_bytes, what)
        stripped = data.strip()
        if not stripped.startswith(b"{") or not stripped.endswith(b"}"):
            raise FeedError(f"{what}: record {info.filename[:120]} is not a JSON object")
        yield named.group(1), data


def record_path(name: str) -> str:
    """Where record `name` (CVE-YYYY-N.json) lives in the tree: `<year>/<N // 1000>xxx/`, as in cvelistV5."""
    named = re.fullmatch(_RECORD, name)
    if named is None:
        raise ValueError(name)
    return f"{named.group(1)}/{int(named.group(2)) // 1000}xxx/{name}"


def _write(target: Path, data: bytes, made: set[Path]) -> None:
    """`data` to `target`, making its directory unless it is in `made` (a few hundred for 300,000 records)."""
    if target.parent not in made:
        target.parent.mkdir(parents=True, exist_ok=True)
        made.add(target.parent)
    with target.open("wb") as output:
        output.write(data)


def _unpack_baseline(archive: Path, tree: Path, limits: ArchiveLimits) -> int:
    """Every record of a baseline into a new directory that then replaces `tree`; the records unpacked."""
    staging = tree.with_name(f".{tree.name}.unpacking")
    inner = tree.with_name(f".{tree.name}.{_INNER}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    try:
        with _open_bounded(archive, archive.name, limits) as outer:
            members = [info for info in outer.infolist() if not info.is_dir()]
            if [info.filename for info in members] != [_INNER]:
                raise FeedError(f"{archive.name}: expected one entry, {_INNER}; found "
                                f"{', '.join(info.filename[:60] for info in members[:5]) or 'none'}")
            _kind(members[0], archive.name)
            if members[0].file_size > limits.inner_bytes:
                raise FeedError(f"{archive.name}: {_INNER} is larger than {limits.inner_bytes:,} bytes; refused")
            with outer.open(members[0]) as source, inner.open("wb") as output:
                copied = 0
                while chunk := source.read(1 << 20):
                    copied += len(chunk)
                    if copied > limits.inner_bytes:
                        raise FeedError(f"{archive.name}: {_INNER} is larger than {limits.inner_bytes:,} bytes")
                    output.write(chunk)
        what = f"{archive.name}/{_INNER}"
        with _open_bounded(inner, what, limits) as records:
            made: set[Path] = set()
            for name, data in _records(records, _BASELINE_RECORD, _BASELINE_DIRECTORY, what, limits):
                _write(staging / record_path(name), data, made)
                count += 1
        replace_tree(staging, tree)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error, EOFError, OSError) as error:
        raise FeedError(f"{archive.name}: cannot unpack ({error})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        inner.unlink(missing_ok=True)
    return count


def _apply_delta(archive: Path, tree: Path, limits: ArchiveLimits) -> int:
    """Every record of a delta checked and written beside `tree`, then moved into it; the records applied."""
    staging = tree.with_name(f".{tree.name}.delta")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with _open_bounded(archive, archive.name, limits) as zipped:
            names = []
            for name, data in _records(zipped, _DELTA_RECORD, re.compile(r"deltaCves/"), archive.name, limits):
                _write(staging / name, data, {staging})
                names.append(name)
        for name in names:
            target = tree / record_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error, EOFError, OSError) as error:
        raise FeedError(f"{archive.name}: cannot unpack ({error})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(names)


def _download(client: HttpClient, asset: Asset, dest: Path, state: FetchState, max_bytes: int) -> FetchedFile:
    return fetch_file(client, asset.url, dest, f"cve5/{DOWNLOADS}/{asset.name}", state, _check_zip, max_bytes)


def _forget_older_downloads(dest: Path, state: FetchState, keep: set[str]) -> None:
    """Remove the downloads (and partial downloads) of assets other than `keep`, and their records."""
    for older in (dest / "cve5" / DOWNLOADS).iterdir():
        asset = older.name.removesuffix(".part.json").removesuffix(".part")
        if asset not in keep:
            older.unlink()
            state.files.pop(f"cve5/{DOWNLOADS}/{asset}", None)


def fetch_cve5(client: HttpClient, base_url: str, dest: Path, state: FetchState,
               items: Sequence[str]) -> list[FetchedFile]:
    del items
    base = base_url.rstrip("/")
    tag, baseline, delta = _assets(client.get_json(f"{base}/releases/latest"), base)
    tree = dest / TREE
    recorded = state.files.get(TREE)
    record: dict[str, Any] = dict(recorded) if isinstance(recorded, Mapping) else {}
    day = record.get("day") if tree.is_dir() else None
    fetched: list[FetchedFile] = []
    if baseline is not None and (record.get("baseline") != baseline.name or not isinstance(day, str)):
        download = _download(client, baseline, dest, state, LIMITS.baseline_bytes)
        count = _unpack_baseline(download.download.path, tree, LIMITS)
        record = {"baseline": baseline.name, "day": baseline.day, "release": tag}
        day = baseline.day
        _forget_older_downloads(dest, state, {baseline.name})
        state.files[TREE] = record
        state.save()
        fetched.append(FetchedFile(f"{TREE} ({baseline.name}: {count:,} records)", download.download))
    elif not isinstance(day, str):
        raise FeedError(f"cvelistV5 release {tag}: no baseline (YYYY-MM-DD_all_CVEs_at_midnight.zip) to start from; "
                        "run again after the next hourly release")
    if delta is not None and delta.day > day:
        raise FeedError(f"cvelistV5 release {tag}: changes since {delta.day}, but the tree is of {day} and the "
                        "release has no newer baseline; run again after the next hourly release")
    applied = record.get("delta")
    if delta is not None and delta.day == day and (not isinstance(applied, str) or delta.stamp > applied):
        download = _download(client, delta, dest, state, LIMITS.delta_bytes)
        count = _apply_delta(download.download.path, tree, LIMITS)
        record.update(delta=delta.stamp, release=tag)
        _forget_older_downloads(dest, state, {str(record.get("baseline")), delta.name})
        state.files[TREE] = record
        state.save()
        fetched.append(FetchedFile(f"{TREE} ({delta.name}: {count:,} records)", download.download))
    if not fetched:
        fetched.append(FetchedFile(f"{TREE} (release {tag})", Download(tree, False, Validators(), 0)))
    return fetched


SOURCE = FetchSource(
    "cve5", "Fetch cvelistV5's CVE JSON 5 records: the day's baseline zip (about 600 MB), then its hourly delta. "
    "Off unless given, since each new day downloads the whole baseline again.",
    CVELIST_API_URL, fetch_cve5, "cve5", on_by_default=False)
