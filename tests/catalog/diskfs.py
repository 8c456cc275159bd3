"""A `Filesystem` over files on the host disk, read when asked: for bombs too large to hold in memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from scanner.image.filesystem import EntryKind, FileEntry, FileRequest


class DiskFilesystem:
    """Image path -> host file; only regular files, all in layer 0."""

    def __init__(self, files: Mapping[str, Path], executable: bool = False) -> None:
        self.files = dict(files)
        self.mode = 0o755 if executable else 0o644

    def entry(self, path: str) -> FileEntry | None:
        host = self.files.get(path)
        if host is None:
            return None
        return FileEntry(path, EntryKind.FILE, host.stat().st_size, self.mode, "", 0, "sha256:" + "0" * 64)

    def entries(self) -> Iterator[FileEntry]:
        for path in sorted(self.files):
            found = self.entry(path)
            if found is not None:
                yield found

    def resolve(self, path: str) -> str | None:
        return path

    def captured(self, request: FileRequest) -> Iterator[str]:
        for entry in self.entries():
            if request.matches(entry) and entry.size <= request.max_size:
                with self.open(entry.path) as stream:
                    if stream.read(len(request.magic)).startswith(request.magic):
                        yield entry.path

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as stream:
            return stream.read()

    def open(self, path: str) -> BinaryIO:
        if path not in self.files:
            raise KeyError(path)
        return self.files[path].open("rb")
