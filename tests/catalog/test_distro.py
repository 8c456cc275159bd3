from __future__ import annotations

import time

import pytest

from scanner.catalog.distro import detect_distro, osv_ecosystem, parse_os_release
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
