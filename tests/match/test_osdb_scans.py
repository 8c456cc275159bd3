"""Images built from the real rpm databases in ../shared/data/osdb, scanned end to end against small
hand-made databases in the newer distros' ecosystems.

Each image is a docker archive with an os-release (as the distro ships it) and the real database at the
path the distro keeps it; it is read by `read_target` (image reader, distro detection, rpm cataloger) and
matched by `run_scan`. Every expected finding below is written by hand from the installed versions in the
database's expected.tsv and the records of the test's database, with the reasoning beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scanner.db.store import SourceCoverage
from scanner.match.coverage import CoverageStatus
from scanner.match.scan import ScanOptions, ScanReport, run_scan
from scanner.model import FixState
from scanner.targets import read_target
from tests.catalog.conftest import OSDB
from tests.catalog.test_distro import MARINER_2, RHEL_8_6, SLE_BCI_15_SP3
from tests.image.builders import Entry, ImageSpec, docker_archive, file
from tests.match.dbfixture import DATABASE_INFO, db_from_records
from tests.match.test_release_routes import record


def image(tmp_path: Path, os_release: bytes, database: Path, at: str, *extra: Entry) -> Path:
    entries = [file("etc/os-release", os_release), file(at + database.name, database.read_bytes()), *extra]
    return docker_archive(tmp_path / "image.tar", ImageSpec([entries]))


def scan(target: Path, records: list[dict[str, Any]], coverage: list[SourceCoverage], name: str = "v") -> ScanReport:
    database = db_from_records(target.parent / f"{name}.sqlite", records, coverage=coverage)
    return run_scan(read_target(target), database_path=database, database=DATABASE_INFO, options=ScanOptions())


def findings(report: ScanReport) -> dict[tuple[str, str], tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    """(package, vulnerability) -> (state, fixed versions of the package, source judged as, its fixed versions)."""
    return {(f.package.name, f.vulnerability.id): (f.fix.state.value, f.fix.versions, f.fix.source,
                                                   f.fix.source_versions) for f in report.findings}


def coverage(report: ScanReport) -> dict[str, CoverageStatus]:
    return {entry.ecosystem: entry.status for entry in report.coverage}


SLES_SP3 = "SUSE:Linux Enterprise Server 15 SP3"
SUSE = [
    # Binary rpm names, as SUSE's OVAL lists them: libmagic1 and file-magic 5.32-7.14.1 are installed
    # (source file); the "file" binary is not, so its row matches nothing.
    record("SUSE-SU-2030:0001-1", "CVE-2030-6001", [(SLES_SP3, "file", "5.32-7.14.2"),
                                                    (SLES_SP3, "libmagic1", "5.32-7.14.2"),
                                                    (SLES_SP3, "file-magic", "5.32-7.14.2")]),
    # A source name only: libncurses6 and terminfo-base 6.1-5.9.1 come from ncurses 6.1-5.9.1, so both are
    # judged as ncurses; their version is the source's, so the binary fix is the source fix.
    record("SUSE-CVE-2030-6002", "CVE-2030-6002", [(SLES_SP3, "ncurses", "6.1-5.9.2")]),
    # Another service pack: an SP3 image does not read it (bash 4.4-19.6.1 would be affected).
    record("SUSE-CVE-2030-6003", "CVE-2030-6003", [("SUSE:Linux Enterprise Server 15 SP5", "bash", "4.4-19.9.1")]),
    # Fixed at the installed glibc 2.31-9.3.2: not affected.
    record("SUSE-CVE-2030-6004", "CVE-2030-6004", [(SLES_SP3, "glibc", "2.31-9.3.2")]),
]


def test_sle_bci_ndb_image(tmp_path: Path) -> None:
    target = image(tmp_path, SLE_BCI_15_SP3, OSDB / "rpm-ndb/sle15-bci/Packages.db", "usr/lib/sysimage/rpm/")
    report = scan(target, SUSE, [SourceCoverage("suse", SLES_SP3, 3, None, True, "whole")])
    assert report.target.distro is not None and report.target.distro.id == "sles"
    assert findings(report) == {
        ("file-magic", "CVE-2030-6001"): ("fixed", ("5.32-7.14.2",), "", ()),
        ("libmagic1", "CVE-2030-6001"): ("fixed", ("5.32-7.14.2",), "", ()),
        ("libncurses6", "CVE-2030-6002"): ("fixed", ("6.1-5.9.2",), "ncurses", ("6.1-5.9.2",)),
        ("terminfo-base", "CVE-2030-6002"): ("fixed", ("6.1-5.9.2",), "ncurses", ("6.1-5.9.2",)),
    }
    assert all(f.matched_by == "distro" for f in report.findings)
    assert coverage(report) == {SLES_SP3: CoverageStatus.COMPLETE} and report.unevaluated == ()
    # Against SP5 data only, the SP3 release has none: every package is "not checked", never clean.
    other = scan(target, SUSE[2:3], [SourceCoverage("suse", "SUSE:Linux Enterprise Server 15 SP5", 1, None, True,
                                                    "whole")], name="sp5")
    assert other.findings == () and not other.clean
    assert coverage(other) == {SLES_SP3: CoverageStatus.NONE}
    assert len(other.unevaluated) == report.packages == 35  # every package of expected.tsv
    assert {u.reason for u in other.unevaluated} == {f"the database holds no advisories for {SLES_SP3}; distro "
                                                     "advisories not checked"}


MARINER = [
    # Azure Linux's OVAL names source packages: curl 7.76.0-6.cm2 gives curl and curl-libs.
    record("CBL-MARINER-CVE-2030-7001", "CVE-2030-7001", [("CBL-Mariner:2.0", "curl", "7.76.0-7.cm2")]),
    # No fix yet: openssl and openssl-libs 1.1.1k-7.cm2 are affected, nothing to install.
    record("CBL-MARINER-CVE-2030-7002", "CVE-2030-7002", [("CBL-Mariner:2.0", "openssl", None)]),
    # Azure Linux 3.0 is another release: a Mariner 2.0 image never reads it (expat 2.4.3 would be affected).
    record("AZURE-LINUX-CVE-2030-7003", "CVE-2030-7003", [("Azure Linux:3.0", "expat", "2.6.0-1.azl3")]),
]


def test_cbl_mariner_sqlite_image(tmp_path: Path) -> None:
    target = image(tmp_path, MARINER_2, OSDB / "rpm-sqlite/cbl-mariner-2.0/rpmdb.sqlite", "var/lib/rpm/")
    report = scan(target, MARINER, [SourceCoverage("azure-linux", "CBL-Mariner:2.0", 2, None, False, "loose records"),
                                    SourceCoverage("azure-linux", "Azure Linux:3.0", 1, None, True, "whole")])
    assert findings(report) == {
        ("curl", "CVE-2030-7001"): ("fixed", ("7.76.0-7.cm2",), "", ()),
        ("curl-libs", "CVE-2030-7001"): ("fixed", ("7.76.0-7.cm2",), "curl", ("7.76.0-7.cm2",)),
        ("openssl", "CVE-2030-7002"): ("not-fixed", (), "", ()),
        ("openssl-libs", "CVE-2030-7002"): ("not-fixed", (), "", ()),
    }
    assert {f.package.ecosystem for f in report.findings} == {"CBL-Mariner:2.0"}
    assert [f.fix.state for f in report.findings if f.package.name == "openssl"] == [FixState.NOT_FIXED]
    # Loose records of the release: partial, so no "clean" claim even without findings.
    assert coverage(report) == {"CBL-Mariner:2.0": CoverageStatus.PARTIAL}


EUS_88, MAINLINE_8 = "Red Hat:rhel_eus:8.8::baseos", "Red Hat:enterprise_linux:8::baseos"
RED_HAT = [
    # Fixed in 8.8 EUS at the installed libuuid 2.32.1-42.el8_8 (named by its source rpm, util-linux); the
    # mainline fix is a later minor release's build, which an EUS image does not get: EUS decides.
    record("REDHAT-CVE-2030-8001", "CVE-2030-8001", [(EUS_88, "util-linux", "2.32.1-42.el8_8"),
                                                     (MAINLINE_8, "libuuid", "2.32.1-43.el8")]),
    # No EUS data (a Moderate issue EUS does not fix): the mainline says the installed build is affected.
    record("REDHAT-CVE-2030-8002", "CVE-2030-8002", [(MAINLINE_8, "libuuid", "2.32.1-44.el8")]),
    # An EUS fix above the installed build: offered instead of the mainline's.
    record("REDHAT-CVE-2030-8003", "CVE-2030-8003", [(EUS_88, "libuuid", "2.32.1-42.el8_8.1"),
                                                     (MAINLINE_8, "libuuid", "2.32.1-45.el8")]),
]
EUS_MANIFEST = json.dumps({"metadata": {"icm_version": 1, "image_layer_index": 0},
                           "content_sets": ["rhel-8-for-x86_64-baseos-eus-rpms", "rhel-8-for-x86_64-appstream-eus-rpms"],
                           "image_contents": []}).encode()
RHEL_8_8 = RHEL_8_6.replace(b"8.6", b"8.8")


def test_rhel_bdb_image_with_and_without_eus_content_sets(tmp_path: Path) -> None:
    database = OSDB / "rpm-bdb/rhel8-libuuid/Packages"
    sources = [SourceCoverage("redhat", EUS_88, 2, None, False, "loose records"),
               SourceCoverage("redhat", MAINLINE_8, 3, None, False, "loose records")]
    eus_image = image(tmp_path, RHEL_8_8, database, "var/lib/rpm/",
                      file("root/buildinfo/content_manifests/ubi8-minimal-8.8.json", EUS_MANIFEST))
    eus = scan(eus_image, RED_HAT, sources)
    assert eus.target.distro is not None and eus.target.distro.content_sets == (
        "rhel-8-for-x86_64-appstream-eus-rpms", "rhel-8-for-x86_64-baseos-eus-rpms")
    assert findings(eus) == {("libuuid", "CVE-2030-8002"): ("fixed", ("2.32.1-44.el8",), "", ()),
                             ("libuuid", "CVE-2030-8003"): ("fixed", ("2.32.1-42.el8_8.1",), "", ())}
    assert coverage(eus) == {"Red Hat:rhel_eus:8.8": CoverageStatus.PARTIAL}

    (tmp_path / "mainline").mkdir()
    mainline = scan(image(tmp_path / "mainline", RHEL_8_8, database, "var/lib/rpm/"), RED_HAT, sources)
    assert findings(mainline) == {("libuuid", "CVE-2030-8001"): ("fixed", ("2.32.1-43.el8",), "", ()),
                                  ("libuuid", "CVE-2030-8002"): ("fixed", ("2.32.1-44.el8",), "", ()),
                                  ("libuuid", "CVE-2030-8003"): ("fixed", ("2.32.1-45.el8",), "", ())}
    assert coverage(mainline) == {"Red Hat:enterprise_linux:8": CoverageStatus.PARTIAL}


def test_a_malformed_content_manifest_is_a_warning_of_the_scan(tmp_path: Path) -> None:
    target = image(tmp_path, RHEL_8_8, OSDB / "rpm-bdb/rhel8-libuuid/Packages", "var/lib/rpm/",
                   file("root/buildinfo/content_manifests/broken.json", b'{"content_sets": ['))
    report = scan(target, RED_HAT, [])
    assert [w for w in report.warnings if "content manifest" in w] == [
        "distro: content manifest not read: root/buildinfo/content_manifests/broken.json: invalid JSON at line 1 "
        "column 19: Expecting value"]
    # Read as a mainline image.
    assert {f.vulnerability.id for f in report.findings} == {"CVE-2030-8001", "CVE-2030-8002", "CVE-2030-8003"}
