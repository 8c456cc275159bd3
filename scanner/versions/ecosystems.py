"""Which version scheme each OSV ecosystem uses, and the cached parse every caller goes through."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

from scanner.versions.base import ParsedVersion, Scheme, SortKey
from scanner.versions.errors import InvalidVersion, UnknownEcosystem

# Keys are OSV ecosystem names (the part before any ":release" suffix), lower-cased; values name the
# scheme: its module in scanner.versions and the attribute holding it. A module is imported when an
# ecosystem that uses it is first asked for, so a scan loads the parsers of its own packages' ecosystems.
_SCHEMES: dict[str, tuple[str, str]] = {
    "debian": ("dpkg", "SCHEME"),
    "ubuntu": ("dpkg", "SCHEME"),
    "alpine": ("apk", "SCHEME"),
    "wolfi": ("apk", "SCHEME"),
    "chainguard": ("apk", "SCHEME"),
    "red hat": ("rpm", "SCHEME"),
    "almalinux": ("rpm", "SCHEME"),
    "rocky linux": ("rpm", "SCHEME"),
    "opensuse": ("rpm", "SCHEME"),
    "suse": ("rpm", "SCHEME"),
    "mageia": ("rpm", "SCHEME"),
    "openeuler": ("rpm", "SCHEME"),
    "photon os": ("rpm", "SCHEME"),
    "azure linux": ("rpm", "SCHEME"),
    "cbl-mariner": ("rpm", "SCHEME"),
    "amazon linux": ("rpm", "SCHEME"),
    "oracle linux": ("rpm", "SCHEME"),
    "pypi": ("pep440", "SCHEME"),
    "npm": ("semver", "NPM"),
    "crates.io": ("semver", "SEMVER"),
    "go": ("go", "SCHEME"),
    "maven": ("maven", "SCHEME"),
    "rubygems": ("rubygems", "SCHEME"),
    "nuget": ("nuget", "SCHEME"),
    "packagist": ("composer", "SCHEME"),
    "semver": ("semver", "SEMVER"),
    "hex": ("semver", "SEMVER"),
    "pub": ("semver", "PUB"),
    "cran": ("cran", "SCHEME"),
}
_SEMVER = _SCHEMES["semver"]
# Schemes (by name) that already are SemVer (or a superset of it) evaluate OSV SEMVER ranges themselves.
_SEMVER_COMPATIBLE = frozenset({"semver", "npm", "pub", "go"})
_loaded: dict[tuple[str, str], Scheme] = {}


def _load(where: tuple[str, str]) -> Scheme:
    scheme = _loaded.get(where)
    if scheme is None:
        module, attribute = where
        scheme = getattr(importlib.import_module(f"scanner.versions.{module}"), attribute)
        if not isinstance(scheme, Scheme):
            raise TypeError(f"scanner.versions.{module}.{attribute} is not a Scheme")
        _loaded[where] = scheme
    return scheme


@lru_cache(maxsize=1024)
def scheme_for(ecosystem: str) -> Scheme:
    """The scheme of an OSV ecosystem name; a release suffix ("Debian:12", "Alpine:v3.18") is ignored."""
    family = ecosystem.split(":", 1)[0].strip().lower()
    try:
        where = _SCHEMES[family]
    except KeyError:
        raise UnknownEcosystem(ecosystem) from None
    return _load(where)


@lru_cache(maxsize=1024)
def semver_scheme_for(ecosystem: str) -> Scheme:
    """The scheme for an OSV SEMVER range in `ecosystem`: the ecosystem's own when it is SemVer-based."""
    try:
        scheme = scheme_for(ecosystem)
    except UnknownEcosystem:
        return _load(_SEMVER)
    return scheme if scheme.name in _SEMVER_COMPATIBLE else _load(_SEMVER)


def parse_with(scheme: Scheme, ecosystem: str, version: str) -> ParsedVersion:
    """Parse; a refusal becomes InvalidVersion naming the ecosystem and the string."""
    try:
        return scheme.parse(version)
    except ValueError as error:
        raise InvalidVersion(ecosystem, version, str(error)) from None


def key_with(scheme: Scheme, ecosystem: str, version: str) -> SortKey:
    """The ordering key of `version` (cached per scheme); InvalidVersion when it does not parse."""
    try:
        return scheme.key(version)
    except ValueError as error:
        raise InvalidVersion(ecosystem, version, str(error)) from None


def clear_cache() -> None:
    for scheme in _loaded.values():
        scheme.key.cache_clear()


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    capacity: int


def cache_info() -> CacheStats:
    """Hits, misses and entries of the parsed-key caches, summed over the schemes loaded so far."""
    infos = [scheme.key.cache_info() for scheme in _loaded.values()]
    return CacheStats(sum(i.hits for i in infos), sum(i.misses for i in infos), sum(i.currsize for i in infos),
                      sum(i.maxsize or 0 for i in infos))
