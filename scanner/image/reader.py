"""`open_image`: read an image archive, one streaming pass per distinct layer blob, into a squashed filesystem."""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from scanner.errors import ImageError
from scanner.image.decompress import Budget, LayerStream, responsive_threads
from scanner.image.filesystem import (
    EntryKind,
    FileRequest,
    clean_path,
    literal_ends,
    patterns_regex,
    resolve_path,
)
from scanner.image.limits import Limits
from scanner.image.manifests import DOCKER_LAYER_TYPES, ImagePlan, LayerRef, plan_image
from scanner.image.metadata import ImageMetadata, LayerInfo
from scanner.image.source import DirectorySource, Source, open_source
from scanner.image.squash import (
    Content,
    ContentStore,
    IndexLimitError,
    MemberLog,
    SquashedFilesystem,
    SquashIndex,
)
from scanner.image.tarstream import (
    DIRECTORY,
    HARDLINK,
    REGULAR,
    SYMLINK,
    DataReader,
    TarMember,
    iter_members,
    member_data,
)

# EntryKind's members as module globals: an attribute of the enum class takes several times as long to look
# up, and these are looked up for every tar member.
_FILE, _DIR, _SYMLINK, _OTHER = EntryKind.FILE, EntryKind.DIR, EntryKind.SYMLINK, EntryKind.OTHER
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

    tails: dict[str, tuple[str, ...]]  # by their last character, the only one a path ending with them can end in
    heads: tuple[str, ...]
    names: re.Pattern[str] | None  # over the base name, for patterns whose last segment is literal-ish
    full: re.Pattern[str] | None  # over the whole path, for the others

    @classmethod
    def of(cls, requests: Sequence[FileRequest]) -> _Prefilter:
        names: set[str] = set()
        full: set[str] = set()
        patterns = [p for r in requests for p in r.patterns]
        for pattern in patterns:
            last = pattern.rsplit("/", 1)[-1]
            if "**" in last or not last.strip("*?"):
                full.add(pattern)
            else:
                names.add(last)
        tails, heads = literal_ends(patterns)
        return cls({last: tuple(tail for tail in tails if tail[-1] == last) for last in {tail[-1] for tail in tails}},
                   heads, patterns_regex(sorted(names)) if names else None,
                   patterns_regex(sorted(full)) if full else None)

    def hit(self, path: str) -> bool:
        if not (path.endswith(self.tails.get(path[-1:], ())) or path.startswith(self.heads)):
            return False
        return (self.names is not None and self.names.match(path.rpartition("/")[2]) is not None) or (
            self.full is not None and self.full.match(path) is not None)


# A request, its literal tails and heads, and its regex's match: `FileRequest.matches_path` taken apart.
_Screen = tuple[FileRequest, tuple[str, ...], tuple[str, ...], Callable[[str], re.Match[str] | None]]


@dataclass(frozen=True, slots=True)
class _Screens:
    """Requests by the last character of the paths they may match, in request order.

    A path ends with a literal tail only if it ends with the tail's last character; a request that has
    literal heads may match a path ending in any character, so it is in every group.
    """

    by_last: dict[str, tuple[_Screen, ...]]
    headed: tuple[_Screen, ...]  # for a path whose last character ends no tail

    @classmethod
    def of(cls, requests: Iterable[FileRequest]) -> _Screens:
        screens = [(r, *r.literal_ends, r.regex.match) for r in requests]
        headed = tuple(screen for screen in screens if screen[2])
        lasts = {tail[-1] for _, tails, _, _ in screens for tail in tails}
        return cls({last: tuple(screen for screen in screens if screen[2] or any(tail[-1] == last for tail in screen[1]))
                    for last in lasts}, headed)

    def matching(self, path: str) -> tuple[FileRequest, ...]:
        return tuple(r for r, tails, heads, match in self.by_last.get(path[-1:], self.headed)
                     if (path.endswith(tails) or path.startswith(heads)) and match(path) is not None)


