"""`SquashedFilesystem.captured`: the same answer as testing every captured path, found by base name where
the patterns allow, and worked out once per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.image import open_image
from scanner.image.filesystem import FileRequest
from scanner.image.squash import ContentStore
from tests.image.builders import ImageSpec, docker_archive, file

METADATA = FileRequest(("**/*.dist-info/METADATA", "**/EGG-INFO/PKG-INFO"))
JSON = FileRequest(("**/package.json", "etc/*.json"))
ELF = FileRequest(("**",), magic=b"\x7fELF", executable_only=True)
FILES = [file("z/a.dist-info/METADATA", b"m"), file("a/b.dist-info/METADATA", b"m"), file("a/METADATA", b"x"),
         file("b/EGG-INFO/PKG-INFO", b"p"), file("n/package.json", b"{}"), file("etc/x.json", b"{}"),
         file("usr/bin/tool", b"\x7fELF....", mode=0o755), file("usr/bin/script", b"#!/bin/sh", mode=0o755)]


def test_captured_paths_are_those_every_path_would_give_in_order(tmp_path: Path) -> None:
    image = docker_archive(tmp_path / "image.tar", ImageSpec([FILES]))
    with open_image(image, requests=[METADATA, JSON, ELF]) as opened:
        fs = opened.filesystem
        assert list(fs.captured(METADATA)) == ["a/b.dist-info/METADATA", "b/EGG-INFO/PKG-INFO",
                                               "z/a.dist-info/METADATA"]
        assert list(fs.captured(JSON)) == ["etc/x.json", "n/package.json"]
        assert list(fs.captured(ELF)) == ["usr/bin/tool"]


def test_a_request_is_answered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = docker_archive(tmp_path / "image.tar", ImageSpec([FILES]))
    reads: list[int] = []
    read = ContentStore.read
    def counted(self: ContentStore, *args: Any) -> bytes:
        reads.append(1)
        return read(self, *args)

    with open_image(image, requests=[ELF]) as opened:
        monkeypatch.setattr(ContentStore, "read", counted)
        first = list(opened.filesystem.captured(ELF))
        magic_reads = len(reads)
        assert list(opened.filesystem.captured(FileRequest(("**",), magic=b"\x7fELF", executable_only=True))) == first
        assert magic_reads > 0 and len(reads) == magic_reads  # the equal request of a second cataloger: no reads
