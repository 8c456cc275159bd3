from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scanner.catalog import Catalog
from scanner.db.store import VulnStore
from scanner.errors import TargetError
from scanner.match.filters import apply_filters, load_vex
from scanner.match.matcher import Matcher
from scanner.model import Finding, Fix, FixState, Package, Vulnerability
from scanner.report.base import SBOM, get_format
from scanner.report.sbom import SbomReport, Subject
from scanner.targets import looks_like_sbom, read_sbom
from scanner.targets.sbom import MAX_COMPONENT_DEPTH
from tests.match.dbfixture import Rows, db_from_records
from tests.scanner_cli import Run, TrustedBundle, runner, trusted_bundle


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


# --- Go module paths: the golang subpath and the major-version suffix ----------------------------------

def _trivy_go(purl: str, name: str, version: str) -> dict[str, Any]:
    return {"bom-ref": purl, "type": "library", "name": name, "version": version, "purl": purl,
            "properties": [{"name": "aquasecurity:trivy:PkgType", "value": "gobinary"}]}


# As Trivy and Syft write them for `usr/local/bin/containerd` and a go-git user (module path, PURL).
GO_COMPONENTS = {
    "github.com/containerd/containerd/api": "pkg:golang/github.com/containerd/containerd@v1.7.19#api",
    "github.com/go-git/go-git/v5": "pkg:golang/github.com/go-git/go-git@v5.12.0#v5",
    "github.com/go-git/go-billy/v5": "pkg:golang/github.com/go-git/go-billy/v5@v5.5.0",
    "github.com/cloudflare/circl": "pkg:golang/github.com/cloudflare/circl@v1.3.7",
    "github.com/docker/docker": "pkg:golang/github.com/docker/docker@v24.0.7%2Bincompatible",
    "gopkg.in/yaml.v3": "pkg:golang/gopkg.in/yaml.v3@v3.0.1",
    "stdlib": "pkg:golang/stdlib@v1.22.5",
}


def test_go_purl_subpaths_and_major_suffixes_are_part_of_the_module_path(tmp_path: Path) -> None:
    document = cyclonedx(*(_trivy_go(purl, name, purl.rpartition("@")[2].split("#")[0].replace("%2B", "+"))
                           for name, purl in GO_COMPONENTS.items()))
    names = {p.name: p.purl for p in read_sbom(write(tmp_path, document)).packages}
    assert names == GO_COMPONENTS
    # The same modules as other SBOMs spell them: no name to lean on, the major only in the version, a
    # package path below a /vN module, a path whose suffix contradicts its version.
    document = spdx(*({"name": "x", "externalRefs": [{"referenceType": "purl", "referenceLocator": purl}]}
                      for purl in ("pkg:golang/github.com/containerd/containerd@v1.7.19#api",
                                   "pkg:golang/github.com/go-git/go-git@v5.12.0",
                                   "pkg:golang/github.com/go-git/go-git@v5.12.0#v5/plumbing/object",
                                   "pkg:golang/github.com/jackc/pgx/v4@v5.0.0",
                                   "pkg:golang/github.com/containerd/containerd@v1.7.19")))
    assert sorted(p.name for p in read_sbom(write(tmp_path, document)).packages) == [
        "github.com/containerd/containerd", "github.com/containerd/containerd/api", "github.com/go-git/go-git/v5",
        "github.com/go-git/go-git/v5/plumbing/object", "github.com/jackc/pgx/v4"]


def test_subpaths_of_other_purl_types_are_files_inside_the_package(tmp_path: Path) -> None:
    document = cyclonedx({"purl": "pkg:npm/%40angular/core@16.0.0#packages/core"},
                         {"purl": "pkg:pypi/django@4.2.0#django/contrib/admin"},
                         {"purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1#META-INF/MANIFEST.MF"},
                         {"purl": "pkg:cargo/rand@0.8.5#src"})
    assert sorted(p.name for p in read_sbom(write(tmp_path, document)).packages) == [
        "@angular/core", "django", "org.apache.logging.log4j:log4j-core", "rand"]


