"""Chainguard's secdb: `security.json` as packages.cgr.dev/chainguard publishes it (the Alpine secdb shape).

The format is Wolfi's (`dbbuilder/sources/wolfi.py`) with `reponame` `chainguard`: rows keyed by the
**origin** package in ecosystem `Chainguard` (no release), secfixes key `0` = `not-affected`, CVE and GHSA
ids as `CHAINGUARD-CVE-…` / `CHAINGUARD-GHSA-…` advisories (upstream: the id). Chainguard images also
carry Wolfi packages, which Wolfi's own secdb covers; the scanner decides which ecosystem an image reads.
A file whose `reponame` is not `chainguard` is skipped. The whole published file (at least
WHOLE_MIN_PACKAGES packages) is a whole export of `Chainguard`. No date in the file: the capture time
comes from `--captured-at chainguard=TIME`, or is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from .records import FeedFacts, Record, SkipLog
from .secdb import ApkDistro, read_apk_distro

PROVIDER = "chainguard"
FLAG_HELP = "Chainguard secdb (packages.cgr.dev/chainguard/security.json) files or directories (repeatable)."
PRECEDENCE = 32
WHOLE_MIN_PACKAGES = 100  # the test fixture's 57 packages are an extract
DISTRO = ApkDistro(PROVIDER, "Chainguard", "chainguard", WHOLE_MIN_PACKAGES)


def accepts(path: Path) -> bool:
    return path.name.endswith(".json")


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    return read_apk_distro(DISTRO, files, skips, facts)
