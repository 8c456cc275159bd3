"""The bundle manifest: what goes in it, and its one serialisation (docs/bundle-format.md).

Providers are read from the database's own `providers` table, so the signed manifest always describes
the payload it ships, whatever produced the database.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dbbuilder.bundle.compress import CompressedPayload
from dbbuilder.bundle.errors import BuildOptionError, BundleWriteError
from scanner import __version__
from scanner.clock import Clock
from scanner.db import bundle_format
from scanner.db.errors import ManifestError
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.schema import SCHEMA_VERSION
from scanner.db.store import SourceCoverage
from scanner.db.verify import format_time

BUILDER_NAME = "dbbuilder"
# The scanner's own rule for channel names (scanner.db.verify): refuse at build time what it would refuse.
CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"(\d+)([hdwy])")
_DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
                   "y": timedelta(days=365)}


@dataclass(frozen=True)
class BundleIdentity:
    """The signed facts about a bundle that the operator chooses on the command line."""

    channel: str
    bundle_version: int
    built_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        if not CHANNEL_PATTERN.fullmatch(self.channel):
            raise BuildOptionError(f"channel {self.channel!r} must be a plain name (letters, digits, . _ -, "
                             "at most 64 characters)")
        if self.bundle_version < 1:
            raise BuildOptionError(f"bundle version must be a positive integer, got {self.bundle_version}")
        if self.expires_at <= self.built_at:
            raise BuildOptionError("expires_at must be after built_at")


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `10y` (365-day years); a positive whole number of one unit."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise BuildOptionError(f"duration {text!r} must be a positive number followed by h, d, w or y (e.g. 30d)")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def build_time(environ: Mapping[str, str] | None = None) -> datetime:
    """`SOURCE_DATE_EPOCH` when set (reproducible builds), else now; whole seconds, UTC."""
    return Clock(os.environ if environ is None else environ).stamp()


def read_database_facts(database: Path) -> tuple[str, list[dict[str, Any]]]:
    """(schema_version, provider entries) from the database's `meta`, `providers` and `coverage` tables."""
    try:
        with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            columns = {row[1] for row in connection.execute("PRAGMA table_info(providers)")}
            optional = [name for name in ("withdrawn", "ecosystems", "captured_at_basis") if name in columns]
            rows = connection.execute(
                "SELECT name, captured_at, input_sha256, records, skipped, skipped_reasons"
                + "".join(f", {name}" for name in optional) + " FROM providers ORDER BY name"
            ).fetchall()
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            coverage = connection.execute(
                "SELECT provider, ecosystem, records, newest, complete, basis FROM coverage ORDER BY provider, ecosystem"
            ).fetchall() if "coverage" in tables else []
    except sqlite3.Error as error:
        raise BundleWriteError(f"{database}: not a usable vulnerability database: {error}") from error
    providers = []
    for row in rows:
        entry: dict[str, Any] = dict(zip(
            ("name", "captured_at", "input_sha256", "records", "skipped", "skipped_reasons", *optional),
            row, strict=True))
        try:
            entry["skipped_reasons"] = json.loads(entry["skipped_reasons"])
            if "ecosystems" in entry:
                entry["ecosystems"] = json.loads(entry["ecosystems"])
        except json.JSONDecodeError as error:
            raise BundleWriteError(f"{database}: provider {entry['name']}: bad JSON column: {error}") from error
        if "coverage" in tables:
            entry["coverage"] = {ecosystem: {"records": records, "newest": newest, "complete": bool(complete),
                                             "basis": basis}
                                 for provider, ecosystem, records, newest, complete, basis in coverage
                                 if provider == entry["name"]}
        providers.append(entry)
    return str(meta.get("schema_version", SCHEMA_VERSION)), providers


def manifest_coverage(manifest_bytes: bytes) -> tuple[SourceCoverage, ...]:
    """The providers' `coverage` entries (schema 1.1 bundles; none before) of a manifest that
    scanner.db.verify.parse_manifest accepted, by ecosystem. ManifestError when one is malformed."""
    entries: list[SourceCoverage] = []
    for index, provider in enumerate(json.loads(manifest_bytes)["providers"]):
        coverage = provider.get("coverage", {})
        where = f"manifest.json providers[{index}].coverage"
        if not isinstance(coverage, dict):
            raise ManifestError(f"{where}: not an object")
        entries.extend(_coverage_entry(provider["name"], ecosystem, entry, f"{where}[{ecosystem!r}]")
                       for ecosystem, entry in coverage.items())
    return tuple(sorted(entries, key=lambda e: (e.ecosystem, e.provider)))


def _coverage_entry(provider: str, ecosystem: str, entry: object, where: str) -> SourceCoverage:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: not an object")
    records, newest, complete, basis = (entry.get(key) for key in ("records", "newest", "complete", "basis"))
    if (type(records) is not int or records < 0 or not (newest is None or isinstance(newest, str))
            or type(complete) is not bool or not isinstance(basis, str)):
        raise ManifestError(f"{where}: expected records (a count), newest (a time or null), complete "
                            "(true or false) and basis (text)")
    return SourceCoverage(provider, ecosystem, records, newest, complete, basis)


def manifest_document(
    identity: BundleIdentity,
    schema_version: str,
    providers: Sequence[Mapping[str, Any]],
    payload: CompressedPayload,
) -> dict[str, Any]:
    return {
        "format": bundle_format.FORMAT_NAME,
        "format_version": bundle_format.FORMAT_VERSION,
        "schema_version": schema_version,
        "channel": identity.channel,
        "bundle_version": identity.bundle_version,
        "built_at": format_time(identity.built_at),
        "expires_at": format_time(identity.expires_at),
        "builder": {"name": BUILDER_NAME, "version": __version__},
        "providers": [dict(entry) for entry in providers],
        "files": [{
            "name": bundle_format.DATABASE_NAME,
            "sha256": payload.sha256,
            "size": payload.size,
            "uncompressed_sha256": payload.uncompressed_sha256,
            "uncompressed_size": payload.uncompressed_size,
        }],
    }


def manifest_bytes(document: Mapping[str, Any]) -> bytes:
    """The one serialisation that gets signed: sorted keys, two-space indent, trailing newline."""
    data = (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if len(data) > BUNDLE_LIMITS.max_manifest_bytes:
        raise BundleWriteError(
            f"manifest would be {len(data)} bytes, more than the {BUNDLE_LIMITS.max_manifest_bytes} a "
            "scanner reads (too many distinct skip reasons?)")
    return data
