"""Package name normalisation per ecosystem, shared by the database builder and the matcher.

Both sides must normalise the same way, or lookups silently miss: this module is the only place
that decides what "the same package name" means in each ecosystem.
"""

from __future__ import annotations

from typing import NewType

from packaging.utils import canonicalize_name

NormalizedName = NewType("NormalizedName", str)

# Ecosystems whose registries treat names case-insensitively.
_CASE_INSENSITIVE = {"pypi", "nuget", "packagist", "crates.io", "maven", "hex", "pub", "cran", "debian", "ubuntu",
                     "alpine", "wolfi", "chainguard", "npm"}


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
        # pypa/packaging's reading of PEP 503 is the one pip and PyPI apply, so ours cannot drift from it.
        return NormalizedName(canonicalize_name(stripped))
    if family in _CASE_INSENSITIVE:
        return NormalizedName(stripped.lower())
    return NormalizedName(stripped)
