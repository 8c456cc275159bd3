"""Hostile archives: each one gives a one-line ImageError or a logged skip, never a crash, hang or stray write."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from scanner.errors import ImageError
from scanner.image import Limits, open_image
from scanner.image.filesystem import EntryKind, FileRequest
from tests.image.builders import (
    ImageSpec,
    device,
    docker_archive,
    file,
    hardlink,
    oci_layout,
    sha256,
    symlink,
    tar_bytes,
    whiteout,
)

EVERYTHING = FileRequest(("**",))


def raw_archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def single_layer_archive(path: Path, layer_blob: bytes, diff_id: str | None = None) -> Path:
    config = ImageSpec([]).config([diff_id or sha256(layer_blob)])
    return raw_archive(path, {
        "layer.tar": layer_blob,
        "config.json": config,
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": ["x:1"], "Layers": ["layer.tar"]}]).encode(),
    })


def assert_one_line(error: pytest.ExceptionInfo[ImageError]) -> None:
    message = str(error.value)
    assert message and "\n" not in message
    assert error.value.exit_code == 3


def test_absolute_member_names_are_taken_from_the_root(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    layer = tar_bytes([file("/etc/passwd", b"root:x:0:0\n"), file("./ok", b"ok"), file("a/..", b"the root")])
    path = single_layer_archive(work / "image.tar", layer)
    with open_image(path, requests=[EVERYTHING]) as image:
        fs = image.filesystem
        assert sorted(e.path for e in fs.entries()) == ["etc/passwd", "ok"]
        assert fs.read_bytes("etc/passwd") == b"root:x:0:0\n"
        assert image.warnings == ()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["image.tar", "work"]


@pytest.mark.parametrize("entry", [file("../../escape", b"x"), file("a/../../../up", b"y"),
                                   hardlink("var/lib/dpkg/status", "../status")], ids=["member", "deeper", "hardlink"])
def test_names_climbing_above_the_root_are_refused(tmp_path: Path, entry: tuple[tarfile.TarInfo, bytes]) -> None:
    # containerd and umoci unpack "../x" as "x", docker refuses the layer: no one reading to agree with.
    path = single_layer_archive(tmp_path / "image.tar", tar_bytes([file("status", b"real"), entry]))
    with pytest.raises(ImageError, match=r"layer 0 \(layer\.tar\): .* climbs above the image root; refused as "
                                         r"ambiguous \(containerd and umoci unpack it under the root, docker "
                                         r"refuses the layer\)") as error:
        open_image(path)
    assert_one_line(error)


def test_a_backslash_is_part_of_a_name_as_for_the_runtimes(tmp_path: Path) -> None:
    # A runtime unpacks "var\\lib\\dpkg\\status" as one odd file at the root: it must not replace the real one.
    status = FileRequest(("var/lib/dpkg/status",))
    layer = tar_bytes([file("var/lib/dpkg/status", b"Package: real\n"), file("var\\lib\\dpkg\\status", b"fake")])
    with open_image(single_layer_archive(tmp_path / "image.tar", layer), requests=[status]) as image:
        assert image.filesystem.read_bytes("var/lib/dpkg/status") == b"Package: real\n"
        assert image.filesystem.entry("var\\lib\\dpkg\\status") is not None


def test_symlinks_out_of_root_stay_inside(tmp_path: Path) -> None:
    layer = [symlink("etc/os-release", "../../../../../etc/hostname"), symlink("abs", "/etc/hostname")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, requests=[EVERYTHING]) as image:
        fs = image.filesystem
        assert fs.resolve("etc/os-release") == "etc/hostname"
        assert list(fs.captured(EVERYTHING)) == []  # the host's /etc/hostname is never read
        with pytest.raises(KeyError):
            fs.read_bytes("abs")


def test_symlink_loop_is_a_logged_skip(tmp_path: Path) -> None:
    layer = [symlink("etc/os-release", "os-release-2"), symlink("etc/os-release-2", "os-release")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, requests=[FileRequest(("etc/os-release",))]) as image:
        assert image.filesystem.resolve("etc/os-release") is None
        assert any("symlink loop" in w for w in image.warnings)
        assert list(image.filesystem.captured(FileRequest(("etc/os-release",)))) == []


def test_device_fifo_and_hardlink_to_nowhere(tmp_path: Path) -> None:
    fifo = tarfile.TarInfo("run/fifo")
    fifo.type = tarfile.FIFOTYPE
    layer = [device("dev/sda"), (fifo, b""), hardlink("bin/ghost", "bin/missing"), whiteout("x/..")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, requests=[EVERYTHING]) as image:
        fs = image.filesystem
        assert fs.entry("dev/sda").kind is EntryKind.OTHER  # type: ignore[union-attr]
        assert fs.entry("run/fifo").kind is EntryKind.OTHER  # type: ignore[union-attr]
        assert fs.entry("bin/ghost") is None
        assert any("hard link 'bin/ghost' to a missing file" in w for w in image.warnings)
        assert any("whiteout 'x/.wh...' that names no file" in w for w in image.warnings)


def test_non_utf8_names_are_skipped(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as archive:
        for name in ("caf\udce9", "fine"):
            info = tarfile.TarInfo(name)
            archive.addfile(info, io.BytesIO(b""))
    path = single_layer_archive(tmp_path / "image.tar", buffer.getvalue())
    with open_image(path) as image:
        assert [e.path for e in image.filesystem.entries()] == ["fine"]
        assert any("non-UTF-8 name b'caf\\xe9'" in w for w in image.warnings)


def test_non_utf8_bytes_a_dot_dot_removes_do_not_hide_the_member(tmp_path: Path) -> None:
    # Go cleans "var/\xff/../lib/dpkg/status" to "var/lib/dpkg/status": the runtime's dpkg database.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as archive:
        for name, data in (("var/lib/dpkg/status", b"fake"), ("var/\udcff/../lib/dpkg/status", b"real")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    status = FileRequest(("var/lib/dpkg/status",))
    with open_image(single_layer_archive(tmp_path / "image.tar", buffer.getvalue()), requests=[status]) as image:
        assert image.filesystem.read_bytes("var/lib/dpkg/status") == b"real"


def test_hard_link_to_a_non_utf8_name_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as archive:
        for info, data in (file("caf\udce9", b"real"), hardlink("var/lib/dpkg/status", "caf\udce9")):
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageError, match=r"hard link 'var/lib/dpkg/status' to b'caf\\xe9', a name that is not UTF-8"):
        open_image(single_layer_archive(tmp_path / "image.tar", buffer.getvalue()))


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_truncated_layer(tmp_path: Path, compression: str) -> None:
    raw = tar_bytes([file("big", os.urandom(200_000))])
    blob = {"none": raw, "gzip": gzip.compress(raw), "zstd": zstandard.ZstdCompressor().compress(raw)}[compression]
    path = single_layer_archive(tmp_path / "image.tar", blob[: len(blob) // 2], diff_id=sha256(raw))
    with pytest.raises(ImageError, match=r"layer 0 \(layer\.tar\): .*(truncated|digest)") as error:
        open_image(path)
    assert_one_line(error)


def test_truncated_outer_archive(tmp_path: Path) -> None:
    full = docker_archive(tmp_path / "image.tar", ImageSpec([[file("a", os.urandom(50_000))]])).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(full[:20_000])
    with pytest.raises(ImageError) as error:
        open_image(cut)
    assert_one_line(error)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_decompression_bomb_hits_the_cap(tmp_path: Path, compression: str) -> None:
    raw = tar_bytes([file("zeros", bytes(16 * 1024 * 1024))])
    blob = gzip.compress(raw, 1) if compression == "gzip" else zstandard.ZstdCompressor(level=3).compress(raw)
    assert len(blob) < len(raw) // 100
    path = single_layer_archive(tmp_path / "bomb.tar", blob)
    with pytest.raises(ImageError, match="possible decompression bomb") as error:
        open_image(path, limits=Limits(max_uncompressed_bytes=4 * 1024 * 1024))
    assert_one_line(error)


def test_manifest_naming_a_missing_layer(tmp_path: Path) -> None:
    config = ImageSpec([]).config([sha256(b"")])
    path = raw_archive(tmp_path / "image.tar", {
        "config.json": config,
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": [], "Layers": ["gone/layer.tar"]}]).encode(),
    })
    with pytest.raises(ImageError, match=r"layer 0 \(gone/layer\.tar\): the layer blob is missing") as error:
        open_image(path)
    assert_one_line(error)


@pytest.mark.parametrize(("config", "message"), [
    (b"{not json", "config config.json: not valid JSON"),
    (b"[1, 2]", "config config.json: expected a JSON object"),
    (b'{"rootfs": {}}', "no rootfs.diff_ids"),
    (b'{"rootfs": {"diff_ids": ["sha256:../../etc"]}}', "invalid digest"),
])
def test_unparseable_config(tmp_path: Path, config: bytes, message: str) -> None:
    path = raw_archive(tmp_path / "image.tar", {
        "config.json": config,
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": [], "Layers": ["l.tar"]}]).encode(),
    })
    with pytest.raises(ImageError, match=message) as error:
        open_image(path)
    assert_one_line(error)


@pytest.mark.parametrize(("manifest", "message"), [
    (b"\xff\xfe", "manifest.json: not valid JSON"),
    (b"{}", "manifest.json: expected a JSON list"),
    (b"[]", "lists no image"),
    (b'[{"RepoTags": ["a:1"]}]', "lacks Config or Layers"),
])
def test_malformed_manifest(tmp_path: Path, manifest: bytes, message: str) -> None:
    path = raw_archive(tmp_path / "image.tar", {"manifest.json": manifest})
    with pytest.raises(ImageError, match=message) as error:
        open_image(path)
    assert_one_line(error)


def test_diff_id_mismatch_names_the_layer(tmp_path: Path) -> None:
    path = single_layer_archive(tmp_path / "image.tar", tar_bytes([file("a", b"a")]), diff_id="sha256:" + "0" * 64)
    with pytest.raises(ImageError, match=r"layer 0 \(layer\.tar\): uncompressed digest is sha256:[0-9a-f]+, "
                                         r"config diff_id says sha256:0+"):
        open_image(path)


def test_oci_blob_digest_mismatch(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    image = ImageSpec([[file("a", b"a")]], compression="gzip")
    oci_layout(layout, image, as_tar=False)
    blob = layout / "blobs" / "sha256" / sha256(image.layer_blobs()[0][0])[7:]
    blob.write_bytes(gzip.compress(tar_bytes([file("a", b"b")])))
    with pytest.raises(ImageError, match=r"layer 0 \(blobs/sha256/[0-9a-f]+\): blob digest is"):
        open_image(layout)


def test_oci_blob_symlinked_outside_the_layout_is_missing(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    image = ImageSpec([[file("a", b"a")]])
    oci_layout(layout, image, as_tar=False)
    blob = layout / "blobs" / "sha256" / sha256(image.layer_blobs()[0][0])[7:]
    outside = tmp_path / "outside"
    blob.rename(outside)
    blob.symlink_to(outside)
    with pytest.raises(ImageError, match="the layer blob is missing"):
        open_image(layout)


def test_index_with_path_traversal_digest(tmp_path: Path) -> None:
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                               "digest": "sha256:../../../../etc/passwd", "size": 1}]}
    path = raw_archive(tmp_path / "oci.tar", {"oci-layout": b"{}", "index.json": json.dumps(index).encode()})
    with pytest.raises(ImageError, match="invalid digest"):
        open_image(path)


def test_corrupt_gzip_layer(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(tar_bytes([file("a", os.urandom(5000))])))
    blob[40:60] = bytes(20)
    path = single_layer_archive(tmp_path / "image.tar", bytes(blob))
    with pytest.raises(ImageError, match=r"corrupt gzip stream|truncated|checksum|digest") as error:
        open_image(path)
    assert_one_line(error)


def test_layer_that_is_not_a_tar(tmp_path: Path) -> None:
    path = single_layer_archive(tmp_path / "image.tar", os.urandom(4096))
    with pytest.raises(ImageError, match=r"layer 0 \(layer.tar\): not a tar archive") as error:
        open_image(path)
    assert_one_line(error)


def test_oversized_pax_header(tmp_path: Path) -> None:
    info = tarfile.TarInfo("a")
    info.pax_headers = {"comment": "x" * 4096}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(info, io.BytesIO(b""))
    path = single_layer_archive(tmp_path / "image.tar", buffer.getvalue())
    with pytest.raises(ImageError, match=r"pax header of .* bytes exceeds the 1024-byte cap"):
        open_image(path, limits=Limits(max_header_size=1024))


def test_entry_count_cap(tmp_path: Path) -> None:
    path = single_layer_archive(tmp_path / "image.tar", tar_bytes([file(f"f{i}", b"") for i in range(50)]))
    with pytest.raises(ImageError, match="more than 10 tar entries"):
        open_image(path, limits=Limits(max_entries=10))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "no such file"),
    (gzip.compress(b"x" * 1000, mtime=0), "gzip-compressed; decompress it first"),
    (b"hello", "not a tar archive"),
    (bytes(range(256)) * 8, "thing: not a tar archive"),
    (b"# Read me\n\nA Markdown file is not an image, and says so at once.\n" * 20, "thing: not a tar archive"),
], ids=["missing", "gzip", "short", "garbage", "markdown"])
def test_not_an_image(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "thing"
    if content:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as error:
        open_image(path)
    assert_one_line(error)


def test_tar_without_image_metadata(tmp_path: Path) -> None:
    path = raw_archive(tmp_path / "plain.tar", {"README": b"hi"})
    with pytest.raises(ImageError, match="not an image archive"):
        open_image(path)


def test_warnings_are_capped(tmp_path: Path) -> None:
    layer = tar_bytes([file(f"d{i}/.wh.", b"") for i in range(30)])  # whiteouts that name no file
    path = single_layer_archive(tmp_path / "image.tar", layer)
    with open_image(path, limits=Limits(max_warnings=5)) as image:
        assert len(image.warnings) == 6 and image.warnings[-1] == "... and 25 more warnings"


def test_hostile_multi_platform_selection_lists_no_secrets(tmp_path: Path) -> None:
    path = oci_layout(tmp_path / "oci.tar", ImageSpec([[file("a", b"")]]))
    with pytest.raises(ImageError, match="no image named other"):
        open_image(path, image="other")


# --- OCI layout directories and index graphs ---------------------------------------------------------


def _layout_with_image(path: Path) -> tuple[Path, ImageSpec]:
    path.mkdir()
    image = ImageSpec([[file("etc/os-release", b"ID=alpine\n")]])
    return oci_layout(path, image, as_tar=False), image


@pytest.mark.parametrize("name", ["index.json", "blob"])
def test_oci_layout_symlink_loop_is_an_image_error(tmp_path: Path, name: str) -> None:
    layout, image = _layout_with_image(tmp_path / "layout")
    target = layout / "index.json" if name == "index.json" else \
        layout / "blobs" / "sha256" / sha256(image.layer_blobs()[0][0])[7:]
    target.unlink()
    target.symlink_to(target.name)
    with pytest.raises(ImageError, match=rf"{layout}: .*{target.name} is a symlink loop") as error:
        open_image(layout)
    assert_one_line(error)


def test_oci_layout_symlinks_inside_the_layout_are_followed(tmp_path: Path) -> None:
    layout, image = _layout_with_image(tmp_path / "layout")
    blob = layout / "blobs" / "sha256" / sha256(image.layer_blobs()[0][0])[7:]
    blob.rename(layout / "elsewhere")
    blob.symlink_to("../../elsewhere")
    with open_image(layout, requests=[EVERYTHING]) as opened:
        assert opened.filesystem.read_bytes("etc/os-release") == b"ID=alpine\n"


def test_oci_layout_blob_that_is_a_fifo_is_missing_without_blocking(tmp_path: Path) -> None:
    layout, image = _layout_with_image(tmp_path / "layout")
    blob = layout / "blobs" / "sha256" / sha256(image.layer_blobs()[0][0])[7:]
    blob.unlink()
    os.mkfifo(blob)
    with pytest.raises(ImageError, match="the layer blob is missing"):
        open_image(layout)


def _index(manifests: list[dict[str, object]]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": manifests}).encode()


def _index_descriptor(data: bytes) -> dict[str, object]:
    return {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(data), "size": len(data)}


def _write_blob(layout: Path, data: bytes) -> None:
    (layout / "blobs" / "sha256" / sha256(data)[7:]).write_bytes(data)


def test_nested_image_indexes_depth_cap(tmp_path: Path) -> None:
    layout, _ = _layout_with_image(tmp_path / "layout")
    index = (layout / "index.json").read_bytes()
    for _ in range(3):
        _write_blob(layout, index)
        index = _index([_index_descriptor(index)])
    (layout / "index.json").write_bytes(index)
    with open_image(layout):  # three nested indexes above the image's own index
        pass
    with pytest.raises(ImageError, match=r"image indexes nested more than 2 deep \(max_index_depth\)") as error:
        open_image(layout, limits=Limits(max_index_depth=2))
    assert_one_line(error)


def test_image_index_fan_out_is_capped(tmp_path: Path) -> None:
    # 300 descriptors of one index of 300: 90,300 descriptors from two small blobs, more with each level.
    layout, _ = _layout_with_image(tmp_path / "layout")
    inner = _index([json.loads((layout / "index.json").read_bytes())["manifests"][0]] * 300)
    _write_blob(layout, inner)
    (layout / "index.json").write_bytes(_index([_index_descriptor(inner)] * 300))
    with pytest.raises(ImageError, match=r"image indexes list more than 10000 descriptors "
                                         r"\(max_index_descriptors\)") as error:
        open_image(layout)
    assert_one_line(error)


def test_outer_archive_member_count_and_name_caps(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file("a", b"a")]]))
    with pytest.raises(ImageError, match=r"more than 2 members \(max_archive_members\); not an image archive"):
        open_image(path, limits=Limits(max_archive_members=2))
    with pytest.raises(ImageError, match=r"manifest.json is missing|no manifest.json"):
        open_image(path, limits=Limits(max_archive_name=len("manifest.json") - 1))


def test_symlink_with_a_non_utf8_target_still_hides_the_lower_file(tmp_path: Path) -> None:
    # The runtime's etc/os-release is that symlink: the lower file must not show through.
    release = FileRequest(("etc/os-release",))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as archive:
        info, _ = symlink("etc/os-release", "os-release-\udcff")
        archive.addfile(info)
    lower = tar_bytes([file("etc/os-release", b"ID=fake\n")])
    config = ImageSpec([]).config([sha256(lower), sha256(buffer.getvalue())])
    path = raw_archive(tmp_path / "image.tar", {
        "lower.tar": lower, "upper.tar": buffer.getvalue(), "config.json": config,
        "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": [], "Layers": ["lower.tar", "upper.tar"]}])
        .encode()})
    with open_image(path, requests=[release]) as image:
        assert list(image.filesystem.captured(release)) == []
        assert image.filesystem.entry("etc/os-release").kind is EntryKind.OTHER  # type: ignore[union-attr]
        assert any("'etc/os-release' has a non-UTF-8 target; recorded, not followed" in w for w in image.warnings)