class _Matcher:
    """Which requests want a path, tuned for millions of calls.

    Most patterns end in a literal-ish name (`**/*.jar`, `var/lib/dpkg/status`): one regex over the
    base name rejects nearly every path cheaply. Patterns ending in a bare wildcard (`status.d/*`)
    go into one full-path regex; they start with literal directories, so mismatches fail fast.
    Before either regex, `str.endswith`/`str.startswith` over the patterns' literal tails and heads
    (`_Prefilter`) turn away almost every path without building its base name. A path that passes
    is tested against the requests that may match it by their literal ends only (`_Screens`).
    """

    def __init__(self, requests: Sequence[FileRequest]) -> None:
        self._any_file = _Prefilter.of([r for r in requests if not r.executable_only])
        self._executables = _Prefilter.of([r for r in requests if r.executable_only])
        self._for_any_file = _Screens.of(r for r in requests if not r.executable_only)
        self._for_executables = _Screens.of(requests)

    def wanted(self, path: str, executable: bool) -> tuple[FileRequest, ...]:
        if executable:
            if self._any_file.hit(path) or self._executables.hit(path):
                return self._for_executables.matching(path)
        elif self._any_file.hit(path):
            return self._for_any_file.matching(path)
        return ()


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
    log: MemberLog | None  # members of the blobs the image lists more than once
    entries: int = 0
    # Content read so far, by where it is stored: (the layer that first held the blob, data offset
    # in its uncompressed stream). Hard links, symlink targets and a layer listed again share it.
    captures: dict[tuple[int, int], Content] = field(default_factory=dict)
    # Paths whose content is wanted -> (layer of their index row, data layer, data offset): a path keeps
    # its content only if its final row is still that one (not replaced or deleted by a later entry).
    wanted: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    requested_links: list[tuple[str, int]] = field(default_factory=list)
    # Where content was not kept because its first bytes matched no request's magic -> those bytes and
    # whether they are the whole file: a hard link to such a file (a shell script beside the ELF
    # executables) then needs no extra pass over its layer. At most _MAX_REJECTED_HEADS entries.
    rejected_heads: dict[tuple[int, int], tuple[bytes, bool]] = field(default_factory=dict)
    # data layer -> data offset -> (size cap, a path it is read for): content to read in the extra pass
    needed: dict[int, dict[int, tuple[int, str]]] = field(default_factory=dict)

    def want(self, path: str, layer: int, data_layer: int, data_offset: int, cap: int) -> None:
        self.wanted[path] = (layer, data_layer, data_offset)
        if (data_layer, data_offset) not in self.captures:
            old_cap, _ = self.needed.setdefault(data_layer, {}).get(data_offset, (0, path))
            self.needed[data_layer][data_offset] = (max(old_cap, cap), path)


def _layer_label(source: Source, index: int, ref: LayerRef) -> str:
    return f"{source.description}: layer {index} ({ref.name})"


def _size_cap(run: _Pass, wanted: tuple[FileRequest, ...]) -> int:
    return min(run.limits.max_file_size, max(r.max_size for r in wanted))


def _chunks(stream: DataReader, size: int, label: str, path: str) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = stream.read(min(left, _COPY_CHUNK))
        if not chunk:
            raise ImageError(f"{label}: truncated tar member {path!r}")
        left -= len(chunk)
        yield chunk


# Magic-number rejections remembered for hard links (about 100 bytes each); past this, links re-read.
_MAX_REJECTED_HEADS = 65_536


def _capture(run: _Pass, stream: DataReader, member: TarMember, path: str, cap: int,
             magics: tuple[bytes, ...], label: str, data_layer: int = -1) -> Content | None:
    if member.size > cap:
        run.warnings.add(f"{label}: {path} not read: {member.size} bytes is over the {cap}-byte cap")
        return None
    if not run.store.fits(member.size):
        run.warnings.add(f"{label}: {path} not read: captured content would exceed the image's "
                         f"{run.store.total_budget}-byte cap (max_captured_bytes, max_capture_ratio)")
        return None
    head = b""
    if magics:
        wanted = min(member.size, max(len(m) for m in magics))
        head = stream.read(wanted)
        if len(head) < wanted:
            raise ImageError(f"{label}: truncated tar member {path!r}")
        if not any(head.startswith(m) for m in magics):
            if data_layer >= 0 and len(run.rejected_heads) < _MAX_REJECTED_HEADS:
                run.rejected_heads[(data_layer, member.offset)] = (head, len(head) == member.size)
            return None
    return run.store.keep(head, _chunks(stream, member.size - len(head), label, path), member.size)


def _ambiguous_climb(label: str, what: str, name: str) -> ImageError:
    return ImageError(f"{label}: {what} {name[:200]!r} climbs above the image root; refused as ambiguous "
                      "(containerd and umoci unpack it under the root, docker refuses the layer)")


