"""The shipped demo image: reproducible byte for byte, and shaped like a Debian 11 image."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path
from types import ModuleType

from scanner.image import open_image
from scanner.image.filesystem import EntryKind, FileRequest

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_demo_image", BUNDLES / "make_demo_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_gives_identical_bytes() -> None:
    shipped = (BUNDLES / "demo-image.tar").read_bytes()
    assert _generator().build() == shipped
    assert len(shipped) < 150 * 1024


def test_demo_image_content() -> None:
    wanted = FileRequest(("etc/os-release", "etc/debian_version", "var/lib/dpkg/status", "var/lib/dpkg/info/*.list",
                          "**/*.dist-info/METADATA", "**/*.egg-info/PKG-INFO", "**/package.json", "**/*.jar"))
    with open_image(BUNDLES / "demo-image.tar", requests=[wanted]) as image:
        meta, fs = image.metadata, image.filesystem
        assert meta.tags == ("airgap-demo/app:1.0",) and len(meta.layers) == 3
        assert fs.entry("etc/os-release").kind is EntryKind.SYMLINK  # type: ignore[union-attr]
        assert b'VERSION_CODENAME=bullseye' in fs.read_bytes("etc/os-release")
        assert fs.read_bytes("etc/debian_version") == b"11.2\n"
        status = fs.read_bytes("var/lib/dpkg/status").decode()
        assert "Package: libssl1.1\n" in status and "Source: openssl\nVersion: 1.1.1k-1+deb11u1\n" in status
        assert "Status: deinstall ok config-files" in status
        assert status.count("Status: install ok installed") == 8
        listing = fs.read_bytes("var/lib/dpkg/info/python3-yaml.list").decode()
        assert "/usr/lib/python3/dist-packages/PyYAML-5.3.1.egg-info/PKG-INFO" in listing.splitlines()
        assert fs.entry("usr/lib/python3/dist-packages/PyYAML-5.3.1.egg-info/PKG-INFO") is not None
        assert b'"version": "4.17.15"' in fs.read_bytes("app/node_modules/lodash/package.json")
        with zipfile.ZipFile(io.BytesIO(fs.read_bytes("app/lib/log4j-core-2.14.1.jar"))) as jar:
            properties = jar.read("META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties")
            assert b"version=2.14.1" in properties
        paths = {e.path for e in fs.entries()}
        assert "var/lib/apt/lists/deb.debian.org_debian_dists_bullseye_InRelease" not in paths  # whiteout
        assert "app/config/settings.dev.ini" not in paths and "app/config/settings.ini" in paths  # opaque
        assert {"usr/local/lib/python3.9/site-packages/Pillow-8.4.0.dist-info/RECORD",
                "usr/local/lib/python3.9/site-packages/urllib3-1.24.1.dist-info/METADATA"} <= paths
        assert image.warnings == ()
