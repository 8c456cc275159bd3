"""Package name normalisation per ecosystem, shared by the database builder and the matcher.

Both sides must normalise the same way, or lookups silently miss: this module is the only place
that decides what "the same package name" means in each ecosystem.
"""

from __future__ import annotations

import re
from typing import NewType

NormalizedName = NewType("NormalizedName", str)

# Ecosystems whose registries treat names case-insensitively.
_CASE_INSENSITIVE = {"pypi", "nuget", "packagist", "crates.io", "maven", "hex", "pub", "cran", "debian", "ubuntu",
                     "alpine", "wolfi", "chainguard", "npm"}
# PEP 503's separators: a run of them is one "-". Lower-cased first, as pypa/packaging (what pip and PyPI
# apply) does: a final sigma after "." lower-cases differently once the "." is a "-". tests/match/
# test_pypi_names.py holds the two to the same result; importing packaging.utils would cost every scan ~6 ms
# (it loads packaging.tags).
_PEP503_SEPARATORS = re.compile(r"[-_.]+")


def ecosystem_family(ecosystem: str) -> str:
    """"Debian:12" -> "Debian", "Ubuntu:22.04:LTS" -> "Ubuntu", "PyPI" -> "PyPI"."""
    return ecosystem.split(":", 1)[0].strip()


def normalize_package_name(ecosystem: str, name: str) -> NormalizedName:
    """The key under which `name` is stored and looked up in `ecosystem`.

    PyPI follows PEP 503 (lower case, runs of "-", "_", "." become "-"). Go module paths, RubyGems
    and rpm names are case-sensitive and kept as they are. Maven keeps "group:artifact".
    """
    family = ecosystem_family(ecosystem).lower()
    stripped = name.strip()
    if family == "pypi":
        return NormalizedName(_PEP503_SEPARATORS.sub("-", stripped.lower()))
    if family in _CASE_INSENSITIVE:
        return NormalizedName(stripped.lower())
    return NormalizedName(stripped)