def _member_path(run: _Pass, member: TarMember, label: str) -> str | None:
    """The member's image path (`clean_path`), with a fast path for the usual clean relative name."""
    try:
        text = member.name.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:  # a ".." after the odd bytes may still make it a UTF-8 path
        text = member.name.decode("utf-8", "surrogateescape")
        utf8 = False
    name = text.removeprefix("./").rstrip("/")
    if utf8 and name and name[0] not in "./" and "//" not in name and "/." not in name:
        return name
    try:
        path = clean_path(name)
    except ValueError:
        raise _ambiguous_climb(label, "member", text) from None
    if path is not None and not utf8 and not _is_utf8(path):
        run.warnings.add(f"{label}: skipped member with a non-UTF-8 name {member.name[:120]!r}")
        return None
    return path


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _index_member(run: _Pass, stream: LayerStream | None, member: TarMember, path: str, layer: int,
                  data_layer: int, label: str) -> None:
    """Apply one member at `layer`; its data is at `member.offset` in the blob first read as `data_layer`.

    `stream` is None when a recorded member is replayed: content is then only found among the captures.
    """
    index = run.index
    placed = index.resolve_parent(path, run.limits.symlink_hops)
    if placed is None:
        run.warnings.add(f"{label}: skipped member {path!r}: its directories are a symlink loop")
        return
    path = placed
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
    if kind == REGULAR:
        index.add(path, _FILE, member.size, member.mode, "", layer, data_layer, member.offset)
        if stream is None:  # replayed: the first pass's decision stands, content is captured only for wanted files
            if (location := (data_layer, member.offset)) in run.captures:
                run.wanted[path] = (layer, *location)
        # Read for the first time: no content is captured at its location unless here.
        elif wanted := run.matcher.wanted(path, bool(member.mode & 0o111)):
            magics = tuple(r.magic for r in wanted)
            content = _capture(run, member_data(stream, member), member, path, _size_cap(run, wanted),
                               magics if all(magics) else (), label, data_layer)
            if content is not None:
                run.captures[(data_layer, member.offset)] = content
                run.wanted[path] = (layer, data_layer, member.offset)
    elif kind == DIRECTORY:
        index.add(path, _DIR, 0, member.mode, "", layer)
    elif kind == SYMLINK:
        try:
            target = member.linkname.decode("utf-8")
        except UnicodeDecodeError:  # it still replaces what lower layers had there
            run.warnings.add(f"{label}: symlink {path!r} has a non-UTF-8 target; recorded, not followed")
            index.add(path, _OTHER, 0, member.mode, "", layer)
            return
        index.add(path, _SYMLINK, 0, member.mode, target, layer)
        if run.matcher.wanted(path, False):
            run.requested_links.append((path, layer))
    elif kind == HARDLINK:
        _index_hardlink(run, member, path, layer, label)
    else:
        index.add(path, _OTHER, 0, member.mode, "", layer)


def _link_origin(run: _Pass, linkname: bytes, path: str, label: str) -> str | None:
    """The path a hard link names, its directories resolved through symlinks as the runtimes do
    (the last component is not followed: a link to a symlink links the symlink itself)."""
    text = linkname.decode("utf-8", "surrogateescape")
    try:
        origin = clean_path(text)
    except ValueError:
        raise _ambiguous_climb(label, f"hard link {path!r} to", text) from None
    if origin is not None and not _is_utf8(origin):  # its target was skipped: its content is unknown
        raise ImageError(f"{label}: hard link {path!r} to {linkname[:200]!r}, a name that is not UTF-8")
    return None if origin is None else run.index.resolve_parent(origin, run.limits.symlink_hops)


def _index_hardlink(run: _Pass, member: TarMember, path: str, layer: int, label: str) -> None:
    """A hard link becomes what its target is at this point of the layer, whichever layer put it there.

    Runtimes link to the path in the filesystem unpacked so far (containerd's overlay copies a lower
    file up first): a file of a lower layer lends its content, a symlink stays a symlink. A target
    that is missing, a directory, or the link's own path (removed before linking) fails every runtime.
    """
    origin = _link_origin(run, member.linkname, path, label)
    row = None if origin is None or origin == path or origin.startswith(path + "/") else run.index.row(origin)
    if row is None or row.kind is EntryKind.DIR:
        what = "a missing file" if row is None else "a directory"
        run.warnings.add(f"{label}: skipped hard link {path!r} to {what} {member.linkname[:200]!r}")
        return
    # umoci and containerd keep the target's mode, docker gives the shared file the link's: a file that
    # either makes executable counts as executable (so no executable escapes the ELF catalogers).
    mode = row.mode | (member.mode & 0o111) if row.kind is EntryKind.FILE else row.mode
    run.index.add(path, row.kind, row.size, mode, row.target, layer, row.data_layer, row.data_offset)
    if row.kind is EntryKind.SYMLINK and run.matcher.wanted(path, False):
        run.requested_links.append((path, layer))
    elif row.kind is EntryKind.FILE and (wanted := run.matcher.wanted(path, bool(mode & 0o111))) \
            and not _magic_rejected(run, (row.data_layer, row.data_offset), wanted):
        run.want(path, layer, row.data_layer, row.data_offset, _size_cap(run, wanted))


