"""The squashed filesystem: an on-disk path index plus the content of requested files.

The index lives in a SQLite file in the image's spool directory, not in memory, so that an image
with millions of files costs disk pages rather than resident memory. Layers are applied in order:
whiteouts and opaque markers delete only rows of lower layers, and a non-directory that replaces a
lower directory removes what was below it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import marshal
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from scanner.errors import ImageError
from scanner.image.filesystem import EntryKind, FileEntry, FileRequest, resolve_path
from scanner.image.source import FileWindow
from scanner.image.tarstream import TarMember

_Answer = TypeVar("_Answer")
_KIND_CODES = {EntryKind.FILE: 0, EntryKind.DIR: 1, EntryKind.SYMLINK: 2, EntryKind.OTHER: 3}
_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
_DIR_CODE, _SYMLINK_CODE = _KIND_CODES[EntryKind.DIR], _KIND_CODES[EntryKind.SYMLINK]
_BATCH = 4096
_LOOKUP_CACHE = 16384
_CACHED_PATH_CHARS = 1024
_PREFETCH_CHARS = 4 * 1024 * 1024  # prefixes fetched in one batch of resolutions
_LINK_FILTER_BYTES = 1 << 20  # 8 Mi bits
_LINK_FILTER_MASK = (_LINK_FILTER_BYTES << 3) - 1
# What placing members remembers (`resolve_parent`, replaced subtrees): a few MiB whatever the paths.
_PLAIN_CHARS = 4 * 1024 * 1024
_PLAIN_KEYS = 1 << 18
_PLACEMENT_CACHE_ENTRIES = 8192


NO_DATA = -1  # data_layer of rows that are not files


@dataclass(frozen=True, slots=True)
class IndexRow:
    path: str
    kind: EntryKind
    size: int
    mode: int
    target: str  # symlink target as stored
    layer: int
    # Where a file's bytes are: the layer whose blob holds them and their offset in its uncompressed
    # stream. A hard link shares its target's; a layer listed again refers to its first position.
    data_layer: int
    data_offset: int


class IndexLimitError(ImageError):
    """The index reached a cap (`max_index_bytes`, `max_link_lookups`); the reader adds where it happened."""


def _below(path: str) -> tuple[str, str]:
    """Bounds of the paths strictly under `path`: "/" sorts just before "0"."""
    return path + "/", path + "0"


def _text_cap_error(cap: int) -> IndexLimitError:
    return IndexLimitError(f"more than {cap} bytes of paths to index (max_index_bytes); not read further")


def _prefix_keys(parts: list[str], key: int = 0) -> list[int]:
    """A key per prefix of a path split into components, in time linear in its length (no prefix strings).

    From `key`, the key of a directory, they are the keys of the paths `parts` make under it.
    """
    keys = []
    for part in parts:
        key = hash((key, part))
        keys.append(key)
    return keys


class SquashIndex:
    def __init__(self, path: Path, max_text_bytes: int, max_link_lookups: int) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -16384;
            PRAGMA temp_store = FILE;
            CREATE TABLE entries (
                path TEXT PRIMARY KEY, kind INTEGER NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,
                target TEXT NOT NULL, layer INTEGER NOT NULL, data_layer INTEGER NOT NULL,
                data_offset INTEGER NOT NULL
            ) WITHOUT ROWID;
            BEGIN;
            """
        )
        self._pending: list[tuple[str, int, int, int, str, int, int, int]] = []
        self._pending_files: list[str] = []
        self._pending_text = 0  # characters in _pending: batches are bounded in memory, not only in rows
        self._layer = 0
        # Non-directories of this layer whose lower subtree is already removed: never looked at again.
        self._cleared: set[str] = set()
        self._text_left = max_text_bytes
        self._text_cap = max_text_bytes
        # The most components of any symlink path ever added: deeper prefixes need no lookup. Symlinks
        # deleted later only make it an overestimate, which is safe.
        self.link_depth = 0
        # For placing members (`resolve_parent`). Which paths may be symlinks: a bit per key of every
        # symlink path added, fixed in size (a false "maybe" costs one exact lookup per directory).
        self._maybe_links = bytearray(_LINK_FILTER_BYTES)
        # Directories with no symlink among their prefixes, by name and by the keys of all their prefixes
        # (so that a symlink added at one of those prefixes is noticed): most members need no lookup.
        # A directory maps to its own key, from which its subdirectories' keys follow in one step.
        self._plain_dirs: dict[str, int] = {}
        self._plain_keys: set[int] = set()
        self._plain_chars = 0
        # Directories that do go through a symlink -> where they lead, until any symlink may have changed.
        self._resolved: dict[str, str] = {}
        self._lookups_left = max_link_lookups
        self._lookups_cap = max_link_lookups

    def add(self, path: str, kind: EntryKind, size: int, mode: int, target: str, layer: int,
            data_layer: int = NO_DATA, data_offset: int = 0) -> None:
        if layer != self._layer:
            self._layer = layer
            self._cleared.clear()
        code = _KIND_CODES[kind]
        self._pending_text += len(path) + len(target)
        self._pending.append((path, code, size, mode, target, layer, data_layer, data_offset))
        if code == _SYMLINK_CODE:
            self.link_depth = max(self.link_depth, path.count("/") + 1)
            key = _prefix_keys(path.split("/"))[-1]
            slot = key & _LINK_FILTER_MASK
            self._maybe_links[slot >> 3] |= 1 << (slot & 7)
            if key in self._plain_keys:  # directories under it now lead elsewhere
                self._forget_plain()
            self._resolved.clear()
        elif self._resolved and self._maybe_symlink(_prefix_keys(path.split("/"))[-1]):
            self._resolved.clear()  # a symlink replaced
        if code != _DIR_CODE:
            self._pending_files.append(path)
        if len(self._pending) >= _BATCH or self._pending_text >= _PREFETCH_CHARS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        self._text_left -= self._pending_text
        self._pending_text = 0
        if self._text_left < 0:
            raise _text_cap_error(self._text_cap)
        fresh = set(self._pending_files).difference(self._cleared)
        if fresh:
            # A non-directory replacing a lower directory hides everything that was under it, whether a
            # layer listed that directory or only files in it (runtimes remove the whole tree first).
            replaced = self._db.execute(
                "SELECT value FROM json_each(?) WHERE EXISTS "
                "(SELECT 1 FROM entries WHERE path > value || '/' AND path < value || '0')",
                (json.dumps(list(fresh)),),
            ).fetchall()
            if len(self._cleared) + len(replaced) > _PLACEMENT_CACHE_ENTRIES:
                self._cleared.clear()
            for (path,) in replaced:
                self._delete_below(path, self._layer)
                if len(path) <= _CACHED_PATH_CHARS:
                    self._cleared.add(path)
                self._resolved.clear()  # symlinks below it may be gone
        self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._pending)
        self._pending.clear()
        self._pending_files.clear()

    def _delete_below(self, path: str, layer: int) -> None:
        low, high = _below(path)
        self._db.execute("DELETE FROM entries WHERE path > ? AND path < ? AND layer < ?", (low, high, layer))

    def whiteout(self, path: str, layer: int) -> None:
        self._resolved.clear()
        self._db.execute("DELETE FROM entries WHERE path = ? AND layer < ?", (path, layer))
        self._delete_below(path, layer)

    def opaque(self, directory: str, layer: int) -> None:
        self._resolved.clear()
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

    def resolve_parent(self, path: str, hop_limit: int) -> str | None:
        """Where a member named `path` lands: its directories resolved through the symlinks indexed so far,
        the last component not followed, as runtimes place it (umoci and containerd resolve the parent
        inside the root, then create the entry there). None when the symlinks loop.

        Symlink lookups made here are counted against `max_link_lookups` (IndexLimitError beyond).
        """
        parent, _, base = path.rpartition("/")
        if not parent or parent in self._plain_dirs:
            return path
        resolved = self._resolved.get(parent)
        if resolved is None:
            if not self._links_among_prefixes(parent):
                return path
            resolved = resolve_path(parent, self._counted_symlink_target, hop_limit, self.link_depth)
            if resolved is None:
                return None
            if len(self._resolved) >= _PLACEMENT_CACHE_ENTRIES:
                self._resolved.clear()
            if len(parent) + len(resolved) <= _CACHED_PATH_CHARS:
                self._resolved[parent] = resolved
        return f"{resolved}/{base}" if resolved else base

    def _maybe_symlink(self, key: int) -> bool:
        slot = key & _LINK_FILTER_MASK
        return bool(self._maybe_links[slot >> 3] & (1 << (slot & 7)))

    def _links_among_prefixes(self, directory: str) -> bool:
        """Whether a prefix of `directory` (itself included) is a symlink now; remembered when none is."""
        parent, _, base = directory.rpartition("/")
        parent_key = self._plain_dirs.get(parent) if parent else None
        if parent_key is None:
            depth, keys = 0, _prefix_keys(directory.split("/"))
        else:  # the parent's prefixes are plain, their keys kept: only the directory itself is new
            depth, keys = directory.count("/"), _prefix_keys([base], parent_key)
        candidates = [count for count, key in enumerate(keys[:max(0, self.link_depth - depth)], depth + 1)
                      if key not in self._plain_keys and self._maybe_symlink(key)]
        if candidates:
            self.flush()
            parts = directory.split("/")
            if any(self._counted_symlink_target("/".join(parts[:count])) is not None for count in candidates):
                return True
        if self._plain_chars > _PLAIN_CHARS or len(self._plain_keys) > _PLAIN_KEYS:
            self._forget_plain()
            if depth:  # the parent's keys are gone with it
                keys = _prefix_keys(directory.split("/"))
        self._plain_dirs[directory] = keys[-1]
        self._plain_keys.update(keys)
        self._plain_chars += len(directory)
        return False

    def _forget_plain(self) -> None:
        self._plain_dirs.clear()
        self._plain_keys.clear()
        self._plain_chars = 0

    def _counted_symlink_target(self, path: str) -> str | None:
        self._lookups_left -= 1
        if self._lookups_left < 0:
            raise IndexLimitError(f"more than {self._lookups_cap} symlink lookups placing members under "
                                  "symlinked directories (max_link_lookups); not read further")
        return self.symlink_target(path)

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


