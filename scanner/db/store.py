"""Read-only queries over a verified vulnerability database (schema in scanner/db/schema.py).

The file is opened with `mode=ro&immutable=1`: SQLite never writes to it, never creates a journal
beside it, and a file that changed after verification cannot be written through us. Lookups go
through the `affected_lookup` index in batches; long text (`details`) is read only for findings.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from scanner.db.schema import SCHEMA_MODEL
from scanner.errors import DatabaseError
from scanner.model import ExploitPrediction, FixState, KnownExploited

# Well under SQLite's smallest compiled-in limit on bound parameters (999 before 3.32).
_BATCH = 500
LEGACY_BASIS = "database predates coverage data (schema 1.0)"

_T = TypeVar("_T")


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _BATCH):
        yield items[start:start + _BATCH]


def _json_list(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    value = json.loads(text)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class AffectedRow:
    """One package of one record, as stored: enough to rebuild the OSV `affected` entry."""

    vuln_id: str
    ecosystem: str
    package: str
    ranges: str | None
    versions: str | None
    fix_state: FixState
    fixed: tuple[str, ...]
    severity: str | None

    @cached_property
    def osv_affected(self) -> Mapping[str, Any]:
        """The OSV `affected` mapping (`ranges`, `versions`) that scanner.versions evaluates.

        Decoded once per row: a row is evaluated against every installed version of its package.
        """
        entry: dict[str, Any] = {}
        if self.ranges:
            entry["ranges"] = json.loads(self.ranges)
        if self.versions:
            entry["versions"] = json.loads(self.versions)
        return entry


@dataclass(frozen=True)
class VulnRecord:
    id: str
    provider: str
    group_id: str
    withdrawn: str | None
    published: str | None
    modified: str | None
    severity: str | None
    summary: str | None


@dataclass(frozen=True)
class SeverityRow:
    vuln_id: str
    source: str
    type: str  # CVSS_V4, CVSS_V3, CVSS_V2
    vector: str
    score: float | None


@dataclass(frozen=True)
class DetailRow:
    vuln_id: str
    details: str
    references: tuple[str, ...]
    cwes: tuple[str, ...]
    upstream: tuple[str, ...] = ()  # ids the record derives from (a multi-CVE advisory's CVEs)
    related: tuple[str, ...] = ()  # related ids (a per-CVE distro record's DSA/USN)


@dataclass(frozen=True)
class CpeRow:
    vuln_id: str
    vendor: str
    product: str
    criteria: str
    version_start_including: str | None
    version_start_excluding: str | None
    version_end_including: str | None
    version_end_excluding: str | None


@dataclass(frozen=True)
class SourceCoverage:
    """What one provider's data says about one ecosystem (a `coverage` row; docs/database.md, "Coverage")."""

    provider: str
    ecosystem: str
    records: int
    newest: str | None  # RFC 3339: the newest record date; None when the records carry none
    complete: bool  # the input was a whole export of the ecosystem, or the operator declared it one
    basis: str  # why: "OSV PyPI/all.zip", "Debian DSA list", "--complete", "loose records", ...


def _fix_state(text: str) -> FixState:
    try:
        return FixState(text)
    except ValueError:
        return FixState.UNKNOWN