def _magic_rejected(run: _Pass, location: tuple[int, int], wanted: tuple[FileRequest, ...]) -> bool:
    """True when the content at `location` is known to start with none of the magics `wanted` needs."""
    known = run.rejected_heads.get(location)
    if known is None:
        return False
    head, whole = known

    def may_start_with(magic: bytes) -> bool:  # the content is known to start with `head`
        return head.startswith(magic) if whole or len(head) >= len(magic) else magic.startswith(head)

    return all(r.magic and not may_start_with(r.magic) for r in wanted)


def _open_layer(run: _Pass, index: int, ref: LayerRef) -> LayerStream:
    label = _layer_label(run.source, index, ref)
    algorithm = ref.expected_digest.split(":", 1)[0] if ref.expected_digest else "sha256"
    raw = run.source.open(ref.name)
    try:
        return LayerStream(raw, label, run.budget, algorithm)
    except BaseException:
        raw.close()
        raise


def _verify(blob_digest: str, diff_id: str, ref: LayerRef, label: str) -> None:
    if ref.expected_digest and blob_digest != ref.expected_digest:
        raise ImageError(f"{label}: blob digest is {blob_digest}, expected {ref.expected_digest}")
    if ref.diff_id and diff_id != ref.diff_id:
        raise ImageError(f"{label}: uncompressed digest is {diff_id}, config diff_id says {ref.diff_id}")


def _too_many_entries(run: _Pass, label: str) -> ImageError:
    return ImageError(f"{label}: more than {run.limits.max_entries} tar entries in the image, a layer "
                      "listed again counted again (max_entries)")


def _read_layer(run: _Pass, layer: int, ref: LayerRef, record: bool) -> LayerInfo:
    """The first pass over a blob; with `record`, its members are kept for the positions that list it again."""
    files = 0
    entries_left = run.limits.max_entries - run.entries  # entries still allowed in the image
    log = run.log if record else None
    with _open_layer(run, layer, ref) as stream:
        label = stream.label
        for member in iter_members(stream, label, run.limits):
            files += 1
            if files > entries_left:
                raise _too_many_entries(run, label)
            path = _member_path(run, member, label)
            if path is not None:
                if log is not None:
                    log.record(layer, path, member)
                _index_member(run, stream, member, path, layer, layer, label)
        stream.drain()
    run.entries += files
    run.index.flush()
    _verify(stream.blob_digest, stream.diff_id, ref, label)
    media_type = ref.media_type or DOCKER_LAYER_TYPES[stream.compression]
    return LayerInfo(layer, stream.blob_digest, stream.diff_id, media_type, stream.blob_size, stream.size, files)


def _replay_layer(run: _Pass, layer: int, ref: LayerRef, first: LayerInfo) -> LayerInfo:
    """A blob listed again: its recorded members applied at this position, as reading it again would."""
    label = _layer_label(run.source, layer, ref)
    _verify(first.digest, first.diff_id, ref, label)
    if run.entries + first.files > run.limits.max_entries:
        raise _too_many_entries(run, label)
    run.entries += first.files
    assert run.log is not None  # every repeated blob is recorded
    for path, member in run.log.members(first.index):
        _index_member(run, None, member, path, layer, first.index, label)
    run.index.flush()
    return dataclasses.replace(first, index=layer, media_type=ref.media_type or first.media_type)


def _read_layers(run: _Pass, plan: ImagePlan, blobs: list[Hashable]) -> tuple[LayerInfo, ...]:
    """Every layer in order; a blob listed at several positions is decompressed and parsed once."""
    first_position: dict[Hashable, int] = {}
    for number, blob in enumerate(blobs):
        first_position.setdefault(blob, number)
    repeated = {first_position[blob] for number, blob in enumerate(blobs) if first_position[blob] != number}
    layers: list[LayerInfo] = []
    for number, (ref, blob) in enumerate(zip(plan.layers, blobs, strict=True)):
        first = first_position[blob]
        try:
            if first == number:
                layers.append(_read_layer(run, number, ref, number in repeated))
            else:
                layers.append(_replay_layer(run, number, ref, layers[first]))
        except IndexLimitError as error:
            raise ImageError(f"{_layer_label(run.source, number, ref)}: {error}") from None
    return tuple(layers)


