from __future__ import annotations

import pytest

from scanner.terminal import printable

# Trojan Source: the bidirectional embeddings, overrides and isolates, and the implicit marks.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize(("text", "shown"), [
    ("zlib1g\x1b[8m", "zlib1g\\x1b[8m"),
    ("a\x9b31mb", "a\\x9b31mb"),  # the 8-bit CSI
    ("\x00\x07\x08\t\n\x0b\x0c\r\x7f", "\\x00\\x07\\x08\\x09\\x0a\\x0b\\x0c\\x0d\\x7f"),
    ("title\x1b]0;pwned\x07", "title\\x1b]0;pwned\\x07"),
    ("abc\u202edef", "abc\\u202edef"),
    ("a\u200bb\u200dc\ufeffd\u2060e", "a\\u200bb\\u200dc\\ufeffd\\u2060e"),  # zero-width characters
    ("line\u2028para\u2029\x85", "line\\u2028para\\u2029\\x85"),
    ("name\udcff\udc80", "name\\udcff\\udc80"),  # non-UTF-8 bytes decoded with surrogateescape
    ("tag\U000e0041", "tag\\U000e0041"),  # an invisible tag character
])
def test_controls_become_visible_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_every_bidi_control_is_escaped() -> None:
    assert printable(BIDI) == "".join(f"\\u{ord(c):04x}" for c in BIDI)


@pytest.mark.parametrize("text", ["", "zlib1g 1:1.2.11.dfsg-2+deb11u2", "Ünïcödé 名前 ελληνικά", "[bold]x[/bold]",
                                  "C:\\path\\x1b", "e\u0301", "😀"])
def test_printable_text_is_unchanged(text: str) -> None:
    assert printable(text) == text


def test_every_code_point_is_printable_after_escaping() -> None:
    text = "".join(chr(code) for code in range(0x110000))
    escaped = printable(text)
    assert escaped.isprintable()
    assert "\n" not in escaped
