from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dbbuilder.bundle.manifest import build_time, parse_duration
from scanner.errors import UsageError


@pytest.mark.parametrize(("text", "expected"), [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)),
                                                ("2w", timedelta(weeks=2)), ("10y", timedelta(days=3650))])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "30", "d", "-1d", "1.5d", "30 days", "1m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="duration"):
        parse_duration(text)


def test_build_time_from_source_date_epoch() -> None:
    assert build_time({"SOURCE_DATE_EPOCH": "1764374400"}) == datetime(2025, 11, 29, tzinfo=UTC)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        build_time({"SOURCE_DATE_EPOCH": "yesterday"})
    now = build_time({})
    assert now.microsecond == 0
    assert abs(datetime.now(UTC) - now) < timedelta(minutes=1)
