"""Which version scheme each OSV ecosystem uses, and the cached parse every caller goes through."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from scanner.versions import apk, composer, cran, dpkg, go, maven, nuget, pep440, rpm, rubygems
from scanner.versions.base import ParsedVersion, Scheme, SortKey
from scanner.versions.errors import InvalidVersion, UnknownEcosystem
from scanner.versions.semver import NPM, PUB, SEMVER

# Keys are OSV ecosystem names (the part before any ":release" suffix), lower-cased.
_SCHEMES: dict[str, Scheme] = {
    "debian": dpkg.SCHEME,
    "ubuntu": dpkg.SCHEME,
    "alpine": apk.SCHEME,
    "wolfi": apk.SCHEME,
    "chainguard": apk.SCHEME,
    "red hat": rpm.SCHEME,
    "almalinux": rpm.SCHEME,
    "rocky linux": rpm.SCHEME,
    "opensuse": rpm.SCHEME,
    "suse": rpm.SCHEME,
    "mageia": rpm.SCHEME,
    "openeuler": rpm.SCHEME,
    "photon os": rpm.SCHEME,
    "azure linux": rpm.SCHEME,
    "cbl-mariner": rpm.SCHEME,
    "amazon linux": rpm.SCHEME,
    "oracle linux": rpm.SCHEME,
    "pypi": pep440.SCHEME,
    "npm": NPM,
    "crates.io": SEMVER,
    "go": go.SCHEME,
    "maven": maven.SCHEME,
    "rubygems": rubygems.SCHEME,
    "nuget": nuget.SCHEME,
    "packagist": composer.SCHEME,
    "semver": SEMVER,
    "hex": SEMVER,
    "pub": PUB,
    "cran": cran.SCHEME,
}
# Schemes that already are SemVer (or a superset of it) evaluate OSV SEMVER ranges themselves.
_SEMVER_COMPATIBLE = {SEMVER, NPM, PUB, go.SCHEME}


@lru_cache(maxsize=1024)
def scheme_for(ecosystem: str) -> Scheme:
    """The scheme of an OSV ecosystem name; a release suffix ("Debian:12", "Alpine:v3.18") is ignored."""
    family = ecosystem.split(":", 1)[0].strip().lower()
    try:
        return _SCHEMES[family]
    except KeyError:
        raise UnknownEcosystem(ecosystem) from None


def semver_scheme_for(ecosystem: str) -> Scheme:
    """The scheme for an OSV SEMVER range in `ecosystem`: the ecosystem's own when it is SemVer-based."""
    try:
        scheme = scheme_for(ecosystem)
    except UnknownEcosystem:
        return SEMVER
    return scheme if scheme in _SEMVER_COMPATIBLE else SEMVER


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


_ALL_SCHEMES = tuple({id(scheme): scheme for scheme in _SCHEMES.values()}.values())


def clear_cache() -> None:
    for scheme in _ALL_SCHEMES:
        scheme.key.cache_clear()


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    capacity: int


def cache_info() -> CacheStats:
    """Hits, misses and entries of the parsed-key caches, summed over schemes."""
    infos = [scheme.key.cache_info() for scheme in _ALL_SCHEMES]
    return CacheStats(sum(i.hits for i in infos), sum(i.misses for i in infos), sum(i.currsize for i in infos),
                      sum(i.maxsize or 0 for i in infos))
