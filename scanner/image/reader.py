"""`open_image`: read an image archive in one streaming pass per layer into a squashed filesystem."""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from scanner.errors import ImageError
from scanner.image.filesystem import EntryKind, FileRequest, normalize_path, patterns_regex, resolve_path
from scanner.image.limits import Limits
from scanner.image.manifests import DOCKER_LAYER_TYPES, ImagePlan, LayerRef, plan_image
from scanner.image.metadata import ImageMetadata, LayerInfo
from scanner.image.source import DirectorySource, Source, open_source
from scanner.image.squash import Content, ContentStore, SquashedFilesystem, SquashIndex
from scanner.image.tarstream import (
    DIRECTORY,
    HARDLINK,
    REGULAR_TYPES,
    SYMLINK,
    Budget,
    LayerStream,
    TarMember,
    iter_members,
)

_OPAQUE = ".wh..wh..opq"
_WHITEOUT = ".wh."
_COPY_CHUNK = 1024 * 1024
_ROW_BATCH = 4096


class _Warnings:
    """Logged skips: the first `cap` verbatim, the rest counted."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._kept: list[str] = []
        self._dropped = 0

    def add(self, message: str) -> None:
        if len(self._kept) < self._cap:
            self._kept.append(message)
        else:
            self._dropped += 1

    def result(self) -> tuple[str, ...]:
        more = (f"... and {self._dropped} more warnings",) if self._dropped else ()
        return (*self._kept, *more)


@dataclass(frozen=True, slots=True)
class _Prefilter:
    """Whether any of a group of patterns may match a path: a superset test, exact once a regex runs.

    A path matching a glob ends with the glob's literal tail (after its last wildcard) and starts with
    its literal head (before its first). Patterns without a tail are kept by their head, which is
    "" for a bare `**`: then every path goes on to the regexes, as before.
    """

    tails: tuple[str, ...]
    heads: tuple[str, ...]
    names: re.Pattern[str] | None  # over the base name, for patterns whose last segment is literal-ish
    full: re.Pattern[str] | None  # over the whole path, for the others

    @classmethod
    def of(cls, requests: Sequence[FileRequest]) -> _Prefilter:
        names: set[str] = set()
        full: set[str] = set()
        tails: set[str] = set()
        heads: set[str] = set()
        for pattern in (p for r in requests for p in r.patterns):
            last = pattern.rsplit("/", 1)[-1]
            if "**" in last or not last.strip("*?"):
                full.add(pattern)
            else:
                names.add(last)
            tail = re.split(r"[*?]", pattern)[-1]
            if tail:
                tails.add(tail)
            else:
                heads.add(re.split(r"[*?]", pattern)[0])
        return cls(tuple(sorted(tails)), tuple(sorted(heads)),
                   patterns_regex(sorted(names)) if names else None, patterns_regex(sorted(full)) if full else None)

    def hit(self, path: str) -> bool:
        if not (path.endswith(self.tails) or path.startswith(self.heads)):
            return False
        return (self.names is not None and self.names.match(path.rpartition("/")[2]) is not None) or (
            self.full is not None and self.full.match(path) is not None)


class _Matcher:
    """Which requests want a path, tuned for millions of calls.

    Most patterns end in a literal-ish name (`**/*.jar`, `var/lib/dpkg/status`): one regex over the
    base name rejects nearly every path cheaply. Patterns ending in a bare wildcard (`status.d/*`)
    go into one full-path regex; they start with literal directories, so mismatches fail fast.
    Before either regex, `str.endswith`/`str.startswith` over the patterns' literal tails and heads
    (`_Prefilter`) turn away almost every path without building its base name.
    """

    def __init__(self, requests: Sequence[FileRequest]) -> None:
        self._requests = tuple(requests)
        self._any_file = _Prefilter.of([r for r in requests if not r.executable_only])
        self._executables = _Prefilter.of([r for r in requests if r.executable_only])

    def wanted(self, path: str, executable: bool) -> tuple[FileRequest, ...]:
        if not (self._any_file.hit(path) or (executable and self._executables.hit(path))):
            return ()
        return tuple(r for r in self._requests
                     if (executable or not r.executable_only) and r.matches_path(path))


@dataclass
class _Pass:
    """State shared by every layer pass of one `open_image` call."""

    source: Source
    limits: Limits
    matcher: _Matcher
    index: SquashIndex
    store: ContentStore
    warnings: _Warnings
    budget: Budget
    entries: int = 0
    contents: dict[str, tuple[int, Content]] = field(default_factory=dict)  # path -> (layer, content)
    requested_links: list[tuple[str, int]] = field(default_factory=list)
    # layer -> path with the data -> (paths to give the content to, size cap)
    needed: dict[int, dict[str, tuple[set[str], int]]] = field(default_factory=dict)

    def need(self, layer: int, origin: str, alias: str, cap: int) -> None:
        aliases, old_cap = self.needed.setdefault(layer, {}).get(origin, (set(), 0))
        aliases.add(alias)
        self.needed[layer][origin] = (aliases, max(old_cap, cap))


def _layer_label(source: Source, index: int, ref: LayerRef) -> str:
    return f"{source.description}: layer {index} ({ref.name})"


def _chunks(stream: LayerStream, size: int, label: str, path: str) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = stream.read(min(left, _COPY_CHUNK))
        if not chunk:
            raise ImageError(f"{label}: truncated tar member {path!r}")
        left -= len(chunk)
        yield chunk


def _capture(run: _Pass, stream: LayerStream, member: TarMember, path: str, cap: int,
             magics: tuple[bytes, ...], label: str) -> Content | None:
    if member.size > cap:
        run.warnings.add(f"{label}: {path} not read: {member.size} bytes is over the {cap}-byte cap")
        return None
    if not run.store.fits(member.size):
        run.warnings.add(f"{label}: {path} not read: captured content exceeds the total cap")
        return None
    head = b""
    if magics:
        wanted = min(member.size, max(len(m) for m in magics))
        head = stream.read(wanted)
        if len(head) < wanted:
            raise ImageError(f"{label}: truncated tar member {path!r}")
        if not any(head.startswith(m) for m in magics):
            return None
    return run.store.keep(head, _chunks(stream, member.size - len(head), label, path), member.size)


def _member_path(run: _Pass, member: TarMember, label: str) -> str | None:
    """The member's image path: `normalize_path`, with a fast path for the usual clean relative name."""
    try:
        text = member.name.decode("utf-8")
    except UnicodeDecodeError:
        run.warnings.add(f"{label}: skipped member with a non-UTF-8 name {member.name[:120]!r}")
        return None
    name = text[2:] if text.startswith("./") else text
    name = name.rstrip("/")
    if name and not name.startswith((".", "/")) and "//" not in name and "/." not in name and "\\" not in name:
        return name
    path = normalize_path(name)
    if path is None and text.strip("./"):
        run.warnings.add(f"{label}: skipped member {text[:200]!r} whose path leaves the image root")
    return path