def _to_row(found: tuple[str, int, int, int, str, int, int, int]) -> IndexRow:
    return IndexRow(found[0], _KINDS[found[1]], found[2], found[3], found[4], found[5], found[6], found[7])


@contextlib.contextmanager
def _spool_writes(path: Path) -> Iterator[None]:
    """A failed write to a spool file (a full disk) as an ImageError naming the file."""
    try:
        yield
    except OSError as error:
        raise ImageError(f"{path}: cannot write to the spool ({error.strerror}); "
                         "free space there or point TMPDIR elsewhere") from None


class MemberLog:
    """The tar members of layer blobs an image lists more than once, in order, kept on disk.

    Applying such a blob again at a later position replays its members through the same indexing
    as the first pass (whiteouts, replacements and hard links resolve against the index of that
    moment), without decompressing or parsing the blob again. A replayed member carries its image
    path instead of its name and no sparse map: its content, if wanted, was captured by the first
    pass and is found by where it is stored, never read again. Members are appended in batches of
    marshalled tuples to one file of the spool directory (ours alone: nothing else writes there).
    """

    def __init__(self, path: Path, max_text_bytes: int) -> None:
        self._path = path
        with _spool_writes(path):
            self._file = open(path, "w+b")  # noqa: SIM115 - closed by close()
        self._size = 0
        self._batches: dict[int, list[tuple[int, int]]] = {}  # blob -> (offset, length) of its batches
        self._pending: list[tuple[str, bytes, int, int, bytes, int, int]] = []
        self._pending_blob = -1
        self._pending_text = 0
        self._text_left = max_text_bytes
        self._text_cap = max_text_bytes

    def record(self, blob: int, path: str, member: TarMember) -> None:
        if blob != self._pending_blob:
            self._flush()
            self._pending_blob = blob
        text = len(path) + len(member.linkname)
        self._text_left -= text
        if self._text_left < 0:
            raise _text_cap_error(self._text_cap)
        self._pending.append((path, member.type, member.size, member.mode, member.linkname, member.offset,
                              member.stored))
        self._pending_text += text
        if len(self._pending) >= _BATCH or self._pending_text >= _PREFETCH_CHARS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = marshal.dumps(self._pending)
        with _spool_writes(self._path):
            os.pwrite(self._file.fileno(), data, self._size)
        self._batches.setdefault(self._pending_blob, []).append((self._size, len(data)))
        self._size += len(data)
        self._pending.clear()
        self._pending_text = 0

    def members(self, blob: int) -> Iterator[tuple[str, TarMember]]:
        """(path, member) as recorded for `blob`, in order."""
        self._flush()
        for offset, length in self._batches.get(blob, []):
            for path, kind, size, mode, linkname, data_offset, stored in marshal.loads(
                    os.pread(self._file.fileno(), length, offset)):
                yield path, TarMember(name=b"", type=kind, size=size, mode=mode, linkname=linkname,
                                      offset=data_offset, stored=stored)

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True, slots=True)
class Content:
    size: int
    data: bytes | None  # in memory; None when spooled
    offset: int = 0  # position in the spool file


