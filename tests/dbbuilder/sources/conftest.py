from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from dbbuilder.sources import PROVIDERS
from dbbuilder.sources.feedio import input_files
from dbbuilder.sources.records import FeedFacts, MalformedFeedError, Record, SkipLog

FEEDS = Path(__file__).resolve().parents[4] / "shared" / "data" / "feeds"


@pytest.fixture
def feeds() -> Path:
    if not FEEDS.is_dir():
        pytest.fail(f"shared test data missing: {FEEDS}")
    return FEEDS


def read_all(provider: str, paths: Sequence[Path], strict: bool = False) -> tuple[list[Record], SkipLog]:
    """Every record the provider reads from `paths`, and its skip log."""
    records, skips, _ = read_with_facts(provider, paths, strict)
    return records, skips


def read_skipping_once(provider: str, paths: Sequence[Path], reason: str) -> list[Record]:
    """The records the provider reads from `paths`, once it is checked that it skipped one input, for `reason`,
    and that the skip is fatal with --strict."""
    records, skips = read_all(provider, paths)
    assert dict(skips.reasons) == {reason: 1}
    with pytest.raises(MalformedFeedError, match=reason):
        read_all(provider, paths, strict=True)
    return records


def read_with_facts(provider: str, paths: Sequence[Path],
                    strict: bool = False) -> tuple[list[Record], SkipLog, FeedFacts]:
    """Every record the provider reads from `paths`, its skip log and what it learnt about its inputs."""
    reader = PROVIDERS[provider]
    skips = SkipLog(provider, strict=strict)
    facts = FeedFacts()
    return list(reader.read(input_files(paths, reader.accepts), skips, facts)), skips, facts


def by_id(records: Sequence[Record]) -> dict[str, Record]:
    return {record.id: record for record in records}