def _index_member(run: _Pass, stream: LayerStream, member: TarMember, path: str, layer: int, label: str) -> None:
    index = run.index
    # A whiteout's base name starts with ".wh.": the substring test spares splitting every other path.
    if _WHITEOUT in path and (parts := path.rpartition("/"))[2].startswith(_WHITEOUT):
        directory, _, base = parts
        if base == _OPAQUE:
            index.opaque(directory, layer)
        elif not base.startswith(_WHITEOUT + _WHITEOUT):  # other .wh..wh. names are aufs bookkeeping
            name = base[len(_WHITEOUT):]
            if name in ("", ".", ".."):
                run.warnings.add(f"{label}: skipped whiteout {path!r} that names no file")
            else:
                index.whiteout(posixpath.join(directory, name), layer)
        return
    kind = member.type
    regular = member.is_regular
    if kind == DIRECTORY or (not regular and kind in REGULAR_TYPES):  # old tars: "name/" files
        index.add(path, EntryKind.DIR, 0, member.mode, "", "", layer)
    elif regular and not member.sparse:
        index.add(path, EntryKind.FILE, member.size, member.mode, "", "", layer)
        wanted = run.matcher.wanted(path, bool(member.mode & 0o111))
        if wanted:
            cap = min(run.limits.max_file_size, max(r.max_size for r in wanted))
            magics = tuple(r.magic for r in wanted) if all(r.magic for r in wanted) else ()
            content = _capture(run, stream, member, path, cap, magics, label)
            if content is not None:
                run.contents[path] = (layer, content)
    elif kind == SYMLINK:
        try:
            target = member.linkname.decode("utf-8")
        except UnicodeDecodeError:
            run.warnings.add(f"{label}: skipped symlink {path!r} with a non-UTF-8 target")
            return
        index.add(path, EntryKind.SYMLINK, 0, member.mode, target, "", layer)
        if run.matcher.wanted(path, False):
            run.requested_links.append((path, layer))
    elif kind == HARDLINK:
        _index_hardlink(run, member, path, layer, label)
    else:
        if member.sparse:
            run.warnings.add(f"{label}: {path} is a sparse file; recorded without content")
        index.add(path, EntryKind.OTHER, 0, member.mode, "", "", layer)


