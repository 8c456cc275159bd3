"""Alpine-shaped secdb documents, read the same way for Alpine, Wolfi and Chainguard.

`{"packages": [{"pkg": {"name": ORIGIN, "secfixes": {VERSION: [ID ...]}}}]}`: the name is the origin
(source) apk, the version the first release that carries the fix, and version "0" marks an id that never
affected the package. Each id becomes one `<PREFIX>-<ID>` advisory part (upstream: the id), which the
compiler assembles across files. No helper here knows which distribution it reads: the providers
(`alpine`, `wolfi`, `chainguard`) say which ecosystem, prefix and id forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.model import FixState

from .base import affected_row, require_mapping, text_or_none
from .feedio import parse_document, read_capped
from .records import FeedFacts, Record, RecordError, SkipLog

NOT_AFFECTED_VERSION = "0"
CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")


def secdb_packages(document: object) -> tuple[Mapping[str, Any], list[Any]]:
    """The document as a mapping, and its package entries (a repository without fixes has `null`)."""
    top = require_mapping(document, "secdb")
    packages = top.get("packages") or []
    if not isinstance(packages, list):
        raise RecordError("malformed secdb", "packages is not a list")
    return top, packages


def package_records(ecosystem: str, entry: object, *, provider: str, prefix: str,
                    ids: re.Pattern[str]) -> Iterator[Record]:
    """One record part per id (`ids` finds them in each secfixes item) of one package entry."""
    package = require_mapping(require_mapping(entry, "package entry").get("pkg"), "pkg")
    name = text_or_none(package.get("name"))
    if name is None:
        raise RecordError("package without name")
    secfixes = package.get("secfixes") or {}
    if not isinstance(secfixes, dict):
        raise RecordError("malformed secfixes", name)
    parts: dict[str, Record] = {}
    for version_key, listed in secfixes.items():
        version = _version(version_key, name)
        if not listed:
            continue  # real secdb files list versions with `null` or `{}` for ids
        if not isinstance(listed, list):
            raise RecordError("malformed secfixes", name)
        state = FixState.NOT_AFFECTED if version == NOT_AFFECTED_VERSION else FixState.FIXED
        row = affected_row(ecosystem, name, state, fixed=None if state is FixState.NOT_AFFECTED else version)
        for item in listed:
            if item is None:
                continue  # an empty YAML list item
            if not isinstance(item, str):
                raise RecordError("malformed secfixes", name)
            for found in ids.findall(item):
                # The first version listed for an id is its fix; later mentions are re-fixes of regressions.
                parts.setdefault(found, Record(id=f"{prefix}-{found}", provider=provider, part_precedence=0,
                                               upstream=(found,), affected=(row,)))
    yield from parts.values()


def _version(key: object, package: str) -> str:
    # YAML reads an unquoted `0:` as an integer; a float key (`1.10:`) has already lost its digits.
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise RecordError("malformed fixed version", f"{package}: {key!r}")
    version = str(key).strip()
    if not version:
        raise RecordError("malformed fixed version", package)
    return version


@dataclass(frozen=True)
class ApkDistro:
    """A distribution that publishes its whole secdb as one `security.json` (Wolfi, Chainguard)."""

    provider: str
    ecosystem: str  # also the record prefix, upper-cased
    repository: str  # the `reponame` its file declares
    min_packages: int  # fewer package entries: an extract, not the published file


# Wolfi and Chainguard list GHSA ids beside CVEs (for Go and other language modules they build).
CVE_OR_GHSA_ID = re.compile(r"CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}")
MAX_FILE_BYTES = 256 << 20


def read_apk_distro(distro: ApkDistro, files: Sequence[tuple[str, Path]], skips: SkipLog,
                    facts: FeedFacts) -> Iterator[Record]:
    """Records of `security.json` files of one distribution; the file must name the distribution's repository
    (a Chainguard file given to --wolfi, or an Alpine branch file, is skipped, not read as this distribution's)."""
    for name, path in files:
        try:
            document, packages = secdb_packages(parse_document(read_capped(path, MAX_FILE_BYTES), path.name))
            declared = text_or_none(document.get("reponame"))
            if "distroversion" in document or declared != distro.repository:
                raise RecordError(f"not the {distro.ecosystem} secdb",
                                  f"reponame {declared!r}, expected {distro.repository!r}")
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        if len(packages) >= distro.min_packages:
            facts.export(distro.ecosystem, f"{distro.ecosystem} secdb")
        else:
            facts.notes.setdefault(distro.ecosystem, f"{distro.ecosystem} secdb with {len(packages)} package(s): "
                                   "an extract")
        for index, entry in enumerate(packages):
            try:
                yield from package_records(distro.ecosystem, entry, provider=distro.provider,
                                           prefix=distro.ecosystem.upper(), ids=CVE_OR_GHSA_ID)
            except RecordError as error:
                skips.skip(error.reason, f"{name} package {index}", error.detail)
