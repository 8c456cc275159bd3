"""The spool directory: what an image may write there is bounded, and a full disk is a one-line image error."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from scanner.errors import ImageError
from scanner.image import Limits, open_image, squash
from scanner.image.filesystem import FileRequest
from scanner.image.limits import MIB
from tests.image.builders import ImageSpec, docker_archive, file
from tests.image.test_hostile import single_layer_archive

JARS = FileRequest(("**/*.jar",), max_size=1 << 40)


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._left)
        buffer[:count] = bytes(count)
        self._left -= count
        return count


class _Hashing(io.RawIOBase):
    """Writes through to a zstd compressor, hashing the uncompressed tar for its diff_id."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.sink.write(data)
        return len(data)


def zeros_image(path: Path, files: int, size: int) -> Path:
    """One zstd layer of `files` jars of `size` zero bytes: a few KB standing for gigabytes."""
    compressed = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(compressed, closefd=False) as sink:
        hashing = _Hashing(sink)
        with tarfile.open(fileobj=hashing, mode="w|") as archive:
            for number in range(files):
                info = tarfile.TarInfo(f"opt/app{number}.jar")
                info.size = size
                archive.addfile(info, io.BufferedReader(_Zeros(size)))
    return single_layer_archive(path, compressed.getvalue(), "sha256:" + hashing.hash.hexdigest())


@pytest.fixture
def spool_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    parent = tmp_path / "spool-parent"
    parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(parent))
    return parent


def _spooled(parent: Path) -> int:
    return sum(p.stat().st_size for p in parent.glob("airgap-scanner-*/spool"))


def test_a_tiny_image_cannot_spool_gigabytes(tmp_path: Path, spool_parent: Path) -> None:
    # The review's case at a smaller scale: 300 MiB of zeros named *.jar in a zstd layer of a few KB.
    path = zeros_image(tmp_path / "bomb.tar", 3, 100 * MIB)
    assert path.stat().st_size < 100_000
    with open_image(path, requests=[JARS]) as image:
        assert len(list(image.filesystem.captured(JARS))) == 2
        assert _spooled(spool_parent) == 200 * MIB <= Limits().min_capture_allowance
        [warning] = image.warnings
        assert warning.endswith(f"opt/app2.jar not read: captured content would exceed the image's "
                                f"{Limits().min_capture_allowance}-byte cap (max_captured_bytes, max_capture_ratio)")
    assert list(spool_parent.iterdir()) == []


@pytest.mark.parametrize(("limits", "captured"), [
    (Limits(min_capture_allowance=2 * MIB, max_capture_ratio=1), 2),  # the floor: 2 MiB
    (Limits(min_capture_allowance=0, max_capture_ratio=1000), 0),  # a few KB stored: well under 1 MiB
    (Limits(min_capture_allowance=0, max_capture_ratio=10**9), 5),  # the ratio allows it all ...
    (Limits(min_capture_allowance=0, max_capture_ratio=10**9, max_captured_bytes=3 * MIB), 3),  # ... the cap not
])
def test_capture_budget_is_the_ratio_to_the_stored_size_within_floor_and_cap(
        tmp_path: Path, spool_parent: Path, limits: Limits, captured: int) -> None:
    path = zeros_image(tmp_path / "image.tar", 5, MIB)
    with open_image(path, requests=[JARS], limits=limits) as image:
        assert len(list(image.filesystem.captured(JARS))) == captured
        assert len(image.warnings) == 5 - captured


class _FullDisk(io.BytesIO):
    """A spool file on a disk that fills up after `room` bytes."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_full_disk_while_spooling_is_an_image_error_naming_the_spool(
        tmp_path: Path, spool_parent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(squash, "open", lambda *args, **kwargs: _FullDisk(3 * MIB), raising=False)
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file(f"a{n}.jar", os.urandom(2 * MIB))
                                                               for n in range(2)]]))
    with pytest.raises(ImageError, match=r"/spool-parent/airgap-scanner-\w+/spool: cannot write to the spool "
                                         r"\(No space left on device\); free space there or point TMPDIR "
                                         r"elsewhere\Z") as error:
        open_image(path, requests=[JARS])
    assert error.value.exit_code == 3
    assert list(spool_parent.iterdir()) == []


def test_unusable_tmpdir_is_an_image_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file("a", b"a")]]))
    with pytest.raises(ImageError, match=r"/missing: cannot create a spool directory \(No such file or directory\)"):
        open_image(path)


def test_path_index_text_cap(tmp_path: Path, spool_parent: Path) -> None:
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file(f"dir/file{n:04d}", b"") for n in range(100)]]))
    with open_image(path, limits=Limits(max_index_bytes=1200)):
        pass
    with pytest.raises(ImageError, match=r"layer 0 \(.*\): more than 1199 bytes of paths to index "
                                         r"\(max_index_bytes\); not read further\Z"):
        open_image(path, limits=Limits(max_index_bytes=1199))
    assert list(spool_parent.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a tmpfs of the given size, where this system lets us (root outside a restricted container)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        mount_point = tmp_path / f"tmpfs-{size}"
        mount_point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                              capture_output=True, check=False)
        if done.returncode:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize(("size", "what"), [
    ("256k", "cannot write to the spool (No space left on device)"),  # the index fits, a 2 MiB jar does not
    ("4k", "cannot write the path index (database or disk is full)"),
], ids=["content", "index"])
def test_a_real_full_disk_gives_exit_3_and_leaves_nothing(tmp_path: Path, small_tmpfs: Callable[[str], Path],
                                                          size: str, what: str) -> None:
    spool_parent = small_tmpfs(size)
    image = docker_archive(tmp_path / "image.tar", ImageSpec([[file("opt/app.jar", os.urandom(2 * MIB))]]))
    done = subprocess.run([sys.executable, "-c", "from scanner.cli import main; main()", "sbom", str(image)],
                          env={**os.environ, "TMPDIR": str(spool_parent)}, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"scanner: error: {spool_parent}/airgap-scanner-")
    assert what in done.stderr and done.stderr.count("\n") == 1
    assert list(spool_parent.iterdir()) == []