def _index_hardlink(run: _Pass, member: TarMember, path: str, layer: int, label: str) -> None:
    origin = normalize_path(member.linkname.decode("utf-8", "replace"))
    row = run.index.row(origin) if origin is not None else None
    if origin is None or row is None or row.kind is not EntryKind.FILE:
        run.warnings.add(f"{label}: skipped hard link {path!r} to a missing file")
        return
    data_path = row.hardlink or origin
    run.index.add(path, EntryKind.FILE, row.size, member.mode, "", data_path, layer)
    wanted = run.matcher.wanted(path, bool(member.mode & 0o111))
    if not wanted:
        return
    captured = run.contents.get(data_path) or run.contents.get(origin)
    if captured is not None and captured[0] == row.layer:
        run.contents[path] = (layer, captured[1])
    elif row.layer == layer:
        run.need(layer, data_path, path, min(run.limits.max_file_size, max(r.max_size for r in wanted)))
    else:
        run.warnings.add(f"{label}: hard link {path!r} points into a lower layer; content not read")


def _open_layer(run: _Pass, index: int, ref: LayerRef) -> LayerStream:
    label = _layer_label(run.source, index, ref)
    if not run.source.exists(ref.name):
        raise ImageError(f"{label}: the layer blob is missing from the image")
    algorithm = ref.expected_digest.split(":", 1)[0] if ref.expected_digest else "sha256"
    raw = run.source.open(ref.name)
    try:
        return LayerStream(raw, label, run.budget, algorithm)
    except BaseException:
        raw.close()
        raise


def _verify(stream: LayerStream, ref: LayerRef, label: str) -> None:
    if ref.expected_digest and stream.blob_digest != ref.expected_digest:
        raise ImageError(f"{label}: blob digest is {stream.blob_digest}, expected {ref.expected_digest}")
    if ref.diff_id and stream.diff_id != ref.diff_id:
        raise ImageError(f"{label}: uncompressed digest is {stream.diff_id}, config diff_id says {ref.diff_id}")


def _read_layer(run: _Pass, layer: int, ref: LayerRef) -> LayerInfo:
    files = 0
    entries_left = run.limits.max_entries - run.entries  # entries still allowed in the image
    with _open_layer(run, layer, ref) as stream:
        label = stream.label
        for member in iter_members(stream, label, run.limits.max_header_size):
            files += 1
            if files > entries_left:
                raise ImageError(f"{label}: more than {run.limits.max_entries} tar entries in the image")
            path = _member_path(run, member, label)
            if path is not None:
                _index_member(run, stream, member, path, layer, label)
        stream.drain()
    run.entries += files
    run.index.flush()
    _verify(stream, ref, label)
    media_type = ref.media_type or DOCKER_LAYER_TYPES[stream.compression]
    return LayerInfo(layer, stream.blob_digest, stream.diff_id, media_type, stream.blob_size, stream.size, files)


def _reread_layer(run: _Pass, layer: int, ref: LayerRef, wanted: dict[str, tuple[set[str], int]]) -> None:
    """The targeted extra pass: content of files needed only after the squash (symlink and hard-link targets)."""
    left = len(wanted)
    with _open_layer(run, layer, ref) as stream:
        label = stream.label
        for member in iter_members(stream, label, run.limits.max_header_size):
            if not member.is_regular or member.sparse:
                continue
            path = normalize_path(member.name.decode("utf-8", "replace"))
            if path is None or path not in wanted:
                continue
            aliases, cap = wanted[path]
            content = _capture(run, stream, member, path, cap, (), label)
            if content is not None:
                for alias in aliases:
                    run.contents[alias] = (layer, content)
            left -= 1
            if left == 0:
                break
        stream.drain()
    _verify(stream, ref, label)


