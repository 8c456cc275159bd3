from __future__ import annotations

import json
import time

import pytest

from scanner.catalog import catalog_filesystem
from scanner.catalog.distro import (
    CONTENT_MANIFESTS,
    Detection,
    detect,
    detect_distro,
    osv_ecosystem,
    parse_os_release,
)
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Distro

DEBIAN_12 = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""


def test_os_release_fields_and_quoting() -> None:
    fields = parse_os_release('ID="rocky"\nID_LIKE="rhel centos fedora"\n# comment\nNAME=\'Rocky\'\nbroken\nX="unterminated\n')
    assert fields["ID"] == "rocky"
    assert fields["ID_LIKE"] == "rhel centos fedora"
    assert fields["NAME"] == "Rocky"
    assert fields["X"] == "unterminated"


def test_etc_os_release_wins_over_usr_lib_and_symlink_is_followed() -> None:
    fs = MemoryFilesystem(files={"usr/lib/os-release": DEBIAN_12}, symlinks={"etc/os-release": "../usr/lib/os-release"})
    distro = detect_distro(fs)
    assert distro == Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")
    assert osv_ecosystem(distro) == "Debian:12"


def test_debian_testing_without_version_id_uses_codename() -> None:
    fs = MemoryFilesystem(files={"etc/os-release": b"ID=debian\nVERSION_CODENAME=trixie\n"})
    assert osv_ecosystem(detect_distro(fs)) == "Debian:13"


@pytest.mark.parametrize(("files", "expected_id", "expected_version", "ecosystem"), [
    ({"etc/alpine-release": b"3.18.4\n"}, "alpine", "3.18.4", "Alpine:v3.18"),
    ({"etc/redhat-release": b"Rocky Linux release 9.2 (Blue Onyx)\n"}, "rocky", "9.2", "Rocky Linux:9"),
    ({"etc/redhat-release": b"CentOS Linux release 7.9.2009 (Core)\n"}, "centos", "7.9.2009", "Red Hat:enterprise_linux:7"),
    ({"etc/redhat-release": b"Red Hat Enterprise Linux release 8.8 (Ootpa)\n"}, "rhel", "8.8", "Red Hat:enterprise_linux:8"),
    ({"etc/system-release-cpe": b"cpe:/o:redhat:enterprise_linux:8::baseos\n"}, "rhel", "8", "Red Hat:enterprise_linux:8"),
    ({"etc/debian_version": b"11.7\n"}, "debian", "11", "Debian:11"),
    ({"etc/debian_version": b"bookworm/sid\n"}, "debian", "12", "Debian:12"),
    ({"var/lib/dpkg/status.d/base": b"Package: base-files\nVersion: 11.1+deb11u7\n"}, "debian", "11", "Debian:11"),
    ({"bin/busybox": b"\x7fELF....BusyBox v1.36.1 (2023-06-02) multi-call binary"}, "busybox", "1.36.1", None),
])
def test_fallback_release_files(files: dict[str, bytes], expected_id: str, expected_version: str,
                                ecosystem: str | None) -> None:
    distro = detect_distro(MemoryFilesystem(files=files))
    assert distro is not None
    assert (distro.id, distro.version_id) == (expected_id, expected_version)
    assert osv_ecosystem(distro) == ecosystem


def test_hostile_redhat_release_is_read_in_bounded_time() -> None:
    # Before the first-line cap, the release regex backtracked quadratically: minutes for 64 KiB.
    started = time.monotonic()
    hostile = b"a" + b" " * 60000 + b"b\n"
    assert detect_distro(MemoryFilesystem(files={"etc/redhat-release": hostile})) is None
    assert time.monotonic() - started < 5
    long_line = b"Rocky Linux release 9.2 (Blue Onyx)" + b" x" * 1000 + b"\nsecond line\n"
    distro = detect_distro(MemoryFilesystem(files={"etc/redhat-release": long_line}))
    assert distro is not None and (distro.id, distro.version_id, distro.codename) == ("rocky", "9.2", "Blue Onyx")


def test_nothing_identifies_the_distro() -> None:
    assert detect_distro(MemoryFilesystem(files={"etc/hostname": b"x"})) is None
    assert osv_ecosystem(None) is None


