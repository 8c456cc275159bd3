"""The squashed filesystem: an on-disk path index plus the content of requested files.

The index lives in a SQLite file in the image's spool directory, not in memory, so that an image
with millions of files costs disk pages rather than resident memory. Layers are applied in order:
whiteouts and opaque markers delete only rows of lower layers, and a non-directory that replaces a
lower directory removes what was below it.
"""

from __future__ import annotations

import functools
import io
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from scanner.image.filesystem import EntryKind, FileEntry, FileRequest, resolve_path
from scanner.image.source import FileWindow

_Answer = TypeVar("_Answer")
_KIND_CODES = {EntryKind.FILE: 0, EntryKind.DIR: 1, EntryKind.SYMLINK: 2, EntryKind.OTHER: 3}
_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
_BATCH = 4096
_LOOKUP_CACHE = 16384
_CACHED_PATH_CHARS = 1024
_PREFETCH_CHARS = 4 * 1024 * 1024  # prefixes fetched in one batch of resolutions


@dataclass(frozen=True, slots=True)
class IndexRow:
    path: str
    kind: EntryKind
    size: int
    mode: int
    target: str  # symlink target as stored
    hardlink: str  # for a hard link: the path whose data it shares ("" otherwise)
    layer: int


def _below(path: str) -> tuple[str, str]:
    """Bounds of the paths strictly under `path`: "/" sorts just before "0"."""
    return path + "/", path + "0"


