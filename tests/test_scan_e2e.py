"""`scanner scan` end to end on real data: a bundle compiled from ../shared/data/feeds, real images, SBOMs.

The bundle is built once per session from the PyPI, npm, Maven, AlmaLinux and Rocky Linux OSV feeds, the
NVD pages and the Debian DSA list (trimmed to the packages the images carry, to keep the build fast), signed with a
throw-away key the test trusts. OSV PyPI records that list affected versions are ground truth.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import sqlite3
import struct
import sys
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from dbbuilder.compile import compile_database
from scanner.catalog import catalog_filesystem
from scanner.catalog.rpm import RpmCataloger
from scanner.db.install import load_database
from scanner.db.store import VulnStore
from scanner.image.filesystem import MemoryFilesystem
from scanner.match.matcher import Matcher
from scanner.model import Package, Severity
from scanner.names import normalize_package_name
from scanner.targets import read_target
from tests.catalog.lang.conftest import _run, cached, lodash_package, log4j_deb_root, wheels_site
from tests.catalog.lang.test_java import make_zip, pom
from tests.catalog.test_rpm import INT32, STRING, make_header
from tests.image.builders import Entry, ImageSpec, docker_archive, file
from tests.match.fix_invariant import assert_fixes_above_installed
from tests.report.schemas import validate
from tests.scanner_cli import runner, trusted_compiled_bundle

__all__ = ["lodash_package", "log4j_deb_root", "wheels_site"]  # session fixtures shared with the catalog tests

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
DEMO_IMAGE = Path(__file__).resolve().parents[1] / "bundles" / "demo-image.tar"
DEBIAN_PACKAGES = {"openssl", "zlib", "expat", "pyyaml", "python-urllib3", "pillow", "apache-log4j1.2",
                   "apache-log4j2", "node-lodash", "util-linux"}
SITE = "usr/local/lib/python3.11/site-packages/"


def _trimmed_dsa_list(target: Path) -> Path:
    """The DSA list restricted to the source packages the test images carry."""
    blocks: list[str] = []
    keep = False
    for line in (FEEDS / "debian" / "DSA" / "list").read_text().splitlines():
        if line.startswith("["):
            parts = line.split()
            keep = len(parts) > 4 and parts[4] in DEBIAN_PACKAGES
        if keep:
            blocks.append(line)
    target.mkdir(parents=True, exist_ok=True)
    (target / "list").write_text("\n".join(blocks) + "\n")
    return target / "list"


@pytest.fixture(scope="session")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("e2e")
    database = work / "vulns.sqlite"
    osv = [FEEDS / "osv" / name for name in ("PyPI", "npm", "Maven", "AlmaLinux", "Rocky_Linux")]
    compile_database(database, {"osv": osv, "nvd": [FEEDS / "nvd"],
                                "debian": [_trimmed_dsa_list(work / "debian" / "DSA")]})
    trusted = trusted_compiled_bundle(work, database, "e2e")
    return {"bundle": trusted.bundle, "state": trusted.state, "database": database, "work": work}


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """The real entry point (`scanner.cli.main`): exit code, standard output, standard error."""
    return runner(capsys, monkeypatch)


@pytest.fixture
def scanner(run: Run, environment: dict[str, Path]) -> Run:
    """`scanner --state-dir STATE ...` with the test bundle's key trusted."""
    def invoke(*args: str) -> tuple[int, str, str]:
        return run("--state-dir", str(environment["state"]), *args)
    return invoke


def scan_json(scanner: Run, environment: dict[str, Path], target: Path, *extra: str) -> dict[str, Any]:
    code, out, err = scanner("scan", str(target), "--db", str(environment["bundle"]), "-o", "json", *extra)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    assert_fixes_above_installed(document)  # on every image and SBOM these tests scan
    return document


def found(document: dict[str, Any]) -> dict[str, set[str]]:
    by_package: dict[str, set[str]] = defaultdict(set)
    for finding in document["findings"]:
        by_package[finding["package"]["name"]].add(finding["vulnerability"]["id"])
    return dict(by_package)


# --- the shipped demo image ------------------------------------------------------------------------

