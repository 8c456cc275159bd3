from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog import catalog_filesystem
from scanner.catalog.base import CatalogResult
from scanner.catalog.dpkg import DpkgCataloger, _is_clean_list, _licenses, _list_paths, parse_control
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.ospackages import read_stanzas
from scanner.image.filesystem import MemoryFilesystem, normalize_path
from scanner.model import Distro

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'

STATUS = b"""Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libattr1
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: attr (1:2.5.1-4)
Version: 1:2.5.1-4+b1
Depends: libc6 (>= 2.4), python3:any

Package: removed-pkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0

Package: gone-pkg
Status: purge ok not-installed
Architecture: all
Version: 2.0

Package: purged-pkg
Status: purge ok not-installed
Priority: optional
Section: libs

Package: python3-yaml
Status: hold ok installed
Architecture: amd64
Source: pyyaml
Version: 6.0-3+b2

Package: no-version
Status: install ok installed

Package: weird-source
Status: install ok installed
Architecture: all
Version: 1.0
Source: a b c

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7
Source: bash (5.2.15-2)
"""

COPYRIGHT = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2001 someone
License: GPL-2+
 This program is free software.

Files: debian/*
License: BSD-3-clause

License: GPL-2+
 On Debian systems, see /usr/share/common-licenses/GPL-2.
"""


def _fs() -> MemoryFilesystem:
    return MemoryFilesystem(
        files={
            "etc/os-release": OS_RELEASE,
            "var/lib/dpkg/status": STATUS,
            "var/lib/dpkg/info/libc6:amd64.list": b"/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n",
            "var/lib/dpkg/info/python3-yaml.list": b"/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA\n",
            "usr/share/doc/libc6/copyright": COPYRIGHT,
            "usr/share/doc/bash/copyright": b"Bash is under the GPL; see /usr/share/common-licenses/GPL-3.\n",
            "usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA": b"Name: PyYAML\nVersion: 6.0\n",
            "usr/lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF",
        },
        layer_of={"var/lib/dpkg/info/libc6:amd64.list": (0, "sha256:" + "a" * 64),
                  "var/lib/dpkg/info/python3-yaml.list": (2, "sha256:" + "c" * 64),
                  "var/lib/dpkg/status": (2, "sha256:" + "c" * 64)},
    )


def _by_name(fs: MemoryFilesystem) -> dict[str, object]:
    result = DpkgCataloger().catalog(fs, Distro("debian", "12", "bookworm"))
    return {package.name: package for package in result.packages}


def test_fields_sources_and_states() -> None:
    result = DpkgCataloger().catalog(_fs(), Distro("debian", "12", "bookworm"))
    packages = {package.name: package for package in result.packages}
    assert sorted(packages) == ["bash", "libattr1", "libc6", "python3-yaml", "weird-source"]
    libc = packages["libc6"]
    assert (libc.version, libc.arch, libc.source_name, libc.source_version) == ("2.36-9+deb12u4", "amd64", "glibc", "")
    assert libc.ecosystem == "Debian:12"
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    assert libc.licenses == ("BSD-3-clause", "GPL-2+")
    assert libc.locations == ("var/lib/dpkg/status", "var/lib/dpkg/info/libc6:amd64.list",
                              "usr/share/doc/libc6/copyright")
    assert (libc.layer_index, libc.layer_digest) == (0, "sha256:" + "a" * 64)
    attr = packages["libattr1"]
    assert (attr.version, attr.source_name, attr.source_version) == ("1:2.5.1-4+b1", "attr", "1:2.5.1-4")
    assert attr.match_source_version == "1:2.5.1-4"
    assert attr.purl.endswith("&upstream=attr%401:2.5.1-4")
    bash = packages["bash"]
    assert (bash.source_name, bash.source_version, bash.match_source_name) == ("", "5.2.15-2", "bash")
    assert bash.licenses == ("GPL-3",)
    assert (bash.layer_index, bash.layer_digest) == (2, "sha256:" + "c" * 64)  # no .list: the status file's layer
    assert packages["weird-source"].source_name == ""
    assert result.warnings == (
        "var/lib/dpkg/status: stanza 7: skipped, no Version field",
        "var/lib/dpkg/status: stanza 8 (weird-source): unreadable Source field 'a b c' ignored",
    )
    assert result.owned_paths["lib/x86_64-linux-gnu/libc.so.6"] == "libc6"
    assert "" not in result.owned_paths


def test_distroless_status_d_with_md5sums() -> None:
    fs = MemoryFilesystem(files={
        "var/lib/dpkg/status.d/libssl3": b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: arm64\n"
                                          b"Source: openssl\n",
        "var/lib/dpkg/status.d/libssl3.md5sums": b"0123  usr/lib/aarch64-linux-gnu/libssl.so.3\n",
        "var/lib/dpkg/status.d/libssl3.preinst": b"#!/bin/sh\n",
        "var/lib/dpkg/status.d/base": b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: arm64\n",
        "usr/lib/aarch64-linux-gnu/libssl.so.3": b"\x7fELF",
    }, layer_of={"usr/lib/aarch64-linux-gnu/libssl.so.3": (1, "sha256:" + "b" * 64)})
    catalog = catalog_filesystem(fs, [DpkgCataloger()])
    assert catalog.distro == Distro("debian", "12", "bookworm", "Debian GNU/Linux 12")
    packages = {package.name: package for package in catalog.packages}
    assert sorted(packages) == ["base-files", "libssl3"]
    ssl = packages["libssl3"]
    assert ssl.ecosystem == "Debian:12"
    assert ssl.locations == ("var/lib/dpkg/status.d/libssl3", "var/lib/dpkg/status.d/libssl3.md5sums")
    assert ssl.layer_index == 1
    assert catalog.warnings == ()


def test_no_dpkg_database_gives_nothing() -> None:
    result = DpkgCataloger().catalog(MemoryFilesystem(files={"etc/os-release": OS_RELEASE}), None)
    assert result.packages == () and result.warnings == ()


# Random bytes almost never hold a "Package:" line, so they reach the tokenizer only: stanzas made of
# the fields the cataloger reads, with odd values, reach the package records too.
_FIELDS = st.sampled_from(["Package", "Version", "Status", "Architecture", "Source", "Multi-Arch", "X-Other"])
_VALUES = st.one_of(st.text(max_size=30), st.sampled_from(
    ["x", "install ok installed", "deinstall ok config-files", "1:2.3-4", "openssl (1.1.1-1)", "a b c", "amd64",
     "same", "", "(", "1:", "-1"]))
_STANZAS = st.lists(st.lists(st.tuples(_FIELDS, _VALUES), max_size=8), max_size=6).map(
    lambda stanzas: "\n".join("".join(f"{key}: {value}\n" for key, value in fields) for fields in stanzas).encode())


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=2000), _STANZAS), st.binary(max_size=300))
def test_hostile_status_never_crashes(status: bytes, listing: bytes) -> None:
    fs = MemoryFilesystem(files={"var/lib/dpkg/status": status, "var/lib/dpkg/info/x.list": listing})
    result = DpkgCataloger().catalog(fs, None)  # directly: an exception it does not handle fails the test
    assert all(package.name and package.version for package in result.packages)


def _paragraphs(text: str) -> list[tuple[dict[str, str], int]]:
    return [(p.fields, p.number) for p in parse_control(io.BytesIO(text.encode()), "f")]


def test_control_parser_keeps_first_line_of_the_fields_it_needs() -> None:
    assert _paragraphs("Package: 1\n b\nOther: x\n\n \t\n\n#c\nVersion : 2\n") == [
        ({"Package": "1"}, 1), ({"Version": "2"}, 2)]


def test_only_line_feeds_end_lines() -> None:
    # A Description holding U+2028 or NEL is still one paragraph; CRLF files read like LF ones.
    text = "Package: a\r\nDescription: x\r\n y\u2028\u2028z \x85\x85\r\nVersion: 1\r\n\r\nPackage: b\nVersion: 2\n"
    assert [fields for fields, _ in _paragraphs(text)] == [{"Package": "a", "Version": "1"},
                                                           {"Package": "b", "Version": "2"}]


def _host_filesystem() -> MemoryFilesystem:
    root = Path("/var/lib/dpkg")
    files = {"var/lib/dpkg/status": (root / "status").read_bytes()}
    for path in (root / "info").glob("*.list"):
        files[f"var/lib/dpkg/info/{path.name}"] = path.read_bytes()
    return MemoryFilesystem(files=files)


def test_this_machines_dpkg_database_matches_dpkg_query() -> None:
    if shutil.which("dpkg-query") is None or not Path("/var/lib/dpkg/status").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("dpkg-query missing in CI")
        pytest.skip("not a Debian machine")
    output = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\t${source:Package}\t"
         "${source:Version}\t${db:Status-Status}\n"],
        check=True, capture_output=True, text=True).stdout
    expected = set()
    for line in output.splitlines():
        name, version, arch, source, source_version, state = line.split("\t")
        if state not in ("not-installed", "config-files"):
            expected.add((name, version, arch, source, source_version))
    result = DpkgCataloger().catalog(_host_filesystem(), None)
    found = {(p.name, p.version, p.arch, p.match_source_name, p.match_source_version) for p in result.packages}
    assert found == expected
    assert result.warnings == ()
    assert len(result.owned_paths) > 1000


def test_multi_arch_same_package_twice_each_with_its_own_list() -> None:
    status = (b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n"
              b"Version: 2.36-9\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: i386\n"
              b"Multi-Arch: same\nVersion: 2.36-9\n")
    fs = MemoryFilesystem(files={
        "var/lib/dpkg/status": status,
        "var/lib/dpkg/info/libc6:amd64.list": b"/usr/lib/x86_64-linux-gnu/libc.so.6\n",
        "var/lib/dpkg/info/libc6:i386.list": b"/usr/lib/i386-linux-gnu/libc.so.6\n",
    }, layer_of={"var/lib/dpkg/info/libc6:i386.list": (4, "sha256:" + "4" * 64)})
    result = DpkgCataloger().catalog(fs, None)
    assert [(p.name, p.arch, p.layer_index) for p in result.packages] == [("libc6", "amd64", 0), ("libc6", "i386", 4)]
    assert {"usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/i386-linux-gnu/libc.so.6"} <= set(result.owned_paths)


def _limited(limits: CatalogLimits, files: dict[str, bytes]) -> CatalogResult:
    return DpkgCataloger(limits).catalog(MemoryFilesystem(files=files), None)


def test_stanza_line_and_field_caps_skip_one_stanza() -> None:
    status = (b"Package: many-lines\nVersion: 1\nDescription: x\n" + b" more\n" * 40 + b"\n"
              b"Package: many-fields\nVersion: 1\n" + b"".join(b"X-%d: y\n" % n for n in range(20)) + b"\n"
              b"Package: good\nVersion: 1\n")
    result = _limited(CatalogLimits(max_stanza_lines=30, max_stanza_fields=10), {"var/lib/dpkg/status": status})
    assert [p.name for p in result.packages] == ["good"]
    assert result.warnings == (
        "var/lib/dpkg/status: stanza 1 has more than 30 lines (cap max_stanza_lines); skipped",
        "var/lib/dpkg/status: stanza 2 has more than 10 fields (cap max_stanza_fields); skipped",
    )


def test_stanza_over_the_size_cap_is_skipped_across_chunks() -> None:
    status = b"Package: a\nVersion: 1\n\nPackage: big\nVersion: 1\n" + b"X: y\n" * 500_000 + b" \t\n\nPackage: b\nVersion: 2\n"
    result = _limited(CatalogLimits(max_stanza_size=1024 * 1024), {"var/lib/dpkg/status": status})
    assert [p.name for p in result.packages] == ["a", "b"]
    assert result.warnings == ("var/lib/dpkg/status: stanza 2 is larger than 1048576 bytes (cap max_stanza_size); "
                               "skipped",)


def test_file_list_caps() -> None:
    status = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n\nPackage: c\nVersion: 1\n"
    files = {"var/lib/dpkg/status": status, "var/lib/dpkg/info/a.list": b"/.\n/x\n/y\n",
             "var/lib/dpkg/info/b.list": b"/.\n" + b"/z\n" * 100, "var/lib/dpkg/info/c.list": b"/.\n/w\n/v\n"}
    result = _limited(CatalogLimits(max_file_list_bytes=100, max_owned_paths=3), files)
    assert [p.name for p in result.packages] == ["a", "b", "c"]
    assert result.owned_paths == {"x": "a", "y": "a", "w": "c"}
    assert result.warnings == (
        "var/lib/dpkg/status: stanza 2: var/lib/dpkg/info/b.list is larger than 100 bytes (cap max_file_list_bytes); "
        "its files are not recorded",
        "var/lib/dpkg/status: stanza 3: more than 3 file list entries (cap max_owned_paths); files of c and later "
        "packages are not recorded as owned",
    )


def test_warnings_past_the_cap_are_counted() -> None:
    status = b"".join(b"Package: p%d\n\n" % n for n in range(10))
    result = _limited(CatalogLimits(max_warnings=3), {"var/lib/dpkg/status": status})
    assert len(result.warnings) == 4 and result.warnings[-1] == "7 more warnings not shown (cap max_warnings)"


@pytest.mark.parametrize("stanza", [b"Package:\x1c\nVersion:\x00", b"Package: ok\nVersion: \x1f\n"])
def test_blank_names_and_versions_are_skipped(stanza: bytes) -> None:
    # Found by hypothesis: Python strips \x1c-\x1f as whitespace, so packageurl was left with no name and crashed.
    fs = MemoryFilesystem(files={"var/lib/dpkg/status": stanza})
    result = DpkgCataloger().catalog(fs, None)
    assert result.packages == ()
    assert any("is blank" in warning for warning in result.warnings)


def test_names_with_control_characters_are_kept_for_the_report_to_escape() -> None:
    fs = MemoryFilesystem(files={"var/lib/dpkg/status": b"Package: a\x1fb\nVersion: 1.0\x0b2\nStatus: install ok installed\n"})
    [package] = DpkgCataloger().catalog(fs, None).packages
    assert (package.name, package.version) == ("a\x1fb", "1.0\x0b2")


LIST_PIECES = st.sampled_from(["/", "usr", "/usr", "\n", ".", "..", "/.", "/..", "//", "\\", "a.b", "\r", " ", "\n/"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(LIST_PIECES, max_size=10).map("".join))
def test_a_clean_list_is_what_the_plain_pattern_says(body: str) -> None:
    # The definition: a line that does not start with "/", or any "//", backslash, "." or ".." component.
    unclean = re.compile(r"//|\\|/\.\.?(?:/|$)|^[^/]", re.M)
    assert _is_clean_list(body) == (unclean.search(body) is None)


@settings(max_examples=3000, deadline=None)
@given(st.lists(LIST_PIECES, max_size=10).map("".join), st.integers(0, 6))
def test_list_paths_are_the_named_lines_within_the_room(text: str, room: int) -> None:
    # The definition: after the "/." root line, the first room + 1 lines; of a clean list each line but
    # its "/" (a line of "/" alone names nothing), of any other each line stripped and normalised.
    body = text.removeprefix("/.\n")
    lines = body.split("\n")[:room + 1]
    if _is_clean_list(body):
        expected = [line[1:] for line in lines if len(line) > 1]
    else:
        expected = [path for path in (normalize_path(line.strip()) for line in lines) if path]
    assert _list_paths(text, room) == expected


FIELD_PIECES = st.sampled_from([b"Package", b":", b" ", b"\t", b"\n", b"#", b"x", b"Version: 1", b"\n ", b"\r"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(FIELD_PIECES, max_size=12).map(b"".join))
def test_field_lines_are_the_lines_the_plain_pattern_matches(control: bytes) -> None:
    # The definition: at a line start, no blank nor "#", a name up to the first colon, the rest of the line.
    field_line = re.compile(rb"^([^ \t#\n][^:\n]*):([^\n]*)", re.M)
    expected = []
    for _, stanza in read_stanzas(io.BytesIO(control), "status", DEFAULT_LIMITS, lambda warning: None):
        fields = {key.strip().decode(): value.strip().decode() for key, value in field_line.findall(stanza)
                  if key.strip() in (b"Package", b"Version")}
        if fields:
            expected.append(fields)
    assert [paragraph.fields for paragraph in parse_control(io.BytesIO(control), "status")] == expected


LICENSE_PIECES = st.sampled_from([b"License:", b" ", b"\t", b"\r", b"\n", b"MIT", b"GPL-2+", b"x", b"License: ",
                                  b"Files: *", "\u00e9".encode(), b"\xe2\x82", b"\xff", b"\xc3",
                                  b"/usr/share/common-licenses/", b"GPL-3"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(LICENSE_PIECES, max_size=12).map(b"".join))
def test_licences_are_the_values_of_license_lines(copyright_file: bytes) -> None:
    # The definition is over the file as text; the file's bytes are searched, malformed UTF-8 included.
    text = copyright_file.decode("utf-8", "replace")
    license_line = re.compile(r"^License:[ \t]*([^\n]*?)[ \t\r]*$", re.M)
    expected = {value for value in license_line.findall(text) if value}
    if not expected:
        expected = set(re.findall(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+-]*[A-Za-z0-9+])", text))
    assert set(_licenses(copyright_file)) == expected