def test_unreadable_os_release_falls_back() -> None:
    fs = MemoryFilesystem(files={"etc/os-release": b"\xff\xfe garbage", "etc/alpine-release": b"3.19.0"})
    assert detect_distro(fs) == Distro("alpine", "3.19.0", pretty_name="Alpine Linux v3.19.0")


@pytest.mark.parametrize(("distro", "ecosystem"), [
    (Distro("ubuntu", "22.04", "jammy"), "Ubuntu:22.04"),
    (Distro("alpine", "3.20.0_alpha20240329"), "Alpine:v3.20"),
    (Distro("almalinux", "9.3"), "AlmaLinux:9"),
    (Distro("wolfi", "20230201"), "Wolfi"),
    (Distro("chainguard", ""), "Chainguard"),
    (Distro("opensuse-leap", "15.5"), "openSUSE:Leap 15.5"),
    (Distro("opensuse-tumbleweed", "20240101"), "openSUSE:Tumbleweed"),
    (Distro("sles", "15.3"), "SUSE:Linux Enterprise Server 15 SP3"),
    (Distro("sles", "15"), "SUSE:Linux Enterprise Server 15"),
    (Distro("rhel", "9.4"), "Red Hat:enterprise_linux:9"),
    (Distro("rhel", ""), None),
    (Distro("fedora", "39"), None),
    (Distro("ubuntu", ""), None),
])
def test_osv_ecosystem_names(distro: Distro, ecosystem: str | None) -> None:
    assert osv_ecosystem(distro) == ecosystem


# os-release files as each distro documents and ships them (trimmed to the keys detection reads and a few more).
AMAZON_LINUX_2 = b'NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n' \
                 b'PRETTY_NAME="Amazon Linux 2"\nCPE_NAME="cpe:2.3:o:amazon:amazon_linux:2"\n'
AMAZON_LINUX_2022 = b'NAME="Amazon Linux"\nVERSION="2022"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2022"\n' \
                    b'PLATFORM_ID="platform:al2022"\nPRETTY_NAME="Amazon Linux 2022"\n'
AMAZON_LINUX_2023 = b'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n' \
                    b'PLATFORM_ID="platform:al2023"\nPRETTY_NAME="Amazon Linux 2023"\n'
SLES_15_SP5 = b'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\n' \
              b'ID="sles"\nID_LIKE="suse"\nCPE_NAME="cpe:/o:suse:sles:15:sp5"\n'
SLE_BCI_15_SP3 = b'NAME="SLES"\nVERSION="15-SP3"\nVERSION_ID="15.3"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP3"\n' \
                 b'ID="sles"\nID_LIKE="suse"\nCPE_NAME="cpe:/o:suse:sles:15:sp3"\n'
SLES_15_GA = b'NAME="SLES"\nVERSION="15"\nVERSION_ID="15"\nID="sles"\nID_LIKE="suse"\n'
SLED_15_SP4 = b'NAME="SLED"\nVERSION="15-SP4"\nVERSION_ID="15.4"\nPRETTY_NAME="SUSE Linux Enterprise Desktop 15 SP4"\n' \
              b'ID="sled"\nID_LIKE="suse"\n'
LEAP_15_5 = b'NAME="openSUSE Leap"\nVERSION="15.5"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.5"\n' \
            b'PRETTY_NAME="openSUSE Leap 15.5"\n'
TUMBLEWEED = b'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n' \
             b'VERSION_ID="20240101"\nPRETTY_NAME="openSUSE Tumbleweed"\n'
ORACLE_8_9 = b'NAME="Oracle Linux Server"\nVERSION="8.9"\nID="ol"\nID_LIKE="fedora"\nVARIANT="Server"\n' \
             b'VERSION_ID="8.9"\nPRETTY_NAME="Oracle Linux Server 8.9"\n'
MARINER_2 = b'NAME="Common Base Linux Mariner"\nVERSION="2.0.20240123"\nID=mariner\nVERSION_ID="2.0"\n' \
            b'PRETTY_NAME="CBL-Mariner/Linux"\n'