DEMO_EXPECTED = {
    "Pillow": {"CVE-2022-22815", "CVE-2022-22816", "CVE-2022-22817", "CVE-2022-24303"},
    "urllib3": {"CVE-2019-11236", "CVE-2019-11324", "CVE-2020-26137", "CVE-2021-33503"},
    "lodash": {"CVE-2020-8203", "CVE-2021-23337", "CVE-2020-28500"},
    "org.apache.logging.log4j:log4j-core": {"CVE-2021-44228", "CVE-2021-45046", "CVE-2021-45105"},
    "libssl1.1": {"CVE-2022-0778", "CVE-2022-2068", "CVE-2023-0286"},
    "zlib1g": {"CVE-2022-37434"},
    "libexpat1": {"CVE-2022-40674", "CVE-2022-43680"},
}


def test_demo_image_findings_by_id(scanner: Run, environment: dict[str, Path]) -> None:
    document = scan_json(scanner, environment, DEMO_IMAGE)
    findings = found(document)
    for package, ids in DEMO_EXPECTED.items():
        assert ids <= findings.get(package, set()), package
    assert "PyYAML" not in findings  # python3-yaml's copy belongs to Debian: skipped by default
    assert document["summary"]["skipped_os_owned"] >= 1
    assert document["image"]["tags"] == ["airgap-demo/app:1.0"]
    assert document["database"]["channel"] == "e2e" and len(document["database"]["key_ids"]) == 1
    assert all(f["package"]["layer"] for f in document["findings"])
    log4shell = next(f for f in document["findings"] if f["vulnerability"]["id"] == "CVE-2021-44228")
    assert log4shell["vulnerability"]["severity"] == "critical" and log4shell["fix"]["state"] == "fixed"
    remediation = {r["package"]["name"]: r for r in document["remediation"]}
    assert remediation["lodash"]["upgrade_to"] == "4.17.21"


def test_multi_cve_dsa_is_reported_per_cve(environment: dict[str, Path]) -> None:
    """DSA-5103-1 fixes CVE-2021-4160 and CVE-2022-0778 in bullseye's openssl 1.1.1k-1+deb11u2."""
    libssl = Package(name="libssl1.1", version="1.1.1k-1+deb11u1", type="deb", ecosystem="Debian:11",
                     purl="pkg:deb/debian/libssl1.1@1.1.1k-1%2Bdeb11u1", source_name="openssl")
    with VulnStore(environment["database"]) as store:
        findings = {f.vulnerability.id: f for f in Matcher(store).match([libssl]).findings}
    assert not [vuln_id for vuln_id in findings if vuln_id.startswith("DSA-")]
    for cve in ("CVE-2021-4160", "CVE-2022-0778"):
        assert "DSA-5103-1" in findings[cve].vulnerability.aliases, cve
        assert "1.1.1k-1+deb11u2" in findings[cve].fix.versions
    assert findings["CVE-2022-0778"].vulnerability.severity is Severity.HIGH  # NVD: CVSS 3.1 7.5


