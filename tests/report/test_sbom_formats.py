"""SBOM formats: golden bytes, schema validity, determinism, round trip, and `scanner sbom` end to end."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from scanner.catalog import Catalog, catalog_filesystem
from scanner.catalog.apk import ApkCataloger
from scanner.catalog.dpkg import DpkgCataloger
from scanner.cli import main
from scanner.errors import OperatorInputError, TargetError
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Package
from scanner.report import write_output
from scanner.report.base import SBOM, format_names, get_format
from scanner.report.licenses import is_spdx_expression
from scanner.report.sbom import SbomReport, Subject
from scanner.targets.own_sbom import read_sbom
from tests.image.builders import ImageSpec, docker_archive, file
from tests.report.schemas import validate

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
ROOT = HERE.parents[1]
DEMO = ROOT / "bundles" / "demo-image.tar"
EXTENSIONS = {"table": "txt", "json": "json", "cyclonedx-json": "cdx.json", "spdx-json": "spdx.json"}

STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: python3-yaml
Status: install ok installed
Architecture: amd64
Source: pyyaml (6.0-3)
Version: 6.0-3+b2
"""
COPYRIGHT = b"Files: *\nLicense: Zlib\n\nFiles: contrib/*\nLicense: GPL-2+\n"


SCAN_TIME = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def fixed_report(timestamp: datetime = SCAN_TIME) -> SbomReport:
    fs = MemoryFilesystem(
        files={"etc/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
                                 b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
               "var/lib/dpkg/status": STATUS, "usr/share/doc/zlib1g/copyright": COPYRIGHT,
               "var/lib/dpkg/info/libssl3:amd64.list": b"/usr/lib/x86_64-linux-gnu/libssl.so.3\n"},
        layer_of={"var/lib/dpkg/info/libssl3:amd64.list": (1, "sha256:" + "1" * 64)},
    )
    catalog = catalog_filesystem(fs, [DpkgCataloger(), ApkCataloger()])
    pypi = Package("PyYAML", "6.0", "pypi", "PyPI", "pkg:pypi/pyyaml@6.0", cataloger="python",
                   licenses=("MIT",), layer_index=0, layer_digest="sha256:" + "0" * 64,
                   locations=("usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA",),
                   owned_by="python3-yaml")
    npm = Package("left-pad", "1.3.0", "npm", "npm", "pkg:npm/left-pad@1.3.0", cataloger="npm",
                  licenses=("WTFPL OR MIT",), locations=("app/node_modules/left-pad/package.json",))
    catalog = Catalog(catalog.distro, tuple(sorted((*catalog.packages, pypi, npm))), ("npm: example warning",))
    subject = Subject(name="example/app:1.0", tags=("example/app:1.0", "example/app:latest"),
                      config_digest="sha256:" + "c" * 64, platform="linux/amd64",
                      layers=("sha256:" + "0" * 64, "sha256:" + "1" * 64))
    return SbomReport(subject=subject, catalog=catalog, timestamp=timestamp, tool_version="0.0.0-test")


def render(name: str, report: SbomReport) -> bytes:
    return get_format(SBOM, name).render(report)


def check_golden(path: Path, data: bytes) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{path.name} changed; rerun with UPDATE_GOLDEN=1 if intended"


def validate_cyclonedx(data: bytes) -> None:
    validate("cyclonedx-json", data)


def validate_spdx(data: bytes, tmp_path: Path) -> None:
    """The SPDX 2.3 schema, then spdx-tools' own validation (licence expressions, ids, relationships)."""
    validate("spdx-json", data)
    path = tmp_path / "document.spdx.json"
    path.write_bytes(data)
    messages = validate_full_spdx_document(parse_file(str(path)))
    assert messages == [], [message.validation_message for message in messages]


def test_the_four_sbom_formats_are_registered() -> None:
    assert set(format_names(SBOM)) >= {"table", "json", "cyclonedx-json", "spdx-json"}
    with pytest.raises(OperatorInputError, match="unknown output format 'xml'"):
        get_format(SBOM, "xml")


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_golden_output_on_a_fixed_catalog(name: str) -> None:
    check_golden(GOLDEN / f"sbom-fixed.{EXTENSIONS[name]}", render(name, fixed_report()))


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_same_input_same_bytes_and_the_time_is_the_scan_time(name: str) -> None:
    assert render(name, fixed_report()) == render(name, fixed_report())
    stamped = render(name, fixed_report(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))).decode()
    if name in ("json", "cyclonedx-json", "spdx-json"):
        assert "2023-11-14T22:13:20Z" in stamped and "1970-01-01" not in stamped
    # A year before 1000 keeps its four digits (strftime's %Y writes "1-01-01").
    early = render(name, fixed_report(datetime(1, 1, 1, tzinfo=UTC))).decode()
    if name in ("json", "cyclonedx-json", "spdx-json"):
        assert "0001-01-01T00:00:00Z" in early and '"1-01-01' not in early


