"""Alpine secdb: `main.json` / `community.json` per branch (and the same documents as YAML).

`{"distroversion": "v3.18", "packages": [{"pkg": {"name": ORIGIN, "secfixes": {VERSION: [CVE ...]}}}]}`.
The name is the origin (source) package, the version the first release that carries the fix, and
version "0" marks a CVE that never affected Alpine's package. Like osv.dev, the reader emits one
`ALPINE-CVE-…` advisory per CVE (upstream: the CVE), as parts the compiler assembles across branches.
A branch is wholly exported when both its `main` and `community` files were read and hold a plausible
number of packages (BRANCH_MIN_PACKAGES). The secdb carries no dates at all: its capture time comes from
`--captured-at`, or is unknown.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner.model import FixState

from .base import affected_row, require_mapping, text_or_none
from .feedio import parse_document, read_capped
from .records import FeedFacts, Record, RecordError, SkipLog

PROVIDER = "alpine"
FLAG_HELP = "Alpine secdb JSON files or directories (repeatable)."
PRECEDENCE = 30
MAX_FILE_BYTES = 256 << 20
NOT_AFFECTED_VERSION = "0"

# The repositories a branch's secdb has a file for; together they are the branch's whole secdb. Samples
# have the same form: a branch's secdb carries every package's fix history, hundreds of packages (91 in
# v3.3's main, the oldest branch still published), so a handful is an extract.
BRANCH_REPOSITORIES = frozenset({"main", "community"})
BRANCH_MIN_PACKAGES = 50

_BRANCH = re.compile(r"^(?:v\d+\.\d+|edge)$")
_CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")


def accepts(path: Path) -> bool:
    return path.name.endswith((".json", ".yaml", ".yml"))


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    repositories: dict[str, set[str]] = {}  # ecosystem -> repositories read for it
    package_entries: Counter[str] = Counter()  # ecosystem -> package entries read for it
    for name, path in files:
        try:
            document = require_mapping(parse_document(read_capped(path, MAX_FILE_BYTES), path.name), "secdb")
            ecosystem = f"Alpine:{_branch(document, path)}"
            packages = document.get("packages") or []  # a branch without fixes has `"packages": null`
            if not isinstance(packages, list):
                raise RecordError("malformed secdb", "packages is not a list")
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        repositories.setdefault(ecosystem, set()).add(text_or_none(document.get("reponame")) or path.stem)
        package_entries[ecosystem] += len(packages)
        for index, entry in enumerate(packages):
            try:
                yield from _package_records(ecosystem, entry)
            except RecordError as error:
                skips.skip(error.reason, f"{name} package {index}", error.detail)
    for ecosystem, seen in repositories.items():
        # An image's packages come from main and community: one repository's file alone is half a branch.
        missing = sorted(BRANCH_REPOSITORIES - seen)
        if missing:
            facts.notes[ecosystem] = f"Alpine secdb without {', '.join(missing)}"
        elif package_entries[ecosystem] < BRANCH_MIN_PACKAGES:
            facts.notes[ecosystem] = f"Alpine secdb with {package_entries[ecosystem]} package(s): an extract"
        else:
            facts.export(ecosystem, "Alpine secdb branch")


def _branch(document: Mapping[str, Any], path: Path) -> str:
    """The branch from `distroversion`, else from the directory name (`v3.18/main.json`)."""
    declared = text_or_none(document.get("distroversion"))
    for candidate in (declared, path.parent.name):
        if candidate and _BRANCH.match(candidate):
            return candidate
    raise RecordError("unknown branch", str(declared or path.parent.name))


def _package_records(ecosystem: str, entry: object) -> Iterator[Record]:
    package = require_mapping(require_mapping(entry, "package entry").get("pkg"), "pkg")
    name = text_or_none(package.get("name"))
    if name is None:
        raise RecordError("package without name")
    secfixes = package.get("secfixes") or {}
    if not isinstance(secfixes, dict):
        raise RecordError("malformed secfixes", name)
    parts: dict[str, Record] = {}
    for version_key, ids in secfixes.items():
        version = _version(version_key, name)
        if not ids:
            continue  # real secdb files list versions with `null` or `{}` for ids
        if not isinstance(ids, list):
            raise RecordError("malformed secfixes", name)
        state = FixState.NOT_AFFECTED if version == NOT_AFFECTED_VERSION else FixState.FIXED
        row = affected_row(ecosystem, name, state, fixed=None if state is FixState.NOT_AFFECTED else version)
        for item in ids:
            if item is None:
                continue  # an empty YAML list item
            if not isinstance(item, str):
                raise RecordError("malformed secfixes", name)
            for cve in _CVE_ID.findall(item):
                # The first version listed for a CVE is its fix; later mentions are re-fixes of regressions.
                parts.setdefault(cve, Record(id=f"ALPINE-{cve}", provider=PROVIDER, part_precedence=0,
                                             upstream=(cve,), affected=(row,)))
    yield from parts.values()


def _version(key: object, package: str) -> str:
    # YAML reads an unquoted `0:` as an integer; a float key (`1.10:`) has already lost its digits.
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise RecordError("malformed fixed version", f"{package}: {key!r}")
    version = str(key).strip()
    if not version:
        raise RecordError("malformed fixed version", package)
    return version
