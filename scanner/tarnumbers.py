"""Numeric fields of tar headers read as Go's archive/tar reads them (strconv.go), shared by the
image reader (`scanner/image/tarstream.py`) and the bundle reader (`scanner/db/archive.py`).

Go's parseOctal trims spaces and NULs at both ends, cuts at the first NUL left, and hands the rest
to `strconv.ParseUint(s, 8, 64)`: octal digits only, so a sign (`+7`), an underscore (`1_0`) or a
prefix (`0o7`), which Python's `int(text, 8)` would take, make the header invalid.
"""

from __future__ import annotations

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def cstring(field: bytes) -> bytes:
    """The field up to its first NUL."""
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def parse_octal(field: bytes) -> int | None:
    """Go's parseOctal; None where Go's reader fails. An empty field is 0, as in Go; a value above
    int64 wraps to a negative number, as Go's int64 conversion does."""
    digits = cstring(field.strip(b" \0"))
    if not digits:
        return 0
    if digits.strip(b"01234567"):
        return None
    value = int(digits, 8)
    if value >= 1 << 64:
        return None
    return value - (1 << 64) if value > INT64_MAX else value


def parse_numeric(field: bytes) -> int | None:
    """Go's parseNumeric: two's complement base-256 when the first byte's high bit is set, else octal."""
    if not field or not field[0] & 0x80:
        return parse_octal(field)
    invert = 0xFF if field[0] & 0x40 else 0
    magnitude = int.from_bytes(bytes(c ^ invert for c in field), "big") & ~(1 << (8 * len(field) - 1))
    if magnitude > INT64_MAX:
        return None
    return ~magnitude if invert else magnitude