def test_fail_on_exit_code_and_atomic_file(scanner: Run, environment: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    code, _, _ = scanner("scan", str(DEMO_IMAGE), "--db", str(environment["bundle"]),
                         "-o", "sarif", "--file", str(out), "--fail-on", "critical")
    assert code == 1
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert [p.name for p in tmp_path.iterdir()] == ["report.sarif"]


def test_require_complete_exit_code_after_the_report(scanner: Run, environment: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """The DSA list trimmed to the images' packages and the loose OSV files are no whole export: partial."""
    out = tmp_path / "report.json"
    code, _, err = scanner("scan", str(DEMO_IMAGE), "--db", str(environment["bundle"]), "-o", "json",
                           "--file", str(out), "--require-complete", "--fail-on", "critical")
    assert code == 50  # before --fail-on's 1: the findings are incomplete evidence
    assert err.strip().endswith("against none (--require-complete)") and "coverage incomplete" in err
    document = json.loads(out.read_text())
    assert {e["ecosystem"]: e["status"] for e in document["coverage"]} == {
        "Debian:11": "partial", "Maven": "partial", "PyPI": "partial", "npm": "partial"}
    assert document["options"]["require_complete"] is True and document["summary"]["clean"] is False
    assert document["summary"]["packages_partial_coverage"] == sum(
        e["packages"] for e in document["coverage"] if e["status"] == "partial")
    code, _, _ = scanner("scan", str(DEMO_IMAGE), "--db", str(environment["bundle"]), "-o", "json")
    assert code == 0


def test_only_fixed_ignore_and_vex(scanner: Run, environment: dict[str, Path], tmp_path: Path) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("- id: GHSA-jfh8-c2jp-5v3q\n  reason: JNDI lookups disabled\n  expires: 2099-01-01\n")
    vex = tmp_path / "vex.json"
    vex.write_text(json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
        {"vulnerability": {"name": "CVE-2020-28500"}, "products": [{"@id": "pkg:npm/lodash@4.17.15"}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]}))
    document = scan_json(scanner, environment, DEMO_IMAGE, "--ignore", str(ignore), "--vex", str(vex), "--only-fixed")
    suppressed = {f["vulnerability"]["id"]: f["suppressed_by"] for f in document["suppressed"]}
    assert suppressed == {"CVE-2021-44228": "ignore: JNDI lookups disabled",
                          "CVE-2020-28500": "vex: not_affected (vulnerable_code_not_in_execute_path)"}
    assert all(f["fix"]["state"] == "fixed" for f in document["findings"])
    assert document["options"]["only_fixed"] is True and document["options"]["vex_file"] == str(vex)


def test_same_image_same_bundle_same_bytes(scanner: Run, environment: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    outputs = set()
    for _ in range(2):
        for output in ("json", "table", "sarif", "cyclonedx-json"):
            code, out, _ = scanner("scan", str(DEMO_IMAGE), "--db", str(environment["bundle"]),
                                   "-o", output)
            assert code == 0
            outputs.add((output, out))
    assert len(outputs) == 4


def test_scan_without_database_fails_loudly(run: Run, tmp_path: Path) -> None:
    code, out, err = run("--state-dir", str(tmp_path / "empty"), "scan", str(DEMO_IMAGE))
    assert code == 7 and out == ""
    assert "no vulnerabilities" not in err.lower() and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, code", [
    (["-o", "xml"], 2), (["--fail-on", "severe"], 2), (["--ignore", "/nonexistent/ignore.yaml"], 2),
    (["--fail-on", "unknown"], 2), (["--unknown-as", "none"], 2),
])
def test_bad_options_are_one_line_errors(scanner: Run, environment: dict[str, Path], args: list[str],
                                         code: int) -> None:
    exit_code, out, err = scanner("scan", str(DEMO_IMAGE), "--db", str(environment["bundle"]), *args)
    assert exit_code == code and out == "" and len(err.strip().splitlines()) == 1


def test_unreadable_targets(scanner: Run, environment: dict[str, Path], tmp_path: Path) -> None:
    bad_sbom = tmp_path / "bad.json"
    bad_sbom.write_text('{"bomFormat": "CycloneDX", "components": [')
    exit_code, _, err = scanner("scan", str(bad_sbom), "--db", str(environment["bundle"]))
    assert exit_code == 4 and err.startswith("scanner: error: SBOM")
    exit_code, _, _ = scanner("scan", str(tmp_path / "absent.tar"), "--db", str(environment["bundle"]))
    assert exit_code == 3


# --- no network -------------------------------------------------------------------------------------


def test_a_full_scan_creates_no_socket(scanner: Run, environment: dict[str, Path]) -> None:
    opened: list[str] = []

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("socket.") and watching:
            opened.append(event)

    watching = False
    sys.addaudithook(audit)  # audit hooks cannot be removed; `watching` turns this one off afterwards
    original_socket = socket.socket

    class NoSocket(original_socket):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            opened.append("socket.socket")
            super().__init__(*args, **kwargs)

    socket.socket = NoSocket  # type: ignore[misc]
    try:
        watching = True
        document = scan_json(scanner, environment, DEMO_IMAGE, "--cpe-match")
        watching = False
    finally:
        socket.socket = original_socket  # type: ignore[misc]
    assert document["findings"]
    assert opened == []


# --- an image with real old packages ---------------------------------------------------------------


