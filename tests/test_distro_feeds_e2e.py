"""Every distro provider end to end: feed fixture -> signed bundle -> image -> `scanner scan` -> findings.

The bundle is compiled once from the real feed samples in ../shared/data/feeds (Amazon ALAS, SUSE, Oracle and
Azure Linux OVAL, Red Hat CSAF and security data, Wolfi and Chainguard secdb). The images carry real package
databases: the CBL-Mariner 2.0, SLE BCI and RHEL 8 databases of ../shared/data/osdb, or rpm databases that
rpm itself writes (`rpm --initdb`, `rpm -i --justdb` of packages rpmbuild made) with the NEVRAs a case needs.
Every expected finding is written by hand from the fixture record it comes from; the reasoning is beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.compile import compile_database
from tests.image.builders import Entry, ImageSpec, docker_archive, file
from tests.scanner_cli import runner, trusted_compiled_bundle

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FEEDS, OSDB = DATA / "feeds", DATA / "osdb"

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}
Summary: a test package
License: MIT
BuildArch: noarch
%description
test
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {name} > %{{buildroot}}/usr/share/{name}/data.txt
%files
/usr/share/{name}/data.txt
"""


def os_release(distro_id: str, version_id: str, name: str) -> Entry:
    return file("etc/os-release", f'NAME="{name}"\nID="{distro_id}"\nVERSION_ID="{version_id}"\n'
                f'PRETTY_NAME="{name} {version_id}"\n'.encode())


def rpm_database(work: Path, packages: list[tuple[str, str, str, str]]) -> list[Entry]:
    """`var/lib/rpm` as rpm writes it, holding (name, epoch, version, release) packages."""
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.fail("rpm and rpmbuild must be installed (.ci/run installs them)")
    work.mkdir(parents=True, exist_ok=True)
    top = work / "rpmbuild"
    for name, epoch, version, release in packages:
        spec = work / f"{name}.spec"
        spec.write_text(SPEC.format(name=name, version=version, release=release,
                                    epoch=f"Epoch: {epoch}" if epoch else ""))
        subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True)
    dbpath = work / "db"
    dbpath.mkdir()
    subprocess.run(["rpm", "--dbpath", str(dbpath), "--initdb"], check=True, capture_output=True)
    subprocess.run(["rpm", "--dbpath", str(dbpath), "-i", "--nodeps", "--justdb",
                    *map(str, sorted((top / "RPMS" / "noarch").glob("*.rpm")))], check=True, capture_output=True)
    return [file(f"var/lib/rpm/{path.name}", path.read_bytes()) for path in sorted(dbpath.iterdir()) if path.is_file()]


def osdb_files(folder: str, inside: str) -> list[Entry]:
    return [file(f"{inside}/{path.name}", path.read_bytes())
            for path in sorted((OSDB / folder).iterdir()) if path.name not in ("expected.tsv", "SOURCE.txt")]


def image(path: Path, entries: list[Entry]) -> Path:
    return docker_archive(path, ImageSpec(layers=[entries]))


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("distro-e2e")
    database = work / "vulns.sqlite"
    summary = compile_database(database, {
        "amazon": [FEEDS / "amazon"], "suse": [FEEDS / "sles"], "oracle": [FEEDS / "oracle"],
        "azure-linux": [FEEDS / "azure-linux"], "redhat": [FEEDS / "redhat"], "wolfi": [FEEDS / "wolfi"],
        "chainguard": [FEEDS / "chainguard"]})
    assert {provider.name for provider in summary.providers} == {
        "wolfi", "chainguard", "redhat", "amazon", "suse", "oracle", "azure-linux"}
    assert all(provider.records for provider in summary.providers)
    trusted = trusted_compiled_bundle(work, database, "distros")
    return {"bundle": trusted.bundle, "state": trusted.state, "work": work}


def scan(environment: dict[str, Path], target: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = runner(capsys, monkeypatch)("--state-dir", str(environment["state"]), "scan", str(target),
                                                 "--db", str(environment["bundle"]), "-o", "json")
    assert code in (0, 1), err
    report: dict[str, Any] = json.loads(out)
    return report


def findings(report: dict[str, Any]) -> set[tuple[str, str, str, str, tuple[str, ...]]]:
    """(package, installed version, advisory id, fix state, fix versions) per finding."""
    return {(f["package"]["name"], f["package"]["version"], f["advisory_id"] or f["vulnerability"]["id"],
             f["fix"]["state"], tuple(f["fix"]["versions"])) for f in report["findings"]}


def coverage(report: dict[str, Any]) -> dict[str, str]:
    return {entry["ecosystem"]: entry["status"] for entry in report["coverage"]}


def found(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...]]]]:
    """{(package, installed version): {id: (fix state, fix versions)}}, each finding under its vulnerability id,
    its advisory id and its aliases, so an expectation may name the CVE or the distro's advisory."""
    result: dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...]]]] = {}
    for finding in report["findings"]:
        vulnerability = finding["vulnerability"]
        ids = {vulnerability["id"], *vulnerability["aliases"], *([finding["advisory_id"]] if finding["advisory_id"]
                                                                  else [])}
        entry = result.setdefault((finding["package"]["name"], finding["package"]["version"]), {})
        for ident in ids:
            entry[ident] = (finding["fix"]["state"], tuple(finding["fix"]["versions"]))
    return result


