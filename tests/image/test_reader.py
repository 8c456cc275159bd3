from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from scanner.errors import ImageError, OperatorInputError
from scanner.image import Limits, open_image
from scanner.image.filesystem import EntryKind, FileRequest
from tests.image.builders import (
    Entry,
    ImageSpec,
    device,
    directory,
    docker_archive,
    file,
    hardlink,
    oci_layout,
    opaque,
    sha256,
    symlink,
    whiteout,
)

ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
OS_RELEASE = FileRequest(("etc/os-release", "usr/lib/os-release"))
STATUS = FileRequest(("var/lib/dpkg/status",))
ELF_REQUEST = FileRequest(("**",), magic=b"\x7fELF", executable_only=True)


def base_layer() -> list[Entry]:
    return [
        directory("etc"),
        symlink("etc/os-release", "../usr/lib/os-release"),
        directory("usr/lib"),
        file("usr/lib/os-release", b"ID=debian\nVERSION_ID=\"11\"\n"),
        file("var/lib/dpkg/status", b"Package: a\nVersion: 1\n"),
        file("usr/bin/tool", ELF, 0o755),
        file("usr/bin/script", b"#!/bin/sh\n", 0o755),
        file("usr/share/data.bin", ELF, 0o644),
        directory("opt/app"),
        file("opt/app/old.txt", b"old"),
        file("tmp/removed", b"bye"),
        directory("srv/tree"),
        file("srv/tree/leaf", b"leaf"),
    ]


def upper_layer() -> list[Entry]:
    return [
        opaque("opt/app"),
        file("opt/app/new.txt", b"new"),
        whiteout("tmp/removed"),
        file("srv/tree", b"now a file"),
        hardlink("usr/bin/tool-link", "usr/bin/tool"),
        file("var/lib/dpkg/status", b"Package: b\nVersion: 2\n"),
    ]


def spec(**kwargs: object) -> ImageSpec:
    return ImageSpec([base_layer(), upper_layer()], **kwargs)  # type: ignore[arg-type]


def build(kind: str, tmp_path: Path, image: ImageSpec) -> Path:
    if kind == "docker":
        return docker_archive(tmp_path / "image.tar", image)
    if kind == "oci-tar":
        return oci_layout(tmp_path / "oci.tar", image)
    (tmp_path / "layout").mkdir()
    return oci_layout(tmp_path / "layout", image, as_tar=False)


@pytest.mark.parametrize(("kind", "format_name"),
                         [("docker", "docker-archive"), ("oci-tar", "oci-archive"), ("oci-dir", "oci-dir")])
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_formats_and_compressions_squash_alike(tmp_path: Path, kind: str, format_name: str, compression: str) -> None:
    path = build(kind, tmp_path, spec(compression=compression))
    with open_image(path, requests=[OS_RELEASE, STATUS, ELF_REQUEST]) as image:
        meta, fs = image.metadata, image.filesystem
        assert meta.format == format_name
        assert (meta.os, meta.architecture) == ("linux", "amd64")
        assert len(meta.layers) == 2
        assert [layer.files for layer in meta.layers] == [13, 6]
        paths = {e.path for e in fs.entries()}
        assert "opt/app/old.txt" not in paths and "opt/app/new.txt" in paths
        assert "tmp/removed" not in paths
        assert "srv/tree/leaf" not in paths and fs.entry("srv/tree").kind is EntryKind.FILE  # type: ignore[union-attr]
        assert fs.read_bytes("var/lib/dpkg/status") == b"Package: b\nVersion: 2\n"
        assert fs.entry("var/lib/dpkg/status").layer_index == 1  # type: ignore[union-attr]
        assert fs.entry("var/lib/dpkg/status").layer_digest == meta.layers[1].digest  # type: ignore[union-attr]
        assert fs.read_bytes("etc/os-release").startswith(b"ID=debian")
        # The hard link into the lower layer is the same executable (its own header says 0644).
        assert list(fs.captured(ELF_REQUEST)) == ["usr/bin/tool", "usr/bin/tool-link"]
        assert fs.entry("usr/bin/tool-link").layer_index == 1  # type: ignore[union-attr]
        assert image.warnings == ()