def test_cyclonedx_is_valid_and_carries_image_distro_and_properties(tmp_path: Path) -> None:
    data = render("cyclonedx-json", fixed_report(datetime(2023, 11, 14, tzinfo=UTC)))
    validate_cyclonedx(data)
    document = json.loads(data)
    assert document["metadata"]["component"]["type"] == "container"
    assert document["components"][0] == {
        "type": "operating-system", "bom-ref": "os-debian-12", "name": "debian", "version": "12",
        "description": "Debian GNU/Linux 12 (bookworm)",
        "properties": [{"name": "airgap-scanner:ecosystem", "value": "Debian:12"}]}
    by_name = {component["name"]: component for component in document["components"][1:]}
    assert by_name["zlib1g"]["licenses"] == [{"license": {"name": "GPL-2+"}}, {"license": {"id": "Zlib"}}]
    assert by_name["left-pad"]["licenses"] == [{"expression": "WTFPL OR MIT"}]
    properties = {(p["name"], p["value"]) for p in by_name["libssl3"]["properties"]}
    assert {("airgap-scanner:source-name", "openssl"), ("airgap-scanner:layer-index", "1")} <= properties
    refs = [component["bom-ref"] for component in document["components"]]
    assert len(set(refs)) == len(refs)


def test_spdx_is_valid_for_the_schema_and_spdx_tools(tmp_path: Path) -> None:
    data = render("spdx-json", fixed_report())
    validate_spdx(data, tmp_path)
    document = json.loads(data)
    relationships = document["relationships"]
    assert relationships[0] == {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                                "relatedSpdxElement": "SPDXRef-Image"}
    assert len([r for r in relationships if r["relationshipType"] == "CONTAINS"]) == len(document["packages"]) - 1
    purls = {ref["referenceLocator"] for package in document["packages"] for ref in package.get("externalRefs", [])}
    assert "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib" in purls
    assert document["creationInfo"]["created"] == "2026-12-01T08:30:00Z"


def test_own_json_reads_back_to_the_same_catalog() -> None:
    report = fixed_report()
    subject, catalog = read_sbom(render("json", report), "sbom.json")
    assert subject == report.subject
    assert catalog == report.catalog
    assert [p.metadata for p in catalog.packages] == [p.metadata for p in report.catalog.packages]


def test_own_json_reader_sorts_packages_with_and_without_a_layer() -> None:
    # Two records that differ only in layer_index (null and 0) made sorting raise TypeError.
    record = {"name": "a", "version": "1", "type": "npm", "purl": "pkg:npm/a@1", "ecosystem": "npm"}
    data = json.dumps({"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {"name": "x"},
                       "distro": None, "packages": [dict(record, layer_index=3), dict(record, layer_index=None),
                                                    dict(record, layer_index=0)]}).encode()
    _, catalog = read_sbom(data, "sbom.json")
    assert [p.layer_index for p in catalog.packages] == [None, 0, 3]


