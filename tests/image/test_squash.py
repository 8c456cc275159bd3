"""The squashed filesystem's lookups: symlinked directories, hostile paths, batched prefetching."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scanner.image import open_image, squash
from scanner.image.filesystem import FileRequest
from tests.image.builders import ImageSpec, directory, docker_archive, file, symlink
from tests.image.test_filesystem import DEEP, SEGMENTS, TIME_BOUND


def test_squashed_filesystem_long_paths(tmp_path: Path) -> None:
    layer = [directory("usr/lib"), symlink("lib", "usr/lib"), file("usr/lib/os-release", b"ID=debian\n"),
             symlink("etc/loop/a", "../loop/a/b")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, requests=[FileRequest(("usr/lib/*",))]) as image:
        fs = image.filesystem
        start = time.process_time()
        assert fs.resolve(f"lib/{DEEP}") == f"usr/lib/{DEEP}"
        assert fs.resolve(f"etc/loop/a/{DEEP}") is None
        assert fs.resolve(DEEP + "/.." * SEGMENTS + "/lib/os-release") == "usr/lib/os-release"
        assert time.process_time() - start < TIME_BOUND
        assert fs.read_bytes("lib/os-release") == b"ID=debian\n"
        with pytest.raises(KeyError):
            fs.read_bytes(f"lib/{DEEP}")


def test_a_member_under_a_symlinked_directory_lands_where_the_link_leads(tmp_path: Path) -> None:
    # One layer links lib -> usr/lib, then lists lib/x: runtimes write it through the link, over usr/lib/x.
    layer = [file("usr/lib/x", b"real"), symlink("lib", "usr/lib"), file("lib/x", b"written through")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    request = FileRequest(("**/x",))
    with open_image(path, requests=[request]) as image:
        fs = image.filesystem
        assert fs.resolve("lib/x") == "usr/lib/x"
        assert fs.read_bytes("lib/x") == fs.read_bytes("usr/lib/x") == b"written through"
        assert list(fs.captured(request)) == ["usr/lib/x"]
        assert [e.path for e in fs.entries()] == ["lib", "usr/lib/x"]


def test_lookups_past_the_prefetch_budget_give_the_same_answers(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    layer = [directory("usr/lib"), symlink("lib", "usr/lib"), symlink("opt/app/lib", "../../lib"),
             *(file(f"usr/lib/m{n}/x", f"module {n}".encode()) for n in range(50)),
             file("opt/app/lib/m7/x", b"shadowed"), symlink("opt/app/current", "lib/m3/x")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    request = FileRequest(("**/x", "opt/app/current"))
    answers = []
    for budget in (squash._PREFETCH_CHARS, 10):
        monkeypatch.setattr(squash, "_PREFETCH_CHARS", budget)
        with open_image(path, requests=[request]) as image:
            fs = image.filesystem
            captured = list(fs.captured(request))
            answers.append((captured, [fs.read_bytes(p) for p in captured], [fs.resolve(p) for p in captured],
                            [fs.entry(p) for p in captured]))
    assert answers[0] == answers[1]
    captured, contents, resolved, _ = answers[0]
    assert "opt/app/current" in captured and "usr/lib/m7/x" in captured
    assert resolved[captured.index("opt/app/current")] == "usr/lib/m3/x"
    assert contents[captured.index("usr/lib/m7/x")] == b"shadowed"  # written through opt/app/lib, as runtimes do
    assert contents[captured.index("opt/app/current")] == b"module 3"