def test_layer_digests_are_checked_and_reported(tmp_path: Path) -> None:
    image = spec(compression="gzip")
    blobs = image.layer_blobs()
    path = oci_layout(tmp_path / "oci.tar", image)
    with open_image(path) as opened:
        layers = opened.metadata.layers
    assert [layer.digest for layer in layers] == [sha256(blob) for blob, _, _ in blobs]
    assert [layer.diff_id for layer in layers] == [sha256(raw) for _, raw, _ in blobs]
    assert [layer.size for layer in layers] == [len(blob) for blob, _, _ in blobs]
    assert [layer.uncompressed_size for layer in layers] == [len(raw) for _, raw, _ in blobs]
    assert layers[0].media_type.endswith("+gzip")


def test_symlink_target_in_earlier_member_is_fetched_by_targeted_pass(tmp_path: Path) -> None:
    # The target is not requested and comes first in the tar: the reader needs a second, targeted pass.
    layer = [file("usr/lib/os-release", b"ID=alpine\n"), symlink("etc/os-release", "/usr/lib/os-release")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, requests=[FileRequest(("etc/os-release",))]) as image:
        fs = image.filesystem
        assert fs.read_bytes("etc/os-release") == b"ID=alpine\n"
        assert list(fs.captured(FileRequest(("etc/os-release",)))) == ["etc/os-release"]
        with fs.open("etc/os-release") as stream:
            assert stream.read() == b"ID=alpine\n"


def test_symlink_chain_across_layers_and_directory_links(tmp_path: Path) -> None:
    lower = [file("usr/lib/real-release", b"ID=rocky\n"), symlink("lib", "usr/lib")]
    upper = [symlink("usr/lib/os-release", "real-release"), symlink("etc/os-release", "../lib/os-release")]
    path = oci_layout(tmp_path / "oci.tar", ImageSpec([lower, upper], compression="zstd"))
    with open_image(path, requests=[FileRequest(("etc/os-release",))]) as image:
        fs = image.filesystem
        assert fs.resolve("etc/os-release") == "usr/lib/real-release"
        assert fs.read_bytes("etc/os-release") == b"ID=rocky\n"


def test_hardlink_shares_content_and_unrequested_target_is_fetched(tmp_path: Path) -> None:
    layer = [file("usr/lib/libx.so", b"library bytes"), hardlink("opt/app.jar", "usr/lib/libx.so"),
             file("a.jar", b"jar"), hardlink("b.jar", "a.jar")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, requests=[FileRequest(("**/*.jar",))]) as image:
        fs = image.filesystem
        assert fs.read_bytes("opt/app.jar") == b"library bytes"
        assert fs.read_bytes("b.jar") == b"jar"
        assert fs.entry("opt/app.jar").size == len(b"library bytes")  # type: ignore[union-attr]
        assert list(fs.captured(FileRequest(("**/*.jar",)))) == ["a.jar", "b.jar", "opt/app.jar"]


def test_whiteout_applies_only_to_lower_layers(tmp_path: Path) -> None:
    lower = [file("a/keep", b"1"), file("a/drop", b"2"), directory("d"), file("d/x", b"x")]
    # Same layer: re-creating a/drop after whiting it out keeps the new one; the opaque d keeps its new child.
    upper = [whiteout("a/drop"), file("a/drop", b"new"), file("d/y", b"y"), opaque("d")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([lower, upper]))
    with open_image(path, requests=[FileRequest(("a/*",))]) as image:
        fs = image.filesystem
        assert fs.read_bytes("a/drop") == b"new"
        assert fs.entry("d/x") is None and fs.entry("d/y") is not None
        assert fs.read_bytes("a/keep") == b"1"


