"""Fix versions in the package's own terms: a binary judged as its source is offered its own version.

bullseye's bsdutils 1:2.36.1-8 is built from util-linux 2.36.1-8; DSA-5055-1 fixes util-linux in
2.36.1-8+deb11u1, so bsdutils is fixed in 1:2.36.1-8+deb11u1 (epoch kept), not in the source's version,
which sorts below what is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner import versions
from scanner.db.store import VulnStore
from scanner.match.fixes import installable_version
from scanner.match.matcher import Matcher
from scanner.match.scan import ScanOptions, run_scan
from scanner.model import Finding, FixState, Package
from scanner.report.base import FINDINGS, get_format
from scanner.targets import ScanInput, TargetInfo
from tests.match.dbfixture import DATABASE_INFO, db_from_records
from tests.match.fix_invariant import assert_fixes_above_installed
from tests.match.test_matcher import deb, record

UTIL_LINUX_FIX = "2.36.1-8+deb11u1"
RECORDS = [
    record("DSA-5055-1", "Debian:11", "util-linux", [{"introduced": "0"}, {"fixed": UTIL_LINUX_FIX}],
           aliases=["CVE-2021-3995"]),
    record("DSA-9100-1", "Debian:11", "lvm2", [{"introduced": "0"}, {"fixed": "2.03.11-2.1+deb11u1"}],
           aliases=["CVE-2030-0100"]),
    # A fix that moves the source to a new epoch: no binary version can be derived from it.
    record("DSA-9101-1", "Debian:11", "foo", [{"introduced": "0"}, {"fixed": "1:1.0-2"}], aliases=["CVE-2030-0101"]),
    record("ALPINE-CVE-2030-0102", "Alpine:v3.18", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r1"}],
           aliases=["CVE-2030-0102"]),
]
BSDUTILS = deb("bsdutils", "1:2.36.1-8", source="util-linux", source_version="2.36.1-8")
UTIL_LINUX = deb("util-linux", "2.36.1-8")
BINNMU = deb("libmount1", "2.36.1-8+b1", source="util-linux", source_version="2.36.1-8")
OWN_VERSION = deb("libdevmapper1.02.1", "2:1.02.175-2.1", source="lvm2", source_version="2.03.11-2.1")
NEW_EPOCH = deb("libfoo1", "1:1.0-1", source="foo", source_version="1.0-1")  # its own epoch, as bsdutils
LIBSSL = Package(name="libssl3", version="3.1.4-r0", type="apk", ecosystem="Alpine:v3.18",
                 purl="pkg:apk/alpine/libssl3@3.1.4-r0", source_name="openssl")
PACKAGES = (BSDUTILS, UTIL_LINUX, BINNMU, OWN_VERSION, NEW_EPOCH, LIBSSL)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return db_from_records(tmp_path / "v.sqlite", RECORDS)


@pytest.fixture
def findings(database: Path) -> Iterator[dict[str, Finding]]:
    with VulnStore(database) as store:
        yield {f.package.name: f for f in Matcher(store).match(PACKAGES).findings}


def test_a_binary_with_its_own_epoch_is_offered_its_own_version(findings: dict[str, Finding]) -> None:
    fix = findings["bsdutils"].fix
    assert fix.state is FixState.FIXED
    assert fix.versions == ("1:2.36.1-8+deb11u1",)
    assert (fix.source, fix.source_versions) == ("util-linux", (UTIL_LINUX_FIX,))
    assert versions.compare("Debian:11", BSDUTILS.version, fix.versions[0]) < 0
    # The source's version alone would be a downgrade for dpkg: that is what was offered before.
    assert versions.compare("Debian:11", BSDUTILS.version, UTIL_LINUX_FIX) > 0


def test_the_source_package_itself_needs_no_source_named(findings: dict[str, Finding]) -> None:
    fix = findings["util-linux"].fix
    assert (fix.versions, fix.source, fix.source_versions) == ((UTIL_LINUX_FIX,), "", ())


def test_a_binnmu_is_offered_the_source_fix(findings: dict[str, Finding]) -> None:
    fix = findings["libmount1"].fix
    assert fix.versions == (UTIL_LINUX_FIX,) and fix.source_versions == (UTIL_LINUX_FIX,)


@pytest.mark.parametrize("name", ["libdevmapper1.02.1", "libfoo1"])
def test_no_binary_version_is_invented(findings: dict[str, Finding], name: str) -> None:
    """A binary with a version of its own, or a fix in a new source epoch: only the source's fix is named."""
    fix = findings[name].fix
    assert fix.state is FixState.FIXED and fix.versions == ()
    assert fix.source and fix.source_versions