@pytest.fixture(scope="session")
def pillow_dist_info() -> Path:
    """Pillow 8.4.0's dist-info, from its real manylinux wheel."""
    def fetch(work: Path) -> None:
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
              "--python-version", "3.10", "--platform", "manylinux_2_17_x86_64", "Pillow==8.4.0",
              "-d", str(work / "dl")], work)
        with zipfile.ZipFile(next((work / "dl").glob("Pillow-8.4.0-*.whl"))) as wheel:
            for name in wheel.namelist():
                if name.startswith("Pillow-8.4.0.dist-info/"):
                    wheel.extract(name, work / "site")
    return cached("pillow-8.4.0", fetch) / "site"


def _tree(root: Path, prefix: str) -> list[Entry]:
    return [file(prefix + path.relative_to(root).as_posix(), path.read_bytes())
            for path in sorted(root.rglob("*")) if path.is_file() and not path.is_symlink()]


@pytest.fixture(scope="session")
def old_packages_image(tmp_path_factory: pytest.TempPathFactory, wheels_site: Path, lodash_package: Path,
                       log4j_deb_root: Path, pillow_dist_info: Path) -> Path:
    debian_jar = (log4j_deb_root / "usr/share/java/log4j-1.2-1.2.17.jar").read_bytes()
    with zipfile.ZipFile(io.BytesIO(debian_jar)) as jar:
        classes = {name: jar.read(name) for name in jar.namelist()}
    # As published on Maven Central, the jar carries its pom.properties (Debian's rebuild does not).
    upstream_jar = make_zip({**classes, **pom("log4j", "log4j", "1.2.17")})
    base = [file("etc/os-release", b'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n')]
    app_layer = (_tree(wheels_site, SITE) + _tree(pillow_dist_info, SITE)
                 + _tree(lodash_package, "srv/app/node_modules/lodash/")
                 + [file("srv/app/lib/log4j-1.2.17.jar", upstream_jar), file("opt/legacy/log4j-1.2.jar", debian_jar)])
    return docker_archive(tmp_path_factory.mktemp("old") / "old.tar",
                          ImageSpec(layers=[base, app_layer], tags=("example/old:1",), compression="gzip"))


OLD_EXPECTED = {
    "Pillow": DEMO_EXPECTED["Pillow"],
    "urllib3": DEMO_EXPECTED["urllib3"],
    "lodash": DEMO_EXPECTED["lodash"],
    "log4j:log4j": {"CVE-2021-4104", "CVE-2022-23302", "CVE-2022-23305", "CVE-2022-23307"},
}


def test_real_old_packages(scanner: Run, environment: dict[str, Path], old_packages_image: Path) -> None:
    document = scan_json(scanner, environment, old_packages_image)
    findings = found(document)
    for package, ids in OLD_EXPECTED.items():
        assert ids <= findings.get(package, set()), package
    assert findings["log4j:log4j"] == OLD_EXPECTED["log4j:log4j"]
    # The rebuilt jar without a group id is reported as not evaluated, never silently dropped.
    [unevaluated] = document["unevaluated"]
    assert unevaluated["package"]["name"] == "log4j" and "group id" in unevaluated["reason"]


def test_fail_on_counts_findings_nobody_rated(scanner: Run, environment: dict[str, Path],
                                             old_packages_image: Path) -> None:
    """Most PyPA records carry no rating and no record of their group does: those findings fail closed."""
    document = scan_json(scanner, environment, old_packages_image)
    unknown = sum(1 for f in document["findings"] if f["vulnerability"]["severity"] == "unknown")
    critical = sum(1 for f in document["findings"] if f["vulnerability"]["severity"] == "critical")
    assert unknown
    args = ("scan", str(old_packages_image), "--db", str(environment["bundle"]), "-o", "json", "--fail-on", "critical")
    code, _, err = scanner(*args)
    assert code == 1 and f"{critical + unknown} finding(s) at or above critical, {unknown} of them of unknown" in err
    code, out, err = scanner(*args, "--unknown-as", "low")
    assert code == (1 if critical else 0), err
    assert json.loads(out)["options"]["unknown_as"] == "low"


# bullseye's util-linux binaries as dpkg lists them: bsdutils carries an epoch its source does not.
UTIL_LINUX_STATUS = b"""Package: util-linux
Status: install ok installed
Architecture: amd64
Version: 2.36.1-8

Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.36.1-8)
Version: 1:2.36.1-8

Package: libmount1
Status: install ok installed
Architecture: amd64
Source: util-linux
Version: 2.36.1-8
"""