class ContentStore:
    """Captured file contents: small ones in memory, the rest appended to one spool file."""

    def __init__(self, spool_path: Path, spool_threshold: int, memory_budget: int, total_budget: int) -> None:
        self._path = spool_path
        with _spool_writes(spool_path):
            self._spool = open(spool_path, "w+b")  # noqa: SIM115 - closed by close()
        self._spool_size = 0
        self._threshold = spool_threshold
        self._memory_left = memory_budget
        self._total_left = total_budget
        self.total_budget = total_budget

    def fits(self, size: int) -> bool:
        return size <= self._total_left

    def keep(self, head: bytes, rest: Iterable[bytes], size: int) -> Content:
        """Store `head` followed by the chunks of `rest` (together `size` bytes).

        ImageError naming the spool file when it cannot be written (a full disk).
        """
        self._total_left -= size
        if size <= self._threshold and size <= self._memory_left:
            self._memory_left -= size
            return Content(size, head + b"".join(rest))
        offset = self._spool_size
        with _spool_writes(self._path):
            self._spool.seek(offset)
        # Only the writes are wrapped: an OSError while reading the chunks is the image's, not the spool's.
        for chunk in itertools.chain((head,), rest):
            with _spool_writes(self._path):
                self._spool.write(chunk)
        with _spool_writes(self._path):
            self._spool.flush()
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
        self._captured: dict[FileRequest, tuple[str, ...]] = {}
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

    @functools.cached_property
    def _by_name(self) -> dict[str, list[str]]:
        """The available paths by base name, each list in path order."""
        names: dict[str, list[str]] = {}
        for path in self._available:
            names.setdefault(path.rpartition("/")[2], []).append(path)
        return names

    def _candidates(self, request: FileRequest) -> Iterable[str]:
        """Available paths the request may match, in path order: found by base name when every pattern
        ends in a literal one (`**/*.dist-info/METADATA`), else all of them."""
        names = [pattern.rpartition("/")[2] for pattern in request.patterns]
        if any("*" in name or "?" in name for name in names):
            return self._available
        return sorted({path for name in names for path in self._by_name.get(name, ())})

    def captured(self, request: FileRequest) -> Iterator[str]:
        # Answered once per request (the Go and Rust catalogers ask for the same executables).
        found = self._captured.get(request)
        if found is None:
            found = self._captured[request] = tuple(self._find_captured(request))
        return iter(found)

    def _find_captured(self, request: FileRequest) -> Iterator[str]:
        known = self._known
        for path in filter(request.matches_path, self._candidates(request)):
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
