"""A hard link to a file whose magic number no request wants needs no second pass over its layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.image import open_image, reader
from scanner.image.filesystem import FileRequest
from tests.image.builders import ImageSpec, docker_archive, file, hardlink

ELF_REQUEST = FileRequest(("**",), magic=b"\x7fELF", executable_only=True)
ELF = b"\x7fELF\x02\x01\x01" + bytes(60)


def passes_over(path: Path, monkeypatch: pytest.MonkeyPatch, requests: list[FileRequest]) -> tuple[int, list[str]]:
    """(extra passes over a layer, the captured paths) of opening the image at `path`."""
    calls = []
    original = reader._reread_layer

    def counted(*args: Any) -> None:
        calls.append(args[1])
        original(*args)

    monkeypatch.setattr(reader, "_reread_layer", counted)
    with open_image(path, requests=requests) as image:
        captured = sorted(p for r in requests for p in image.filesystem.captured(r))
        for each in captured:
            assert image.filesystem.read_bytes(each)[:4] == b"\x7fELF"
    return len(calls), captured


def test_link_to_a_script_beside_elf_executables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Debian's gzip: gunzip is a shell script and uncompress a hard link to it.
    layer = [file("usr/bin/gunzip", b"#!/bin/sh\nexec gzip -d\n", 0o755), hardlink("usr/bin/uncompress", "usr/bin/gunzip"),
             file("usr/bin/app", ELF, 0o755), hardlink("usr/bin/app-link", "usr/bin/app"),
             file("usr/bin/tiny", b"#!", 0o755), hardlink("usr/bin/tiny-link", "usr/bin/tiny")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    assert passes_over(path, monkeypatch, [ELF_REQUEST]) == (0, ["usr/bin/app", "usr/bin/app-link"])


def test_a_link_whose_own_request_the_bytes_read_cannot_decide_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first request read 2 bytes (its magic's length); the link's request needs 4.
    zips = FileRequest(("usr/bin/*",), magic=b"PK")
    elf = FileRequest(("usr/sbin/*",), magic=b"\x7fELF")
    decided = [file("usr/bin/a", b"\x7fX" + bytes(20)), hardlink("usr/sbin/a", "usr/bin/a")]  # \x7fX rules it out
    path = docker_archive(tmp_path / "decided.tar", ImageSpec([decided]))
    assert passes_over(path, monkeypatch, [zips, elf]) == (0, [])
    undecided = [file("usr/bin/b", ELF), hardlink("usr/sbin/b", "usr/bin/b")]  # \x7fE may start \x7fELF
    path = docker_archive(tmp_path / "undecided.tar", ImageSpec([undecided]))
    assert passes_over(path, monkeypatch, [zips, elf]) == (1, ["usr/sbin/b"])