@pytest.mark.parametrize(("data", "message"), [
    (b"\xff", "not UTF-8"), (b"[" * 100000, "nested too deeply"), (b"[]", "not an airgap-scanner/sbom document"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 99}', "schema_version 99"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {"name": "x"}, "distro": null, '
     b'"packages": [{"name": "a"}]}', r"packages\[0\]: 'version' missing"),
    (b'{"schema": "airgap-scanner/sbom", "schema_version": 1, "source": {"name": "x"}, "distro": null, '
     b'"packages": [{"name": "a", "version": "1", "type": "deb", "purl": "p", "layer_index": "0"}]}',
     "layer_index"),
])
def test_own_json_reader_refuses_bad_documents(data: bytes, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        read_sbom(data, "sbom.json")


def test_licence_expression_recognition() -> None:
    assert is_spdx_expression("MIT")
    assert is_spdx_expression("(MIT OR Apache-2.0) AND GPL-2.0-or-later WITH Classpath-exception-2.0")
    assert is_spdx_expression("Apache-1.1+")
    for text in ("GPL-2+", "MIT OR", "(MIT", "MIT)", "AND MIT", "MIT WITH Nonsense", "", "public domain"):
        assert not is_spdx_expression(text)


def test_write_output_is_atomic_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "sbom.json"
    target.write_bytes(b"old")
    write_output(b"new", target)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["sbom.json"]


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    def invoke(*args: str, epoch: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["scanner", *args])
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        with pytest.raises(SystemExit) as exited:
            main()
        out = capsys.readouterr()
        return int(exited.value.code or 0), out.out, out.err

    return invoke


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_demo_image_golden(run: Run, name: str, tmp_path: Path) -> None:
    output = tmp_path / f"out.{EXTENSIONS[name]}"
    code, out, err = run("sbom", str(DEMO), "-o", name, "--file", str(output), epoch="1796083200")
    assert (code, out) == (0, ""), err
    data = output.read_bytes()
    check_golden(GOLDEN / f"sbom-demo.{EXTENSIONS[name]}", data)
    if name == "cyclonedx-json":
        validate_cyclonedx(data)
    elif name == "spdx-json":
        validate_spdx(data, tmp_path)


def test_sbom_command_on_a_layered_alpine_image(run: Run, tmp_path: Path) -> None:
    installed = (b"P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\n\n"
                 b"P:zlib\nV:1.3-r0\nA:x86_64\nL:Zlib\no:zlib\nF:lib\nR:libz.so.1\n")
    spec = ImageSpec([[file("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.0\n"),
                       file("lib/ld-musl-x86_64.so.1", b"\x7fELF")],
                      [file("lib/apk/db/installed", installed), file("lib/libz.so.1", b"\x7fELF")]],
                     tags=("alpine/app:2",), compression="gzip")
    image = docker_archive(tmp_path / "alpine.tar", spec)
    code, out, _ = run("sbom", str(image), "-o", "json", epoch="1700000000")
    assert code == 0
    document = json.loads(out)
    assert document["created"] == "2023-11-14T22:13:20Z"
    assert document["distro"]["osv_ecosystem"] == "Alpine:v3.19"
    layers = {p["name"]: p["layer_index"] for p in document["packages"]}
    assert layers == {"musl": 0, "zlib": 1}


@pytest.mark.parametrize(("name", "field"), [("json", ("created",)), ("cyclonedx-json", ("metadata", "timestamp")),
                                             ("spdx-json", ("creationInfo", "created"))])
def test_sbom_time_is_the_real_utc_time_without_source_date_epoch(run: Run, name: str,
                                                                  field: tuple[str, ...]) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    code, out, _ = run("sbom", str(DEMO), "-o", name)
    after = datetime.now(UTC)
    assert code == 0
    value: Any = json.loads(out)
    for key in field:
        value = value[key]
    assert value.endswith("Z") and before <= datetime.fromisoformat(value) <= after


def test_sbom_command_errors_are_one_line_with_documented_codes(run: Run, tmp_path: Path) -> None:
    code, _, err = run("sbom", str(DEMO), "-o", "xml")
    assert code == 2 and err.count("\n") == 1 and "unknown output format 'xml'" in err
    code, _, err = run("sbom", str(tmp_path / "missing.tar"))
    assert code == 3 and err.count("\n") == 1 and err.startswith("scanner: error: ")
    code, _, err = run("sbom", str(DEMO), "--file", str(tmp_path / "no" / "such" / "dir" / "out.json"))
    assert code == 8 and err.count("\n") == 1 and "cannot write" in err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("count", [0, 1, 5])
def test_ids_are_hashes_of_the_reprs(count: int) -> None:
    report = fixed_report()
    catalog = Catalog(report.catalog.distro if count else None, report.catalog.packages[:count], report.catalog.warnings)
    report = SbomReport(report.subject, catalog, report.timestamp, tool_version=report.tool_version)
    digest = hashlib.sha256(repr((report.subject, catalog, report.tool_version)).encode()).hexdigest()
    assert report.content_id == uuid.uuid5(uuid.NAMESPACE_URL, f"urn:airgap-scanner:{digest}")
    assert report.package_ids == tuple(hashlib.sha256(repr(package).encode()).hexdigest()[:16]
                                       for package in catalog.packages)