def test_whiteout_of_directory_removes_subtree_but_not_siblings(tmp_path: Path) -> None:
    lower = [file("x/y/z", b"1"), file("x/y-sibling", b"2"), file("x/y0", b"3")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([lower, [whiteout("x/y")]]))
    with open_image(path) as image:
        assert sorted(e.path for e in image.filesystem.entries()) == ["x/y-sibling", "x/y0"]
        assert image.filesystem.entry("x").kind is EntryKind.DIR  # type: ignore[union-attr]


def test_capture_filters_size_magic_and_spooling(tmp_path: Path) -> None:
    big = b"PK" + bytes(3 * 1024 * 1024)
    layer = [file("app/big.jar", big), file("app/huge.jar", b"PK" + bytes(5000)), file("app/notzip.jar", b"nope")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer], compression="gzip"))
    jars = FileRequest(("**/*.jar",), magic=b"PK")
    small = FileRequest(("app/huge.jar",), max_size=100)
    limits = Limits(spool_threshold=1024)
    with open_image(path, requests=[jars], limits=limits) as image:
        fs = image.filesystem
        assert list(fs.captured(jars)) == ["app/big.jar", "app/huge.jar"]
        assert list(fs.captured(small)) == []  # captured for `jars`, but over this request's size
        with fs.open("app/big.jar") as stream:
            assert stream.read() == big
        with pytest.raises(KeyError):
            fs.read_bytes("app/notzip.jar")
    with open_image(path, requests=[small]) as image:
        assert list(image.filesystem.captured(small)) == []
        assert any("huge.jar not read" in warning for warning in image.warnings)


def test_close_removes_spool_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool_root = tmp_path / "spool"
    spool_root.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool_root))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file("a.jar", b"PK" + bytes(4096))]]))
    with open_image(path, requests=[FileRequest(("*.jar",))], limits=Limits(spool_threshold=10)):
        assert len(list(spool_root.iterdir())) == 1
    assert list(spool_root.iterdir()) == []
    forgotten = open_image(path)
    assert len(list(spool_root.iterdir())) == 1
    del forgotten
    gc.collect()
    assert list(spool_root.iterdir()) == []


def test_multi_image_docker_archive_needs_a_choice(tmp_path: Path) -> None:
    first = ImageSpec([[file("one", b"1")]], tags=("example/one:1.0",))
    second = ImageSpec([[file("two", b"2")]], tags=("docker.io/library/two:latest",))
    path = docker_archive(tmp_path / "multi.tar", first, second)
    with pytest.raises(ImageError, match=r"holds 2 images.*example/one:1\.0.*--image"):
        open_image(path)
    with open_image(path, image="example/one:1.0") as image:
        assert image.filesystem.entry("one") is not None
    with open_image(path, image="two") as image:  # docker.io/library/ and :latest are implied
        assert image.metadata.tags == ("docker.io/library/two:latest",)
    with pytest.raises(ImageError, match="no image tagged nope:1"):
        open_image(path, image="nope:1")


def test_multi_platform_index_defaults_to_linux_amd64(tmp_path: Path) -> None:
    images = [ImageSpec([[file(f"arch-{arch}", b"")]], architecture=arch, variant=variant)
              for arch, variant in (("arm64", "v8"), ("amd64", ""), ("arm", "v7"))]
    path = oci_layout(tmp_path / "index.tar", *images, multi_platform=True)
    with open_image(path) as image:
        assert image.metadata.architecture == "amd64"
        assert image.metadata.tags == ("example/app:1.0",)
    with open_image(path, platform="linux/arm/v7") as image:
        assert image.metadata.platform == "linux/arm/v7"
        assert image.filesystem.entry("arch-arm") is not None
    with pytest.raises(ImageError, match=r"no linux/s390x image; platforms present: linux/amd64, linux/arm/v7"):
        open_image(path, platform="linux/s390x")
    with pytest.raises(OperatorInputError, match="expected os/arch"):
        open_image(path, platform="amd64")


