"""Fixtures for every test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collectable_again() -> Iterator[None]:
    """The commands freeze the collector's objects just before the process exits or forks (cliexit.run,
    scanner.overlap); run in-process by a test, the process goes on: what they froze is collectable
    again after the test, so garbage does not pile up over a session and finalizers still run."""
    yield
    gc.unfreeze()