@pytest.fixture(scope="session")
def util_linux_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return docker_archive(tmp_path_factory.mktemp("bullseye") / "bullseye.tar", ImageSpec(layers=[[
        file("etc/os-release", b'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'),
        file("var/lib/dpkg/status", UTIL_LINUX_STATUS)]], tags=("example/bullseye:1",)))


def test_debian_binaries_are_offered_their_own_fixed_versions(scanner: Run, environment: dict[str, Path],
                                                             util_linux_image: Path) -> None:
    """DSA-5055-1 fixes util-linux in 2.36.1-8+deb11u1, so bsdutils in 1:2.36.1-8+deb11u1, not below 1:2.36.1-8."""
    image = util_linux_image
    document = scan_json(scanner, environment, image)  # checks the invariant on every finding
    fixes = {(f["package"]["name"], f["vulnerability"]["id"]): f["fix"] for f in document["findings"]}
    source_fix = {"name": "util-linux", "versions": ["2.36.1-8+deb11u1"]}
    for cve in ("CVE-2021-3995", "CVE-2021-3996"):
        assert fixes[("bsdutils", cve)] == {"state": "fixed", "versions": ["1:2.36.1-8+deb11u1"], "source": source_fix}
        assert fixes[("libmount1", cve)] == {"state": "fixed", "versions": ["2.36.1-8+deb11u1"], "source": source_fix}
        assert fixes[("util-linux", cve)] == {"state": "fixed", "versions": ["2.36.1-8+deb11u1"], "source": None}
    remediation = {r["package"]["name"]: r for r in document["remediation"]}
    assert remediation["bsdutils"]["upgrade_to"] == "1:2.36.1-8+deb11u1"
    assert remediation["bsdutils"]["source"] == {"name": "util-linux", "version": "2.36.1-8+deb11u1"}
    code, table, _ = scanner("scan", str(image), "--db", str(environment["bundle"]))
    assert code == 0
    assert "bsdutils 1:2.36.1-8 -> 1:2.36.1-8+deb11u1 (source util-linux 2.36.1-8+deb11u1) fixes 2" in table


# Every format of every image, except the old image's CycloneDX findings: the validator parses each URL
# with an RFC 3987 grammar (about 0.1 s apiece), and that image's advisories and references are the demo's.
@pytest.mark.parametrize(("image", "command", "output"), [
    (image, command, output) for image in ("demo", "old", "util-linux")
    for command, output in (("scan", "sarif"), ("scan", "cyclonedx-json"), ("scan", "json"),
                            ("sbom", "cyclonedx-json"), ("sbom", "spdx-json"), ("sbom", "json"))
    if (image, command, output) != ("old", "scan", "cyclonedx-json")])
def test_every_document_of_every_image_validates(scanner: Run, environment: dict[str, Path],
                                                 old_packages_image: Path, util_linux_image: Path, image: str,
                                                 command: str, output: str) -> None:
    target = {"demo": DEMO_IMAGE, "old": old_packages_image, "util-linux": util_linux_image}[image]
    database = ("--db", str(environment["bundle"])) if command == "scan" else ()
    code, out, err = scanner(command, str(target), *database, "-o", output)
    assert code == 0, err
    validate(output, out.encode())


def test_diff_between_builds(scanner: Run, environment: dict[str, Path], old_packages_image: Path) -> None:
    code, out, err = scanner("diff", str(DEMO_IMAGE), str(old_packages_image),
                             "--db", str(environment["bundle"]), "-o", "json")
    assert code == 0, err
    document = json.loads(out)
    added = {(f["package"]["name"], f["vulnerability"]["id"]) for f in document["added"]}
    resolved = {(f["package"]["name"], f["vulnerability"]["id"]) for f in document["resolved"]}
    assert ("log4j:log4j", "CVE-2022-23302") in added
    assert ("org.apache.logging.log4j:log4j-core", "CVE-2021-44228") in resolved
    assert ("Pillow", "CVE-2022-22817") not in added | resolved  # in both builds
    assert document["unchanged"] >= len(DEMO_EXPECTED["Pillow"])

    # An upgrade gate: only what NEW adds counts, not what both builds already had.
    severities = {f["vulnerability"]["severity"] for f in document["added"]}
    code, _, err = scanner("diff", str(DEMO_IMAGE), str(old_packages_image), "--db", str(environment["bundle"]),
                           "--fail-on", "low")
    assert code == 1 and "new finding(s) at or above low" in err.splitlines()[-1]
    code, _, err = scanner("diff", str(DEMO_IMAGE), DEMO_IMAGE.as_posix(), "--db", str(environment["bundle"]),
                           "--fail-on", "low")
    assert code == 0, err  # the same image twice adds nothing, whatever it contains
    assert severities