def _reread_layer(run: _Pass, layer: int, ref: LayerRef, wanted: dict[int, tuple[int, str]]) -> None:
    """The targeted extra pass: content needed only after the squash (symlink and hard-link targets)."""
    left = len(wanted)
    with _open_layer(run, layer, ref) as stream:
        label = stream.label
        for member in iter_members(stream, label, run.limits):
            found = wanted.get(member.offset) if member.is_regular else None
            if found is None:
                continue
            cap, path = found
            content = _capture(run, member_data(stream, member), member, path, cap, (), label)
            if content is not None:
                run.captures[(layer, member.offset)] = content
            left -= 1
            if left == 0:
                break
        stream.drain()
    _verify(stream.blob_digest, stream.diff_id, ref, label)


def _valid_contents(run: _Pass) -> dict[str, Content]:
    """Content of the wanted paths whose final index row is the very file that was read."""
    valid: dict[str, Content] = {}
    wanted = list(run.wanted.items())
    for start in range(0, len(wanted), _ROW_BATCH):  # batched queries, and a bounded batch of rows at a time
        batch = wanted[start:start + _ROW_BATCH]
        rows = run.index.rows_of(path for path, _ in batch)
        for path, (layer, data_layer, data_offset) in batch:
            row = rows.get(path)
            content = run.captures.get((data_layer, data_offset))
            if (content is not None and row is not None and row.kind is EntryKind.FILE
                    and (row.layer, row.data_layer, row.data_offset) == (layer, data_layer, data_offset)):
                valid[path] = content
    return valid


def _plan_link_targets(run: _Pass) -> list[str]:
    """Requested symlinks of the final filesystem; their targets' content becomes wanted."""
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
        run.want(target, target_row.layer, target_row.data_layer, target_row.data_offset,
                 _size_cap(run, run.matcher.wanted(path, False)))
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


def _blob_keys(source: Source, plan: ImagePlan) -> list[Hashable]:
    keys = []
    for number, ref in enumerate(plan.layers):
        if not source.exists(ref.name):
            raise ImageError(f"{_layer_label(source, number, ref)}: the layer blob is missing from the image")
        keys.append(source.blob_key(ref.name))
    return keys


def _capture_budget(source: Source, plan: ImagePlan, blobs: list[Hashable], limits: Limits) -> int:
    """Bytes of content the image may have captured: bounded outright, and by its stored size."""
    stored = sum(source.size(ref.name) for ref in dict(zip(blobs, plan.layers, strict=True)).values())
    return min(limits.max_captured_bytes, max(limits.min_capture_allowance, limits.max_capture_ratio * stored))


def _spool_directory() -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix="airgap-scanner-"))
    except OSError as error:
        raise ImageError(f"{tempfile.gettempdir()}: cannot create a spool directory ({error.strerror}); "
                         "point TMPDIR elsewhere") from None


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
    source = open_source(Path(path), limits)
    spool_dir: Path | None = None
    index: SquashIndex | None = None
    store: ContentStore | None = None
    log: MemberLog | None = None
    try:
        plan = plan_image(source, isinstance(source, DirectorySource), image, platform, limits)
        blobs = _blob_keys(source, plan)
        spool_dir = _spool_directory()
        index = SquashIndex(spool_dir / "index.sqlite", limits.max_index_bytes, limits.max_link_lookups)
        store = ContentStore(spool_dir / "spool", limits.spool_threshold, limits.max_memory_capture,
                             _capture_budget(source, plan, blobs, limits))
        if len(set(blobs)) < len(blobs):
            log = MemberLog(spool_dir / "members", limits.max_index_bytes)
        run = _Pass(source, limits, _Matcher(requests), index, store, _Warnings(limits.max_warnings),
                    Budget(limits.max_uncompressed_bytes), log)
        with responsive_threads():
            layers = _read_layers(run, plan, blobs)
            linked = _plan_link_targets(run)
            for number in sorted(run.needed):
                _reread_layer(run, number, plan.layers[number], run.needed[number])
        filesystem = SquashedFilesystem(index, store, _valid_contents(run), linked,
                                        tuple(layer.digest for layer in layers), limits.symlink_hops)
        return Image(_metadata(plan, layers), filesystem, run.warnings.result(), spool_dir, index, store)
    except BaseException as error:
        if spool_dir is not None:
            _remove_spool(spool_dir, index, store)
        if isinstance(error, sqlite3.Error):  # the index on a full disk: "database or disk is full"
            raise ImageError(f"{spool_dir}: cannot write the path index ({error})") from None
        raise
    finally:
        if log is not None:
            log.close()
        source.close()
