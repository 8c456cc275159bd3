from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.errors import TargetError
from scanner.match.sbom_input import looks_like_sbom, read_sbom


def write(tmp_path: Path, document: Any, name: str = "sbom.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


SYFT_STYLE = {
    "bomFormat": "CycloneDX", "specVersion": "1.5",
    "metadata": {"component": {"type": "container", "name": "demo:latest"}},
    "components": [
        {"type": "library", "name": "libssl1.1", "version": "1.1.1k-1+deb11u1",
         "purl": "pkg:deb/debian/libssl1.1@1.1.1k-1%2Bdeb11u1?arch=amd64&upstream=openssl&distro=debian-11",
         "properties": [{"name": "syft:location:0:layerID", "value": "sha256:aaa"}]},
        {"type": "library", "name": "Pillow", "version": "8.4.0", "purl": "pkg:pypi/Pillow@8.4.0",
         "components": [{"type": "library", "name": "nested", "version": "1.0", "purl": "pkg:npm/%40scope/nested@1.0"}]},
        {"type": "library", "name": "log4j-core", "version": "2.14.1",
         "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
        {"type": "library", "name": "bin", "version": "1", "purl": "pkg:generic/bin@1"},
        {"type": "library", "name": "nopurl", "version": "1"},
        {"type": "operating-system", "name": "debian", "version": "11"},
    ],
}


def test_cyclonedx_packages_ecosystems_and_sources(tmp_path: Path) -> None:
    path = write(tmp_path, SYFT_STYLE)
    assert looks_like_sbom(path)
    sbom = read_sbom(path)
    assert sbom.format == "cyclonedx-json" and sbom.name == "demo:latest"
    assert sbom.distro is not None and (sbom.distro.id, sbom.distro.version_id) == ("debian", "11")
    by_name = {p.name: p for p in sbom.packages}
    ssl = by_name["libssl1.1"]
    assert (ssl.ecosystem, ssl.source_name, ssl.version, ssl.layer_digest) == (
        "Debian:11", "openssl", "1.1.1k-1+deb11u1", "sha256:aaa")
    assert by_name["Pillow"].ecosystem == "PyPI"
    assert by_name["@scope/nested"].ecosystem == "npm"
    assert by_name["org.apache.logging.log4j:log4j-core"].ecosystem == "Maven"
    assert any("'generic'" in w for w in sbom.warnings)
    assert any("without a PURL" in w for w in sbom.warnings)


def test_trivy_style_os_component_epoch_and_source_properties(tmp_path: Path) -> None:
    document = {
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "components": [
            {"type": "operating-system", "name": "ubuntu", "version": "22.04"},
            {"type": "library", "name": "libssl3", "version": "3.0.2-0ubuntu1.10",
             "purl": "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?arch=amd64&epoch=1",
             "properties": [{"name": "aquasecurity:trivy:SrcName", "value": "openssl"},
                            {"name": "aquasecurity:trivy:SrcVersion", "value": "3.0.2"},
                            {"name": "aquasecurity:trivy:SrcRelease", "value": "0ubuntu1.10"},
                            {"name": "aquasecurity:trivy:SrcEpoch", "value": "1"}]},
        ],
    }
    [package] = read_sbom(write(tmp_path, document)).packages
    assert (package.ecosystem, package.version, package.source_name, package.source_version) == (
        "Ubuntu:22.04", "1:3.0.2-0ubuntu1.10", "openssl", "")


def test_spdx_packages_and_os(tmp_path: Path) -> None:
    document = {
        "spdxVersion": "SPDX-2.3", "name": "alpine-image", "packages": [
            {"name": "alpine", "versionInfo": "3.18.4", "primaryPackagePurpose": "OPERATING-SYSTEM"},
            {"name": "libcrypto3", "versionInfo": "3.1.3-r0", "externalRefs": [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                 "referenceLocator": "pkg:apk/alpine/libcrypto3@3.1.3-r0?arch=x86_64&upstream=openssl"}]},
            {"name": "urllib3", "versionInfo": "1.24.1", "externalRefs": [
                {"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl",
                 "referenceLocator": "pkg:pypi/urllib3@1.24.1"}]},
        ]}
    sbom = read_sbom(write(tmp_path, document))
    by_name = {p.name: p for p in sbom.packages}
    assert sbom.format == "spdx-json" and sbom.name == "alpine-image"
    assert (by_name["libcrypto3"].ecosystem, by_name["libcrypto3"].source_name) == ("Alpine:v3.18", "openssl")
    assert by_name["urllib3"].ecosystem == "PyPI"


def test_rpm_upstream_source_rpm(tmp_path: Path) -> None:
    document = {"bomFormat": "CycloneDX", "components": [
        {"type": "library", "name": "openssl-libs", "purl":
         "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?distro=rocky-9.3&upstream=openssl-3.0.7-24.el9.src.rpm"}]}
    [package] = read_sbom(write(tmp_path, document)).packages
    assert (package.ecosystem, package.source_name, package.source_version) == ("Rocky Linux:9", "openssl", "")


def test_rpm_epoch_qualifier_applies_to_the_source_rpm_and_suse_distros_are_read(tmp_path: Path) -> None:
    document = {"bomFormat": "CycloneDX", "components": [
        {"type": "library", "name": "openssl-libs", "purl": "pkg:rpm/almalinux/openssl-libs@3.0.7-24.el9"
         "?distro=almalinux-9.3&epoch=1&upstream=openssl-3.0.7-24.el9.src.rpm"},
        {"type": "library", "name": "libopenssl3", "purl": "pkg:rpm/opensuse/libopenssl3@3.1.4-9.1"
         "?distro=opensuse-leap-15.6&upstream=openssl-3-3.1.4-9.1.src.rpm"}]}
    by_name = {p.name: p for p in read_sbom(write(tmp_path, document)).packages}
    # The source rpm's file name has no epoch; the binary's applies, as the rpm cataloger does it.
    libs = by_name["openssl-libs"]
    assert (libs.version, libs.source_name, libs.match_source_version) == ("1:3.0.7-24.el9", "openssl", "1:3.0.7-24.el9")
    suse = by_name["libopenssl3"]
    assert (suse.ecosystem, suse.source_name) == ("openSUSE:Leap 15.6", "openssl-3")


@pytest.mark.parametrize("content, message", [
    (b"[1, 2]", "not a JSON object"),
    (b'{"bomFormat": "CycloneDX", ', "not valid JSON"),
    (b'{"hello": 1}', "neither CycloneDX"),
    (b"\xff\xfe{", "not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "not"),
])
def test_hostile_sboms_are_refused_with_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(TargetError, match=message):
        read_sbom(path)


def test_hostile_components_are_skipped_not_fatal(tmp_path: Path) -> None:
    document = {"bomFormat": "CycloneDX", "components": [
        "not a dict", {"purl": 5}, {"purl": "not-a-purl"}, {"purl": "pkg:pypi/novers"},
        {"purl": "pkg:pypi/ok@1.0", "properties": "bad"}]}
    sbom = read_sbom(write(tmp_path, document))
    assert [p.name for p in sbom.packages] == ["ok"]
    assert len(sbom.warnings) >= 2


def test_json_that_is_no_sbom_is_refused_as_sbom_not_as_a_broken_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"\xef\xbb\xbf  " + json.dumps({"not": "an sbom"}).encode())
    assert looks_like_sbom(path)
    with pytest.raises(TargetError, match="neither CycloneDX JSON"):
        read_sbom(path)
    tar = tmp_path / "image.tar"
    tar.write_bytes(b"manifest.json" + bytes(500))
    assert not looks_like_sbom(tar)