# --- SBOM targets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sbom_format", ["cyclonedx-json", "spdx-json", "json"])
def test_our_sbom_scans_like_the_image(scanner: Run, environment: dict[str, Path], tmp_path: Path,
                                       sbom_format: str) -> None:
    sbom = tmp_path / "demo.sbom.json"
    code, _, err = scanner("sbom", str(DEMO_IMAGE), "-o", sbom_format, "--file", str(sbom))
    assert code == 0, err
    def pairs(document: dict[str, Any]) -> set[tuple[str, str, str, str | None]]:
        return {(f["package"]["name"], f["package"]["version"], f["vulnerability"]["id"], f["package"]["layer"])
                for f in document["findings"]}

    # Our SBOMs carry source packages, layers and file ownership: OS-owned packages are skipped alike.
    for options in ((), ("--include-os-owned",)):
        from_image = scan_json(scanner, environment, DEMO_IMAGE, *options)
        from_sbom = scan_json(scanner, environment, sbom, *options)
        assert from_sbom["image"]["kind"] == "sbom"
        assert pairs(from_sbom) == pairs(from_image)
        assert from_sbom["summary"]["skipped_os_owned"] == from_image["summary"]["skipped_os_owned"]


@dataclass(frozen=True)
class _Listed:
    record_id: str
    package: str
    versions: tuple[str, ...]
    events: tuple[tuple[tuple[str, str], ...], ...]  # ECOSYSTEM ranges: ((event, version), ...) each


def _pypi_ground_truth() -> list[_Listed]:
    """Every non-withdrawn PyPI record entry, with its affected versions where it lists them."""
    listed: list[_Listed] = []
    for path in sorted((FEEDS / "osv" / "PyPI").glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("withdrawn"):
            continue
        for affected in record.get("affected", []):
            if affected["package"]["ecosystem"] != "PyPI":
                continue
            events = tuple(tuple((kind, value) for event in r["events"] for kind, value in event.items())
                           for r in affected.get("ranges", []) if r["type"] == "ECOSYSTEM")
            listed.append(_Listed(record["id"], affected["package"]["name"], tuple(affected.get("versions", ())),
                                  events))
    return listed


def _oracle_in_range(version: str, events: tuple[tuple[str, str], ...]) -> bool | None:
    """An independent reading of one OSV ECOSYSTEM range with `packaging` (None: not PEP 440)."""
    try:
        installed = Version(version)
        bounds = [(kind, Version("0") if value == "0" else Version(value)) for kind, value in events]
    except InvalidVersion:
        return None
    inside = False
    for kind, bound in sorted(bounds, key=lambda item: item[1]):
        if bound > installed and kind != "last_affected":
            break
        if kind == "introduced":
            inside = True
        elif kind == "fixed":
            inside = False
        elif kind == "last_affected":
            inside = inside and installed <= bound
            if bound >= installed:
                break
            inside = False
    return inside


def _cyclonedx(packages: set[tuple[str, str]]) -> dict[str, Any]:
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
        {"type": "library", "name": name, "version": version, "purl": f"pkg:pypi/{name}@{version}"}
        for name, version in sorted(packages)]}


