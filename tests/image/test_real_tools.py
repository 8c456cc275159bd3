"""Images made by Debian's own tools: umoci builds an OCI layout, skopeo converts it to the other formats.

umoci's own `unpack` is the reference for the squashed file list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scanner.image import open_image
from scanner.image.filesystem import FileRequest

pytestmark = pytest.mark.tools


def _require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"needs {', '.join(missing)}")
    assert not missing, f"CI must install {', '.join(missing)} (.ci/run)"


def _run(*args: str | Path) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def umoci_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require("umoci", "skopeo")
    work = tmp_path_factory.mktemp("umoci")
    layout = work / "oci"
    _run("umoci", "init", "--layout", layout)
    _run("umoci", "new", "--image", f"{layout}:app")
    first = work / "first"
    _run("umoci", "unpack", "--rootless", "--image", f"{layout}:app", first)
    root = first / "rootfs"
    for directory in ("etc", "usr/lib", "tmp", "opt/cache"):
        (root / directory).mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=umoci\n")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "tmp/gone").write_text("removed in layer 1\n")
    (root / "opt/cache/old").write_text("old\n")
    (root / "usr/lib/data").write_text("shared\n")
    os.link(root / "usr/lib/data", root / "usr/lib/data-link")
    _run("umoci", "repack", "--image", f"{layout}:app", first)
    second = work / "second"
    _run("umoci", "unpack", "--rootless", "--image", f"{layout}:app", second)
    root = second / "rootfs"
    (root / "tmp/gone").unlink()
    shutil.rmtree(root / "opt/cache")
    (root / "opt/cache").mkdir()
    (root / "opt/cache/new").write_text("new\n")
    (root / "usr/lib/added").write_text("layer 1\n")
    _run("umoci", "repack", "--image", f"{layout}:app", second)
    return layout


def _reference_paths(layout: Path, work: Path) -> set[str]:
    bundle = work / "reference"
    _run("umoci", "unpack", "--rootless", "--image", f"{layout}:app", bundle)
    root = bundle / "rootfs"
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("target", ["oci-dir", "docker-archive", "oci-archive"])
def test_real_tool_images_match_umoci_unpack(umoci_layout: Path, tmp_path: Path, target: str) -> None:
    if target == "oci-dir":
        path = umoci_layout
    else:
        path = tmp_path / f"{target}.tar"
        destination = f"{target}:{path}" + (":example/umoci:1" if target == "docker-archive" else "")
        _run("skopeo", "copy", f"oci:{umoci_layout}:app", destination)
    requests = [FileRequest(("etc/os-release", "usr/lib/data-link"))]
    with open_image(path, requests=requests) as image:
        assert image.metadata.format == target
        assert len(image.metadata.layers) == 2
        fs = image.filesystem
        assert {e.path for e in fs.entries()} == _reference_paths(umoci_layout, tmp_path)
        assert fs.read_bytes("etc/os-release") == b"ID=umoci\n"
        assert fs.read_bytes("usr/lib/data-link") == b"shared\n"
        assert fs.entry("usr/lib/added").layer_index == 1  # type: ignore[union-attr]
        assert image.warnings == ()
        if target == "docker-archive":
            assert image.metadata.tags == ("docker.io/example/umoci:1",)
