"""What every feed reader produces, and the shared helpers they use.

A reader turns its provider's input files into a stream of `Record`s, one per advisory, already in the
database's terms: OSV ecosystems with release, normalised package names, scanner.model.FixState values,
compact JSON ranges. Malformed input goes to a `SkipLog` instead of stopping the build.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import cvss
import yaml

from scanner.clock import rfc3339 as format_rfc3339
from scanner.errors import FeedError
from scanner.fileio import FileReadError, read_regular_file
from scanner.model import FixState, Severity
from scanner.names import normalize_package_name


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


def input_files(paths: Iterable[Path], accepts: Callable[[Path], bool]) -> list[tuple[str, Path]]:
    """Every file a reader will read under `paths`, as (name relative to its root, path), sorted by name.

    Hidden files and directories are left out. A file given directly is named by its base name. The
    same name under two roots is kept twice, the earlier root first.
    """
    found: list[tuple[str, int, Path]] = []
    for index, root in enumerate(paths):
        if root.is_file():
            found.append((root.name, index, root))
            continue
        if not root.is_dir():
            raise FeedError(f"feed input not found: {root}")
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            for name in names:
                path = Path(directory, name)
                if not name.startswith(".") and accepts(path):
                    if path.exists() and not path.is_file():  # a FIFO or a device would block the build
                        raise FeedError(f"feed input {path}: not a regular file")
                    found.append((path.relative_to(root).as_posix(), index, path))
    return [(name, path) for name, _, path in sorted(found)]


def inputs_sha256(files: Sequence[tuple[str, Path]]) -> str:
    """sha256 over `sha256sum`-style lines ("<hex>  <name>\\n") of the files in name order.

    Names are relative to the given roots, so the digest does not depend on where the feeds are stored.
    """
    outer = hashlib.sha256()
    for name, path in files:
        inner = hashlib.sha256()
        try:
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    inner.update(block)
        except OSError as error:
            raise FeedError(f"cannot read feed file {path}: {error.strerror}") from error
        outer.update(f"{inner.hexdigest()}  {name}\n".encode())
    return outer.hexdigest()


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def compact_json(value: Any) -> str:
    """Compact, key-sorted JSON: the same value always gives the same text."""
    return _COMPACT.encode(value)


def json_list_or_none(values: Sequence[str]) -> str | None:
    return compact_json(list(values)) if values else None


def rfc3339(value: object) -> str | None:
    """An RFC 3339 UTC timestamp with a `Z` suffix, second precision; None when absent or unparsable.

    Naive timestamps (NVD writes them) are taken as UTC; a bare date is midnight UTC. YAML loaders turn
    timestamps into datetime objects: those are accepted too. The year always has four digits: Go's
    "no date" placeholder is kept as `0001-01-01T00:00:00Z`, which the scanner reports as absent.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    try:
        return format_rfc3339(moment)
    except OverflowError:  # an offset that moves year 1 or 9999 out of range once in UTC
        return None


def severity_label(text: object) -> str | None:
    """A text rating as a scanner.model.Severity label ("moderate" -> "medium"); None when unknown."""
    if not isinstance(text, str):
        return None
    severity = Severity.parse(text.rstrip("*"))
    return None if severity is Severity.UNKNOWN else severity.label


def highest_severity(labels: Iterable[str | None]) -> str | None:
    ranked = [Severity.parse(label) for label in labels if label]
    return max(ranked).label if ranked else None


def cvss_type(vector: str) -> str:
    if vector.startswith("CVSS:4"):
        return "CVSS_V4"
    if vector.startswith("CVSS:3"):
        return "CVSS_V3"
    return "CVSS_V2"


@lru_cache(maxsize=65536)
def cvss_base_score(vector: str) -> float | None:
    """The base score of a CVSS v2, v3.x or v4.0 vector computed by the `cvss` library; None if invalid."""
    try:
        if vector.startswith("CVSS:4"):
            return float(cvss.CVSS4(vector).base_score)
        if vector.startswith("CVSS:3"):
            return float(cvss.CVSS3(vector).scores()[0])
        return float(cvss.CVSS2(vector).scores()[0])
    except (cvss.CVSSError, ValueError, KeyError, IndexError, TypeError):
        return None


