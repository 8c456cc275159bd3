"""The public surface: ecosystem names, errors, keys for min/max, and orderings worth pinning."""

from __future__ import annotations

import pytest

from scanner import versions
from scanner.errors import VersionError


@pytest.mark.parametrize(
    ("ecosystem", "older", "newer"),
    [
        ("Debian", "1.0~rc1-1", "1.0-1"),
        ("Debian:12", "1:0.9", "2:0.1"),
        ("Ubuntu:22.04:LTS", "1.2-3ubuntu0.1", "1.2-3ubuntu0.10"),
        ("Ubuntu:Pro:18.04:LTS", "2.7.4-1", "2.7.4-1+esm1"),
        ("Alpine:v3.18", "1.2.3_rc1-r0", "1.2.3-r0"),
        ("Alpine", "1.2.3-r9", "1.2.3_p1-r0"),
        ("Wolfi", "1.0.1-r0", "1.0.1-r1"),
        ("Chainguard", "3.0.9-r1", "3.0.10-r0"),
        ("Red Hat", "1.0~rc1", "1.0"),
        ("Red Hat:enterprise_linux:9::appstream", "1.0", "1.0^git1"),
        ("AlmaLinux:9", "3.0.7-24.el9", "1:3.0.7-1.el9"),
        ("Rocky Linux:9", "2.34-60.el9", "2.34-100.el9"),
        ("openSUSE:Leap 15.5", "1.0-lp155.1", "1.0-lp155.2"),
        ("SUSE:Linux Enterprise Server 15 SP5", "3.0.8-150500.5.8.1", "3.0.8-150500.5.14.1"),
        ("PyPI", "1.0.dev1", "1.0a1"),
        ("PyPI", "1.0a1", "1.0"),
        ("PyPI", "1.0", "1.0.post1"),
        ("PyPI", "1.0", "1.0+local"),
        ("PyPI", "2.0", "1!0.1"),
        ("npm", "1.0.0-alpha.9", "1.0.0-alpha.10"),
        ("npm", "1.0.0-beta", "1.0.0"),
        ("crates.io", "0.9.99", "0.10.0"),
        ("SemVer", "1.0.0-rc.1", "1.0.0"),
        ("Go", "v0.0.0-20191109021931-daa7c04131f5", "v0.0.1"),
        ("Go", "v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4"),
        ("Go", "v1.2.3", "v1.2.4-0.20191109021931-daa7c04131f5"),
        ("Go", "go1.21rc2", "go1.21.0"),
        ("Maven", "1.0-alpha-1", "1.0-beta-1"),
        ("Maven", "1.0-rc1", "1.0-SNAPSHOT"),
        ("Maven", "1.0-SNAPSHOT", "1.0"),
        ("Maven", "1.0", "1.0-sp1"),
        ("Maven", "1.0-sp1", "1.0-whatever"),
        ("Maven", "2.0.0.Final", "2.0.1"),
        ("RubyGems", "1.0.0.rc1", "1.0.0"),
        ("RubyGems", "1.0.a", "1.0.b"),
        ("NuGet", "1.0.0-alpha", "1.0.0"),
        ("NuGet", "1.0.0.1", "1.0.1"),
        ("Packagist", "1.0.0-dev", "1.0.0-alpha"),
        ("Packagist", "1.0.0-RC1", "1.0.0"),
        ("Packagist", "1.0.0", "1.0.0-pl1"),
        ("Hex", "1.0.0-rc.0", "1.0.0"),
        ("Pub", "1.0.0", "1.0.0+1"),
        ("CRAN", "1.0", "1.0-1"),
        ("CRAN", "0.9-10", "0.10-0"),
    ],
)
def test_order(ecosystem: str, older: str, newer: str) -> None:
    assert versions.compare(ecosystem, older, newer) == -1
    assert versions.compare(ecosystem, newer, older) == 1
    assert versions.sort_key(ecosystem, older) < versions.sort_key(ecosystem, newer)