class VulnStore:
    """A read-only view of one database file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatabaseError(f"vulnerability database {self.path}: no such file")
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro&immutable=1"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.meta = self._read_meta()
        except sqlite3.DatabaseError as error:
            raise DatabaseError(f"vulnerability database {self.path}: unreadable ({error})") from error
        self.schema_version = self.meta.get("schema_version", "")
        self._check_schema()

    def _read_meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def _check_schema(self) -> None:
        model = self.schema_version.split(".", 1)[0]
        if not (model.isascii() and model.isdigit()):
            self.close()
            raise DatabaseError(f"vulnerability database {self.path}: no schema version in its meta table")
        if int(model) != SCHEMA_MODEL:
            self.close()
            raise DatabaseError(
                f"vulnerability database {self.path}: schema {self.schema_version} has model {model}, "
                f"this scanner reads model {SCHEMA_MODEL} only"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VulnStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            raise DatabaseError(f"vulnerability database {self.path}: query failed ({error})") from error

    def _rows_in(self, sql: str, keys: Iterable[str], *leading: object) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql`, whose `{marks}` is an IN list, for every key: in batches, each key once."""
        for chunk in _chunks(sorted(set(keys))):
            yield from self._query(sql.format(marks=",".join("?" * len(chunk))), [*leading, *chunk])

    def affected(self, ecosystem: str, packages: Iterable[str]) -> dict[str, list[AffectedRow]]:
        """Rows of `ecosystem` for each normalised package name (names absent from the result: no rows)."""
        found: dict[str, list[AffectedRow]] = defaultdict(list)
        for vuln_id, eco, package, ranges, versions, fix_state, fixed, severity in self._rows_in(
            "SELECT vuln_id, ecosystem, package, ranges, versions, fix_state, fixed, severity FROM affected "
            "WHERE ecosystem = ? AND package IN ({marks}) ORDER BY package, vuln_id, rowid", packages, ecosystem,
        ):
            found[package].append(AffectedRow(vuln_id, eco, package, ranges, versions, _fix_state(fix_state),
                                              _json_list(fixed), severity))
        return dict(found)

    def ecosystems_like(self, prefix: str) -> tuple[str, ...]:
        """Distinct ecosystems starting with `prefix` (to find a release's spellings: "Ubuntu:22.04:LTS")."""
        upper = prefix + "\U0010ffff"
        rows = self._query(
            "SELECT DISTINCT ecosystem FROM affected WHERE ecosystem >= ? AND ecosystem < ? ORDER BY ecosystem",
            [prefix, upper],
        )
        return tuple(str(row[0]) for row in rows)

    def vulnerabilities(self, ids: Iterable[str]) -> dict[str, VulnRecord]:
        return {row[0]: VulnRecord(*row) for row in self._rows_in(
            "SELECT id, provider, group_id, withdrawn, published, modified, severity, summary "
            "FROM vulnerabilities WHERE id IN ({marks})", ids)}

    def group_members(self, group_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Every id of each alias group, sorted (the group id itself included when listed)."""
        members: dict[str, set[str]] = defaultdict(set)
        for group_id, member in self._rows_in("SELECT group_id, id FROM aliases WHERE group_id IN ({marks})",
                                              group_ids):
            members[group_id].add(member)
        return {group: tuple(sorted(ids)) for group, ids in members.items()}

    def severities(self, ids: Iterable[str]) -> dict[str, list[SeverityRow]]:
        found: dict[str, list[SeverityRow]] = defaultdict(list)
        for row in self._rows_in("SELECT vuln_id, source, type, vector, score FROM severities "
                                 "WHERE vuln_id IN ({marks}) ORDER BY vuln_id, source, type, vector", ids):
            found[row[0]].append(SeverityRow(*row))
        return dict(found)

    def details(self, ids: Iterable[str]) -> dict[str, DetailRow]:
        return {vuln_id: DetailRow(vuln_id, details or "", _json_list(refs), _json_list(cwes), _json_list(upstream),
                                   _json_list(related))
                for vuln_id, details, refs, cwes, upstream, related in self._rows_in(
                    "SELECT vuln_id, details, refs, cwes, upstream, related FROM details WHERE vuln_id IN ({marks})",
                    ids)}

    def group_ids(self, ids: Iterable[str]) -> dict[str, str]:
        """The alias group of each id: its record's group, else the group an `aliases` row puts it in, else itself."""
        wanted = set(ids)
        found = {vuln_id: str(group) for vuln_id, group in self._rows_in(
            "SELECT id, group_id FROM vulnerabilities WHERE id IN ({marks})", wanted)}
        found.update({vuln_id: str(group) for vuln_id, group in self._rows_in(
            "SELECT id, group_id FROM aliases WHERE id IN ({marks})", wanted - set(found))})
        return {vuln_id: found.get(vuln_id, vuln_id) for vuln_id in wanted}

    def coverage(self) -> tuple[SourceCoverage, ...]:
        """Every provider's coverage of every ecosystem, by ecosystem then provider.

        A database older than schema 1.1 has no coverage table: its providers' ecosystems are listed as
        loose records, since nothing in it says which were whole exports.
        """
        tables = {row[0] for row in self._query("SELECT name FROM sqlite_master WHERE type = 'table'", [])}
        if "coverage" in tables:
            return tuple(SourceCoverage(provider, ecosystem, records, newest, bool(complete), basis)
                         for provider, ecosystem, records, newest, complete, basis in self._query(
                             "SELECT provider, ecosystem, records, newest, complete, basis FROM coverage "
                             "ORDER BY ecosystem, provider", []))
        found: list[SourceCoverage] = []
        for provider, ecosystems in self._query("SELECT name, ecosystems FROM providers ORDER BY name", []):
            try:
                counts = json.loads(ecosystems or "{}")
            except ValueError as error:
                raise DatabaseError(f"vulnerability database {self.path}: provider {provider}: "
                                    f"ecosystems is not JSON ({error})") from error
            if not isinstance(counts, dict):
                raise DatabaseError(f"vulnerability database {self.path}: provider {provider}: "
                                    "ecosystems is not a JSON object")
            found.extend(SourceCoverage(provider, ecosystem, int(count), None, False, LEGACY_BASIS)
                         for ecosystem, count in counts.items())
        return tuple(sorted(found, key=lambda entry: (entry.ecosystem, entry.provider)))

    def _has_table(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]))

    def known_exploited(self, cves: Iterable[str]) -> dict[str, KnownExploited]:
        """The CISA KEV entry of each CVE that has one (none from a database before schema 1.2)."""
        if not self._has_table("kev"):
            return {}
        return {row[0]: KnownExploited(*row) for row in self._rows_in(
            "SELECT cve, date_added, due_date, known_ransomware_use, required_action FROM kev "
            "WHERE cve IN ({marks})", cves)}

    def exploit_predictions(self, cves: Iterable[str]) -> dict[str, ExploitPrediction]:
        """The EPSS score of each CVE that has one, dated by the scores' day (meta `epss_score_date`)."""
        if not self._has_table("epss"):
            return {}
        day = self.meta.get("epss_score_date", "")
        return {cve: ExploitPrediction(cve, float(score), float(percentile), day) for cve, score, percentile in
                self._rows_in("SELECT cve, score, percentile FROM epss WHERE cve IN ({marks})", cves)}

    def cpes(self, products: Iterable[str]) -> dict[str, list[CpeRow]]:
        """CPE match rows by lower-case product name (only used by the opt-in CPE matcher)."""
        found: dict[str, list[CpeRow]] = defaultdict(list)
        for row in self._rows_in(
            "SELECT vuln_id, vendor, product, criteria, version_start_including, version_start_excluding, "
            "version_end_including, version_end_excluding FROM cpes WHERE product IN ({marks}) "
            "ORDER BY product, vuln_id, criteria", products,
        ):
            found[row[2]].append(CpeRow(*row))
        return dict(found)