def severity_row(source: str, vector: str, declared_type: str | None = None) -> SeverityRow:
    kind = cvss_type(vector) if declared_type is None else declared_type
    return SeverityRow(source=source, type=kind, vector=vector, score=cvss_base_score(vector))


def affected_row(ecosystem: str, name: str, state: FixState, *, fixed: str | None = None,
                 severity: str | None = None) -> AffectedRow:
    """A distro row: every version before `fixed` (or every version when there is no fix) is affected.

    Not-affected rows carry no range, so nothing can ever match them.
    """
    ranges: str | None = None
    if state is not FixState.NOT_AFFECTED:
        events: list[dict[str, str]] = [{"introduced": "0"}]
        if fixed is not None:
            events.append({"fixed": fixed})
        ranges = compact_json([{"type": "ECOSYSTEM", "events": events}])
    return AffectedRow(
        ecosystem=ecosystem,
        package=normalize_package_name(ecosystem, name),
        fix_state=state,
        ranges=ranges,
        fixed=json_list_or_none([fixed] if fixed is not None else []),
        severity=severity,
    )


def string_list(value: object) -> tuple[str, ...]:
    """The strings of a JSON list, stripped; anything else gives ()."""
    if not isinstance(value, list):
        return ()
    return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())


def text_or_none(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def require_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"{what} is not an object")
    return value


def parse_document(data: bytes, name: str) -> Any:
    """JSON, or YAML when `name` ends in .yaml/.yml; RecordError("invalid JSON"/"invalid YAML") otherwise."""
    if name.endswith((".yaml", ".yml")):
        try:
            return yaml.safe_load(data)
        except (yaml.YAMLError, RecursionError) as error:
            raise RecordError("invalid YAML", (str(error).splitlines() or [""])[0]) from error
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise RecordError("invalid JSON", str(error)) from error


def read_capped(path: Path, limit: int) -> bytes:
    """The file's bytes; RecordError("file too large") beyond `limit`, ("unreadable file") otherwise."""
    try:
        return read_regular_file(path, limit)
    except FileReadError as error:
        if error.reason == "too large":
            raise RecordError("file too large", f"over {limit} bytes") from error
        raise RecordError("unreadable file", error.detail or error.reason) from error


_JSON = json.JSONDecoder()
_SPACE = frozenset(" \t\n\r")


def iter_json_object(text: str) -> Iterator[tuple[str, Any]]:
    """The members of the JSON object `text`, one at a time.

    Only one member's value is parsed into Python objects at a time: a 70 MB tracker export would take
    ten times that as one parsed document. RecordError("invalid JSON") where the text stops being JSON,
    after the members before that point.
    """
    position = _skip_space(text, 0)
    if not text.startswith("{", position):
        raise RecordError("not a JSON object")
    position = _skip_space(text, position + 1)
    if text.startswith("}", position):
        return
    while True:
        try:
            key, position = _JSON.raw_decode(text, position)
            position = _skip_space(text, position)
            if not isinstance(key, str) or not text.startswith(":", position):
                raise ValueError(f"expected a member name and ':' at offset {position}")
            value, position = _JSON.raw_decode(text, _skip_space(text, position + 1))
        except (ValueError, RecursionError) as error:
            raise RecordError("invalid JSON", str(error)) from error
        yield key, value
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif text.startswith("}", position) and not text[position + 1:].strip():
            return
        else:
            raise RecordError("invalid JSON", f"expected ',' or the end at offset {position}")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position

SUMMARY_CHARS = 200


def english_text(entries: object) -> str | None:
    """The first non-empty English `value` of a list of `{"lang", "value"}` objects (NVD, CVE JSON 5)."""
    texts = [entry.get("value") for entry in entries if isinstance(entry, dict) and entry.get("lang") in ("en", "eng")] \
        if isinstance(entries, list) else []
    return next((text.strip() for text in texts if isinstance(text, str) and text.strip()), None)


def first_sentence(description: str | None) -> str | None:
    """A description's first sentence, at most SUMMARY_CHARS characters: for feeds without a title."""
    if description is None:
        return None
    first = description.split(". ", 1)[0].strip()
    if len(first) > SUMMARY_CHARS:
        first = first[: SUMMARY_CHARS - 1].rstrip() + "…"
    return first


def unique_strings(values: Iterable[object]) -> tuple[str, ...]:
    """The non-empty strings of `values`, stripped, first occurrence kept."""
    return tuple(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
