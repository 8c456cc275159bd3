"""Where blobs come from: members of an outer tar archive (read in place by offset) or files of a directory.

Names are archive paths ("manifest.json", "blobs/sha256/ab..."). Nothing is extracted: a member is
a window over the archive file, and a directory blob is only opened after checking that its real
path stays inside the directory.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Protocol

from scanner.errors import ImageError
from scanner.fileio import open_regular_file
from scanner.image.filesystem import link_depth, normalize_path, resolve_path
from scanner.image.tarstream import BLOCK, HARDLINK, SYMLINK, SeekableBlocks, compression_of, iter_members

# An image archive holds a few files per layer; more members than this is not an image.
_MAX_OUTER_MEMBERS = 1_000_000


class Source(Protocol):
    description: str

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

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


class ArchiveSource:
    """The members of an uncompressed tar archive, indexed by name once, read by offset."""

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self._file_size = os.fstat(self._file.fileno()).st_size
            self._members: dict[str, tuple[int, int]] = {}
            self._links: dict[str, str] = {}
            self._link_depth = 0  # see resolve_path: set by _index
            self._index()
        except BaseException:
            self._file.close()
            raise

    def _index(self) -> None:
        label = self.description
        hardlinks: dict[str, str] = {}
        blocks = SeekableBlocks(self._file, self._file_size)
        for count, member in enumerate(iter_members(blocks, label, BLOCK * 2048)):
            if count >= _MAX_OUTER_MEMBERS:
                raise ImageError(f"{label}: more than {_MAX_OUTER_MEMBERS} members; not an image archive")
            name = normalize_path(member.name.decode("utf-8", "surrogateescape"))
            if name is None:
                continue
            link = member.linkname.decode("utf-8", "surrogateescape")
            if member.type == SYMLINK:
                self._links[name] = link
            elif member.type == HARDLINK:
                target = normalize_path(link)
                if target is not None:
                    hardlinks[name] = target
            elif member.is_regular:
                self._members[name] = (member.offset, member.size)
        for name, target in hardlinks.items():
            if target in self._members:
                self._members[name] = self._members[target]
        self._link_depth = link_depth(self._links)

    def _locate(self, name: str) -> tuple[int, int] | None:
        resolved = resolve_path(name, self._links.get, max_link_depth=self._link_depth)
        return None if resolved is None else self._members.get(resolved)

    def names(self) -> set[str]:
        return set(self._members) | set(self._links)

    def exists(self, name: str) -> bool:
        return self._locate(name) is not None

    def size(self, name: str) -> int:
        found = self._locate(name)
        if found is None:
            raise ImageError(f"{self.description}: {name} is missing")
        return found[1]

    def open(self, name: str) -> BinaryIO:
        found = self._locate(name)
        if found is None:
            raise ImageError(f"{self.description}: {name} is missing")
        offset, size = found
        if offset + size > self._file_size:
            raise ImageError(f"{self.description}: member {name} is truncated")
        return io.BufferedReader(FileWindow(self._file.fileno(), offset, size), 1024 * 1024)

    def close(self) -> None:
        self._file.close()


class DirectorySource:
    """An OCI image layout directory; blob paths must stay inside it after following links."""

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        self._root = path.resolve()

    def _path(self, name: str) -> Path | None:
        normalized = normalize_path(name)
        if normalized is None:
            return None
        candidate = (self._root / normalized).resolve()
        if not candidate.is_relative_to(self._root) or not candidate.is_file():
            return None
        return candidate

    def exists(self, name: str) -> bool:
        return self._path(name) is not None

    def size(self, name: str) -> int:
        found = self._path(name)
        if found is None:
            raise ImageError(f"{self.description}: {name} is missing")
        return found.stat().st_size

    def open(self, name: str) -> BinaryIO:
        found = self._path(name)
        if found is None:
            raise ImageError(f"{self.description}: {name} is missing")
        return open(found, "rb", buffering=1024 * 1024)

    def close(self) -> None:
        """Nothing is held open between reads."""


def open_source(path: Path) -> ArchiveSource | DirectorySource:
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
        return ArchiveSource(path)
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror})") from None