def test_apk_subpackages_share_their_origin_version(findings: dict[str, Finding]) -> None:
    fix = findings["libssl3"].fix
    assert (fix.versions, fix.source, fix.source_versions) == (("3.1.4-r1",), "openssl", ("3.1.4-r1",))


def test_installable_version_never_offers_a_version_at_or_below_the_installed_one() -> None:
    assert installable_version(BSDUTILS, "Debian:11", "2.36.1-8", UTIL_LINUX_FIX) == "1:2.36.1-8+deb11u1"
    assert installable_version(UTIL_LINUX, "Debian:11", UTIL_LINUX.version, "2.36.1-7") == ""
    assert installable_version(UTIL_LINUX, "Debian:11", UTIL_LINUX.version, UTIL_LINUX.version) == ""


def test_remediation_offers_the_binary_version_and_names_the_source(database: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    target = TargetInfo(kind="image", name="bullseye", format="docker-archive", digest="sha256:" + "9" * 64)
    report = run_scan(ScanInput(target, PACKAGES, ()), database_path=database, database=DATABASE_INFO,
                      options=ScanOptions())
    by_name = {r.package.name: r for r in report.remediations}
    assert (by_name["bsdutils"].fixed_version, by_name["bsdutils"].source,
            by_name["bsdutils"].source_version) == ("1:2.36.1-8+deb11u1", "util-linux", UTIL_LINUX_FIX)
    assert by_name["libdevmapper1.02.1"].fixed_version == ""
    document = json.loads(get_format(FINDINGS, "json").render(report))
    assert_fixes_above_installed(document)
    bsdutils = next(f for f in document["findings"] if f["package"]["name"] == "bsdutils")
    assert bsdutils["fix"] == {"state": "fixed", "versions": ["1:2.36.1-8+deb11u1"],
                               "source": {"name": "util-linux", "versions": [UTIL_LINUX_FIX]}}
    table = get_format(FINDINGS, "table").render(report).decode()
    assert f"1:2.36.1-8+deb11u1 (source util-linux {UTIL_LINUX_FIX})" in table
    assert f"bsdutils 1:2.36.1-8 -> 1:2.36.1-8+deb11u1 (source util-linux {UTIL_LINUX_FIX}) fixes 1" in table
    assert "libdevmapper1.02.1 2:1.02.175-2.1 -> source lvm2 2.03.11-2.1+deb11u1 fixes 1" in table
    sarif = json.loads(get_format(FINDINGS, "sarif").render(report))
    messages = [r["message"]["text"] for r in sarif["runs"][0]["results"]]
    assert any(m.startswith("bsdutils 1:2.36.1-8") and "fixed in 1:2.36.1-8+deb11u1 (source util-linux" in m
               for m in messages)
    cyclonedx = json.loads(get_format(FINDINGS, "cyclonedx-json").render(report))
    recommendations = {v["recommendation"] for v in cyclonedx["vulnerabilities"] if "recommendation" in v}
    assert f"Upgrade bsdutils to 1:2.36.1-8+deb11u1 or later (source util-linux {UTIL_LINUX_FIX})" in recommendations


def test_the_invariant_helper_catches_a_fix_below_the_installed_version() -> None:
    finding = {"package": {"name": "bsdutils", "version": "1:2.36.1-8", "ecosystem": "Debian:11",
                           "source_version": "2.36.1-8"},
               "vulnerability": {"id": "CVE-2021-3995"},
               "fix": {"state": "fixed", "versions": [UTIL_LINUX_FIX], "source": None}}
    with pytest.raises(AssertionError, match=r"offers 2\.36\.1-8"):
        assert_fixes_above_installed({"findings": [finding], "suppressed": [], "remediation": []})
