"""FIRST EPSS reader: the shared samples (valid, bad header, no date), gzip, and hostile variants."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dbbuilder.sources import epss
from dbbuilder.sources.records import MalformedFeedError, SkipLog
from scanner.errors import FeedError

HEADER = "#model_version:v2025.03.14,score_date:2026-11-30T00:00:00+0000\ncve,epss,percentile\n"


def read(path: Path, strict: bool = False) -> tuple[epss.EpssHeader, list[epss.EpssRow], SkipLog]:
    skips = SkipLog("epss", strict=strict)
    with epss.read_epss(path, skips) as scores:
        return scores.header, list(scores.rows), skips


def write(tmp_path: Path, text: str, name: str = "epss.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    return path


def test_shared_example(feeds: Path) -> None:
    header, rows, skips = read(feeds / "epss" / "example-1.csv")
    assert header == epss.EpssHeader("v2023.03.01", "2025-02-20T00:00:00Z") and header.day == "2025-02-20"
    assert [(r.cve, r.score, r.percentile) for r in rows][-1] == ("CVE-1999-0005", 0.91963, 0.99214)
    assert len(rows) == 5 and skips.skipped == 0


def test_shared_bad_header_and_missing_date_are_feed_errors(feeds: Path) -> None:
    with pytest.raises(FeedError, match="expected the header 'cve,epss,percentile' on line 2, found 'invalid,header"):
        read(feeds / "epss" / "invalid-header.csv")
    with pytest.raises(FeedError, match="names no score_date"):
        read(feeds / "epss" / "missing-date.csv")


def test_gzip_as_first_publishes_it_and_crlf(feeds: Path, tmp_path: Path) -> None:
    plain = (feeds / "epss" / "example-1.csv").read_bytes()
    compressed = tmp_path / "epss_scores-2025-02-20.csv.gz"
    compressed.write_bytes(gzip.compress(plain.replace(b"\n", b"\r\n")))
    assert read(compressed)[:2] == read(feeds / "epss" / "example-1.csv")[:2]


@pytest.mark.parametrize(("text", "message"), [
    ("", "first line is not"),
    ("cve,epss,percentile\nCVE-2024-0001,0.1,0.2\n", "first line is not"),
    ("#model_version:v1,score_date:yesterday\ncve,epss,percentile\n", "not a date-time"),
    ("#model_version:v1,score_date:2026-01-01,score_date:2026-01-02\ncve,epss,percentile\n", "malformed first line"),
    ("#model_version v1\ncve,epss,percentile\n", "malformed first line"),
    ("#model_version:v1,score_date:2026-01-01T00:00:00Z\n", "found 'nothing'"),
    ("#model_version:v1,score_date:2026-01-01T00:00:00Z\ncve,percentile,epss\n", "expected the header"),
    ("#model_version:v1,score_date:2026-01-01T00:00:00Z\n" + "x" * 5000 + "\n", "longer than"),
    ("#model_version:v1,score_date:2026-01-01T00:00:00Z\ncve,epss,percentile\nCVE-2024-0001,0.1,0.2\xe9\n",
     "not ASCII"),
])
def test_hostile_files_are_one_line_feed_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        read(write(tmp_path, text))


@pytest.mark.parametrize(("line", "reason"), [
    ("CVE-2024-0002,0.1", "not three columns"),
    ("CVE-2024-0002,0.1,0.2,0.3", "not three columns"),
    ("cve-2024-0002,0.1,0.2", "malformed cve"),
    ("CVE-2024-0002,1.5,0.2", "score or percentile not a number from 0 to 1"),
    ("CVE-2024-0002,-0.1,0.2", "score or percentile not a number from 0 to 1"),
    ("CVE-2024-0002,nan,0.2", "score or percentile not a number from 0 to 1"),
    ("CVE-2024-0002,0.1,inf", "score or percentile not a number from 0 to 1"),
    ("CVE-2024-0002,0x1,0.2", "score or percentile not a number from 0 to 1"),
    ("", "not three columns"),
])
def test_malformed_rows_are_skipped_or_fatal_when_strict(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path, HEADER + "CVE-2024-0001,0.00043,0.09291\n" + line + "\nCVE-2024-0003,1e-05,0.0\n")
    _, rows, skips = read(path)
    assert [r.cve for r in rows] == ["CVE-2024-0001", "CVE-2024-0003"] and skips.reasons == {reason: 1}
    assert rows[1].score == 0.00001
    with pytest.raises(MalformedFeedError, match="line 4"):
        read(path, strict=True)


def test_gzip_bombs_and_broken_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress((HEADER + "CVE-2024-0001,0.1,0.2\n" * 50_000).encode()))
    monkeypatch.setattr(epss, "MAX_DECOMPRESSED_BYTES", 64 * 1024)
    with pytest.raises(FeedError, match="more than 65536 bytes once decompressed"):
        read(bomb)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(gzip.compress((HEADER + "CVE-2024-0001,0.1,0.2\n" * 100).encode())[:-20])
    with pytest.raises(FeedError, match="gzip"):
        read(truncated)
    with pytest.raises(FeedError, match="cannot read"):
        read(tmp_path / "absent.csv")
    with pytest.raises(FeedError, match="cannot read"):
        read(tmp_path)  # a directory