def test_osv_listed_versions_are_ground_truth(environment: dict[str, Path], tmp_path: Path) -> None:
    """Every listed version is reported by every record listing it; the fixed boundaries by none of them.

    Beyond the lists, a finding is only allowed where the record's own ECOSYSTEM range covers the
    version by an independent reading with `packaging` (OSV counts both; lists omit yanked releases).
    The scan goes through the library (SBOM reader, verified database, matcher): the report of
    140,000 findings would only time remediation and the JSON encoder.
    """
    with sqlite3.connect(f"file:{environment['database']}?mode=ro", uri=True) as db:
        group_of = dict(db.execute("SELECT id, group_id FROM vulnerabilities"))
    entries = _pypi_ground_truth()
    listed: dict[tuple[str, str], set[str]] = defaultdict(set)
    by_package: dict[str, list[_Listed]] = defaultdict(list)
    names: dict[str, str] = {}
    for entry in entries:
        key: str = normalize_package_name("PyPI", entry.package)
        names.setdefault(key, entry.package)
        by_package[key].append(entry)
        for version in entry.versions:
            listed[(key, version)].add(group_of[entry.record_id])
    fixed_by: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, package_entries in by_package.items():
        for entry in package_entries:
            for events in entry.events:
                for kind, value in events:
                    if kind == "fixed":
                        fixed_by[(key, value)].add(group_of[entry.record_id])
    versions = set(listed) | set(fixed_by)
    sbom = tmp_path / "ground-truth.cdx.json"
    sbom.write_text(json.dumps(_cyclonedx({(names[key], version) for key, version in versions})))
    database = load_database(state_dir=environment["state"], bundle=environment["bundle"], audit=False)
    with VulnStore(database.path) as store:
        result = Matcher(store).match(read_target(sbom).packages)
    actual: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in result.findings:
        actual[(normalize_package_name("PyPI", finding.package.name), finding.package.version)].add(
            finding.vulnerability.id)

    missing = {key: listed[key] - actual[key] for key in versions if listed[key] - actual[key]}
    assert not missing, f"{len(missing)} listed versions not reported, e.g. {sorted(missing.items())[:5]}"
    unexplained = {}
    for (key, version), groups in actual.items():
        for group in groups - listed[(key, version)]:
            ranges = [events for entry in by_package[key] if group_of[entry.record_id] == group
                      for events in entry.events]
            if not any(_oracle_in_range(version, events) for events in ranges):
                unexplained[(key, version)] = group
    assert not unexplained, f"findings neither listed nor in range: {sorted(unexplained.items())[:5]}"
    on_fix = {key: actual[key] & groups - listed[key] for key, groups in fixed_by.items()
              if actual[key] & groups - listed[key]}
    assert not on_fix, f"fixed versions reported by the record that fixes them: {sorted(on_fix.items())[:5]}"
    assert len(versions) > 30000 and len(result.findings) > 100000



# --- rpm distros: OSV records list binary rpms --------------------------------------------------------

# AlmaLinux 9.3's builds: openssl-libs (Epoch 1) from openssl's source rpm, python3-libs from python3.9's.
ALMA_RPMS = (("openssl-libs", 1, "3.0.7", "24.el9", "openssl-3.0.7-24.el9.src.rpm"),
             ("python3-libs", None, "3.9.18", "1.el9_3", "python3.9-3.9.18-1.el9_3.src.rpm"))
# Real ALSA records naming these binaries: fixed above the installed builds, or at or below them.
ALMA_AFFECTING = {"openssl-libs": "ALSA-2024_0310", "python3-libs": "ALSA-2024_4078"}
ALMA_FIXED_BEFORE = {"openssl-libs": "ALSA-2023_3722", "python3-libs": "ALSA-2023_6659"}


def _alsa(file_stem: str, binary: str) -> tuple[str, str, set[str]]:
    """(advisory id, fixed version of `binary` in AlmaLinux:9, CVEs) of a real ALSA record."""
    record = json.loads((FEEDS / "osv" / "AlmaLinux" / f"{file_stem}.json").read_text())
    [fixed] = [event["fixed"] for entry in record["affected"]
               if (entry["package"]["ecosystem"], entry["package"]["name"]) == ("AlmaLinux:9", binary)
               for event in entry["ranges"][0]["events"] if "fixed" in event]
    return record["id"], fixed, set(record["related"])