AZURE_LINUX_3 = b'NAME="Microsoft Azure Linux"\nVERSION="3.0.20240727"\nID=azurelinux\nVERSION_ID="3.0"\n' \
                b'PRETTY_NAME="Microsoft Azure Linux 3.0"\n'
WOLFI = b'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n'
CHAINGUARD = b'ID=chainguard\nNAME="Chainguard"\nPRETTY_NAME="Chainguard"\nVERSION_ID="20230214"\n'
RHEL_8_6 = b'NAME="Red Hat Enterprise Linux"\nVERSION="8.6 (Ootpa)"\nID="rhel"\nID_LIKE="fedora"\n' \
           b'VERSION_ID="8.6"\nPRETTY_NAME="Red Hat Enterprise Linux 8.6 (Ootpa)"\n'


@pytest.mark.parametrize(("os_release", "ident", "ecosystem"), [
    (AMAZON_LINUX_2, "amzn", "Amazon Linux:2"),
    (AMAZON_LINUX_2022, "amzn", "Amazon Linux:2022"),
    (AMAZON_LINUX_2023, "amzn", "Amazon Linux:2023"),
    (SLES_15_SP5, "sles", "SUSE:Linux Enterprise Server 15 SP5"),
    (SLE_BCI_15_SP3, "sles", "SUSE:Linux Enterprise Server 15 SP3"),  # SLE BCI images say they are SLES
    (SLES_15_GA, "sles", "SUSE:Linux Enterprise Server 15"),
    (SLED_15_SP4, "sled", "SUSE:Linux Enterprise Desktop 15 SP4"),
    (LEAP_15_5, "opensuse-leap", "openSUSE:Leap 15.5"),
    (TUMBLEWEED, "opensuse-tumbleweed", "openSUSE:Tumbleweed"),
    (ORACLE_8_9, "ol", "Oracle Linux:8"),
    (MARINER_2, "mariner", "CBL-Mariner:2.0"),
    (AZURE_LINUX_3, "azurelinux", "Azure Linux:3.0"),
    (WOLFI, "wolfi", "Wolfi"),
    (CHAINGUARD, "chainguard", "Chainguard"),
    (RHEL_8_6, "rhel", "Red Hat:enterprise_linux:8"),  # no content manifest: the mainline streams
])
def test_os_release_of_each_rpm_and_apk_distro(os_release: bytes, ident: str, ecosystem: str) -> None:
    distro = detect_distro(MemoryFilesystem(files={"etc/os-release": os_release}))
    assert distro is not None and distro.id == ident
    assert osv_ecosystem(distro) == ecosystem


@pytest.mark.parametrize(("system_release", "version", "ecosystem"), [
    (b"Amazon Linux release 2 (Karoo)\n", "2", "Amazon Linux:2"),
    (b"Amazon Linux release 2022 (Amazon Linux)\n", "2022", "Amazon Linux:2022"),
    (b"Amazon Linux release 2023 (Amazon Linux)\n", "2023", "Amazon Linux:2023"),
    # The first Amazon Linux has no security data in any bundle source: no ecosystem, so "not evaluated".
    (b"Amazon Linux AMI release 2018.03\n", "2018.03", None),
])
def test_amazon_linux_without_os_release_reads_etc_system_release(system_release: bytes, version: str,
                                                                  ecosystem: str | None) -> None:
    distro = detect_distro(MemoryFilesystem(files={"etc/system-release": system_release}))
    assert distro is not None and (distro.id, distro.version_id) == ("amzn", version)
    assert osv_ecosystem(distro) == ecosystem


@pytest.mark.parametrize(("distro", "ecosystem"), [
    (Distro("amzn", "1"), None),
    (Distro("ol", "7.9"), "Oracle Linux:7"),
    (Distro("ol", ""), None),
    (Distro("mariner", "1.0"), "CBL-Mariner:1.0"),
    (Distro("azurelinux", ""), None),
    (Distro("sle-micro", "5.5"), "SUSE:Linux Enterprise Micro 5.5"),
    (Distro("sled", "15"), "SUSE:Linux Enterprise Desktop 15"),
])
def test_more_release_spellings(distro: Distro, ecosystem: str | None) -> None:
    assert osv_ecosystem(distro) == ecosystem


