"""Times, one way: the clock a run takes its times from, and how times are written and read.

A report is evidence of when a scan ran, so it carries the real UTC time; `SOURCE_DATE_EPOCH`
(reproducible-builds.org), when set, replaces it in what reports and builds say about themselves so
that the same input gives the same bytes. It never replaces the time security decisions are judged
against (bundle expiry and age, rollback, audit records): an old bundle must not pass as fresh because
a build variable was left set. This module is the only reader of `SOURCE_DATE_EPOCH`; the CLIs build
the `Clock` from their environment and library code takes it (or a time) as an argument.
Every time written is RFC 3339: a four-digit year, seconds, `Z`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scanner.errors import OperatorInputError

# Go's zero time (`0001-01-01T00:00:00Z`), which Go's vulnerability database writes for "no date".
_PLACEHOLDER_YEAR = 1


# RFC 3339 in UTC as signed documents write it; ASCII, since \d alone also matches other scripts'
# digits, which int() and fromisoformat() would then accept.
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", re.ASCII)


def timestamp_from_environment(environ: Mapping[str, str]) -> datetime | None:
    """SOURCE_DATE_EPOCH as a UTC time; None when unset or empty."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise OperatorInputError(f"SOURCE_DATE_EPOCH must be a non-negative integer, not {value!r}")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, ValueError, OSError) as error:
        raise OperatorInputError(f"SOURCE_DATE_EPOCH {value} is out of range") from error


def _system_time() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """Where one run's times come from. `environ` is where `SOURCE_DATE_EPOCH` is looked up (the CLIs
    pass `os.environ`; read when a stamp is taken, so a bad value fails only the commands that write one);
    `system` is the real clock (tests pass a fixed one)."""

    environ: Mapping[str, str] = field(default_factory=dict)
    system: Callable[[], datetime] = _system_time

    def now(self) -> datetime:
        """The real time, UTC: what expiry, freshness, rollback and audit records are judged against."""
        moment = self.system()
        if moment.utcoffset() is None:  # comparing it with a manifest's aware times would raise TypeError
            raise ValueError(f"clock time {moment.isoformat()} has no time zone")
        return moment

    def stamp(self) -> datetime:
        """The time a report or a build says it was made, whole seconds, UTC: SOURCE_DATE_EPOCH when
        set, else `now()`."""
        return timestamp_from_environment(self.environ) or self.now().replace(microsecond=0)


# The real time without SOURCE_DATE_EPOCH: the default of library functions a CLI did not give a clock.
SYSTEM_CLOCK = Clock()


def rfc3339(moment: datetime) -> str:
    """`2026-12-01T08:30:00Z`: UTC, whole seconds, the year always four digits (strftime drops zeros)."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def parse_feed_time(text: str) -> datetime | None:
    """A time as feeds write it (ISO 8601 as `datetime.fromisoformat` reads it, `Z` or `z` for UTC, a
    bare date); None when it does not parse. A time without a zone is returned naive: `rfc3339` writes
    it as UTC."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


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
    moment = parse_feed_time(value)
    if moment is None or moment.year == _PLACEHOLDER_YEAR:
        return ""
    try:
        return rfc3339(moment)
    except OverflowError:  # a time zone offset that moves the date out of datetime's range
        return ""


def parse_rfc3339_utc(text: object) -> datetime:
    """A time as signed documents write it (`2026-11-29T00:00:00Z`, optionally with a fraction of a
    second); ValueError naming what was expected otherwise."""
    if not isinstance(text, str) or not _RFC3339_UTC.fullmatch(text):
        raise ValueError("expected an RFC 3339 UTC time like 2026-11-29T00:00:00Z")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text} is not a valid time") from None
