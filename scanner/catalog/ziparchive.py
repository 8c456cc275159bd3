"""Bounded reading of zip archives nested inside zip archives (jars in wars in ears).

Archives come from the image, so they are hostile: members may claim one size and inflate to
another (zip bombs), overlap one another so that one stored byte range counts as many members (the
overlapping-entries zip bomb), hold huge member lists, climb out of the archive (`../../x.jar`), or
be cut short. Nothing is extracted to disk by name; every read has a cap from `CatalogLimits`, the
walk below one image file and the walks of a whole image share budgets, and each problem becomes a
warning naming the archive and the cap, never an exception.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from scanner.catalog.limits import CatalogLimits
from scanner.image.filesystem import normalize_path

NESTED_SEPARATOR = "!/"  # "outer.war!/WEB-INF/lib/inner.jar": a file inside an archive

_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
# zipfile signals damage through many exception types; each means "this archive (member) is unusable".
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = b"PK\x06\x06"
_ZIP64_END_RECORD_SIZE = 56
_MAX_COMMENT = 65535
_LOCAL_HEADER_SIZE = 30


@dataclass(frozen=True)
class ArchiveView:
    """One archive of the walk: where it is, its sha1, and the small files that were asked for."""

    location: str  # image path, then "!/member" per nesting level
    sha1: str
    depth: int
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class ImageBudget:
    """What the walks of every archive of one image may use together."""

    limits: CatalogLimits
    archives: int = 0
    members: int = 0
    inflated: int = 0
    exhausted: str = ""  # the cap that ran out, once one has

    def spend(self, archives: int = 0, members: int = 0, inflated: int = 0) -> bool:
        """Count the use; False once any per-image cap is passed (and from then on)."""
        self.archives += archives
        self.members += members
        self.inflated += inflated
        limits = self.limits
        for used, cap, name in ((self.archives, limits.max_archives_per_image, "max_archives_per_image"),
                                (self.members, limits.max_archive_members_per_image, "max_archive_members_per_image"),
                                (self.inflated, limits.max_inflated_bytes_per_image, "max_inflated_bytes_per_image")):
            if used > cap and not self.exhausted:
                self.exhausted = f"{cap} (cap {name})"
        return not self.exhausted


class _OverCap(Exception):
    def __init__(self, cap: int, name: str) -> None:
        super().__init__(f"inflates past {cap} bytes (cap {name})")


def _central_directory_size(stream: IO[bytes]) -> int:
    """The largest central directory size that any end record zipfile could pick declares."""
    size = stream.seek(0, io.SEEK_END)
    tail_start = max(0, size - _MAX_COMMENT - _END_RECORD_SIZE)
    stream.seek(tail_start)
    tail = stream.read()
    largest = 0
    at = tail.rfind(_END_RECORD)
    while at >= 0:
        if at + _END_RECORD_SIZE <= len(tail):
            largest = max(largest, struct.unpack_from("<I", tail, at + 12)[0])
            locator = tail_start + at - _ZIP64_LOCATOR_SIZE
            record = locator - _ZIP64_END_RECORD_SIZE
            if record >= 0:  # zipfile reads the zip64 end record just before its locator
                stream.seek(record)
                zip64 = stream.read(_ZIP64_END_RECORD_SIZE + 4)
                if zip64.startswith(_ZIP64_END_RECORD) and zip64[_ZIP64_END_RECORD_SIZE:] == _ZIP64_LOCATOR:
                    largest = max(largest, struct.unpack_from("<Q", zip64, 40)[0])
        at = tail.rfind(_END_RECORD, 0, at)
    stream.seek(0)
    return largest


def _overlap(archive: zipfile.ZipFile) -> str:
    """How two members share bytes, "" when none do: each member's local header and data must end
    before the next member (in file order) or the central directory begins."""
    members = sorted(archive.infolist(), key=lambda info: info.header_offset)
    for info, following in itertools.pairwise(members):
        if info.header_offset + _LOCAL_HEADER_SIZE + info.compress_size > following.header_offset:
            return f"members {info.filename!r} and {following.filename!r} overlap"
    if members:
        last = members[-1]
        if last.header_offset + _LOCAL_HEADER_SIZE + last.compress_size > archive.start_dir:
            return f"member {last.filename!r} overlaps the central directory"
    return ""


@dataclass
class _Walk:
    wanted: Callable[[str], bool]
    nested: Callable[[str], bool]
    limits: CatalogLimits
    budget: ImageBudget
    warn: Callable[[str], None]
    remaining: int = 0

    def _copy_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, cap_name: str,
                     sink: IO[bytes]) -> str:
        """Inflate one member into `sink` with at most `cap` bytes; its sha1."""
        digest = hashlib.sha1(usedforsecurity=False)
        written = 0
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                written += len(chunk)
                if written > cap:
                    raise _OverCap(cap, cap_name)
                if written > self.remaining:
                    raise _OverCap(self.limits.max_inflated_bytes, "max_inflated_bytes")
                if not self.budget.spend(inflated=len(chunk)):
                    raise _OverCap(self.limits.max_inflated_bytes_per_image, "max_inflated_bytes_per_image")
                digest.update(chunk)
                sink.write(chunk)
        self.remaining -= written
        return digest.hexdigest()

    def _open(self, stream: IO[bytes], location: str) -> zipfile.ZipFile | None:
        if not self.budget.spend(archives=1):
            self.warn(f"{location}: not read: the image's archives passed {self.budget.exhausted}")
            return None
        try:
            directory_size = _central_directory_size(stream)
            if directory_size > self.limits.max_central_directory_size:
                self.warn(f"{location}: member list of {directory_size} bytes is over "
                          f"{self.limits.max_central_directory_size} (cap max_central_directory_size); skipped")
                return None
            archive = zipfile.ZipFile(stream)
        except _ZIP_ERRORS as error:
            self.warn(f"{location}: not a readable zip archive ({error})")
            return None
        overlap = _overlap(archive)
        if overlap:
            archive.close()
            self.warn(f"{location}: {overlap} (a zip bomb technique); archive skipped")
            return None
        if not self.budget.spend(members=len(archive.infolist())):
            archive.close()
            self.warn(f"{location}: not read: the image's archives passed {self.budget.exhausted}")
            return None
        return archive

    def walk(self, stream: IO[bytes], location: str, sha1: str, depth: int) -> Iterator[ArchiveView]:
        archive = self._open(stream, location)
        if archive is None:
            return
        with archive:
            files: dict[str, bytes] = {}
            nested: list[tuple[str, zipfile.ZipInfo]] = []
            metadata_bytes = 0
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = normalize_path(info.filename)
                if name is None:
                    self.warn(f"{location}: member name {info.filename!r} escapes the archive, skipped")
                    continue
                if self.wanted(name):
                    if len(files) >= self.limits.max_identity_files:
                        self.warn(f"{location}{NESTED_SEPARATOR}{name}: more than {self.limits.max_identity_files} "
                                  "identity files in the archive (cap max_identity_files), ignored")
                        continue
                    if metadata_bytes + info.file_size > self.limits.max_metadata_bytes:
                        self.warn(f"{location}{NESTED_SEPARATOR}{name}: the archive's identity files pass "
                                  f"{self.limits.max_metadata_bytes} bytes (cap max_metadata_bytes), ignored")
                        continue
                    files[name] = data = self._read_small(archive, info, f"{location}{NESTED_SEPARATOR}{name}")
                    metadata_bytes += len(data)
                elif self.nested(name):
                    nested.append((name, info))
            yield ArchiveView(location, sha1, depth, files)
            if nested and depth >= self.limits.max_archive_depth:
                self.warn(f"{location}: archives nested deeper than {self.limits.max_archive_depth} levels "
                          "(cap max_archive_depth), skipped")
                return
            if len(nested) > self.limits.max_nested_archives:
                self.warn(f"{location}: {len(nested)} nested archives, over {self.limits.max_nested_archives} "
                          "(cap max_nested_archives); only the first are read")
                del nested[self.limits.max_nested_archives:]
            for name, info in nested:
                yield from self._walk_member(archive, info, f"{location}{NESTED_SEPARATOR}{name}", depth + 1)

    def _read_small(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
        # The declared size may lie; the cap is applied to what inflates, so memory holds at most the cap.
        with io.BytesIO() as sink:
            try:
                self._copy_member(archive, info, self.limits.max_metadata_member_size, "max_metadata_member_size",
                                  sink)
            except _OverCap as error:
                self.warn(f"{where}: {error}, ignored")
                return b""
            except _ZIP_ERRORS as error:
                self.warn(f"{where}: unreadable ({error})")
                return b""
            sink.seek(0)
            return sink.read()

    def _walk_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, location: str,
                     depth: int) -> Iterator[ArchiveView]:
        if self.budget.exhausted:
            return  # said once, where it ran out
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as sink:
            try:
                sha1 = self._copy_member(archive, info, self.limits.max_nested_archive_size, "max_nested_archive_size",
                                         sink)
            except _OverCap as error:
                self.warn(f"{location}: {error} (zip bomb?), skipped")
                return
            except _ZIP_ERRORS as error:
                self.warn(f"{location}: unreadable ({error}), skipped")
                return
            sink.seek(0)
            yield from self.walk(sink, location, sha1, depth)


def file_sha1(stream: IO[bytes]) -> str:
    """sha1 of a whole stream, read in chunks; the stream is left at its start."""
    digest = hashlib.sha1(usedforsecurity=False)
    stream.seek(0)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def walk_archive(
    stream: IO[bytes],
    location: str,
    wanted: Callable[[str], bool],
    nested: Callable[[str], bool],
    warn: Callable[[str], None],
    budget: ImageBudget,
) -> Iterator[ArchiveView]:
    """The archive at `location` and every archive nested in it, depth first.

    `wanted(name)` selects the small members to read (their content lands in `ArchiveView.files`);
    `nested(name)` selects members to open as archives in turn. Problems go to `warn`; `budget` is
    shared by the walks of one image.
    """
    walk = _Walk(wanted, nested, budget.limits, budget, warn, budget.limits.max_inflated_bytes)
    yield from walk.walk(stream, location, file_sha1(stream), 0)
