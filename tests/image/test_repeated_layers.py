"""A layer blob listed at several positions: applied at each, as runtimes do, but decompressed and parsed once."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

import pytest

from scanner.errors import ImageError
from scanner.image import Limits, open_image, reader
from scanner.image.decompress import LayerStream
from scanner.image.filesystem import FileRequest
from scanner.image.manifests import LayerRef
from tests.image.builders import (
    Entry,
    ImageSpec,
    directory,
    docker_archive,
    file,
    hardlink,
    oci_layout,
    opaque,
    sha256,
    symlink,
    tar_bytes,
    whiteout,
)
from tests.image.test_hardlinks import our_view, umoci_view

BASE = [file("x", b"x base"), directory("d"), file("d/base", b"base"), file("gone", b"g")]
# Deletes what M adds, and links to a file M replaces: applied again after M, it must act on M's files.
L = [whiteout("b"), opaque("d"), file("d/l", b"from L"), hardlink("h", "x"), symlink("s", "x"), file("a", b"a"),
     whiteout("gone")]
M = [file("b", b"b from M"), file("d/k", b"k from M"), file("x", b"x from M"), file("gone", b"back")]


@pytest.fixture
def layer_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Labels of the layer streams opened (each one a decompression and parse of a blob)."""
    opened: list[str] = []
    open_layer = reader._open_layer

    def counted(run: reader._Pass, index: int, ref: LayerRef) -> LayerStream:
        stream = open_layer(run, index, ref)
        opened.append(stream.label)
        return stream

    monkeypatch.setattr(reader, "_open_layer", counted)
    return opened


@pytest.mark.tools
@pytest.mark.parametrize("layers", [[BASE, L, M, L], [BASE, L, L, M, L, M], [BASE, L, L, L]],
                         ids=["L M L", "L L M L M", "L L L"])
def test_repeated_layers_match_umoci(tmp_path: Path, layers: list[list[Entry]], layer_reads: list[str]) -> None:
    reference = umoci_view(layers, tmp_path)
    assert isinstance(reference, dict), reference
    view, warnings = our_view(docker_archive(tmp_path / "image.tar", ImageSpec(layers)))
    assert view == reference
    assert warnings == ()
    assert len(layer_reads) == len({id(layer) for layer in layers})


def test_each_position_is_reported_and_attributed(tmp_path: Path, layer_reads: list[str]) -> None:
    spec = ImageSpec([BASE, L, M, L], compression="gzip")
    blobs = spec.layer_blobs()
    path = oci_layout(tmp_path / "oci.tar", spec)
    with open_image(path, requests=[FileRequest(("**",))]) as image:
        layers = image.metadata.layers
        assert [layer.index for layer in layers] == [0, 1, 2, 3]
        assert [layer.digest for layer in layers] == [sha256(blob) for blob, _, _ in blobs]
        assert layers[3].files == layers[1].files == len(L)
        fs = image.filesystem
        assert fs.entry("d/l").layer_index == 3  # type: ignore[union-attr]
        assert fs.entry("d/l").layer_digest == layers[1].digest  # type: ignore[union-attr]
        assert fs.read_bytes("h") == b"x from M"
        assert fs.read_bytes("s") == b"x from M"
    assert len(layer_reads) == 3


def test_a_layer_listed_many_times_costs_one_read_and_one_stored_copy(
        tmp_path: Path, layer_reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    jar = os.urandom(200_000)
    layer = [file(f"opt/app{n}.jar", jar[n:] + jar[:n]) for n in range(3)]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer] * 40))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    jars = FileRequest(("**/*.jar",))
    with open_image(path, requests=[jars], limits=Limits(spool_threshold=1024)) as image:
        fs = image.filesystem
        assert len(image.metadata.layers) == 40
        assert [fs.entry(p).layer_index for p in fs.captured(jars)] == [39, 39, 39]  # type: ignore[union-attr]
        assert fs.read_bytes("opt/app1.jar") == jar[1:] + jar[:1]
        [spool] = tmp_path.glob("airgap-scanner-*/spool")
        assert spool.stat().st_size == 3 * len(jar)
    assert len(layer_reads) == 1


def test_a_blob_linked_under_two_names_is_read_once(tmp_path: Path, layer_reads: list[str]) -> None:
    blob = tar_bytes([file("etc/os-release", b"ID=debian\n")])
    config = ImageSpec([]).config([sha256(blob), sha256(blob)])
    manifest = [{"Config": "config.json", "RepoTags": ["x:1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]
    with tarfile.open(tmp_path / "image.tar", "w") as archive:
        for name, data in (("config.json", config), ("manifest.json", json.dumps(manifest).encode()),
                           ("aaa/layer.tar", blob)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bbb/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        archive.addfile(link)
    with open_image(tmp_path / "image.tar") as image:
        assert [layer.index for layer in image.metadata.layers] == [0, 1]
        assert image.filesystem.entry("etc/os-release").layer_index == 1  # type: ignore[union-attr]
    assert len(layer_reads) == 1


def test_each_listing_is_checked_against_its_own_diff_id(tmp_path: Path) -> None:
    blob = tar_bytes([file("a", b"a")])
    config = ImageSpec([]).config([sha256(blob), "sha256:" + "1" * 64])
    manifest = [{"Config": "config.json", "RepoTags": ["x:1"], "Layers": ["layer.tar", "layer.tar"]}]
    with tarfile.open(tmp_path / "image.tar", "w") as archive:
        for name, data in (("config.json", config), ("manifest.json", json.dumps(manifest).encode()),
                           ("layer.tar", blob)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageError, match=r"layer 1 \(layer\.tar\): uncompressed digest is sha256:[0-9a-f]+, "
                                         r"config diff_id says sha256:1+\Z"):
        open_image(tmp_path / "image.tar")


def test_repeats_count_towards_the_entry_cap(tmp_path: Path) -> None:
    layer = [file(f"f{n}", b"") for n in range(10)]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer] * 3))
    with open_image(path, limits=Limits(max_entries=30)) as image:
        assert len(image.metadata.layers) == 3
    with pytest.raises(ImageError, match=r"layer 2 \(.*\): more than 29 tar entries in the image, a layer listed "
                                         r"again counted again \(max_entries\)"):
        open_image(path, limits=Limits(max_entries=29))


@pytest.mark.parametrize("kind", ["docker", "oci"])
def test_layer_count_cap(tmp_path: Path, kind: str) -> None:
    spec = ImageSpec([[file("a", b"a")]] * 6)
    path = docker_archive(tmp_path / "i.tar", spec) if kind == "docker" else oci_layout(tmp_path / "o.tar", spec)
    with open_image(path, limits=Limits(max_layers=6)):
        pass
    with pytest.raises(ImageError, match=r"6 layers, more than 5 \(max_layers\)") as error:
        open_image(path, limits=Limits(max_layers=5))
    assert error.value.exit_code == 3