@pytest.fixture
def scan_image(environment: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               tmp_path: Path) -> Any:
    def run(entries: list[Entry]) -> dict[str, Any]:
        return scan(environment, image(tmp_path / "image.tar", entries), monkeypatch, capsys)
    return run


@pytest.mark.tools
def test_amazon_linux_2023_fixed_and_vulnerable_binaries(scan_image: Any, tmp_path: Path) -> None:
    # ALAS-2023-126 (2023_rss.xml + 2023_html/ALAS-2023-126): device-mapper-multipath's binaries, among them
    # kpartx and libdmmp, fixed in 0.8.7-16.amzn2023.0.1 for CVE-2022-3787, CVE-2022-41973, CVE-2022-41974.
    report = scan_image([os_release("amzn", "2023", "Amazon Linux"), *rpm_database(tmp_path, [
        ("kpartx", "", "0.8.7", "15.amzn2023.0.1"), ("libdmmp", "", "0.8.7", "16.amzn2023.0.1")])])
    result = found(report)
    assert set(result) == {("kpartx", "0.8.7-15.amzn2023.0.1")}  # libdmmp carries the fix
    kpartx = result["kpartx", "0.8.7-15.amzn2023.0.1"]
    for cve in ("CVE-2022-3787", "CVE-2022-41973", "CVE-2022-41974"):
        assert kpartx[cve] == ("fixed", ("0.8.7-16.amzn2023.0.1",))
    assert "ALAS2023-2023-126" in kpartx
    assert coverage(report)["Amazon Linux:2023"] == "partial"  # one advisory: an extract, never "clean"


@pytest.mark.tools
def test_amazon_linux_2_kernel_is_read_in_its_own_release(scan_image: Any, tmp_path: Path) -> None:
    # ALAS2-2018-939 (2_rss.xml + 2_html/ALAS-2018-939): kernel fixed in 4.9.76-38.79.amzn2 (CVE-2017-5715,
    # CVE-2017-5754). The same kernel on Amazon Linux 2023 is another release: no finding there.
    packages = [("kernel", "", "4.9.75", "25.55.amzn2")]
    result = found(scan_image([os_release("amzn", "2", "Amazon Linux"), *rpm_database(tmp_path / "a", packages)]))
    assert result["kernel", "4.9.75-25.55.amzn2"]["CVE-2017-5754"] == ("fixed", ("4.9.76-38.79.amzn2",))
    other = scan_image([os_release("amzn", "2023", "Amazon Linux"), *rpm_database(tmp_path / "b", packages)])
    assert found(other) == {}


@pytest.mark.tools
def test_suse_service_pack_rows_apply_to_that_service_pack_only(scan_image: Any, tmp_path: Path) -> None:
    # SUSE-CVE-2021-29154 (suse_truncated.xml): kernel-default fixed in 4.12.14-197.89.2 on SLES 15 SP1 and in
    # 4.12.14-150.72.1 on SLES 15 (GA).
    packages = [("kernel-default", "", "4.12.14", "197.83.1")]
    sp1 = scan_image([os_release("sles", "15.1", "SLES"), *rpm_database(tmp_path / "sp1", packages)])
    assert found(sp1)["kernel-default", "4.12.14-197.83.1"]["CVE-2021-29154"] == ("fixed", ("4.12.14-197.89.2",))
    # On SP2 the fixture holds no row at all: no finding, and the release's coverage says there is no data.
    sp2 = scan_image([os_release("sles", "15.2", "SLES"), *rpm_database(tmp_path / "sp2", packages)])
    assert found(sp2) == {}
    assert coverage(sp2)["SUSE:Linux Enterprise Server 15 SP2"] == "none"


def test_sle_bci_image_from_its_real_rpm_database_is_not_called_clean(scan_image: Any) -> None:
    # The SLE BCI 15 SP3 database (osdb/rpm-ndb/sle15-bci, 35 packages) shares no package with the SUSE sample,
    # which holds rows for 15 and 15 SP1 only: nothing is found, and nothing may be called clean.
    report = scan_image([os_release("sles", "15.3", "SLES"), *osdb_files("rpm-ndb/sle15-bci", "var/lib/rpm")])
    assert found(report) == {}
    assert coverage(report)["SUSE:Linux Enterprise Server 15 SP3"] == "none"


