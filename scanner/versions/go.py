"""Go module versions: Semantic Versioning with Go's spellings.

Go writes `v1.2.3`; OSV's Go records write `1.2.3`, so the `v` is optional. Go also accepts the
shorthands `v1` and `v1.2` (meaning v1.0.0 and v1.2.0). Pseudo-versions
(`v0.0.0-20191109021931-daa7c04131f5`, `v1.2.4-0.20191109021931-daa7c04131f5`) are pre-releases by
construction, so SemVer precedence already orders them; `+incompatible` is build metadata and so
ignored. The toolchain and standard library are versioned `go1.21`, `go1.21.3`, `go1.21rc2`; the Go
vulnerability database spells those 1.21.0, 1.21.3 and 1.21.0-rc.2, and so does this parser.
"""

from __future__ import annotations

import re

from scanner.versions.base import Scheme
from scanner.versions.semver import SemverVersion, parse_semver

_SHORTHAND = re.compile(r"v?([0-9]+)(?:\.([0-9]+))?")
_TOOLCHAIN = re.compile(r"go([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:(rc|beta|alpha)([0-9]+))?")


def parse(text: str) -> SemverVersion:
    version = text.strip()
    toolchain = _TOOLCHAIN.fullmatch(version)
    if toolchain is not None:
        major, minor, patch, label, number = toolchain.groups()
        pre = (label, number) if label else ()
        return SemverVersion(int(major), int(minor or 0), int(patch or 0), pre)
    shorthand = _SHORTHAND.fullmatch(version)
    if shorthand is not None:
        return SemverVersion(int(shorthand[1]), int(shorthand[2] or 0), 0)
    return parse_semver(version)


SCHEME = Scheme("go", parse)
