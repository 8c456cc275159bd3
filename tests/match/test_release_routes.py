"""Which ecosystems an OS package is judged by (scanner/match/releases.py): Oracle Ksplice builds, Red Hat
module streams and extended-support streams, and the rpm and apk rules of the newer distros' releases.

Each database below is written by hand in the ecosystem spellings the feed readers emit (the brief's
"Distro ecosystem names"), with rows chosen so that reading the wrong ecosystem would change the answer.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from scanner import versions
from scanner.db.store import VulnStore
from scanner.match.lookup import lookup_names
from scanner.match.matcher import Matcher, MatchResult
from scanner.match.releases import route
from scanner.match.remediation import remediations
from scanner.model import Fix, FixState, Package
from tests.match.dbfixture import Rows, db_from_records


def record(record_id: str, cve: str, rows: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    """A per-CVE distro record: one affected entry per (ecosystem, package, fixed version or None = no fix)."""
    affected = []
    for ecosystem, name, fixed in rows:
        events: list[dict[str, str]] = [{"introduced": "0"}]
        if fixed is not None:
            events.append({"fixed": fixed})
        affected.append({"package": {"ecosystem": ecosystem, "name": name},
                         "ranges": [{"type": "ECOSYSTEM", "events": events}]})
    return {"id": record_id, "upstream": [cve], "summary": f"{cve} in {rows[0][1]}", "affected": affected}


def rpm(name: str, version: str, ecosystem: str, source: str = "", source_version: str = "",
        modularity_label: str = "") -> Package:
    metadata = (("modularity_label", modularity_label),) if modularity_label else ()
    return Package(name=name, version=version, type="rpm", ecosystem=ecosystem,
                   purl=f"pkg:rpm/x/{name}@{version.split(':')[-1]}", source_name=source,
                   source_version=source_version, metadata=metadata)


def found(result: MatchResult) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """(package, version, vulnerability) -> fixed versions offered."""
    return {(f.package.name, f.package.version, f.vulnerability.id): f.fix.versions for f in result.findings}


def match(tmp_path: Path, records: list[dict[str, Any]], *packages: Package, name: str = "routes") -> MatchResult:
    with VulnStore(db_from_records(tmp_path / f"{name}.sqlite", records)) as store:
        return Matcher(store).match(list(packages))


# Oracle Linux: Ksplice user-space builds live in their own ecosystem. Without epochs on either side, each
# row would say the other package is affected (211.0.1 sorts below 225.0.4 and below 211.0.2), so only the
# ecosystem keeps them apart.
ORACLE = [
    record("ELSA-2030-1001", "CVE-2030-1001", [("Oracle Linux:8", "glibc", "2.28-225.0.4.el8")]),
    record("ELSA-2030-9001", "CVE-2030-1002", [("Oracle Linux:8:ksplice", "glibc", "2.28-211.0.2.ksplice1.el8")]),
]
GLIBC = rpm("glibc", "2.28-211.0.1.el8", "Oracle Linux:8")
GLIBC_KSPLICE = rpm("glibc", "2.28-211.0.1.ksplice1.el8", "Oracle Linux:8")


def test_a_ksplice_build_is_judged_only_by_ksplice_entries(tmp_path: Path) -> None:
    assert found(match(tmp_path, ORACLE, GLIBC_KSPLICE)) == {
        ("glibc", "2.28-211.0.1.ksplice1.el8", "CVE-2030-1002"): ("2.28-211.0.2.ksplice1.el8",)}


def test_a_non_ksplice_package_is_never_judged_by_ksplice_entries(tmp_path: Path) -> None:
    assert found(match(tmp_path, ORACLE, GLIBC)) == {("glibc", "2.28-211.0.1.el8", "CVE-2030-1001"):
                                                     ("2.28-225.0.4.el8",)}


def test_a_ksplice_build_without_ksplice_data_is_not_evaluated(tmp_path: Path) -> None:
    result = match(tmp_path, ORACLE[:1], GLIBC_KSPLICE, GLIBC)
    assert set(found(result)) == {("glibc", "2.28-211.0.1.el8", "CVE-2030-1001")}
    [unevaluated] = result.unevaluated
    assert unevaluated.package == GLIBC_KSPLICE
    assert unevaluated.reason == ("the database holds no advisories for Oracle Linux:8:ksplice; "
                                  "distro advisories not checked")


# Red Hat modules: rows of a module stream are about that stream's builds. Every row below would say the
# package is affected if it were read (no fix, or a fix above the installed version).
APPSTREAM = "Red Hat:enterprise_linux:8::appstream"
MODULES = [
    record("REDHAT-CVE-2030-2001", "CVE-2030-2001",
           [(f"{APPSTREAM}::module:nodejs:18", "nodejs", "1:18.19.0-1.module+el8.9.0+20473+c4e3d1c8")]),
    record("REDHAT-CVE-2030-2002", "CVE-2030-2002",
           [(f"{APPSTREAM}::module:nodejs:20", "nodejs", "1:20.11.0-1.module+el8.9.0+20800+a6e2e9d5")]),
    record("REDHAT-CVE-2030-2003", "CVE-2030-2003", [(APPSTREAM, "nodejs", None), (APPSTREAM, "perl", None)]),
    record("REDHAT-CVE-2030-2004", "CVE-2030-2004",
           [(f"{APPSTREAM}::module:perl:5.32", "perl", "4:5.32.1-480.module+el8.9.0+20005+fb0c8a54")]),
]
NODEJS_18 = rpm("nodejs", "1:18.18.2-1.module+el8.9.0+20000+76c0d6a0", "Red Hat:enterprise_linux:8",
                modularity_label="nodejs:18:8090020231025135235:a75119d5")
PERL = rpm("perl", "4:5.26.3-422.el8", "Red Hat:enterprise_linux:8")


def test_a_module_stream_package_reads_only_its_stream(tmp_path: Path) -> None:
    assert found(match(tmp_path, MODULES, NODEJS_18)) == {
        ("nodejs", NODEJS_18.version, "CVE-2030-2001"): ("1:18.19.0-1.module+el8.9.0+20473+c4e3d1c8",)}


def test_a_package_outside_any_module_never_reads_module_rows(tmp_path: Path) -> None:
    # perl 5.26 is RHEL 8's default, non-modular perl: the perl:5.32 stream's fix is not for it.
    assert found(match(tmp_path, MODULES, PERL)) == {("perl", PERL.version, "CVE-2030-2003"): ()}


def test_the_same_build_in_and_out_of_a_module_is_not_a_copy(tmp_path: Path) -> None:
    # One NEVRA found in two rpm databases, one with a modularity label: matched together each reads its own
    # rows, as matched alone (copies of a package are matched once; these are not copies).
    plain = dataclasses.replace(NODEJS_18, metadata=(), layer_index=1)
    together = found(match(tmp_path, MODULES, NODEJS_18, plain))
    assert together == {("nodejs", NODEJS_18.version, "CVE-2030-2001"): ("1:18.19.0-1.module+el8.9.0+20473+c4e3d1c8",),
                        ("nodejs", NODEJS_18.version, "CVE-2030-2003"): ()}


def test_module_routing_needs_module_data_and_a_readable_label(tmp_path: Path) -> None:
    bad_label = dataclasses.replace(NODEJS_18, version="1:18.18.1-1.module+el8.9.0+19000+0a0b0c0d",
                                    metadata=(("modularity_label", "nodejs"),))
    without_modules = match(tmp_path, MODULES[2:3], NODEJS_18, PERL, bad_label)
    assert set(found(without_modules)) == {("perl", PERL.version, "CVE-2030-2003")}
    assert {(u.package.metadata, u.reason) for u in without_modules.unevaluated} == {
        (NODEJS_18.metadata, "the database holds no module stream advisories for Red Hat:enterprise_linux:8; "
                             "package of module stream nodejs:18 not checked"),
        (bad_label.metadata, "modularity label 'nodejs' is not NAME:STREAM:VERSION:CONTEXT; not checked")}


def test_modules_only_route_red_hat_releases() -> None:
    # AlmaLinux and Rocky list module builds under the release itself: their labels change nothing.
    alma = rpm("nodejs", "1:18.18.2-1.module_el8.9.0+3700+efebe9fd", "AlmaLinux:8",
               modularity_label="nodejs:18:8090020231025135235:a75119d5")
    assert route(alma).module is None and route(NODEJS_18).module == "nodejs:18" and route(PERL).module == ""


# Red Hat extended-support streams (scanner.catalog.distro.extended_support): an EUS image reads its minor
# release's EUS streams first; for each vulnerability the first tier with rows for the package decides.
EUS, MAINLINE = "Red Hat:rhel_eus:8.6::baseos", "Red Hat:enterprise_linux:8::baseos"
STREAMS = [
    # Fixed in the EUS stream at the installed build; the mainline fix is a later minor release's.
    record("REDHAT-CVE-2030-3001", "CVE-2030-3001", [(EUS, "util-linux", "2.32.1-35.el8_6.1"),
                                                     (MAINLINE, "util-linux", "2.32.1-39.el8_7")]),
    # Fixed in the EUS stream above the installed build: the EUS fix is offered, never the mainline's.
    record("REDHAT-CVE-2030-3002", "CVE-2030-3002", [(EUS, "libuuid", "2.32.1-35.el8_6.2"),
                                                     (MAINLINE, "libuuid", "2.32.1-40.el8")]),
    # A Moderate issue EUS does not fix: the mainline's data is all there is, and the EUS build has the bug.
    record("REDHAT-CVE-2030-3003", "CVE-2030-3003", [(MAINLINE, "util-linux", "2.32.1-42.el8_8")]),
    # EUS says its build is not affected (EUS_NOT_AFFECTED): that decides, whatever the mainline says.
    record("REDHAT-CVE-2030-3004", "CVE-2030-3004", [(MAINLINE, "libuuid", "2.32.1-41.el8")]),
    # Only in the EUS stream.
    record("REDHAT-CVE-2030-3005", "CVE-2030-3005", [(EUS, "libuuid", "2.32.1-36.el8_6")]),
]
EUS_NOT_AFFECTED = Rows(affected=[("REDHAT-CVE-2030-3004", EUS, "libuuid", None, None, FixState.NOT_AFFECTED.value,
                                   None, None)])
LIBUUID_EUS = rpm("libuuid", "2.32.1-35.el8_6.1", "Red Hat:rhel_eus:8.6", "util-linux")
LIBUUID = dataclasses.replace(LIBUUID_EUS, ecosystem="Red Hat:enterprise_linux:8")


def test_an_eus_image_reads_its_eus_streams_before_the_mainline(tmp_path: Path) -> None:
    with VulnStore(db_from_records(tmp_path / "eus.sqlite", STREAMS, EUS_NOT_AFFECTED)) as store:
        eus = found(Matcher(store).match([LIBUUID_EUS]))
        mainline = found(Matcher(store).match([LIBUUID]))
    v = LIBUUID.version
    assert eus == {("libuuid", v, "CVE-2030-3002"): ("2.32.1-35.el8_6.2",),
                   ("libuuid", v, "CVE-2030-3003"): ("2.32.1-42.el8_8",),
                   ("libuuid", v, "CVE-2030-3005"): ("2.32.1-36.el8_6",)}
    # The same build on a mainline image: the mainline's data alone, no EUS row is read.
    assert mainline == {("libuuid", v, "CVE-2030-3001"): ("2.32.1-39.el8_7",),
                        ("libuuid", v, "CVE-2030-3002"): ("2.32.1-40.el8",),
                        ("libuuid", v, "CVE-2030-3003"): ("2.32.1-42.el8_8",),
                        ("libuuid", v, "CVE-2030-3004"): ("2.32.1-41.el8",)}


def test_an_eus_image_with_only_mainline_data_is_judged_by_it(tmp_path: Path) -> None:
    result = match(tmp_path, [STREAMS[2]], LIBUUID_EUS)
    assert found(result) == {("libuuid", LIBUUID.version, "CVE-2030-3003"): ("2.32.1-42.el8_8",)}
    assert result.unevaluated == ()


# The newer rpm distros: binary and source rpm names, epochs; Wolfi and Chainguard: apk origins.
def test_binary_and_source_names_of_the_newer_rpm_distros() -> None:
    curl_libs = rpm("curl-libs", "7.76.0-6.cm2", "CBL-Mariner:2.0", "curl")
    libmagic = rpm("libmagic1", "5.32-7.14.1", "SUSE:Linux Enterprise Server 15 SP3", "file")
    assert lookup_names(curl_libs) == (("curl-libs", "7.76.0-6.cm2"), ("curl", "7.76.0-6.cm2"))
    assert lookup_names(libmagic) == (("libmagic1", "5.32-7.14.1"), ("file", "5.32-7.14.1"))


@pytest.mark.parametrize("ecosystem", ["Amazon Linux:2023", "SUSE:Linux Enterprise Server 15 SP5",
                                       "openSUSE:Leap 15.5", "Oracle Linux:9", "CBL-Mariner:2.0", "Azure Linux:3.0",
                                       "Red Hat:rhel_eus:8.6"])
def test_rpm_order_and_epochs_in_every_rpm_release(ecosystem: str) -> None:
    # A missing epoch is 0 on both sides: "3.0.8-1" is below "1:3.0.8-1" and equal to "0:3.0.8-1".
    assert versions.compare(ecosystem, "3.0.8-1.amzn2023.0.9", "1:3.0.8-1.amzn2023.0.4") < 0
    assert versions.compare(ecosystem, "0:3.0.8-1", "3.0.8-1") == 0
    assert versions.compare(ecosystem, "1:3.0.8-1.amzn2023.0.3", "1:3.0.8-1.amzn2023.0.4") < 0
    assert versions.compare(ecosystem, "2.28-211.0.1.el8", "2.28-211.0.1.el8_8") < 0


@pytest.mark.parametrize("ecosystem", ["Wolfi", "Chainguard"])
def test_apk_order_in_wolfi_and_chainguard(ecosystem: str) -> None:
    assert versions.compare(ecosystem, "3.1.4-r0", "3.1.4-r1") < 0
    assert versions.compare(ecosystem, "3.1.4_rc1-r0", "3.1.4-r0") < 0


def test_amazon_fixes_are_judged_with_epochs(tmp_path: Path) -> None:
    alas = record("ALAS2023-2030-001", "CVE-2030-4001", [("Amazon Linux:2023", "openssl-libs", "1:3.0.8-1.amzn2023.0.4")])
    libs = rpm("openssl-libs", "1:3.0.8-1.amzn2023.0.3", "Amazon Linux:2023", "openssl")
    fixed = rpm("openssl-libs", "1:3.0.8-1.amzn2023.0.4", "Amazon Linux:2023", "openssl")
    # An SBOM that dropped the epoch reads as epoch 0, below the epoch-1 fix: affected.
    no_epoch = rpm("openssl-libs", "3.0.8-1.amzn2023.0.9", "Amazon Linux:2023", "openssl")
    result = match(tmp_path, [alas], libs, fixed, no_epoch)
    assert found(result) == {("openssl-libs", libs.version, "CVE-2030-4001"): ("1:3.0.8-1.amzn2023.0.4",),
                             ("openssl-libs", no_epoch.version, "CVE-2030-4001"): ("1:3.0.8-1.amzn2023.0.4",)}
    # Another Amazon Linux release's rows are never read.
    other = match(tmp_path, [alas], dataclasses.replace(libs, ecosystem="Amazon Linux:2"), name="al2")
    assert found(other) == {} and "no advisories for Amazon Linux:2" in other.unevaluated[0].reason


def test_an_amazon_fix_written_without_epoch_is_judged_at_the_installed_epoch(tmp_path: Path) -> None:
    # ALAS pages write "openssl-1.0.2k-24.amzn2.0.7.x86_64" for an epoch-1 openssl: read as epoch 0 that fix
    # would be below every installed build, and 1:1.0.2k-24.amzn2.0.6 would look fixed.
    alas = record("ALAS2-2030-002", "CVE-2030-4002", [("Amazon Linux:2", "openssl", "1.0.2k-24.amzn2.0.7")])
    old = rpm("openssl", "1:1.0.2k-24.amzn2.0.6", "Amazon Linux:2")
    new = rpm("openssl", "1:1.0.2k-24.amzn2.0.7", "Amazon Linux:2")
    assert found(match(tmp_path, [alas], old, new)) == {
        ("openssl", old.version, "CVE-2030-4002"): ("1:1.0.2k-24.amzn2.0.7",)}  # what yum installs
    # The rule is Amazon's: elsewhere a missing epoch is 0, as rpm itself compares.
    oracle = record("ELSA-2030-0003", "CVE-2030-4003", [("Oracle Linux:8", "openssl", "1.0.2k-24.el8")])
    assert found(match(tmp_path, [oracle], rpm("openssl", "1:1.0.2k-23.el8", "Oracle Linux:8"), name="ol")) == {}


def test_remediation_weighs_amazon_fixes_at_the_installed_epoch(tmp_path: Path) -> None:
    # Found in review: the fixes are offered at the installed epoch, so the lowest (1:…-24.amzn2.0.7) compared
    # against epoch-less entries as epoch 1 and looked like it fixed both; it fixes only the first.
    first = record("ALAS2-2030-010", "CVE-2030-4010", [("Amazon Linux:2", "openssl", "1.0.2k-24.amzn2.0.7")])
    second = record("ALAS2-2030-011", "CVE-2030-4011", [("Amazon Linux:2", "openssl", "1.0.2k-26.amzn2.0.1")])
    result = match(tmp_path, [first, second], rpm("openssl", "1:1.0.2k-24.amzn2.0.6", "Amazon Linux:2"))
    [remediation] = remediations(result.findings, result.evidence)
    assert (remediation.fixed_version, remediation.fixes) == ("1:1.0.2k-26.amzn2.0.1", 2)


@pytest.mark.parametrize("ecosystem", ["Wolfi", "Chainguard"])
def test_wolfi_and_chainguard_packages_are_looked_up_by_origin(tmp_path: Path, ecosystem: str) -> None:
    secdb = record(f"{ecosystem.upper()}-CVE-2030-5001", "CVE-2030-5001", [(ecosystem, "openssl", "3.1.4-r1")])
    libcrypto = Package(name="libcrypto3", version="3.1.4-r0", type="apk", ecosystem=ecosystem,
                        purl="pkg:apk/wolfi/libcrypto3@3.1.4-r0", source_name="openssl")
    [finding] = match(tmp_path, [secdb], libcrypto).findings
    assert finding.vulnerability.id == "CVE-2030-5001"
    assert finding.fix == Fix(FixState.FIXED, ("3.1.4-r1",), "openssl", ("3.1.4-r1",))
