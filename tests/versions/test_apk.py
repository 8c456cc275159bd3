"""apk-tools' ordering rules one by one, with the trailing-`.0` pre-release cases that were once reversed."""

from __future__ import annotations

import pytest

from scanner import versions

# Each pair is (older, newer) under apk-tools' version_compare.
ORDERED = [
    # A pre-release suffix sorts below the version it precedes, whatever the last number is.
    ("6.0_pre1", "6.0"),
    ("1.0_pre1", "1.0"),
    ("2.0_rc1", "2.0"),
    ("1.0_alpha", "1.0"),
    ("1.0_beta2", "1.0"),
    ("3.10_rc1", "3.10"),
    ("1.00_rc1", "1.00"),
    ("2.0_rc7-r0", "2.0-r0"),
    ("1.2.0_rc1-r5", "1.2.0-r0"),
    # Suffix order: alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p.
    ("1.0_alpha", "1.0_beta"),
    ("1.0_beta", "1.0_pre"),
    ("1.0_pre", "1.0_rc"),
    ("1.0_rc", "1.0"),
    ("1.0", "1.0_cvs"),
    ("1.0_cvs", "1.0_svn"),
    ("1.0_svn", "1.0_git"),
    ("1.0_git", "1.0_hg"),
    ("1.0_hg", "1.0_p"),
    ("1.0_p1", "1.0_p2"),
    ("1.0_rc1", "1.0_rc2"),
    ("1.0_rc", "1.0_rc1"),
    # A post-release suffix is newer than the plain version and than any revision of it.
    ("1.0-r9", "1.0_p1-r0"),
    # Numbers with a leading zero compare as text: 1.01 < 1.1, 1.0 < 1.00, 1.001 < 1.01.
    ("1.01", "1.1"),
    ("1.0", "1.00"),
    ("1.001", "1.01"),
    ("1.09", "1.1"),
    # A further number makes a version newer; a letter is newer than the bare number.
    ("1.0", "1.0.0"),
    ("1.0", "1.0a"),
    ("1.0a", "1.0b"),
    ("1.0_p1", "1.0.1"),
    # Revisions and commit hashes (apk-tools 3 `~hash`).
    ("1.0-r1", "1.0-r2"),
    ("1.0-r2", "1.0-r10"),
    ("1.0", "1.0~abc1"),
    ("1.0~abc1-r0", "1.0~abc2-r0"),
    ("1.0_git20240101-r1", "1.0_git20240101~ab12-r0"),
]


@pytest.mark.parametrize(("older", "newer"), ORDERED)
def test_apk_order(older: str, newer: str) -> None:
    assert versions.compare("Alpine", older, newer) == -1
    assert versions.compare("Alpine", newer, older) == 1


@pytest.mark.parametrize("text", ["", "a1", "_rc1", "1.0_foo", "1.0-x1", "1.0~", "1.0~xyz", "1.0A", "1..0"])
def test_apk_refuses_what_apk_tools_refuses(text: str) -> None:
    assert not versions.is_valid("Alpine", text)
