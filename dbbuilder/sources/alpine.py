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

from .base import text_or_none
from .feedio import parse_document, read_capped
from .records import FeedFacts, Record, RecordError, SkipLog
from .secdb import CVE_ID, package_records, secdb_packages

PROVIDER = "alpine"
FLAG_HELP = "Alpine secdb JSON files or directories (repeatable)."
PRECEDENCE = 30
MAX_FILE_BYTES = 256 << 20

# The repositories a branch's secdb has a file for; together they are the branch's whole secdb. Samples
# have the same form: a branch's secdb carries every package's fix history, hundreds of packages (91 in
# v3.3's main, the oldest branch still published), so a handful is an extract.
BRANCH_REPOSITORIES = frozenset({"main", "community"})
BRANCH_MIN_PACKAGES = 50

_BRANCH = re.compile(r"^(?:v\d+\.\d+|edge)$")


def accepts(path: Path) -> bool:
    return path.name.endswith((".json", ".yaml", ".yml"))


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    repositories: dict[str, set[str]] = {}  # ecosystem -> repositories read for it
    package_entries: Counter[str] = Counter()  # ecosystem -> package entries read for it
    for name, path in files:
        try:
            document, packages = secdb_packages(parse_document(read_capped(path, MAX_FILE_BYTES), path.name))
            ecosystem = f"Alpine:{_branch(document, path)}"
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        repositories.setdefault(ecosystem, set()).add(text_or_none(document.get("reponame")) or path.stem)
        package_entries[ecosystem] += len(packages)
        for index, entry in enumerate(packages):
            try:
                yield from package_records(ecosystem, entry, provider=PROVIDER, prefix="ALPINE", ids=CVE_ID)
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
