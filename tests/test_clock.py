"""The one clock and the one way times are written: four-digit years, `Z`, placeholders absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dbbuilder.sources.base import rfc3339 as feed_time
from scanner.clock import (
    SYSTEM_CLOCK,
    Clock,
    normalized_time,
    parse_rfc3339_utc,
    rfc3339,
    timestamp_from_environment,
)
from scanner.errors import OperatorInputError


def test_rfc3339_keeps_four_digit_years() -> None:
    assert rfc3339(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"  # strftime("%Y") gives "1-01-01"
    assert rfc3339(datetime(999, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)) == "0999-05-06T07:08:09Z"
    assert rfc3339(datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))) == "2026-12-01T08:30:00Z"
    assert rfc3339(datetime(2026, 12, 1)) == "2026-12-01T00:00:00Z"  # naive: UTC


@pytest.mark.parametrize(("stored", "written"), [
    ("0001-01-01T00:00:00Z", ""),  # Go's "no date"
    ("1-01-01T00:00:00Z", ""),  # as databases built before this fix hold it
    ("0001-01-01T00:30:00+01:00", ""),  # out of range once in UTC
    ("9999-12-31T23:00:00-05:00", ""),
    ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
    ("2024-02-29T12:34:56.789123Z", "2024-02-29T12:34:56Z"),
    ("2023-06-01T08:00:00+05:30", "2023-06-01T02:30:00Z"),
    ("2023-06-01", "2023-06-01T00:00:00Z"),
    ("2023-06-01T08:00:00", "2023-06-01T08:00:00Z"),
    ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00Z"),
    (" 2023-06-01T08:00:00z ", "2023-06-01T08:00:00Z"),
    ("yesterday", ""), ("2023-13-01T00:00:00Z", ""), ("", ""), (None, ""),
])
def test_stored_dates_are_written_valid_or_not_at_all(stored: str | None, written: str) -> None:
    assert normalized_time(stored) == written


def test_the_builder_writes_the_placeholder_with_its_four_digit_year() -> None:
    assert feed_time("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z"
    assert feed_time("0001-01-01T00:30:00+01:00") is None  # before year 1 in UTC
    assert feed_time(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"


def test_stamp_is_source_date_epoch_when_set_else_the_utc_clock_in_whole_seconds() -> None:
    assert Clock({"SOURCE_DATE_EPOCH": "1796083200"}).stamp() == datetime(2026, 12, 1, tzinfo=UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    moment = Clock({}).stamp()
    assert moment.tzinfo is not None and before <= moment <= datetime.now(UTC) and moment.microsecond == 0


def test_source_date_epoch_never_moves_the_time_decisions_are_judged_against() -> None:
    real = datetime(2026, 12, 3, 5, 6, 7, 890, tzinfo=UTC)
    clock = Clock({"SOURCE_DATE_EPOCH": "0"}, system=lambda: real)
    assert (clock.now(), clock.stamp()) == (real, datetime(1970, 1, 1, tzinfo=UTC))
    assert SYSTEM_CLOCK.stamp().tzinfo is not None


def test_a_bad_source_date_epoch_fails_only_when_a_stamp_is_taken() -> None:
    clock = Clock({"SOURCE_DATE_EPOCH": "yesterday"})
    assert clock.now().tzinfo is not None
    with pytest.raises(OperatorInputError, match="SOURCE_DATE_EPOCH"):
        clock.stamp()


def test_a_clock_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Clock(system=lambda: datetime(2026, 1, 1)).now()


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-29T00:00:00Z", datetime(2026, 11, 29, tzinfo=UTC)),
    ("2026-11-29T00:00:00.5Z", datetime(2026, 11, 29, 0, 0, 0, 500000, tzinfo=UTC)),
])
def test_signed_document_times_parse(text: str, expected: datetime) -> None:
    assert parse_rfc3339_utc(text) == expected


@pytest.mark.parametrize("text", ["2026-11-29T00:00:00+00:00", "2026-11-29", "2026-11-29T00:00:00z", "2026-02-30T00:00:00Z",
                                  "\uff12026-11-29T00:00:00Z", " 2026-11-29T00:00:00Z", 20261129, None])
def test_other_time_spellings_are_refused_in_signed_documents(text: object) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339_utc(text)


def test_source_date_epoch_parsing() -> None:
    assert timestamp_from_environment({}) is None
    assert timestamp_from_environment({"SOURCE_DATE_EPOCH": "0"}) == datetime(1970, 1, 1, tzinfo=UTC)
    for bad in ("yesterday", "-1", "99999999999999999999"):
        with pytest.raises(OperatorInputError, match="SOURCE_DATE_EPOCH"):
            timestamp_from_environment({"SOURCE_DATE_EPOCH": bad})
