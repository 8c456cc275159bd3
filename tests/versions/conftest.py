from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
VECTORS = SHARED_DATA / "versions"
OSV_FEEDS = SHARED_DATA / "feeds" / "osv"


@pytest.fixture
def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"shared test data missing: {VECTORS}")
    return VECTORS


@pytest.fixture
def osv_feeds() -> Path:
    if not OSV_FEEDS.is_dir():
        pytest.fail(f"shared test data missing: {OSV_FEEDS}")
    return OSV_FEEDS
