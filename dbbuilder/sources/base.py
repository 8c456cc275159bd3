"""Value helpers the feed readers share: times, severities, CVSS scores, strings and distro rows.

Record types are in `records`, input files in `feedio`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from scanner.clock import parse_feed_time
from scanner.clock import rfc3339 as format_rfc3339
from scanner.cvss_score import base_score, osv_type
from scanner.model import FixState, Severity
from scanner.names import normalize_package_name

from .records import AffectedRow, RecordError, SeverityRow

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
        parsed = parse_feed_time(value)
        if parsed is None:
            return None
        moment = parsed
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


def severity_row(source: str, vector: str, declared_type: str | None = None) -> SeverityRow:
    kind = osv_type(vector) if declared_type is None else declared_type
    return SeverityRow(source=source, type=kind, vector=vector, score=base_score(vector))


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
