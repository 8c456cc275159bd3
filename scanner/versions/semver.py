"""Semantic Versioning 2.0.0 precedence, and the variants built on it.

`SEMVER` (OSV SEMVER ranges, crates.io, Hex) and `NPM` (node-semver) order by major, minor and
patch, then a pre-release sorts before its release, pre-release identifiers compare one by one
(numeric ones numerically and below alphanumeric ones, which compare in ASCII order; a shorter
list that is a prefix of a longer one sorts first). Build metadata is ignored, so 1.0.0+a == 1.0.0+b.
A leading `v` is accepted (node-semver and Go spell versions so), and for npm also `=`, as
node-semver's loose parser does; numeric parts with leading zeros are read as numbers.

`PUB` (Dart's pub_semver) differs in one point: build metadata orders too, after the same version
without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_PATTERN = re.compile(
    rf"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)"
    rf"(?:-(?P<pre>{_IDENTIFIERS}))?(?:\+(?P<build>{_IDENTIFIERS}))?"
)
_RELEASE = (1,)

Identifier = tuple[int, int, str]


def identifier_key(identifiers: tuple[str, ...]) -> tuple[Identifier, ...]:
    """Numeric identifiers before alphanumeric ones; each kind in its own order."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in identifiers)


def _split(identifiers: str | None) -> tuple[str, ...]:
    return tuple(identifiers.split(".")) if identifiers else ()


@dataclass(frozen=True, slots=True)
class SemverVersion:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[object, ...]:
        pre = (0, identifier_key(self.pre)) if self.pre else _RELEASE
        return (self.major, self.minor, self.patch, pre)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


@dataclass(frozen=True, slots=True)
class PubVersion(SemverVersion):
    @property
    def key(self) -> tuple[object, ...]:
        return (*super(PubVersion, self).key, identifier_key(self.build))


def parse_semver(text: str, prefixes: str = "v") -> SemverVersion:
    """Parse `text`, after one optional leading character from `prefixes`."""
    version = text.strip()
    if version[:1] and version[0] in prefixes:
        version = version[1:]
    match = _PATTERN.fullmatch(version)
    if match is None:
        raise ValueError("not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]")
    return SemverVersion(
        int(match["major"]), int(match["minor"]), int(match["patch"]), _split(match["pre"]), _split(match["build"])
    )


def _parse_npm(text: str) -> SemverVersion:
    return parse_semver(text, prefixes="v=")


def _parse_pub(text: str) -> PubVersion:
    version = parse_semver(text, prefixes="")
    return PubVersion(version.major, version.minor, version.patch, version.pre, version.build)


SEMVER = Scheme("semver", parse_semver)
NPM = Scheme("npm", _parse_npm)
PUB = Scheme("pub", _parse_pub)
