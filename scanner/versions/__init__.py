"""Version ordering per ecosystem and OSV range evaluation.

Every function takes the ecosystem as OSV spells it; a release suffix ("Debian:12",
"Alpine:v3.18", "Ubuntu:22.04:LTS") selects the same scheme as the bare name. Schemes: dpkg
(Debian, Ubuntu), apk (Alpine, Wolfi, Chainguard), rpm (Red Hat, AlmaLinux, Rocky Linux, SUSE,
openSUSE, Mageia, openEuler, Photon OS, Azure Linux), PEP 440 (PyPI), node-semver (npm), SemVer
(crates.io, Hex, and OSV SEMVER ranges), Go, Maven (ComparableVersion 3.8), RubyGems, NuGet,
Composer (Packagist), pub_semver (Pub), R (CRAN).

Errors: InvalidVersion (a string the scheme cannot parse; InvalidRange for an `affected` entry
that cannot be evaluated) and UnknownEcosystem, both VersionError (exit code 5). Parsed keys are
cached (bounded LRU), so comparing many versions against many ranges parses each string once.
"""

from __future__ import annotations

from scanner.errors import VersionError
from scanner.versions.base import ParsedVersion, SortKey
from scanner.versions.ecosystems import cache_info, clear_cache, key_with, parse_with, scheme_for
from scanner.versions.errors import InvalidRange, InvalidVersion, UnknownEcosystem
from scanner.versions.ranges import is_affected

__all__ = [
    "InvalidRange",
    "InvalidVersion",
    "ParsedVersion",
    "SortKey",
    "UnknownEcosystem",
    "VersionError",
    "cache_info",
    "canonical",
    "clear_cache",
    "compare",
    "is_affected",
    "is_valid",
    "max_version",
    "min_version",
    "sort_key",
]


def sort_key(ecosystem: str, version: str) -> SortKey:
    """A value that orders like `version` among versions of the same ecosystem (for sorted, min, max)."""
    return key_with(scheme_for(ecosystem), ecosystem, version)


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is older than, equal to or newer than `b` in `ecosystem`."""
    scheme = scheme_for(ecosystem)
    key_a = key_with(scheme, ecosystem, a)
    key_b = key_with(scheme, ecosystem, b)
    if key_a < key_b:  # one deep comparison in the usual case of different versions
        return -1
    return 1 if key_b < key_a else 0


def is_valid(ecosystem: str, version: str) -> bool:
    """Whether `version` parses in `ecosystem` (UnknownEcosystem still raises)."""
    try:
        sort_key(ecosystem, version)
    except InvalidVersion:
        return False
    return True


def canonical(ecosystem: str, version: str) -> str:
    """The scheme's normal spelling of `version` (PyPI "1.0-RC1" -> "1.0rc1"; Debian "0:1.2" -> "1.2")."""
    return str(parse_with(scheme_for(ecosystem), ecosystem, version))


def max_version(ecosystem: str, candidates: list[str] | tuple[str, ...]) -> str:
    """The newest of `candidates` (InvalidVersion if one does not parse; ValueError if empty)."""
    return max(candidates, key=lambda version: sort_key(ecosystem, version))


def min_version(ecosystem: str, candidates: list[str] | tuple[str, ...]) -> str:
    """The oldest of `candidates`, such as the lowest version that fixes every finding."""
    return min(candidates, key=lambda version: sort_key(ecosystem, version))