MANIFEST = "root/buildinfo/content_manifests/ubi8-container-8.6-990.json"


def manifest(*content_sets: str) -> bytes:
    """A content manifest as Red Hat images carry it (metadata, content sets, image contents)."""
    return json.dumps({"metadata": {"icm_version": 1, "icm_spec": "https://raw.githubusercontent.com/containerbuildsystem/"
                                    "atomic-reactor/master/atomic_reactor/schemas/content_manifest.json",
                                    "image_layer_index": 1},
                       "content_sets": list(content_sets), "image_contents": []}).encode()


def rhel(version: bytes = b"8.6", **manifests: bytes) -> Detection:
    files = {"etc/os-release": RHEL_8_6.replace(b'VERSION_ID="8.6"', b'VERSION_ID="' + version + b'"')}
    files.update({f"root/buildinfo/content_manifests/{name}.json": data for name, data in manifests.items()})
    return detect(MemoryFilesystem(files=files))


@pytest.mark.parametrize(("content_sets", "ecosystem"), [
    (("rhel-8-for-x86_64-baseos-eus-rpms", "rhel-8-for-x86_64-appstream-eus-rpms"), "Red Hat:rhel_eus:8.6"),
    (("rhel-8-for-x86_64-baseos-aus-rpms", "rhel-8-for-x86_64-appstream-aus-rpms"), "Red Hat:rhel_aus:8.6"),
    (("rhel-8-for-x86_64-baseos-e4s-rpms", "rhel-8-for-x86_64-sap-solutions-e4s-rpms"), "Red Hat:rhel_e4s:8.6"),
    (("rhel-8-for-x86_64-baseos-tus-rpms",), "Red Hat:rhel_tus:8.6"),
    # UBI and ordinary RHEL images: mainline repositories, the major release's streams.
    (("rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"), "Red Hat:enterprise_linux:8"),
    ((), "Red Hat:enterprise_linux:8"),
])
def test_content_sets_choose_the_update_stream(content_sets: tuple[str, ...], ecosystem: str) -> None:
    found = rhel(layer=manifest(*content_sets))
    assert found.warnings == ()
    assert found.distro is not None and found.distro.content_sets == tuple(sorted(content_sets))
    assert osv_ecosystem(found.distro) == ecosystem


def test_content_sets_of_every_layer_count_together() -> None:
    found = rhel(base=manifest("rhel-8-for-x86_64-baseos-eus-rpms"), app=manifest("rhel-8-for-x86_64-appstream-eus-rpms"))
    assert found.distro is not None and found.distro.content_sets == ("rhel-8-for-x86_64-appstream-eus-rpms",
                                                                      "rhel-8-for-x86_64-baseos-eus-rpms")
    assert osv_ecosystem(found.distro) == "Red Hat:rhel_eus:8.6"


def test_an_extended_support_image_without_a_minor_release_reads_the_mainline() -> None:
    # Which minor release's EUS stream would be a guess: the mainline streams are read, as for every image.
    found = rhel(b"8", layer=manifest("rhel-8-for-x86_64-baseos-eus-rpms"))
    assert osv_ecosystem(found.distro) == "Red Hat:enterprise_linux:8"


def test_several_update_streams_read_the_mainline_with_a_warning() -> None:
    found = rhel(layer=manifest("rhel-8-for-x86_64-baseos-eus-rpms", "rhel-8-for-x86_64-appstream-aus-rpms"))
    assert found.warnings == ("content sets name several update streams (rhel_aus, rhel_eus); only the mainline "
                              "streams of the release are read",)
    assert osv_ecosystem(found.distro) == "Red Hat:enterprise_linux:8"


def test_content_manifests_only_count_on_red_hat_enterprise_linux() -> None:
    files = {"etc/os-release": b"ID=centos\nVERSION_ID=8\n", MANIFEST: manifest("rhel-8-for-x86_64-baseos-eus-rpms")}
    found = detect(MemoryFilesystem(files=files))
    assert found.distro == Distro("centos", "8") and osv_ecosystem(found.distro) == "Red Hat:enterprise_linux:8"


