"""scanner.targets: telling images from SBOMs, finding the image archives of a directory, format readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.errors import TargetError
from scanner.targets import IMAGE, SBOM, TARGET_FORMATS, identify, images_in, is_image_archive, read_sbom
from tests.image.builders import ImageSpec, docker_archive, file, oci_layout

SPEC = ImageSpec(layers=[[file("etc/os-release", b"ID=debian\nVERSION_ID=12\n")]])


def test_every_format_names_a_reader_that_exists() -> None:
    assert [f.name for f in TARGET_FORMATS] == ["image", "cyclonedx-json", "spdx-json", "airgap-scanner/sbom"]
    for target_format in TARGET_FORMATS:
        assert callable(target_format.read_function())
        assert (target_format.recognises is None) == (target_format.kind == IMAGE)


def test_identify(tmp_path: Path) -> None:
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf \n{"bomFormat": "CycloneDX"}')
    (tmp_path / "list.json").write_bytes(b"[]")
    assert identify(tmp_path / "bom.json") == SBOM
    assert identify(docker_archive(tmp_path / "a.tar", SPEC)) == IMAGE
    assert identify(tmp_path / "list.json") == IMAGE  # the image reader refuses it, naming it
    assert identify(tmp_path / "missing") == IMAGE
    assert identify(oci_layout(tmp_path / "layout", SPEC, as_tar=False)) == IMAGE


def test_an_sbom_in_no_format_is_refused_naming_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"schema": "someone-else"}')
    with pytest.raises(TargetError, match=r"neither CycloneDX JSON .* nor this scanner's own SBOM JSON"):
        read_sbom(path)


def test_images_in_a_directory(tmp_path: Path) -> None:
    docker_archive(tmp_path / "b.tar", SPEC)
    oci_layout(tmp_path / "a-oci.tar", SPEC)
    oci_layout(tmp_path / "c-layout", SPEC, as_tar=False)
    docker_archive(tmp_path / ".hidden.tar", SPEC)
    (tmp_path / "notes.txt").write_text("x" * 600)
    (tmp_path / "empty").mkdir()
    (tmp_path / "short.tar").write_bytes(b"\0" * 100)
    found = [(path.name, is_image) for path, is_image in images_in(tmp_path)]
    assert found == [("a-oci.tar", True), ("b.tar", True), ("c-layout", True), ("empty", False),
                     ("notes.txt", False), ("short.tar", False)]
    assert not is_image_archive(tmp_path / "missing")