def test_min_and_max_follow_the_ecosystem() -> None:
    candidates = ["1.10.0", "1.9.0", "1.10.0rc1", "1.2"]
    assert versions.max_version("PyPI", candidates) == "1.10.0"
    assert versions.min_version("PyPI", candidates) == "1.2"
    assert sorted(candidates, key=lambda v: versions.sort_key("PyPI", v)) == ["1.2", "1.9.0", "1.10.0rc1", "1.10.0"]
    assert versions.min_version("Debian:11", ["1.2-1+deb11u2", "1.2-1+deb11u10"]) == "1.2-1+deb11u2"


def test_canonical_spelling() -> None:
    assert versions.canonical("PyPI", "1.0-RC1") == "1.0rc1"
    assert versions.canonical("Debian", "0:1.2-1") == "1.2-1"
    assert versions.canonical("Go", "v1.2") == "1.2.0"
    assert versions.canonical("Maven", "1.0.0.Final") == "1"
    assert versions.canonical("NuGet", "1.0.0.0") == "1.0.0"


def test_is_valid() -> None:
    assert versions.is_valid("Alpine", "1.2.3-r0")
    assert not versions.is_valid("Alpine", "1.2.3-foo")
    assert not versions.is_valid("PyPI", "2.0.0-final")


@pytest.mark.parametrize("ecosystem", ["Linux", "OSS-Fuzz", "", ":12", "Debianish"])
def test_unknown_ecosystem(ecosystem: str) -> None:
    with pytest.raises(versions.UnknownEcosystem) as raised:
        versions.compare(ecosystem, "1", "2")
    assert isinstance(raised.value, VersionError)
    assert raised.value.exit_code == 5
    assert repr(ecosystem) in str(raised.value)


@pytest.mark.parametrize(
    ("ecosystem", "bad"),
    [
        ("Debian", ""),
        ("Debian", "a1.0"),
        ("Debian", "x:1.0"),
        ("Debian", "1.0-"),
        ("Debian", "1.0 beta"),
        ("Debian", "1.0-1:2"),
        ("Alpine", "1.0-foo"),
        ("Alpine", "1.0_blah"),
        ("Alpine", "1.0A"),
        ("Red Hat", "1.0 beta"),
        ("PyPI", "1.0-final"),
        ("PyPI", "latest"),
        ("npm", "1.2"),
        ("npm", "1.2.3.4"),
        ("crates.io", "^1.2.3"),
        ("Go", "v1.2.3.4"),
        ("Maven", ""),
        ("Maven", "1.0 RC"),
        ("RubyGems", "1.0..2"),
        ("RubyGems", "a1.0"),
        ("NuGet", "1.0.0.0.0"),
        ("Packagist", "   "),
        ("Packagist", "..."),
        ("CRAN", "1.0a"),
        ("PyPI", "1" * 5000),  # longer than the length cap (and Python's int-from-text limit)
        ("Debian", "1" * 5000),
        ("Alpine", "1." * 600),
        ("Maven", "1-" * 200),  # nesting deep enough to exhaust recursion when comparing
        ("Maven", "a1" * 300),
    ],
)
def test_invalid_versions_raise_with_ecosystem_and_string(ecosystem: str, bad: str) -> None:
    with pytest.raises(versions.InvalidVersion) as raised:
        versions.sort_key(ecosystem, bad)
    assert raised.value.ecosystem == ecosystem
    assert raised.value.version == bad
    assert raised.value.exit_code == 5
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("ecosystem", ["Debian", "Alpine", "Red Hat", "PyPI", "Maven", "RubyGems", "Packagist"])
def test_long_versions_within_the_cap_still_compare(ecosystem: str) -> None:
    long_version = ".".join(["1"] * 400)
    assert versions.compare(ecosystem, long_version, long_version + ".1") == -1


def test_huge_numbers_compare_exactly() -> None:
    big = "9" * 40
    assert versions.compare("Debian", f"{big}0", f"{big}1") == -1
    assert versions.compare("Maven", f"1.{big}", f"1.{big}1") == -1
    assert versions.compare("npm", f"{big}.0.0", f"{big}.0.1") == -1


def test_parsed_keys_are_cached() -> None:
    versions.clear_cache()
    versions.sort_key("PyPI", "1.2.3")
    before = versions.cache_info()
    for _ in range(10):
        versions.compare("PyPI", "1.2.3", "1.2.3")
    after = versions.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (20, 0)
