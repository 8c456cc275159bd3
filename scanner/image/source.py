"""Where blobs come from: members of an outer tar archive (read in place by offset) or files of a directory.

Names are archive paths ("manifest.json", "blobs/sha256/ab..."). Nothing is extracted: a member is
a window over the archive file, and a directory blob is only opened after checking that its real
path stays inside the directory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Hashable
from pathlib import Path
from typing import BinaryIO, Protocol

from scanner.errors import ImageError
from scanner.fileio import open_regular_file
from scanner.image.decompress import compression_of
from scanner.image.filesystem import clean_path, link_depth, normalize_path, resolve_path
from scanner.image.limits import Limits
from scanner.image.tarstream import BLOCK, HARDLINK, SYMLINK, SeekableBlocks, iter_members

# Mode bits Go's FileInfo turns into a file type (c_ISDIR, c_ISFIFO, c_ISLNK, c_ISBLK, c_ISCHR, c_ISSOCK).
_TYPED_MODES = frozenset({0o40000, 0o10000, 0o120000, 0o60000, 0o20000, 0o140000})


class Source(Protocol):
    description: str

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def blob_key(self, name: str) -> Hashable:
        """The same key for names that reach the same stored bytes (links, aliases); the name must exist."""
        ...

    def open(self, name: str) -> BinaryIO: ...

    def close(self) -> None: ...


def read_small(source: Source, name: str, cap: int) -> bytes:
    """A metadata file (manifest, index, config), refused when over `cap` bytes."""
    if not source.exists(name):
        raise ImageError(f"{source.description}: {name} is missing")
    size = source.size(name)
    if size > cap:
        raise ImageError(f"{source.description}: {name} is {size} bytes, over the {cap}-byte metadata cap")
    with source.open(name) as stream:
        data = stream.read(cap + 1)
    if len(data) != size:
        raise ImageError(f"{source.description}: {name} is truncated")
    return data


class FileWindow(io.RawIOBase):
    """Reads `size` bytes of an open file from `offset` with pread: no shared file position."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd = fd
        self._start = offset
        self._end = offset + size
        self._offset = offset
        self._remaining = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # zip central directories and ELF sections are found by seeking

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._offset, io.SEEK_END: self._end}[whence]
        if base + position < self._start:
            raise OSError("negative seek position")
        self._offset = base + position
        self._remaining = max(0, self._end - self._offset)
        return self._offset - self._start

    def tell(self) -> int:
        return self._offset - self._start

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._remaining)
        if wanted <= 0:
            return 0
        data = os.pread(self._fd, wanted, self._offset)
        buffer[: len(data)] = data
        self._offset += len(data)
        self._remaining -= len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        wanted = self._remaining if size < 0 else min(size, self._remaining)
        if wanted <= 0:
            return b""
        data = os.pread(self._fd, wanted, self._offset)
        self._offset += len(data)
        self._remaining -= len(data)
        return data


def _archive_name(name: str) -> str | None:
    """An outer archive member's name as `docker load` and skopeo read it; None for the root or above it."""
    try:
        return clean_path(name)
    except ValueError:
        return None


