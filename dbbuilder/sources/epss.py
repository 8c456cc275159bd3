"""FIRST's Exploit Prediction Scoring System scores: the daily CSV (`epss_scores-YYYY-MM-DD.csv[.gz]`).

The format (https://www.first.org/epss/data_stats): a first line naming the model and the scores' date,
`#model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000`, then the header `cve,epss,percentile`,
then one line per CVE with two decimals between 0 and 1. The file as FIRST publishes it is gzip
compressed; both forms are read, told apart by their first bytes. A first line without a score date, or
a header other than that one, is a FeedError naming the file: scores of unknown date, or columns of
unknown meaning, are not evidence. A malformed line is skipped and counted (fatal with `strict`).

Lines are read one at a time with a length cap, and the decompressed stream is capped too: a hostile
file costs bounded memory whatever it holds.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from scanner.db.schema import EPSS_PROVIDER
from scanner.errors import FeedError
from scanner.fileio import open_regular_file

from .base import rfc3339
from .kev import CVE_ID
from .records import SkipLog

PROVIDER = EPSS_PROVIDER
COLUMNS = "cve,epss,percentile"
MAX_LINE_BYTES = 1024
# About 300,000 scored CVEs take 10 MB; a stream far longer is not an EPSS file.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class EpssRow:
    cve: str
    score: float
    percentile: float


@dataclass(frozen=True)
class EpssHeader:
    model_version: str  # "" when the first line names none
    score_date: str  # RFC 3339 UTC: the day the scores are for, the data's capture time

    @property
    def day(self) -> str:
        return self.score_date[:10]


class _CappedReader(io.RawIOBase):
    """Bytes of `source`, failing with FeedError past `limit`: the cap on what a gzip stream may expand to."""

    def __init__(self, source: io.BufferedIOBase, limit: int, what: str) -> None:
        self._source, self._left, self._what = source, limit, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._source.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise FeedError(f"{self._what}: more than {MAX_DECOMPRESSED_BYTES} bytes once decompressed")
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)


def _header(line: str, what: str) -> EpssHeader:
    """`#model_version:...,score_date:...`; FeedError when it is not that, or names no valid date."""
    if not line.startswith("#"):
        raise FeedError(f"{what}: the first line is not '#model_version:...,score_date:...' "
                        "(an EPSS file without the scores' date is refused)")
    fields: dict[str, str] = {}
    for part in line[1:].split(","):
        key, separator, value = part.partition(":")
        if not separator or key.strip() in fields:
            raise FeedError(f"{what}: malformed first line {line[:120]!r}")
        fields[key.strip()] = value.strip()
    if "score_date" not in fields:
        raise FeedError(f"{what}: the first line names no score_date: the scores' date is unknown")
    score_date = rfc3339(fields["score_date"])
    if score_date is None:
        raise FeedError(f"{what}: score_date {fields['score_date'][:40]!r} is not a date-time")
    return EpssHeader(model_version=fields.get("model_version", ""), score_date=score_date)


def _probability(text: str) -> float | None:
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _row(line: str) -> EpssRow | str:
    """The row, or the reason (a skip-log key) it is malformed."""
    cells = line.split(",")
    if len(cells) != 3:
        return "not three columns"
    cve, score_text, percentile_text = cells
    if not CVE_ID.fullmatch(cve):
        return "malformed cve"
    score, percentile = _probability(score_text), _probability(percentile_text)
    if score is None or percentile is None:
        return "score or percentile not a number from 0 to 1"
    return EpssRow(cve, score, percentile)


def _lines(stream: BinaryIO, what: str) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending), each at most MAX_LINE_BYTES; FeedError otherwise."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise FeedError(f"{what} line {number}: longer than {MAX_LINE_BYTES} bytes")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise FeedError(f"{what} line {number}: not ASCII") from None
        yield number, text.removesuffix("\n").removesuffix("\r")


@dataclass(frozen=True)
class EpssFile:
    header: EpssHeader
    rows: Iterator[EpssRow]  # read lazily: consume it inside `read_epss`'s context


@contextmanager
def read_epss(path: Path, skips: SkipLog) -> Iterator[EpssFile]:
    """The scores in `path` (plain or gzip CSV): the two header lines are checked on entry (FeedError), the
    rows stream while the context is open, malformed ones going to `skips`."""
    what = f"EPSS file {path}"
    with ExitStack() as stack:
        try:
            raw = stack.enter_context(open_regular_file(path))
        except OSError as error:
            raise FeedError(f"{what}: cannot read ({error.strerror or error})") from error
        stream: BinaryIO = raw
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            stream = stack.enter_context(io.BufferedReader(_CappedReader(
                stack.enter_context(gzip.GzipFile(fileobj=raw)), MAX_DECOMPRESSED_BYTES, what)))
        lines = _guarded(_lines(stream, what), what)
        first = next(lines, None)
        header = _header(first[1] if first else "", what)
        second = next(lines, None)
        if second is None or second[1] != COLUMNS:
            shown = second[1][:120] if second else "nothing"
            raise FeedError(f"{what}: expected the header {COLUMNS!r} on line 2, found {shown!r}")
        yield EpssFile(header, _rows(lines, path, skips))


def _guarded(lines: Iterator[tuple[int, str]], what: str) -> Iterator[tuple[int, str]]:
    """`lines`, with read and decompression failures as a FeedError naming the file."""
    try:
        yield from lines
    except OSError as error:  # gzip's BadGzipFile is one
        raise FeedError(f"{what}: cannot read ({error.strerror or error})") from error
    except (EOFError, zlib.error) as error:
        raise FeedError(f"{what}: corrupt or truncated gzip stream ({error or 'ends early'})") from error


def _rows(lines: Iterator[tuple[int, str]], path: Path, skips: SkipLog) -> Iterator[EpssRow]:
    for number, text in lines:
        row = _row(text)
        if isinstance(row, str):
            skips.skip(row, f"{path} line {number}")
        else:
            yield row
