"""Tar header numbers as Go's archive/tar reads them, for both tar readers (image layers, bundles)."""

from __future__ import annotations

import pytest

from scanner.db.archive import _octal
from scanner.db.errors import BundleArchiveError
from scanner.tarnumbers import parse_numeric, parse_octal

# (field, what Go's tar.Reader made of it as a ustar mode field: the number, or None for
# "archive/tar: invalid tar header"), checked with Go 1.x's archive/tar on a crafted header.
GO_VERDICTS = [
    (b"+7", None),  # strconv.ParseUint takes no sign, unlike int(text, 8)
    (b"1_0", None),  # underscores only with base 0
    (b"0o7", None),  # nor a base prefix
    (b"0x7", None),
    (b"-1", None),
    (b" 7 ", 0o7),  # spaces trimmed at both ends
    (b"\0\0 17", 0o17),  # NULs too, before the cut at the first NUL
    (b"7\0x", 0o7),  # the cut: what follows a NUL is not read
    (b"", 0),
    (b"   ", 0),
    (b"0000644", 0o644),
]


@pytest.mark.parametrize(("field", "expected"), GO_VERDICTS)
def test_parse_octal_reads_what_go_reads(field: bytes, expected: int | None) -> None:
    assert parse_octal(field.ljust(8, b"\0")) == expected


def test_octal_beyond_int64_wraps_and_beyond_uint64_fails() -> None:
    assert parse_octal(b"1" + b"0" * 21) == -(1 << 63)  # 2**63 as Go's int64(uint64)
    assert parse_octal(b"2" + b"0" * 21) is None  # 2**64 overflows ParseUint


def test_parse_numeric_base256_two_complement() -> None:
    assert parse_numeric(b"\x80" + (0o755).to_bytes(7, "big")) == 0o755
    assert parse_numeric(b"\xff" * 12) == -1
    assert parse_numeric(b"\x80" + b"\xff" * 11) is None  # more than int64


@pytest.mark.parametrize("field", [b"+7", b"1_0", b"0o7"])
def test_bundle_reader_refuses_what_go_refuses(field: bytes) -> None:
    with pytest.raises(BundleArchiveError, match="not an octal number"):
        _octal(field.ljust(12, b"\0"), "size", 0)