@pytest.mark.tools
def test_oracle_ksplice_fixes_never_meet_ordinary_packages(scan_image: Any, tmp_path: Path) -> None:
    # ELSA-2021-9151 (mock_ksplice_data) fixes only the Ksplice user-space openssl (2:1.1.1g-15.ksplice1.el8_3).
    ksplice = scan_image([os_release("ol", "8.3", "Oracle Linux Server"), *rpm_database(
        tmp_path / "k", [("openssl-libs", "2", "1.1.1g", "14.ksplice1.el8_3")])])
    assert found(ksplice)["openssl-libs", "2:1.1.1g-14.ksplice1.el8_3"]["ELSA-2021-9151"] == (
        "fixed", ("2:1.1.1g-15.ksplice1.el8_3",))
    # An ordinary openssl-libs below that version, epoch included, is not the Ksplice build: no finding from it.
    ordinary = scan_image([os_release("ol", "8.3", "Oracle Linux Server"), *rpm_database(
        tmp_path / "o", [("openssl-libs", "1", "1.1.1g", "14.el8_3")])])
    assert all("ELSA-2021-9151" not in ids for ids in found(ordinary).values())


@pytest.mark.tools
def test_azure_linux_and_cbl_mariner_releases(scan_image: Any, tmp_path: Path) -> None:
    # Azure Linux 3.0 definitions 39708 and 39694: freeglut before 3.4.0-1.azl3 (CVE-2024-24258, CVE-2024-24259);
    # 39076: ceph before 18.2.1-1.azl3, which the image already has.
    azl = scan_image([os_release("azurelinux", "3.0", "Microsoft Azure Linux"), *rpm_database(
        tmp_path / "azl", [("freeglut", "", "3.2.2", "3.azl3"), ("ceph", "", "18.2.1", "1.azl3")])])
    freeglut = found(azl)
    assert set(freeglut) == {("freeglut", "3.2.2-3.azl3")}
    for cve in ("CVE-2024-24258", "CVE-2024-24259"):
        assert freeglut["freeglut", "3.2.2-3.azl3"][cve] == ("fixed", ("3.4.0-1.azl3",))
    # CBL-Mariner 2.0 definition 44771: golang after 1.19.0 and before 1.20.7-1.cm2 (CVE-2023-29404).
    mariner = scan_image([os_release("mariner", "2.0", "Common Base Linux Mariner"), *rpm_database(
        tmp_path / "cm2", [("golang", "", "1.20.6", "1.cm2")])])
    assert found(mariner)["golang", "1.20.6-1.cm2"]["CVE-2023-29404"] == ("fixed", ("1.20.7-1.cm2",))


def test_cbl_mariner_image_from_its_real_rpm_database(scan_image: Any) -> None:
    # osdb/rpm-sqlite/cbl-mariner-2.0 holds glibc 2.34-2.cm2. Definition 13348 names glibc up to 2.35-4 for
    # CVE-2023-0687 but is "patchable: Not Applicable" (the CVE never applied): not a finding.
    report = scan_image([os_release("mariner", "2.0", "Common Base Linux Mariner"),
                         *osdb_files("rpm-sqlite/cbl-mariner-2.0", "var/lib/rpm")])
    assert found(report) == {}
    assert coverage(report)["CBL-Mariner:2.0"] == "partial"


def apk_installed(packages: list[tuple[str, str]]) -> Entry:
    stanzas = "".join(f"P:{name}\nV:{version}\nA:x86_64\no:{name}\n\n" for name, version in packages)
    return file("lib/apk/db/installed", stanzas.encode())


@pytest.mark.parametrize(("distro_id", "name"), [("wolfi", "Wolfi"), ("chainguard", "Chainguard")])
def test_wolfi_and_chainguard_secdb(scan_image: Any, distro_id: str, name: str) -> None:
    # Both security.json samples: brotli fixed in 1.0.9-r0 (CVE-2020-8927), busybox fixed in 1.35.0-r3,
    # coreutils "0": CVE-2016-2781 never applied.
    report = scan_image([os_release(distro_id, "20230201", name),
                         apk_installed([("brotli", "1.0.8-r0"), ("busybox", "1.35.0-r3"), ("coreutils", "9.1-r0")])])
    result = found(report)
    assert set(result) == {("brotli", "1.0.8-r0")}
    assert result["brotli", "1.0.8-r0"]["CVE-2020-8927"] == ("fixed", ("1.0.9-r0",))
    assert coverage(report)[name] == "partial"


def test_rhel_image_from_its_real_rpm_database(scan_image: Any) -> None:
    # osdb/rpm-bdb/rhel8-libuuid: libuuid 2.32.1-42.el8_8 from util-linux, which no Red Hat sample names.
    report = scan_image([os_release("rhel", "8.8", "Red Hat Enterprise Linux"),
                         *osdb_files("rpm-bdb/rhel8-libuuid", "var/lib/rpm")])
    assert found(report) == {}
    assert coverage(report)["Red Hat:enterprise_linux:8"] == "partial"
