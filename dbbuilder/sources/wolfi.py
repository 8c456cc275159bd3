"""Wolfi's secdb: `security.json` as packages.wolfi.dev/os publishes it (the Alpine secdb shape).

`{"apkurl": ..., "archs": [...], "reponame": "os", "urlprefix": "https://packages.wolfi.dev",
"packages": [{"pkg": {"name": ORIGIN, "secfixes": {VERSION: [ID ...]}}}]}`. Rows are keyed by the
**origin** package (the melange package the fix was made in; subpackages such as `libcrypto3` of `openssl`
have no entry of their own), in ecosystem `Wolfi` (a rolling distribution: no release). The secfixes key
`0` means the id never affected the package (`not-affected`); ids are CVEs and GHSAs, each one
`WOLFI-CVE-…` / `WOLFI-GHSA-…` advisory with the id as upstream, as `alpine` emits `ALPINE-CVE-…`.
`archs` and `apkurl` are not read: a fix applies to every architecture's build of the version. A file
whose `reponame` is not `os` (Chainguard's, an Alpine branch's) is skipped. The whole published file
(at least WHOLE_MIN_PACKAGES packages) is a whole export of `Wolfi`. The file carries no date: its capture
time comes from `--captured-at wolfi=TIME`, or is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from .records import FeedFacts, Record, SkipLog
from .secdb import ApkDistro, read_apk_distro

PROVIDER = "wolfi"
FLAG_HELP = "Wolfi secdb (packages.wolfi.dev/os/security.json) files or directories (repeatable)."
PRECEDENCE = 31
# The test fixture's 27 packages are an extract; the published file lists every package Wolfi ever fixed.
WHOLE_MIN_PACKAGES = 100
DISTRO = ApkDistro(PROVIDER, "Wolfi", "os", WHOLE_MIN_PACKAGES)


def accepts(path: Path) -> bool:
    return path.name.endswith(".json")


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    return read_apk_distro(DISTRO, files, skips, facts)
