from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dbbuilder.bundle.errors import BuildOptionError
from dbbuilder.bundle.manifest import build_time, manifest_coverage, parse_duration, read_database_facts
from scanner.db.errors import ManifestError
from scanner.db.store import SourceCoverage
from scanner.errors import OperatorInputError


@pytest.mark.parametrize(("text", "expected"), [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)),
                                                ("2w", timedelta(weeks=2)), ("10y", timedelta(days=3650))])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "30", "d", "-1d", "1.5d", "30 days", "1m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(BuildOptionError, match="duration"):
        parse_duration(text)


def test_build_time_from_source_date_epoch() -> None:
    assert build_time({"SOURCE_DATE_EPOCH": "1764374400"}) == datetime(2025, 11, 29, tzinfo=UTC)
    with pytest.raises(OperatorInputError, match="SOURCE_DATE_EPOCH"):
        build_time({"SOURCE_DATE_EPOCH": "yesterday"})
    now = build_time({})
    assert now.microsecond == 0
    assert abs(datetime.now(UTC) - now) < timedelta(minutes=1)


def test_the_manifest_carries_the_database_coverage(database: Path) -> None:
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("INSERT INTO coverage VALUES ('osv', 'PyPI', 200, '2026-11-28T10:00:00Z', 1, "
                           "'OSV PyPI/all.zip')")
        connection.execute("UPDATE providers SET captured_at_basis = 'unknown' WHERE name = 'nvd'")
        connection.commit()
    _, providers = read_database_facts(database)
    by_name = {entry["name"]: entry for entry in providers}
    assert by_name["osv"]["coverage"] == {"PyPI": {"records": 200, "newest": "2026-11-28T10:00:00Z",
                                                   "complete": True, "basis": "OSV PyPI/all.zip"}}
    assert by_name["nvd"]["coverage"] == {} and by_name["nvd"]["captured_at_basis"] == "unknown"
    document = {"providers": providers}
    assert manifest_coverage(json.dumps(document).encode()) == (
        SourceCoverage("osv", "PyPI", 200, "2026-11-28T10:00:00Z", True, "OSV PyPI/all.zip"),)


@pytest.mark.parametrize("entry", [
    [], {"records": -1, "newest": None, "complete": True, "basis": "x"},
    {"records": True, "newest": None, "complete": True, "basis": "x"},
    {"records": 1, "newest": 5, "complete": True, "basis": "x"},
    {"records": 1, "newest": None, "complete": 1, "basis": "x"},
    {"records": 1, "newest": None, "complete": False},
])
def test_malformed_coverage_entries_are_manifest_errors(entry: object) -> None:
    document = {"providers": [{"name": "osv", "coverage": {"PyPI": entry}}]}
    with pytest.raises(ManifestError, match=r"providers\[0\]\.coverage\['PyPI'\]"):
        manifest_coverage(json.dumps(document).encode())
    with pytest.raises(ManifestError, match=r"providers\[0\]\.coverage: not an object"):
        manifest_coverage(json.dumps({"providers": [{"name": "osv", "coverage": [entry]}]}).encode())
