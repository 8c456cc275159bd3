"""Making text from an image, an SBOM, a feed or a bundle safe to show on a terminal.

Package names, paths, tags, advisory ids and error messages come from input an attacker may control.
Written raw, an ESC or CSI byte (`\\x1b[8m`, `\\x9b`) drives the terminal: it can hide the rows after
it, retitle the window, or move the cursor over what was printed; a bidirectional override (`\\u202e`)
makes text read differently from its bytes ("Trojan Source"); a newline splits a one-line error.
`printable` is applied to every such string before it reaches a terminal-facing output (the table
formats, warnings, error lines); the machine formats (JSON, SARIF, CycloneDX, SPDX) keep exact values.
"""

from __future__ import annotations


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every character `str.isprintable` rejects written as a visible escape, as `repr` does.

    Escaped: C0 and C1 controls, DEL and ESC (so also tab and newline: the result is one line), format
    characters (bidirectional overrides and isolates, zero-width characters, the BOM), line and
    paragraph separators, spaces other than U+0020, private-use and unassigned code points, and lone
    surrogates (a non-UTF-8 byte 0xNN decoded with surrogateescape shows as `\\udcNN`). Nothing is
    dropped; backslashes are kept as they are.
    """
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else _escape(character) for character in text)