def _check_alma_findings(findings: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]) -> None:
    """findings: (package, vulnerability id, aliases, fixed versions)."""
    by_package: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = defaultdict(dict)
    for package, vuln_id, aliases, fixes in findings:
        assert vuln_id not in by_package[package], "one finding per (package, vulnerability)"
        by_package[package][vuln_id] = (aliases, fixes)
    for binary, stem in ALMA_AFFECTING.items():
        advisory_id, fixed, cves = _alsa(stem, binary)
        for cve in cves:
            aliases, fixed_versions = by_package[binary][cve]
            assert advisory_id in aliases and fixed in fixed_versions, (binary, cve)
    for binary, stem in ALMA_FIXED_BEFORE.items():
        advisory_id, _, _ = _alsa(stem, binary)
        assert not [v for v, (aliases, _) in by_package[binary].items() if advisory_id in aliases], binary


def test_rpm_sbom_matches_binary_rpm_advisories(scanner: Run, environment: dict[str, Path], tmp_path: Path) -> None:
    components = [{"type": "operating-system", "name": "almalinux", "version": "9.3"}]
    for name, epoch, version, release, srpm in ALMA_RPMS:
        qualifiers = f"arch=x86_64&distro=almalinux-9.3{f'&epoch={epoch}' if epoch else ''}&upstream={srpm}"
        components.append({"type": "library", "name": name, "version": f"{version}-{release}",
                           "purl": f"pkg:rpm/almalinux/{name}@{version}-{release}?{qualifiers}"})
    sbom = tmp_path / "alma.cdx.json"
    sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}))
    document = scan_json(scanner, environment, sbom)
    _check_alma_findings([(f["package"]["name"], f["vulnerability"]["id"], tuple(f["vulnerability"]["aliases"]),
                           tuple(f["fix"]["versions"])) for f in document["findings"]])


def test_rpm_database_packages_match_binary_rpm_advisories(environment: dict[str, Path], tmp_path: Path) -> None:
    """The rpm cataloger's packages (EVR with the header's epoch, source rpm) reach the same findings."""
    database = tmp_path / "rpmdb.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        for number, (name, epoch, version, release, srpm) in enumerate(ALMA_RPMS, start=1):
            tags = [(1000, STRING, f"{name}\0".encode(), 1), (1001, STRING, f"{version}\0".encode(), 1),
                    (1002, STRING, f"{release}\0".encode(), 1), (1022, STRING, b"x86_64\0", 1),
                    (1044, STRING, f"{srpm}\0".encode(), 1)]
            if epoch is not None:
                tags.append((1003, INT32, struct.pack(">i", epoch), 1))
            connection.execute("INSERT INTO Packages VALUES (?, ?)", (number, make_header(tags)))
        connection.commit()
    fs = MemoryFilesystem(files={"etc/os-release": b'ID="almalinux"\nVERSION_ID="9.3"\n',
                                 "var/lib/rpm/rpmdb.sqlite": database.read_bytes()})
    packages = catalog_filesystem(fs, [RpmCataloger()]).packages
    assert {(p.name, p.version, p.ecosystem, p.match_source_name) for p in packages} == {
        ("openssl-libs", "1:3.0.7-24.el9", "AlmaLinux:9", "openssl"),
        ("python3-libs", "3.9.18-1.el9_3", "AlmaLinux:9", "python3.9")}
    with VulnStore(environment["database"]) as store:
        result = Matcher(store).match(packages)
    _check_alma_findings([(f.package.name, f.vulnerability.id, f.vulnerability.aliases, f.fix.versions)
                          for f in result.findings])


@pytest.mark.parametrize("command", ["inspect", "sbom", "scan", "diff"])
def test_the_bomb_cap_a_message_names_is_a_flag_of_that_command(scanner: Run, environment: dict[str, Path],
                                                                 command: str) -> None:
    targets = [str(DEMO_IMAGE)] * (2 if command == "diff" else 1)
    database = ["--db", str(environment["bundle"])] if command in ("scan", "diff") else []
    code, _, err = scanner(command, *targets, *database, "--max-uncompressed-size", "16k")
    assert code == 3, err
    hint = re.search(r"raise (--[a-z-]+)", err)
    assert hint is not None and hint.group(1) == "--max-uncompressed-size", err
    code, _, err = scanner(command, *targets, *database, hint.group(1), "1G")
    assert code in (0, 1), err