def _valid_contents(run: _Pass) -> dict[str, Content]:
    """Captures that survived the squash: the final entry is the very file that was read."""
    valid: dict[str, Content] = {}
    captures = list(run.contents.items())
    for start in range(0, len(captures), _ROW_BATCH):  # batched queries, and a bounded batch of rows at a time
        batch = captures[start:start + _ROW_BATCH]
        rows = run.index.rows_of(path for path, _ in batch)
        for path, (layer, content) in batch:
            row = rows.get(path)
            if row is not None and row.kind is EntryKind.FILE and row.layer == layer:
                valid[path] = content
    return valid


def _plan_link_targets(run: _Pass, contents: dict[str, Content]) -> list[str]:
    """Requested symlinks of the final filesystem; targets whose content was not captured become needs."""
    linked: list[str] = []
    for path, layer in run.requested_links:
        row = run.index.row(path)
        if row is None or row.kind is not EntryKind.SYMLINK or row.layer != layer:
            continue
        target = resolve_path(path, run.index.symlink_target, run.limits.symlink_hops, run.index.link_depth)
        if target is None:
            run.warnings.add(f"{path}: symlink loop or more than {run.limits.symlink_hops} hops; not followed")
            continue
        target_row = run.index.row(target)
        if target_row is None or target_row.kind is not EntryKind.FILE:
            continue
        linked.append(path)
        if target not in contents:
            cap = min(run.limits.max_file_size, max(r.max_size for r in run.matcher.wanted(path, False)))
            run.need(target_row.layer, target_row.hardlink or target, target, cap)
    return linked


def _remove_spool(spool_dir: Path, index: SquashIndex | None, store: ContentStore | None) -> None:
    if index is not None:
        index.close()
    if store is not None:
        store.close()
    shutil.rmtree(spool_dir, ignore_errors=True)


class Image:
    """An opened image: metadata, squashed filesystem and the warnings of reading it. Close it (or use `with`)."""

    def __init__(self, metadata: ImageMetadata, filesystem: SquashedFilesystem, warnings: tuple[str, ...],
                 spool_dir: Path, index: SquashIndex, store: ContentStore) -> None:
        self.metadata = metadata
        self.filesystem = filesystem
        self.warnings = warnings
        # Also runs when an unclosed Image is collected or the interpreter exits: no stray spool files.
        self._cleanup = weakref.finalize(self, _remove_spool, spool_dir, index, store)

    def close(self) -> None:
        self._cleanup()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _metadata(plan: ImagePlan, layers: tuple[LayerInfo, ...]) -> ImageMetadata:
    return ImageMetadata(plan.format, plan.tags, plan.config_digest, plan.os, plan.architecture, plan.variant,
                         plan.created, layers)


def open_image(
    path: Path,
    *,
    requests: Sequence[FileRequest] = (),
    image: str | None = None,
    platform: str | None = None,
    limits: Limits | None = None,
) -> Image:
    """Read the image at `path` (docker-archive tar, OCI archive tar or OCI layout directory).

    `requests` say which files' content to keep; `image` (NAME:TAG) and `platform` (os/arch[/variant])
    choose within multi-image archives and multi-platform indexes. Raises `ImageError`.
    """
    limits = limits or Limits()
    source = open_source(Path(path))
    spool_dir = Path(tempfile.mkdtemp(prefix="airgap-scanner-"))
    index: SquashIndex | None = None
    store: ContentStore | None = None
    try:
        plan = plan_image(source, isinstance(source, DirectorySource), image, platform, limits)
        index = SquashIndex(spool_dir / "index.sqlite")
        store = ContentStore(spool_dir / "spool", limits.spool_threshold, limits.max_memory_capture,
                             limits.max_captured_bytes)
        run = _Pass(source, limits, _Matcher(requests), index, store, _Warnings(limits.max_warnings),
                    Budget(limits.max_uncompressed_bytes))
        layers = tuple(_read_layer(run, number, ref) for number, ref in enumerate(plan.layers))
        digests = tuple(layer.digest for layer in layers)
        contents = _valid_contents(run)
        linked = _plan_link_targets(run, contents)
        for number in sorted(run.needed):
            _reread_layer(run, number, plan.layers[number], run.needed[number])
        contents = _valid_contents(run)
        filesystem = SquashedFilesystem(index, store, contents, linked, digests, limits.symlink_hops)
        return Image(_metadata(plan, layers), filesystem, run.warnings.result(), spool_dir, index, store)
    except BaseException:
        _remove_spool(spool_dir, index, store)
        raise
    finally:
        source.close()