class SquashIndex:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -16384;
            PRAGMA temp_store = FILE;
            CREATE TABLE entries (
                path TEXT PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,
                target TEXT NOT NULL, hardlink TEXT NOT NULL, layer INTEGER NOT NULL
            ) WITHOUT ROWID;
            BEGIN;
            """
        )
        self._pending: list[tuple[str, int, int, int, str, str, int]] = []
        self._pending_files: list[str] = []
        self._layer = 0
        # The most components of any symlink path ever added: deeper prefixes need no lookup. Symlinks
        # deleted later only make it an overestimate, which is safe.
        self.link_depth = 0

    def add(self, path: str, kind: EntryKind, size: int, mode: int, target: str, hardlink: str,
            layer: int) -> None:
        self._layer = layer
        self._pending.append((path, _KIND_CODES[kind], size, mode, target, hardlink, layer))
        if kind is not EntryKind.DIR:
            self._pending_files.append(path)
            if kind is EntryKind.SYMLINK:
                self.link_depth = max(self.link_depth, path.count("/") + 1)
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        if self._pending_files:
            # A non-directory replacing a lower directory hides everything that was under it.
            replaced = self._db.execute(
                "SELECT path FROM entries WHERE kind = 1 AND layer < ? AND path IN (SELECT value FROM json_each(?))",
                (self._layer, json.dumps(self._pending_files)),
            ).fetchall()
            for (path,) in replaced:
                self._delete_below(path, self._layer)
        self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)", self._pending)
        self._pending.clear()
        self._pending_files.clear()

    def _delete_below(self, path: str, layer: int) -> None:
        low, high = _below(path)
        self._db.execute("DELETE FROM entries WHERE path > ? AND path < ? AND layer < ?", (low, high, layer))

    def whiteout(self, path: str, layer: int) -> None:
        self._db.execute("DELETE FROM entries WHERE path = ? AND layer < ?", (path, layer))
        self._delete_below(path, layer)

    def opaque(self, directory: str, layer: int) -> None:
        if directory:
            self._delete_below(directory, layer)
        else:
            self._db.execute("DELETE FROM entries WHERE layer < ?", (layer,))

    def row(self, path: str) -> IndexRow | None:
        self.flush()
        found = self._db.execute("SELECT * FROM entries WHERE path = ?", (path,)).fetchone()
        return None if found is None else _to_row(found)

    def rows_of(self, paths: Iterable[str]) -> dict[str, IndexRow]:
        """The rows of those `paths` that exist: one query per batch instead of one per path."""
        self.flush()
        found: dict[str, IndexRow] = {}
        for batch in _batches(paths):
            for values in self._db.execute(
                    "SELECT * FROM entries WHERE path IN (SELECT value FROM json_each(?))", (json.dumps(batch),)):
                row = _to_row(values)
                found[row.path] = row
        return found

    def symlink_targets(self, paths: Iterable[str]) -> dict[str, str]:
        """Stored targets of those `paths` that are symlinks, batched like `rows_of`."""
        self.flush()
        found: dict[str, str] = {}
        for batch in _batches(paths):
            found.update(self._db.execute(
                "SELECT path, target FROM entries WHERE kind = 2 AND path IN (SELECT value FROM json_each(?))",
                (json.dumps(batch),)))
        return found

    def child_layer(self, path: str) -> int | None:
        """The layer of some entry under `path`: a directory the archive never listed itself."""
        low, high = _below(path)
        found = self._db.execute("SELECT layer FROM entries WHERE path > ? AND path < ? LIMIT 1", (low, high)).fetchone()
        return None if found is None else int(found[0])

    def symlink_target(self, path: str) -> str | None:
        found = self._db.execute("SELECT target FROM entries WHERE path = ? AND kind = 2", (path,)).fetchone()
        return None if found is None else str(found[0])

    def rows(self) -> Iterator[IndexRow]:
        self.flush()
        for found in self._db.execute("SELECT * FROM entries ORDER BY path"):
            yield _to_row(found)

    def count(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _batches(paths: Iterable[str]) -> Iterator[list[str]]:
    """Up to _BATCH paths and about _PREFETCH_CHARS characters each (hostile paths may be very long)."""
    batch: list[str] = []
    chars = 0
    for path in paths:
        batch.append(path)
        chars += len(path)
        if len(batch) >= _BATCH or chars >= _PREFETCH_CHARS:
            yield batch
            batch = []
            chars = 0
    if batch:
        yield batch


def _to_row(found: tuple[str, int, int, int, str, str, int]) -> IndexRow:
    return IndexRow(found[0], _KINDS[found[1]], found[2], found[3], found[4], found[5], found[6])


@dataclass(frozen=True, slots=True)
class Content:
    size: int
    data: bytes | None  # in memory; None when spooled
    offset: int = 0  # position in the spool file


class ContentStore:
    """Captured file contents: small ones in memory, the rest appended to one spool file."""

    def __init__(self, spool_path: Path, spool_threshold: int, memory_budget: int, total_budget: int) -> None:
        self._spool = open(spool_path, "w+b")  # noqa: SIM115 - closed by close()
        self._spool_size = 0
        self._threshold = spool_threshold
        self._memory_left = memory_budget
        self._total_left = total_budget

    def fits(self, size: int) -> bool:
        return size <= self._total_left

    def keep(self, head: bytes, rest: Iterable[bytes], size: int) -> Content:
        """Store `head` followed by the chunks of `rest` (together `size` bytes)."""
        self._total_left -= size
        if size <= self._threshold and size <= self._memory_left:
            self._memory_left -= size
            return Content(size, head + b"".join(rest))
        offset = self._spool_size
        self._spool.seek(offset)
        self._spool.write(head)
        for chunk in rest:
            self._spool.write(chunk)
        self._spool_size = offset + size
        return Content(size, None, offset)

    def open(self, content: Content) -> BinaryIO:
        if content.data is not None:
            return io.BytesIO(content.data)
        self._spool.flush()
        return io.BufferedReader(FileWindow(self._spool.fileno(), content.offset, content.size))

    def read(self, content: Content, limit: int = -1) -> bytes:
        if content.data is not None:
            return content.data if limit < 0 else content.data[:limit]
        with self.open(content) as stream:
            return stream.read(limit)

    def close(self) -> None:
        self._spool.close()


def _short_path_cache(lookup: Callable[[str], _Answer]) -> Callable[[str], _Answer]:
    """`lookup` with a bounded cache of its answers for paths of ordinary length.

    Hostile paths can be a megabyte long: those are answered uncached, so the cache stays small.
    """
    cached = functools.lru_cache(maxsize=_LOOKUP_CACHE)(lookup)

    def answer(path: str) -> _Answer:
        return cached(path) if len(path) <= _CACHED_PATH_CHARS else lookup(path)

    return answer


class SquashedFilesystem:
    """The `Filesystem` of an image read by `scanner.image.open_image`."""

    def __init__(self, index: SquashIndex, store: ContentStore, contents: dict[str, Content],
                 linked: Iterable[str], layer_digests: tuple[str, ...], hop_limit: int) -> None:
        self._index = index
        self._store = store
        self._contents = contents  # owned from now on: built fresh by the reader for this filesystem
        # Paths catalogers may be handed: captured files and requested symlinks to captured files.
        self._available = sorted({*self._contents, *linked})
        self._digests = layer_digests
        self._hop_limit = hop_limit
        # The index no longer changes: cache lookups, since resolving a path queries each of its prefixes.
        # The caches hold no reference to self (no cycle keeps a closed image's filesystem alive).
        self._row = _short_path_cache(index.row)
        self._symlink_target = _short_path_cache(index.symlink_target)
        self._resolve = _short_path_cache(functools.partial(
            resolve_path, symlink_target=self._symlink_target, hop_limit=hop_limit,
            max_link_depth=index.link_depth))

    @functools.cached_property
    def _known(self) -> dict[str, tuple[FileEntry | None, str | None]]:
        """Entry and resolved path of every available path, fetched in batches on first use.

        Catalogers ask about these paths over and over (`captured`, then `read_bytes` and `entry` of
        each): answering from memory saves several SQLite queries per call. Its size (about 0.25 KiB a
        path) follows the number of captured files, not the number of files in the image.
        """
        known: dict[str, tuple[FileEntry | None, str | None]] = {}
        for paths in _batches(self._available):
            rows = self._index.rows_of(paths)
            links = self._prefix_links(paths)

            def symlink_target(candidate: str, links: dict[str, str | None] = links) -> str | None:
                return links[candidate] if candidate in links else self._symlink_target(candidate)

            for path in paths:
                row = rows.get(path)
                target = resolve_path(path, symlink_target, self._hop_limit, self._index.link_depth)
                # Keys' own strings are reused: the index hands back copies of the same text.
                known[path] = (None if row is None else self._entry(row, path), path if target == path else target)
        return known

    def _prefix_links(self, paths: list[str]) -> dict[str, str | None]:
        """For the prefixes of `paths` that resolution may look up: symlink target or None.

        Bounded by a character budget, so that hostile deep paths cannot make it large: prefixes
        beyond it are simply looked up one at a time during resolution.
        """
        depth = self._index.link_depth
        prefixes: set[str] = set()
        budget = _PREFETCH_CHARS
        for path in paths:
            prefix = ""
            for part in path.split("/", depth)[:depth]:
                prefix = f"{prefix}/{part}" if prefix else part
                if prefix not in prefixes:
                    prefixes.add(prefix)
                    budget -= len(prefix)
                    if budget < 0:
                        break
            if budget < 0:
                break
        targets = self._index.symlink_targets(prefixes)
        return {prefix: targets.get(prefix) for prefix in prefixes}

    def _entry(self, row: IndexRow, path: str = "") -> FileEntry:
        digest = self._digests[row.layer] if row.layer < len(self._digests) else ""
        return FileEntry(path or row.path, row.kind, row.size, row.mode, row.target, row.layer, digest)

    def entry(self, path: str) -> FileEntry | None:
        known = self._known.get(path)
        if known is not None and known[0] is not None:
            return known[0]
        row = self._row(path) if known is None else None
        if row is not None:
            return self._entry(row)
        layer = self._index.child_layer(path) if path else None
        if layer is None:
            return None
        return FileEntry(path, EntryKind.DIR, 0, 0o755, "", layer, self._digests[layer])

    def entries(self) -> Iterator[FileEntry]:
        for row in self._index.rows():
            yield self._entry(row)

    def resolve(self, path: str) -> str | None:
        known = self._known.get(path)
        return self._resolve(path) if known is None else known[1]

    def _content(self, path: str) -> tuple[str, Content] | None:
        target = self.resolve(path)
        if target is None:
            return None
        content = self._contents.get(target)
        return None if content is None else (target, content)

    def captured(self, request: FileRequest) -> Iterator[str]:
        known = self._known
        for path in filter(request.matches_path, self._available):  # most belong to other requests
            entry, target = known[path]
            if entry is None or not request.matches_kind(entry) or target is None:
                continue
            content = self._contents.get(target)
            if content is None or content.size > request.max_size:
                continue
            if request.magic and not self._store.read(content, len(request.magic)).startswith(request.magic):
                continue
            if request.executable_only:
                target_entry = self.entry(target)
                if target_entry is None or not target_entry.is_executable:
                    continue
            yield path

    def read_bytes(self, path: str) -> bytes:
        found = self._content(path)
        if found is None:
            raise KeyError(path)
        return self._store.read(found[1])

    def open(self, path: str) -> BinaryIO:
        found = self._content(path)
        if found is None:
            raise KeyError(path)
        return self._store.open(found[1])