class ArchiveSource:
    """The members of an uncompressed tar archive, indexed by name once, read by offset."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.description = str(path)
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self._file_size = os.fstat(self._file.fileno()).st_size
            self._members: dict[str, tuple[int, int]] = {}
            self._links: dict[str, str] = {}
            self._link_depth = 0  # see resolve_path: set by _index
            self._index(limits)
        except BaseException:
            self._file.close()
            raise

    def _index(self, limits: Limits) -> None:
        label = self.description
        blocks = SeekableBlocks(self._file, self._file_size)
        for count, member in enumerate(iter_members(blocks, label, limits)):
            if count >= limits.max_archive_members:
                raise ImageError(f"{label}: more than {limits.max_archive_members} members "
                                 "(max_archive_members); not an image archive")
            # Blob and metadata names are short; longer ones are not kept (a manifest naming one finds
            # it missing), so the names held in memory stay bounded.
            if len(member.name) > limits.max_archive_name or len(member.linkname) > limits.max_archive_name:
                continue
            name = _archive_name(member.name.decode("utf-8", "surrogateescape"))
            if name is None or not (member.is_regular or member.type in (SYMLINK, HARDLINK)):
                continue
            # Where the tools that read this archive disagree on what a member holds, it is refused:
            # skopeo takes the first of two members with one name, docker load the last; skopeo reads
            # a hard link as an empty file and goes by the mode's type bits, docker load does neither.
            if name in self._members or name in self._links:
                raise ImageError(f"{label}: member {name} appears more than once (refused as ambiguous)")
            if member.type == HARDLINK:
                raise ImageError(f"{label}: member {name} is a hard link (refused as ambiguous)")
            if member.type == SYMLINK:
                self._links[name] = member.linkname.decode("utf-8", "surrogateescape")
            elif member.fragments is not None:
                raise ImageError(f"{label}: member {name} is a sparse file (not supported in the outer archive)")
            elif (member.mode % (1 << 32)) & ~0o7777 in _TYPED_MODES:
                raise ImageError(f"{label}: member {name} has mode {member.mode:o}, whose type bits say it is "
                                 "not a regular file (refused as ambiguous)")
            else:
                self._members[name] = (member.offset, member.size)
        self._link_depth = link_depth(self._links)

    def _locate(self, name: str) -> tuple[int, int] | None:
        resolved = resolve_path(name, self._links.get, max_link_depth=self._link_depth)
        return None if resolved is None else self._members.get(resolved)

    def names(self) -> set[str]:
        return set(self._members) | set(self._links)

    def exists(self, name: str) -> bool:
        return self._locate(name) is not None

    def size(self, name: str) -> int:
        return self._found(name)[1]

    def blob_key(self, name: str) -> Hashable:
        return self._found(name)

    def _found(self, name: str) -> tuple[int, int]:
        found = self._locate(name)
        if found is None:
            raise ImageError(f"{self.description}: {name} is missing")
        return found

    def open(self, name: str) -> BinaryIO:
        offset, size = self._found(name)
        if offset + size > self._file_size:
            raise ImageError(f"{self.description}: member {name} is truncated")
        return io.BufferedReader(FileWindow(self._file.fileno(), offset, size), 1024 * 1024)

    def close(self) -> None:
        self._file.close()


class DirectorySource:
    """An OCI image layout directory.

    Symlinks in it are followed only while they stay inside it: a name whose real path leaves the
    directory, or is not a regular file, is missing; a symlink loop is an error.
    """

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        self._root = path.resolve()

    def _path(self, name: str) -> Path | None:
        normalized = normalize_path(name)
        if normalized is None:
            return None
        try:
            candidate = (self._root / normalized).resolve()
            if not candidate.is_relative_to(self._root) or not candidate.is_file():
                return None
        except RuntimeError:  # Python before 3.13 reports a loop so
            raise ImageError(f"{self.description}: {name} is a symlink loop") from None
        except OSError as error:
            raise ImageError(f"{self.description}: {name}: cannot read ({error.strerror})") from None
        return candidate

    def _found(self, name: str) -> Path:
        found = self._path(name)
        if found is None:
            raise ImageError(f"{self.description}: {name} is missing")
        return found

    def exists(self, name: str) -> bool:
        return self._path(name) is not None

    def size(self, name: str) -> int:
        return self._found(name).stat().st_size

    def blob_key(self, name: str) -> Hashable:
        return self._found(name)

    def open(self, name: str) -> BinaryIO:
        found = self._found(name)
        try:  # the checks above looked at a path: what is opened must still be a regular file
            return open_regular_file(found)
        except OSError as error:
            raise ImageError(f"{self.description}: {name}: cannot read ({error.strerror})") from None

    def close(self) -> None:
        """Nothing is held open between reads."""


def open_source(path: Path, limits: Limits | None = None) -> ArchiveSource | DirectorySource:
    """Open an image file or directory; refuses compressed outer archives with a hint."""
    if path.is_dir():
        return DirectorySource(path)
    if not path.exists() and not path.is_symlink():  # a symlink loop says so when opened
        raise ImageError(f"{path}: no such file or directory")
    try:
        with open_regular_file(path) as file:
            head = file.read(BLOCK)
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror})") from None
    compression = compression_of(head)
    if compression != "none":
        raise ImageError(f"{path}: the archive itself is {compression}-compressed; decompress it first")
    if len(head) < BLOCK:
        raise ImageError(f"{path}: not a tar archive (too short)")
    try:
        return ArchiveSource(path, limits or Limits())
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror})") from None
