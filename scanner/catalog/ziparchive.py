"""Bounded reading of zip archives nested inside zip archives (jars in wars in ears).

Archives come from the image, so they are hostile: members may claim one size and inflate to
another (zip bombs), names may climb out of the archive (`../../x.jar`), central directories may be
cut short. Nothing is extracted to disk by name; every read has a cap, the whole walk of one image
file has a byte budget and a depth limit, and each problem becomes a warning, never an exception.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from scanner.image.filesystem import normalize_path

NESTED_SEPARATOR = "!/"  # "outer.war!/WEB-INF/lib/inner.jar": a file inside an archive

_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
# zipfile signals damage through many exception types; each means "this archive (member) is unusable".
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)


@dataclass(frozen=True)
class ArchiveLimits:
    max_depth: int = 5  # archives inside the image file, counting the file itself as depth 0
    max_member_size: int = 512 * 1024 * 1024  # one nested archive, decompressed
    max_metadata_size: int = 1024 * 1024  # one small file asked for (manifest, pom.properties)
    max_total: int = 2 * 1024 * 1024 * 1024  # decompressed bytes read below one image file


@dataclass(frozen=True)
class ArchiveView:
    """One archive of the walk: where it is, its sha1, and the small files that were asked for."""

    location: str  # image path, then "!/member" per nesting level
    sha1: str
    depth: int
    files: dict[str, bytes] = field(default_factory=dict)


class _MemberTooLarge(Exception):
    pass


@dataclass
class _Walk:
    wanted: Callable[[str], bool]
    nested: Callable[[str], bool]
    limits: ArchiveLimits
    warnings: list[str]
    remaining: int = 0

    def _copy_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, sink: IO[bytes]) -> str:
        """Inflate one member into `sink` with at most `cap` bytes; its sha1."""
        digest = hashlib.sha1(usedforsecurity=False)
        written = 0
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                written += len(chunk)
                if written > cap or written > self.remaining:
                    raise _MemberTooLarge
                digest.update(chunk)
                sink.write(chunk)
        self.remaining -= written
        return digest.hexdigest()

    def walk(self, stream: IO[bytes], location: str, sha1: str, depth: int) -> Iterator[ArchiveView]:
        try:
            archive = zipfile.ZipFile(stream)
        except _ZIP_ERRORS as error:
            self.warnings.append(f"{location}: not a readable zip archive ({error})")
            return
        with archive:
            files: dict[str, bytes] = {}
            nested: list[tuple[str, zipfile.ZipInfo]] = []
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = normalize_path(info.filename)
                if name is None:
                    self.warnings.append(f"{location}: member name {info.filename!r} escapes the archive, skipped")
                    continue
                if self.wanted(name):
                    files[name] = self._read_small(archive, info, location, name)
                elif self.nested(name):
                    nested.append((name, info))
            yield ArchiveView(location, sha1, depth, files)
            if nested and depth >= self.limits.max_depth:
                self.warnings.append(f"{location}: archives nested deeper than {self.limits.max_depth} levels, skipped")
                return
            for name, info in nested:
                yield from self._walk_member(archive, info, f"{location}{NESTED_SEPARATOR}{name}", depth + 1)

    def _read_small(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, location: str, name: str) -> bytes:
        with tempfile.SpooledTemporaryFile(max_size=self.limits.max_metadata_size + _CHUNK) as sink:
            try:
                self._copy_member(archive, info, self.limits.max_metadata_size, sink)
            except _MemberTooLarge:
                self.warnings.append(f"{location}{NESTED_SEPARATOR}{name}: over the size limit, ignored")
                return b""
            except _ZIP_ERRORS as error:
                self.warnings.append(f"{location}{NESTED_SEPARATOR}{name}: unreadable ({error})")
                return b""
            sink.seek(0)
            return sink.read()

    def _walk_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, location: str,
                     depth: int) -> Iterator[ArchiveView]:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as sink:
            try:
                sha1 = self._copy_member(archive, info, self.limits.max_member_size, sink)
            except _MemberTooLarge:
                self.warnings.append(f"{location}: inflates past the size limit (zip bomb?), skipped")
                return
            except _ZIP_ERRORS as error:
                self.warnings.append(f"{location}: unreadable ({error}), skipped")
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
    warnings: list[str],
    limits: ArchiveLimits = ArchiveLimits(),
) -> Iterator[ArchiveView]:
    """The archive at `location` and every archive nested in it, depth first.

    `wanted(name)` selects the small members to read (their content lands in `ArchiveView.files`);
    `nested(name)` selects members to open as archives in turn. Problems are appended to `warnings`.
    """
    walk = _Walk(wanted, nested, limits, warnings, limits.max_total)
    yield from walk.walk(stream, location, file_sha1(stream), 0)