def test_multi_platform_without_amd64_asks_for_platform(tmp_path: Path) -> None:
    images = [ImageSpec([[file("x", b"")]], architecture=arch) for arch in ("arm64", "ppc64le")]
    path = oci_layout(tmp_path / "index.tar", *images, multi_platform=True)
    with pytest.raises(ImageError, match="choose with --platform"):
        open_image(path)


def test_oci_layout_with_several_tags_needs_a_choice(tmp_path: Path) -> None:
    images = [ImageSpec([[file(name, b"")]], tags=(name,)) for name in ("first", "second")]
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, *images, as_tar=False)
    with pytest.raises(ImageError, match=r"several images \(first; second\)"):
        open_image(layout)
    with open_image(layout, image="second") as image:
        assert image.filesystem.entry("second") is not None


def test_platform_option_checked_against_single_image(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file("a", b"")]], architecture="arm64"))
    with pytest.raises(ImageError, match="image is linux/arm64, not linux/amd64"):
        open_image(path, platform="linux/amd64")


def test_devices_are_metadata_only(tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[device("dev/null"), file("dev/keep", b"")]]))
    with open_image(path, requests=[FileRequest(("dev/*",))]) as image:
        assert image.filesystem.entry("dev/null").kind is EntryKind.OTHER  # type: ignore[union-attr]
        assert list(image.filesystem.captured(FileRequest(("dev/*",)))) == ["dev/keep"]


def test_docker_archive_with_symlinked_duplicate_layer(tmp_path: Path) -> None:
    """`docker save` stores a repeated layer once and links the second name to it."""
    import io
    import json
    import tarfile

    from tests.image.builders import tar_bytes

    layer = tar_bytes([file("same", b"s")])
    config = ImageSpec([]).config([sha256(layer), sha256(layer)])
    path = tmp_path / "dup.tar"
    with tarfile.open(path, "w") as archive:
        for name, data in (("aaa/layer.tar", layer), ("config.json", config),
                           ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["dup:1"],
                                                          "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bbb/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        archive.addfile(link)
    with open_image(path) as image:
        assert [layer.diff_id for layer in image.metadata.layers] == [sha256(layer)] * 2


def test_legacy_repositories_archive(tmp_path: Path) -> None:
    import io
    import json
    import tarfile

    from tests.image.builders import tar_bytes

    base_id, top_id = "a" * 64, "b" * 64
    members = {
        "repositories": json.dumps({"legacy/app": {"2.0": top_id}}).encode(),
        f"{base_id}/json": json.dumps({"id": base_id, "os": "linux", "architecture": "amd64"}).encode(),
        f"{base_id}/layer.tar": tar_bytes([file("etc/hostname", b"old")]),
        f"{top_id}/json": json.dumps({"id": top_id, "parent": base_id, "os": "linux", "architecture": "amd64",
                                      "created": "2015-01-01T00:00:00Z"}).encode(),
        f"{top_id}/layer.tar": tar_bytes([file("etc/hostname", b"new")]),
    }
    path = tmp_path / "legacy.tar"
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with open_image(path, requests=[FileRequest(("etc/hostname",))]) as image:
        assert image.metadata.format == "docker-archive"
        assert image.metadata.tags == ("legacy/app:2.0",)
        assert image.metadata.created == "2015-01-01T00:00:00Z"
        assert image.filesystem.read_bytes("etc/hostname") == b"new"


def test_oci_directory_is_read_in_place(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, spec(compression="gzip"), as_tar=False)
    before = sorted(p.relative_to(layout) for p in layout.rglob("*"))
    with open_image(layout, requests=[STATUS]) as image:
        assert image.filesystem.read_bytes("var/lib/dpkg/status").startswith(b"Package: b")
    assert sorted(p.relative_to(layout) for p in layout.rglob("*")) == before
    shutil.rmtree(layout)
