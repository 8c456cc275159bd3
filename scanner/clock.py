"""The one clock reports take their time from, and the one way times are written.

A report is evidence of when a scan ran, so it carries the real UTC time; `SOURCE_DATE_EPOCH`
(reproducible-builds.org), when set, replaces the clock so that the same input gives the same bytes.
Every time a report writes is RFC 3339: a four-digit year, seconds, `Z`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime

from scanner.errors import UsageError

# Go's zero time (`0001-01-01T00:00:00Z`), which Go's vulnerability database writes for "no date".
_PLACEHOLDER_YEAR = 1


def timestamp_from_environment(environ: Mapping[str, str] | None = None) -> datetime | None:
    """SOURCE_DATE_EPOCH as a UTC time; None when unset or empty."""
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise UsageError(f"SOURCE_DATE_EPOCH must be a non-negative integer, not {value!r}")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, ValueError, OSError) as error:
        raise UsageError(f"SOURCE_DATE_EPOCH {value} is out of range") from error


def now(environ: Mapping[str, str] | None = None) -> datetime:
    """The time of this run in whole seconds, UTC: SOURCE_DATE_EPOCH when set, else the system clock."""
    return timestamp_from_environment(environ) or datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    """`2026-12-01T08:30:00Z`: UTC, whole seconds, the year always four digits (strftime drops zeros)."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def normalized_time(text: str | None) -> str:
    """A stored date as `rfc3339` writes it, or "" when it says nothing.

    "Nothing" is an absent or unparsable value and Go's year-1 placeholder. Databases built before
    dates were checked hold `1-01-01T00:00:00Z`; a date without a zone is taken as UTC, a bare date as
    midnight UTC.
    """
    if not text or not text.strip():
        return ""
    value = text.strip()
    head, separator, rest = value.partition("-")
    if head.isdigit() and len(head) < 4 and separator:  # "1-01-01T...": a year written without its zeros
        value = f"{int(head):04d}-{rest}"
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if moment.year == _PLACEHOLDER_YEAR:
        return ""
    try:
        return rfc3339(moment)
    except OverflowError:  # a time zone offset that moves the date out of datetime's range
        return ""