def _go_record(record_id: str, module: str, fixed: str) -> dict[str, Any]:
    return {"id": record_id, "affected": [{"package": {"ecosystem": "Go", "name": module}, "ranges": [
        {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}


def test_go_modules_from_subpaths_match_their_own_advisories(tmp_path: Path) -> None:
    records = [_go_record("GO-2024-0001", "github.com/containerd/containerd", "1.7.20"),
               _go_record("GO-2025-0002", "github.com/go-git/go-git/v5", "5.13.0"),
               _go_record("GO-2025-0003", "github.com/go-git/go-git", "4.13.1")]
    database = db_from_records(tmp_path / "vulns.db", records)
    document = cyclonedx(*(_trivy_go(purl, "", "") for purl in GO_COMPONENTS.values()))
    with VulnStore(database) as store:
        result = Matcher(store).match(read_sbom(write(tmp_path, document)).packages)
    assert [(f.package.name, f.vulnerability.id) for f in result.findings] == [
        ("github.com/go-git/go-git/v5", "GO-2025-0002")]


def test_vex_products_with_a_go_subpath_name_that_module_only(tmp_path: Path) -> None:
    def go_finding(module: str, purl: str) -> Finding:
        package = Package(name=module, version="v1.7.19", type="golang", ecosystem="Go", purl=purl)
        return Finding(package=package, vulnerability=Vulnerability(id="CVE-2024-0001"), fix=Fix(FixState.FIXED),
                       matched_by="ecosystem")
    findings = [go_finding("github.com/containerd/containerd", "pkg:golang/github.com/containerd/containerd@v1.7.19"),
                go_finding("github.com/containerd/containerd/api",
                           "pkg:golang/github.com/containerd/containerd/api@v1.7.19")]
    path = write(tmp_path, {"statements": [{"vulnerability": "CVE-2024-0001", "status": "not_affected",
                                            "products": ["pkg:golang/github.com/containerd/containerd@v1.7.19#api"]}]},
                 "vex.json")
    outcome = apply_filters(findings, vex=load_vex(path), on=dt.date(2026, 1, 1))
    assert [f.package.name for f in outcome.suppressed] == ["github.com/containerd/containerd/api"]
    assert [f.package.name for f in outcome.active] == ["github.com/containerd/containerd"]


def _compiled(name: str, version: str, purl: str, **fields: Any) -> Package:
    return Package(name=name, version=version, type=purl[4:].partition("/")[0], ecosystem=fields.pop("ecosystem", "Go"),
                   purl=purl, cataloger="go", locations=("usr/bin/restic",), **fields)


# What the Go and Rust catalogers make of real executables, as `scanner sbom` would write them.
COMPILED = (
    _compiled("stdlib", "v1.19.8", "pkg:golang/stdlib@v1.19.8", owned_by="restic"),
    _compiled("github.com/go-git/go-git/v5", "v5.12.0", "pkg:golang/github.com/go-git/go-git/v5@v5.12.0",
              owned_by="restic"),
    _compiled("github.com/docker/docker", "v24.0.7+incompatible",
              "pkg:golang/github.com/docker/docker@v24.0.7%2Bincompatible"),
    _compiled("example.com/tool", "v1.18.1", "pkg:golang/example.com/tool@v1.18.1",
              version_inferred_from="-ldflags -X main.version=1.18.1"),
    _compiled("smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0", ecosystem="crates.io", owned_by="ripgrep"),
)


@pytest.mark.parametrize("sbom_format", ["cyclonedx-json", "spdx-json"])
def test_go_and_rust_packages_round_trip_through_our_sboms(tmp_path: Path, sbom_format: str) -> None:
    catalog = Catalog(distro=None, packages=COMPILED)
    report = SbomReport(subject=Subject(name="restic:latest"), catalog=catalog, timestamp=dt.datetime(2026, 1, 1))
    path = tmp_path / "sbom.json"
    path.write_bytes(get_format(SBOM, sbom_format).render(report))
    def identity(package: Package) -> tuple[str, ...]:
        return (package.name, package.version, package.type, package.ecosystem, package.owned_by,
                package.compiled_into, package.version_inferred_from)
    read = read_sbom(path).packages
    assert sorted(map(identity, read)) == sorted(map(identity, COMPILED))
    records = [_go_record("GO-2023-1840", "stdlib", "1.19.10"), _go_record("GO-2025-0002", "github.com/go-git/go-git/v5",
                                                                        "5.13.0"),
               _go_record("GO-2024-0004", "github.com/docker/docker", "25.0.2"),
               _go_record("GO-2024-0005", "example.com/tool", "1.18.2")]
    with VulnStore(db_from_records(tmp_path / "vulns.db", records)) as store:
        from_image, from_sbom = Matcher(store).match(COMPILED), Matcher(store).match(read)
    assert len(from_image.findings) == 4
    assert sorted(map(identity, (f.package for f in from_sbom.findings))) == \
        sorted(map(identity, (f.package for f in from_image.findings)))


@pytest.mark.parametrize("content, message", [
    (b"[1, 2]", "not a JSON object"),
    (b'{"bomFormat": "CycloneDX", ', "invalid JSON"),
    (b'{"hello": 1}', "neither CycloneDX"),
    (b"\xff\xfe{", "not UTF-8"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    # our own `sbom -o json`, read strictly too
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 2}', "schema_version 2 is not supported"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {}, "packages": {}}',
     "field 'packages' missing or not a list"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {}, "packages": [{"name": 1}]}',
     "field 'name' missing or not a string"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {}, "packages": [{"name": "a", '
     b'"version": "1", "type": "pypi", "purl": "pkg:pypi/a@1", "layer_index": true}]}',
     "field 'layer_index' is not an integer"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {}, "packages": [{"name": "a", '
     b'"version": "1", "type": "pypi", "purl": "pkg:pypi/a@1", "metadata": [["k", 1]]}]}',
     r"packages\[0\]: metadata\[0\]\[1\]: expected a JSON string"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {"tags": ["a", null]}, "packages": []}',
     r"source.tags\[1\]: expected a JSON string"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {"platform": null}, "packages": []}',
     "field 'platform' missing or not a string"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {}, "packages": [], "distro": 5}',
     "field 'distro' is not an object"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {"name": "\\udc80"}, "packages": []}',
     "unpaired UTF-16 surrogate"),
])
def test_hostile_sboms_are_refused_with_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(TargetError, match=message):
        read_sbom(path)


def test_components_not_understood_are_skipped_with_a_warning(tmp_path: Path) -> None:
    document = {"bomFormat": "CycloneDX", "components": [
        {"purl": "not-a-purl"}, {"purl": "pkg:pypi/novers"}, {"purl": None, "name": "x"},
        {"purl": "pkg:pypi/ok@1.0", "properties": None}]}
    sbom = read_sbom(write(tmp_path, document))
    assert [p.name for p in sbom.packages] == ["ok"]
    assert sbom.warnings == ("PURL not understood, component skipped: 'not-a-purl'",
                             "no version for pkg:pypi/novers: not matched", "1 component(s) without a PURL: not matched")


def test_json_that_is_no_sbom_is_refused_as_sbom_not_as_a_broken_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"\xef\xbb\xbf  " + json.dumps({"not": "an sbom"}).encode())
    assert looks_like_sbom(path)
    with pytest.raises(TargetError, match="neither CycloneDX JSON"):
        read_sbom(path)
    tar = tmp_path / "image.tar"
    tar.write_bytes(b"manifest.json" + bytes(500))
    assert not looks_like_sbom(tar)


# --- a hostile SBOM corpus through the real entry point --------------------------------------------

PURL = "pkg:pypi/ok@1.0"


def cyclonedx(*components: Any, **fields: Any) -> dict[str, Any]:
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": list(components), **fields}


def spdx(*packages: Any, **fields: Any) -> dict[str, Any]:
    return {"spdxVersion": "SPDX-2.3", "name": "x", "packages": list(packages), **fields}


def spdx_package(**fields: Any) -> dict[str, Any]:
    return {"name": "ok", "externalRefs": [{"referenceType": "purl", "referenceLocator": PURL}], **fields}


def nested(depth: int) -> dict[str, Any]:
    component: dict[str, Any] = {"purl": PURL}
    for _ in range(depth):
        component = {"purl": PURL, "components": [component]}
    return cyclonedx(component)


WRONG_TYPES: tuple[Any, ...] = ([], {}, 1, 1.5, True, "text")


def wrong(expected: type) -> list[Any]:
    return [value for value in WRONG_TYPES if not isinstance(value, expected) or isinstance(value, bool)]


TOP_LEVEL_NOT_OBJECTS: tuple[Any, ...] = ([], "x", 1, True, None)
HOSTILE_DOCUMENTS: dict[str, Any] = {
    **{f"top level {value!r}": value for value in TOP_LEVEL_NOT_OBJECTS},
    **{f"components {value!r}": cyclonedx(components=value) for value in wrong(list)},
    **{f"component {value!r}": cyclonedx(value) for value in [*wrong(dict), None]},
    **{f"component {field} {value!r}": cyclonedx({"purl": PURL, field: value})
       for field in ("type", "name", "version") for value in wrong(str)},
    **{f"component purl {value!r}": cyclonedx({"purl": value}) for value in wrong(str)},
    **{f"nested components {value!r}": cyclonedx({"purl": PURL, "components": value}) for value in wrong(list)},
    **{f"properties {value!r}": cyclonedx({"purl": PURL, "properties": value}) for value in wrong(list)},
    **{f"property {value!r}": cyclonedx({"purl": PURL, "properties": [value]}) for value in wrong(dict)},
    **{f"property {field} {value!r}": cyclonedx({"purl": PURL, "properties": [{"name": "n", "value": "v", field: value}]})
       for field in ("name", "value") for value in wrong(str)},
    **{f"metadata {value!r}": cyclonedx(metadata=value) for value in wrong(dict)},
    **{f"metadata.component {value!r}": cyclonedx(metadata={"component": value}) for value in wrong(dict)},
    **{f"metadata.component.type {value!r}": cyclonedx(metadata={"component": {"type": value}})
       for value in wrong(str)},
    **{f"packages {value!r}": spdx(packages=value) for value in wrong(list)},
    **{f"package {value!r}": spdx(value) for value in wrong(dict)},
    **{f"package {field} {value!r}": spdx(spdx_package(**{field: value}))
       for field in ("name", "versionInfo", "sourceInfo", "comment", "primaryPackagePurpose")
       for value in wrong(str)},
    **{f"externalRefs {value!r}": spdx(spdx_package(externalRefs=value)) for value in wrong(list)},
    **{f"externalRef {value!r}": spdx(spdx_package(externalRefs=[value])) for value in wrong(dict)},
    **{f"externalRef {field} {value!r}": spdx(spdx_package(externalRefs=[
        {"referenceType": "purl", "referenceLocator": PURL, field: value}]))
       for field in ("referenceType", "referenceLocator") for value in wrong(str)},
    **{f"document name {value!r}": spdx(name=value) for value in wrong(str)},
    **{f"layer index {index!r}": cyclonedx({"purl": PURL, "properties": [
        {"name": "airgap-scanner:layer-index", "value": index}]})
       for index in ("²", "\u0663", "-1", "1.0", " 1", "1_0", "9" * 7, "9" * 5000, "0x1")},
    "spdx comment layer index": spdx(spdx_package(comment="cataloger=dpkg; layer=\u00b2 sha256:" + "0" * 64)),
    "components nested too deep": nested(MAX_COMPONENT_DEPTH + 1),
}
HOSTILE_BYTES: dict[str, bytes] = {
    "NaN": b'{"bomFormat": "CycloneDX", "components": [{"purl": "pkg:pypi/ok@1.0", "x": NaN}]}',
    "Infinity": b'{"spdxVersion": "SPDX-2.3", "packages": [], "x": -Infinity}',
    "duplicate key": b'{"bomFormat": "CycloneDX", "bomFormat": "CycloneDX", "components": []}',
    "duplicate key in a component": b'{"bomFormat": "CycloneDX", "components": [{"purl": "pkg:pypi/a@1", '
                                    b'"purl": "pkg:pypi/b@1"}]}',
    "integer with 5000 digits": b'{"bomFormat": "CycloneDX", "x": ' + b"9" * 5000 + b"}",
    "unpaired surrogate escape": b'{"bomFormat": "CycloneDX", "components": [{"purl": "pkg:pypi/a\\udcff@1"}]}',
    "unpaired surrogate in a key": b'{"bomFormat": "CycloneDX", "\\ud800": 1}',
    "nested arrays": b'{"bomFormat": "CycloneDX", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "not UTF-8": b'{"bomFormat": "CycloneDX", "components": [{"name": "\xff"}]}',
    "truncated": b'{"bomFormat": "CycloneDX", "components": [',
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> TrustedBundle:
    return trusted_bundle(tmp_path_factory.mktemp("db"), Rows())


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return runner(capsys, monkeypatch)


def assert_refused_as_sbom(run: Run, database: TrustedBundle, path: Path) -> str:
    code, out, err = run(*database.scanner_args("scan", str(path)))
    assert (code, out) == (4, ""), err
    assert err.startswith(f"scanner: error: SBOM {path}: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("case", sorted(HOSTILE_DOCUMENTS))
def test_malformed_sbom_exits_4_with_one_line(tmp_path: Path, run: Run, database: TrustedBundle, case: str) -> None:
    path = tmp_path / "sbom.json"
    path.write_text(json.dumps(HOSTILE_DOCUMENTS[case]))
    if not looks_like_sbom(path):  # a JSON value that is not an object is read as an image, and refused as one
        assert run(*database.scanner_args("scan", str(path)))[0] == 3
        return
    assert_refused_as_sbom(run, database, path)


@pytest.mark.parametrize("case", sorted(HOSTILE_BYTES))
def test_invalid_sbom_json_exits_4_with_one_line(tmp_path: Path, run: Run, database: TrustedBundle, case: str) -> None:
    path = tmp_path / "sbom.json"
    path.write_bytes(HOSTILE_BYTES[case])
    assert_refused_as_sbom(run, database, path)


def test_malformed_sbom_message_names_the_field(tmp_path: Path, run: Run, database: TrustedBundle) -> None:
    path = write(tmp_path, spdx(spdx_package(), spdx_package(externalRefs=7)))
    assert "packages[1]: field 'externalRefs' is not a list" in assert_refused_as_sbom(run, database, path)
    path = write(tmp_path, {"bomFormat": "CycloneDX", "components": {"purl": "pkg:pypi/a@1"}})
    assert "malformed: document: field 'components' is not a list" in assert_refused_as_sbom(run, database, path)
    path = write(tmp_path, {"bomFormat": "CycloneDX", "components": [{"purl": "pkg:pypi/a@1", "components": [7]}]})
    assert "malformed: components[0].components[0]: expected a JSON object" in assert_refused_as_sbom(
        run, database, path)
    path = write(tmp_path, HOSTILE_DOCUMENTS["layer index '²'"])
    assert "components[0]: layer index '²' is not a decimal number" in assert_refused_as_sbom(run, database, path)


def test_null_is_absent_and_large_arrays_within_the_caps_are_read(tmp_path: Path, run: Run,
                                                                  database: TrustedBundle) -> None:
    path = write(tmp_path, cyclonedx(*({"purl": None, "name": None, "version": None, "properties": None}
                                       for _ in range(100_000)), {"purl": PURL}, nested(MAX_COMPONENT_DEPTH)["components"][0],
                                     metadata=None))
    code, out, err = run(*database.scanner_args("scan", str(path), "-o", "json"))
    assert code == 0, err
    assert json.loads(out)["summary"]["packages"] == 1
    assert "100000 component(s) without a PURL" in err
    index = {"name": "airgap-scanner:layer-index", "value": "12"}
    [package] = read_sbom(write(tmp_path, cyclonedx({"purl": PURL, "properties": [index]}))).packages
    assert package.layer_index == 12


def test_a_json_bomb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    # 45 MB of "{}," would be 15 million dicts (about 1 GiB); the raw bytes are counted instead.
    bomb = tmp_path / "bomb.json"
    bomb.write_bytes(b'{"bomFormat": "CycloneDX", "components": [' + b"{}," * 15_000_000 + b"{}]}")
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from scanner.errors import TargetError\n"
            "from tests.peak_memory import peak_rss_kib\n"
            "from scanner.targets import read_sbom\n"
            "try:\n"
            "    read_sbom(Path(sys.argv[1]))\n"
            "except TargetError as error:\n"
            "    print(error)\n"
            "print(peak_rss_kib())\n")
    result = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[2])
    message, peak_kib = result.stdout.splitlines()
    assert "more than 8,000,000 JSON values" in message
    assert int(peak_kib) < 300 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"


def test_our_own_sbom_json_reads_back_every_package(tmp_path: Path) -> None:
    packages = (Package("requests", "2.25.0", "pypi", "PyPI", "pkg:pypi/requests@2.25.0", layer_index=1,
                        locations=("usr/lib/python3/site-packages/requests-2.25.0.dist-info/METADATA",)),
                Package("zlib1g", "1:1.2.11", "deb", "Debian:11", "pkg:deb/debian/zlib1g@1:1.2.11",
                        source_name="zlib", source_version="1:1.2.11"))
    report = SbomReport(Subject(name="demo:1.0"), Catalog(distro=None, packages=packages, warnings=("w",)),
                        timestamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    path = tmp_path / "ours.json"
    path.write_bytes(get_format(SBOM, "json").render(report))
    sbom = read_sbom(path)
    assert (sbom.format, sbom.name, sbom.packages, sbom.warnings) == (
        "airgap-scanner/sbom", "demo:1.0", tuple(sorted(packages)), ("w",))
