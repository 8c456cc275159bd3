from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.manifest import BundleIdentity
from scanner.db.schema import DDL, SCHEMA_VERSION

BUILT_AT = datetime(2026, 11, 29, tzinfo=UTC)
IDENTITY = BundleIdentity("test", 7, BUILT_AT, BUILT_AT + timedelta(days=30))


def make_database(path: Path, rows: int = 200) -> Path:
    """A small database in the real schema, with two providers and some repetitive rows."""
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(DDL)
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", SCHEMA_VERSION)])
        connection.executemany(
            "INSERT INTO providers (name, captured_at, input_sha256, records, skipped, skipped_reasons, "
            "withdrawn, ecosystems) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [("osv", "2026-11-28T10:00:00Z", "a" * 64, rows, 2, json.dumps({"invalid JSON": 2}), 1,
              json.dumps({"PyPI": rows})),
             ("nvd", "2026-11-28T11:00:00Z", "b" * 64, 3, 0, "{}", 0, "{}")])
        connection.executemany(
            "INSERT INTO vulnerabilities (id, provider, group_id, summary) VALUES (?, 'osv', ?, ?)",
            [(f"PYSEC-2026-{n}", f"CVE-2026-{n}", f"flaw number {n} in package {n % 17}") for n in range(rows)])
        connection.commit()
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return make_database(tmp_path / "vulns.sqlite")


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def second_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
