"""The contract between image readers and catalogers.

A cataloger declares `FileRequest`s; a reader delivers a `Filesystem` holding the squashed
image's metadata for every path and the content of requested files only. Paths are POSIX,
relative to the image root, without a leading "/" or "./" ("etc/os-release").
"""

from __future__ import annotations

import enum
import io
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import BinaryIO, Protocol

DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024
SYMLINK_HOP_LIMIT = 40


class EntryKind(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"  # devices, fifos: metadata only, never content


@dataclass(frozen=True)
class FileEntry:
    path: str
    kind: EntryKind
    size: int = 0
    mode: int = 0o644
    link_target: str = ""  # symlink target as stored in the archive (may be absolute or relative)
    layer_index: int = 0
    layer_digest: str = ""

    @property
    def is_executable(self) -> bool:
        return self.kind is EntryKind.FILE and bool(self.mode & 0o111)


def _glob_to_regex(pattern: str) -> str:
    """`**` matches any number of path segments (including none), `*` and `?` stay inside one segment."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def patterns_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    """One compiled regex matching a path against any of the globs (whole path, `match` from the start)."""
    # The alternation is grouped so that \Z anchors every pattern, not only the last one.
    return re.compile("(?:" + "|".join(f"(?:{_glob_to_regex(p)})" for p in patterns) + r")\Z")


def literal_ends(patterns: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tails, heads): a path a pattern matches ends with its literal tail (after its last wildcard), or, for
    a pattern ending in a wildcard, starts with its literal head (before its first)."""
    tails: set[str] = set()
    heads: set[str] = set()
    for pattern in patterns:
        tail = re.split(r"[*?]", pattern)[-1]
        if tail:
            tails.add(tail)
        else:
            heads.add(re.split(r"[*?]", pattern)[0])
    return tuple(sorted(tails)), tuple(sorted(heads))


@dataclass(frozen=True)
class FileRequest:
    """Files a cataloger wants the content of.

    `patterns` are globs over image paths. `magic`, when set, keeps only files whose content
    starts with those bytes (ELF executables: b"\\x7fELF"); `executable_only` keeps only files
    with an execute bit. Files over `max_size` are recorded as skipped, not read.
    """

    patterns: tuple[str, ...]
    max_size: int = DEFAULT_MAX_FILE_SIZE
    magic: bytes = b""
    executable_only: bool = False

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The patterns' `patterns_regex`."""
        return patterns_regex(self.patterns)

    @cached_property
    def literal_ends(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The patterns' `literal_ends`: a path this request may match ends with a tail or starts with a head."""
        return literal_ends(self.patterns)

    def matches_path(self, path: str) -> bool:
        # str.endswith and startswith reject most paths far faster than the regex, whose `**/` may backtrack.
        tails, heads = self.literal_ends
        return (path.endswith(tails) or path.startswith(heads)) and self.regex.match(path) is not None

    def matches_kind(self, entry: FileEntry) -> bool:
        """The entry's kind and mode suit the request (its path is not looked at)."""
        if entry.kind is not EntryKind.FILE and entry.kind is not EntryKind.SYMLINK:
            return False
        return not (self.executable_only and entry.kind is EntryKind.FILE and not entry.is_executable)

    def matches(self, entry: FileEntry) -> bool:
        return self.matches_kind(entry) and self.matches_path(entry.path)


def clean_path(name: str) -> str | None:
    """A tar member's name as an image path, read as the runtimes' Go code reads it on Linux.

    "/" is the only separator (a backslash is part of a name); leading "/", "." and empty components
    are dropped and ".." removes the component before it. None for the root itself; ValueError when
    ".." climbs above the root, where the runtimes disagree (containerd and umoci stop at the root,
    docker refuses the layer).
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ValueError(f"{name!r} climbs above the root")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts) if parts else None


def normalize_path(name: str) -> str | None:
    """A path from a package database, a zip entry or a manifest as an image path; None when it escapes
    the root or is empty. Like `clean_path`, with "\\" a separator too (paths written on Windows).

    The names nearly all are (after one leading "/", no backslash and no empty, "." or ".." component)
    already are image paths: they are answered without that work, which catalogers pay per listed file.
    """
    plain = name[1:] if name[:1] == "/" else name
    if (plain and plain[0] not in "/." and plain[-1] != "/" and "//" not in plain and "/." not in plain
            and "\\" not in plain):
        return plain
    try:
        return clean_path(name.replace("\\", "/"))
    except ValueError:
        return None


def link_depth(symlink_paths: Iterable[str]) -> int:
    """The most components any of these symlink paths has: no longer prefix can be a symlink."""
    return max((path.count("/") + 1 for path in symlink_paths), default=0)


def resolve_path(
    path: str,
    symlink_target: Callable[[str], str | None],
    hop_limit: int = SYMLINK_HOP_LIMIT,
    max_link_depth: int | None = None,
) -> str | None:
    """Follow symlinks inside the image root only.

    `symlink_target(p)` returns the stored target of p when p is a symlink, else None.
    Absolute targets are taken relative to the image root, ".." never climbs above it, and
    more than `hop_limit` hops (a loop) gives None. Every directory component is resolved too,
    except those deeper than `max_link_depth` components (when given: see `link_depth`), which
    cannot be symlinks and are not looked up.
    """
    hops = 0
    pending = [p for p in path.split("/") if p not in ("", ".")]
    pending.reverse()
    resolved: list[str] = []
    # "/".join(resolved) as deep as lookups go (depth_limit components), extended or cut one component
    # at a time rather than rejoined from every component at each step; components deeper than any
    # symlink are not looked up at all, so a path of n components costs O(n) beyond that depth.
    prefix = ""
    depth_limit = sys.maxsize if max_link_depth is None else max_link_depth
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                if len(resolved) <= depth_limit:
                    prefix = prefix.rpartition("/")[0]
                resolved.pop()
            continue
        if len(resolved) >= depth_limit:
            resolved.append(part)
            continue
        candidate = f"{prefix}/{part}" if resolved else part
        target = symlink_target(candidate)
        if target is None:
            resolved.append(part)
            prefix = candidate
            continue
        hops += 1
        if hops > hop_limit:
            return None
        if target.startswith("/"):
            resolved = []
            prefix = ""
        pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
    return "/".join(resolved)


class Filesystem(Protocol):
    """The squashed final filesystem of an image, as catalogers see it."""

    def entry(self, path: str) -> FileEntry | None:
        """Metadata of `path` itself (a symlink is not followed); None when absent."""
        ...

    def entries(self) -> Iterator[FileEntry]:
        """Every entry of the final filesystem, in path order."""
        ...

    def resolve(self, path: str) -> str | None:
        """`path` with every symlink followed inside the root; None for loops."""
        ...

    def captured(self, request: FileRequest) -> Iterator[str]:
        """Paths matching `request` whose content (after following symlinks) is available, sorted."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """Content of a captured file (symlinks followed). KeyError when it was not captured."""
        ...

    def open(self, path: str) -> BinaryIO:
        """A seekable binary stream over a captured file; large files come from a spool file, not memory."""
        ...


@dataclass
class MemoryFilesystem:
    """A `Filesystem` built from plain dicts: for tests and for catalogers run on extracted data."""

    files: Mapping[str, bytes] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    layer_of: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # path -> (index, digest)
    modes: Mapping[str, int] = field(default_factory=dict)

    def _layer(self, path: str) -> tuple[int, str]:
        return self.layer_of.get(path, (0, "sha256:" + "0" * 64))

    def entry(self, path: str) -> FileEntry | None:
        index, digest = self._layer(path)
        if path in self.files:
            return FileEntry(path, EntryKind.FILE, len(self.files[path]), self.modes.get(path, 0o644), "",
                             index, digest)
        if path in self.symlinks:
            return FileEntry(path, EntryKind.SYMLINK, 0, 0o777, self.symlinks[path], index, digest)
        prefix = path + "/"
        if any(p.startswith(prefix) for p in self._all_paths()):
            return FileEntry(path, EntryKind.DIR, 0, 0o755, "", index, digest)
        return None

    def _all_paths(self) -> Iterable[str]:
        yield from self.files
        yield from self.symlinks

    def entries(self) -> Iterator[FileEntry]:
        paths = set(self._all_paths())
        for p in list(paths):
            parent = posixpath.dirname(p)
            while parent:
                paths.add(parent)
                parent = posixpath.dirname(parent)
        for p in sorted(paths):
            found = self.entry(p)
            if found is not None:
                yield found

    def resolve(self, path: str) -> str | None:
        return resolve_path(path, self.symlinks.get, max_link_depth=link_depth(self.symlinks))

    def captured(self, request: FileRequest) -> Iterator[str]:
        for path in sorted(self._all_paths()):
            found = self.entry(path)
            if found is None or not request.matches(found):
                continue
            target = self.resolve(path)
            if target is None or target not in self.files:
                continue
            content = self.files[target]
            if len(content) > request.max_size or not content.startswith(request.magic):
                continue
            if request.executable_only and not self.modes.get(target, 0o644) & 0o111:
                continue
            yield path

    def read_bytes(self, path: str) -> bytes:
        target = self.resolve(path)
        if target is None or target not in self.files:
            raise KeyError(path)
        return self.files[target]

    def open(self, path: str) -> BinaryIO:
        return io.BytesIO(self.read_bytes(path))
