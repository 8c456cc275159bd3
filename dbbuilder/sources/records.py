"""What every feed reader produces: one `Record` per advisory, in the database's terms.

Records already carry OSV ecosystems with release, normalised package names, scanner.model.FixState values
and compact JSON ranges. Malformed input goes to a `SkipLog` (by reason) instead of stopping the build;
what a reader learns about its input as a whole goes to `FeedFacts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scanner.errors import FeedError
from scanner.model import FixState


class MalformedFeedError(FeedError):
    """A record or file of a feed is malformed and the build runs with `strict=True`."""


@dataclass(frozen=True)
class AffectedRow:
    ecosystem: str
    package: str  # normalised with scanner.names.normalize_package_name
    fix_state: FixState
    ranges: str | None = None  # compact JSON of OSV `ranges` (GIT ranges left out)
    versions: str | None = None  # compact JSON list of explicitly affected versions
    fixed: str | None = None  # compact JSON list of fixed versions
    severity: str | None = None  # per-package rating (Severity label)


@dataclass(frozen=True)
class SeverityRow:
    source: str
    type: str  # CVSS_V4, CVSS_V3, CVSS_V2
    vector: str
    score: float | None


@dataclass(frozen=True)
class CpeRow:
    vendor: str
    product: str
    criteria: str
    version_start_including: str | None = None
    version_start_excluding: str | None = None
    version_end_including: str | None = None
    version_end_excluding: str | None = None


@dataclass(frozen=True)
class Record:
    """One advisory as a provider publishes it, in database terms."""

    id: str
    provider: str
    modified: str | None = None
    published: str | None = None
    withdrawn: str | None = None
    summary: str | None = None
    details: str | None = None
    severity: str | None = None  # the record's own text rating, as a Severity label
    aliases: tuple[str, ...] = ()  # the same vulnerability under other ids
    upstream: tuple[str, ...] = ()  # the vulnerabilities this (distro) record is derived from
    related: tuple[str, ...] = ()  # related but different vulnerabilities: never grouped
    references: tuple[str, ...] = ()
    cwes: tuple[str, ...] = ()
    affected: tuple[AffectedRow, ...] = ()
    severities: tuple[SeverityRow, ...] = ()
    cpes: tuple[CpeRow, ...] = ()
    # None for a whole record. A number marks one part of an advisory that a provider assembles from several
    # inputs (Debian, Alpine): the compiler merges every part with the same id, and for one (ecosystem,
    # package) keeps the row of the part with the lowest precedence.
    part_precedence: int | None = None


@dataclass
class SkipLog:
    """Counts what a provider skipped and why; with `strict`, the first skip is fatal."""

    provider: str
    strict: bool = False
    reasons: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, where: str, detail: str = "") -> None:
        if self.strict:
            suffix = f": {detail}" if detail else ""
            raise MalformedFeedError(f"{self.provider}: {reason} in {where}{suffix}")
        self.reasons[reason] += 1

    @property
    def skipped(self) -> int:
        return sum(self.reasons.values())


@dataclass
class FeedFacts:
    """What a reader learns about its input as a whole, beside the records (docs/database.md, "Coverage").

    `exports` names the ecosystems an input is a whole export of, by its form: a Debian tracker JSON
    export or DSA/DLA list for the releases it names, an Alpine secdb branch (main and community), an OSV
    `<Ecosystem>/all.zip`, NVD. Anything else is loose records. `timestamps` are the times a feed states
    for itself (an NVD page's `timestamp`), the best evidence of when it was captured.
    """

    exports: dict[str, str] = field(default_factory=dict)  # ecosystem -> the whole export it was read from
    notes: dict[str, str] = field(default_factory=dict)  # ecosystem -> why an export-like input is not whole
    timestamps: list[str] = field(default_factory=list)  # RFC 3339 UTC

    def export(self, ecosystem: str, basis: str) -> None:
        self.exports.setdefault(ecosystem, basis)


class RecordError(ValueError):
    """Raised inside a reader for a malformed record; `reason` is the count key in the skip log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# A reader: (name, path) of its input files, sorted by name, a skip log and the facts to fill in; records out.
Reader = Callable[[Sequence[tuple[str, Path]], SkipLog, FeedFacts], Iterator[Record]]

