"""Licence strings as packages declare them, sorted into SPDX identifiers and free text.

Package metadata mixes SPDX identifiers ("MIT", apk's "GPL-2.0-only AND MIT") with distro
spellings ("GPL-2+", "BSD-3-clause"). SBOM formats accept only real SPDX identifiers as such,
so anything not in this list of common identifiers is passed on as a named (free-text) licence.
"""

from __future__ import annotations

import re

SPDX_IDS = frozenset({
    "0BSD", "AFL-2.1", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "Apache-2.0", "Artistic-1.0",
    "Artistic-1.0-Perl", "Artistic-2.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause",
    "BSL-1.0", "bzip2-1.0.6", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "CDDL-1.0", "curl", "EPL-1.0",
    "EPL-2.0", "GFDL-1.2-only", "GFDL-1.2-or-later", "GFDL-1.3-only", "GFDL-1.3-or-later", "GPL-1.0-only",
    "GPL-1.0-or-later", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "ISC",
    "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only",
    "LGPL-3.0-or-later", "Libpng", "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "OpenSSL", "PHP-3.01", "PostgreSQL",
    "PSF-2.0", "Python-2.0", "Ruby", "Unicode-DFS-2016", "Unlicense", "W3C", "WTFPL", "X11", "Zlib",
    "zlib-acknowledgement", "ZPL-2.1",
})
_OPERATORS = frozenset({"AND", "OR", "WITH"})
_EXCEPTIONS = frozenset({"Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception", "OpenSSL-exception",
                         "Autoconf-exception-3.0", "Bison-exception-2.2"})
_TOKENS = re.compile(r"\(|\)|[^\s()]+")


def is_spdx_id(text: str) -> bool:
    return text in SPDX_IDS


def is_spdx_expression(text: str) -> bool:
    """True when every identifier in `text` is a known SPDX id and operators sit between them."""
    tokens = _TOKENS.findall(text)
    expect_operand = True
    depth = 0
    previous = ""
    for token in tokens:
        if token == "(":
            if not expect_operand:
                return False
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0 or expect_operand:
                return False
        elif token in _OPERATORS:
            if expect_operand:
                return False
            expect_operand = True
        else:
            known = token in _EXCEPTIONS if previous == "WITH" else token.removesuffix("+") in SPDX_IDS
            if not expect_operand or not known:
                return False
            expect_operand = False
        previous = token
    return bool(tokens) and depth == 0 and not expect_operand