@pytest.mark.parametrize(("data", "warning"), [
    (b"{not json", "content manifest not read: root/buildinfo/content_manifests/bad.json: invalid JSON at line 1 "
                   "column 2: Expecting property name enclosed in double quotes"),
    (b'{"content_sets": ["rhel-8-for-x86_64-baseos-eus-rpms"], "content_sets": []}',
     "content manifest not read: root/buildinfo/content_manifests/bad.json: duplicate key in a JSON object"),
    (b'{"content_sets": "rhel-8-for-x86_64-baseos-eus-rpms"}',
     "root/buildinfo/content_manifests/bad.json: content manifest not read: `content_sets` is not a list of "
     "repository ids"),
    (b'{"content_sets": [7, ""]}',
     "root/buildinfo/content_manifests/bad.json: content manifest not read: `content_sets` is not a list of "
     "repository ids"),
    (b'["rhel-8-for-x86_64-baseos-eus-rpms"]',
     "root/buildinfo/content_manifests/bad.json: content manifest not read: `content_sets` is not a list of "
     "repository ids"),
    (b"\xff\xfe", "content manifest not read: root/buildinfo/content_manifests/bad.json: not UTF-8 (invalid start "
                  "byte at byte 0)"),
    (b"[" * 100_000, "content manifest not read: root/buildinfo/content_manifests/bad.json: JSON nested too deeply"),
    (json.dumps({"content_sets": ["x" * 5000]}).encode(),
     "root/buildinfo/content_manifests/bad.json: content manifest not read: a content set is longer than 4096 "
     "characters (cap max_field_length)"),
])
def test_a_malformed_content_manifest_is_a_named_warning(data: bytes, warning: str) -> None:
    # The good manifest beside it still counts; the bad one adds nothing.
    found = rhel(bad=data, good=manifest("rhel-8-for-x86_64-baseos-eus-rpms"))
    assert found.warnings == (warning,)
    assert osv_ecosystem(found.distro) == "Red Hat:rhel_eus:8.6"


def test_content_manifest_caps() -> None:
    limits = CatalogLimits(max_content_manifests=2, max_content_manifest_size=200)
    files = {"etc/os-release": RHEL_8_6,
             **{f"root/buildinfo/content_manifests/{n}.json": json.dumps({"content_sets": [f"repo-{n}-eus-rpms"]}).encode()
                for n in range(3)}}
    found = detect(MemoryFilesystem(files=files), limits)
    assert found.warnings == ("root/buildinfo/content_manifests/2.json: more than 2 content manifests "
                              "(cap max_content_manifests); the rest are not read",)
    assert found.distro is not None and found.distro.content_sets == ("repo-0-eus-rpms", "repo-1-eus-rpms")
    files["root/buildinfo/content_manifests/0.json"] = json.dumps({"content_sets": ["repo-eus-rpms", "x" * 300]}).encode()
    del files["root/buildinfo/content_manifests/2.json"]
    found = detect(MemoryFilesystem(files=files), limits)
    assert found.warnings == ("root/buildinfo/content_manifests/0.json: larger than 200 bytes "
                              "(cap max_content_manifest_size); not read",)
    files["root/buildinfo/content_manifests/0.json"] = json.dumps({"content_sets": ["a-eus", "b", "c"]}).encode()
    found = detect(MemoryFilesystem(files=files), CatalogLimits(max_content_sets=3))
    assert found.warnings == ("root/buildinfo/content_manifests/1.json: more than 3 content sets (cap "
                              "max_content_sets); this and the remaining manifests are not read",)
    assert found.distro is not None and found.distro.content_sets == ("a-eus", "b", "c")
    # The image reader skips a file over the request's size cap before any cataloger sees it.
    assert CONTENT_MANIFESTS.max_size == DEFAULT_LIMITS.max_content_manifest_size


def test_distro_warnings_reach_the_catalog() -> None:
    fs = MemoryFilesystem(files={"etc/os-release": RHEL_8_6, MANIFEST: b"{"})
    catalog = catalog_filesystem(fs, [])
    assert catalog.distro is not None and catalog.distro.content_sets == ()
    assert len(catalog.warnings) == 1 and catalog.warnings[0].startswith(f"distro: content manifest not read: {MANIFEST}")
