"""Uncompressed layers read in place (`PlainLayer`): unwanted content is skipped, not read; the blob is
hashed whole by another thread; a file that changes or shrinks while it is read is refused."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path

import pytest

from scanner.errors import ImageError
from scanner.image import decompress, open_image
from scanner.image.decompress import Budget, PlainLayer
from scanner.image.filesystem import FileRequest
from scanner.image.limits import Limits
from scanner.image.source import FileWindow
from scanner.image.tarstream import iter_members
from tests.image.builders import ImageSpec, docker_archive, file, oci_layout, tar_bytes

STATUS = FileRequest(("var/lib/dpkg/status",))
BIG = os.urandom(4 * 1024 * 1024)


def _image(tmp_path: Path, as_tar: bool = True) -> Path:
    layers = [[file("opt/big.bin", BIG), file("var/lib/dpkg/status", b"Package: a\n"), file("etc/x", b"x")]]
    if as_tar:
        return docker_archive(tmp_path / "image.tar", ImageSpec(layers))
    return oci_layout(tmp_path / "layout", ImageSpec(layers), as_tar=False)


def test_unwanted_content_is_skipped_and_the_blob_hashed_whole(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    read_by: dict[str, int] = {}
    pread = FileWindow.pread

    def counted(self: FileWindow, size: int, position: int) -> bytes:
        data = pread(self, size, position)
        hashing = threading.current_thread().name.startswith("layer-hash")
        read_by["hash" if hashing else "parse"] = read_by.get("hash" if hashing else "parse", 0) + len(data)
        return data

    monkeypatch.setattr(FileWindow, "pread", counted)
    with open_image(_image(tmp_path), requests=[STATUS]) as image:
        assert image.filesystem.read_bytes("var/lib/dpkg/status") == b"Package: a\n"
        layer = image.metadata.layers[0]
    assert read_by["hash"] == layer.size > len(BIG)
    assert read_by["parse"] < 256 * 1024  # headers and the status file, not the 4 MiB nobody asked for


@pytest.mark.parametrize("as_tar", [True, False], ids=["docker-archive", "oci-layout-directory"])
def test_a_file_changed_while_it_is_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    as_tar: bool) -> None:
    image = _image(tmp_path, as_tar)
    blobs = [image] if as_tar else [p for p in (image / "blobs" / "sha256").iterdir() if p.stat().st_size > len(BIG)]
    hash_blob = PlainLayer._hash_blob

    def touched(self: PlainLayer) -> None:
        for blob in blobs:  # same times written back: only the change time moves, as with any write
            state = blob.stat()
            os.utime(blob, ns=(state.st_atime_ns, state.st_mtime_ns))
        hash_blob(self)

    monkeypatch.setattr(PlainLayer, "_hash_blob", touched)
    with pytest.raises(ImageError, match="changed while it was being read"):
        open_image(image, requests=[STATUS])


def _blob(tmp_path: Path) -> tuple[Path, bytes]:
    data = tar_bytes([file("a", b"a" * 3000), file("b", b"b")])
    path = tmp_path / "layer.tar"
    path.write_bytes(data)
    return path, data


def test_a_sha512_blob_digest_and_its_sha256_diff_id(tmp_path: Path) -> None:
    path, data = _blob(tmp_path)
    with path.open("rb") as handle, PlainLayer(FileWindow(handle.fileno(), 0, len(data)), "t", Budget(1 << 20),
                                               "sha512") as layer:
        assert [m.name for m in iter_members(layer, "t", Limits())] == [b"a", b"b"]
        layer.drain()
        assert layer.blob_digest == "sha512:" + hashlib.sha512(data).hexdigest()
        assert layer.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
        assert layer.blob_size == layer.size == len(data)


def test_a_blob_shorter_than_its_window_is_truncated(tmp_path: Path) -> None:
    path, data = _blob(tmp_path)
    with path.open("rb") as handle, PlainLayer(FileWindow(handle.fileno(), 0, len(data) + 4096), "t",
                                               Budget(1 << 20)) as layer:
        list(iter_members(layer, "t", Limits()))
        with pytest.raises(ImageError, match="truncated"):
            layer.drain()


def test_the_decompression_cap_counts_an_uncompressed_blob(tmp_path: Path) -> None:
    path, data = _blob(tmp_path)
    with path.open("rb") as handle, pytest.raises(ImageError, match="decompression bomb"):
        PlainLayer(FileWindow(handle.fileno(), 0, len(data)), "t", Budget(len(data) - 1))


def test_reading_layers_hands_the_gil_over_quickly_and_restores_the_interval() -> None:
    before = sys.getswitchinterval()
    with decompress.responsive_threads():
        assert sys.getswitchinterval() <= 0.0005
    assert sys.getswitchinterval() == before
