"""The one clock and the one way times are written: four-digit years, `Z`, placeholders absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dbbuilder.sources.base import rfc3339 as feed_time
from scanner.clock import normalized_time, now, rfc3339, timestamp_from_environment
from scanner.errors import UsageError


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


def test_now_is_source_date_epoch_when_set_else_the_utc_clock() -> None:
    assert now({"SOURCE_DATE_EPOCH": "1796083200"}) == datetime(2026, 12, 1, tzinfo=UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    moment = now({})
    assert moment.tzinfo is not None and before <= moment <= datetime.now(UTC) and moment.microsecond == 0


def test_source_date_epoch_parsing() -> None:
    assert timestamp_from_environment({}) is None
    assert timestamp_from_environment({"SOURCE_DATE_EPOCH": "0"}) == datetime(1970, 1, 1, tzinfo=UTC)
    for bad in ("yesterday", "-1", "99999999999999999999"):
        with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
            timestamp_from_environment({"SOURCE_DATE_EPOCH": bad})
