"""Small vulnerability databases for matcher and report tests, written straight into the schema DDL.

`osv_rows` turns an OSV record into rows the way the schema documents them; it is deliberately
simple (the real compiler lives in dbbuilder) and only used to build test inputs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.db.schema import DDL, SCHEMA_VERSION
from scanner.db.store import SourceCoverage
from scanner.match.scan import DatabaseInfo
from scanner.model import FixState
from scanner.names import normalize_package_name

EPSS_DATE = "2026-11-27"


def kev_row(cve: str, due_date: str = "2026-12-15", ransomware: str = "Unknown") -> tuple[str, ...]:
    """A `kev` table row, with the catalog's usual required action."""
    return (cve, "2026-11-24", due_date, ransomware, "Apply mitigations per vendor instructions.", "Vendor",
            "Product", f"{cve} vulnerability")


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass
class Rows:
    vulnerabilities: list[tuple[Any, ...]] = field(default_factory=list)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    affected: list[tuple[Any, ...]] = field(default_factory=list)
    severities: list[tuple[Any, ...]] = field(default_factory=list)
    details: list[tuple[Any, ...]] = field(default_factory=list)
    cpes: list[tuple[Any, ...]] = field(default_factory=list)
    kev: list[tuple[Any, ...]] = field(default_factory=list)  # cve, date_added, due_date, ransomware, action, ...
    epss: list[tuple[Any, ...]] = field(default_factory=list)  # cve, score, percentile (dated EPSS_DATE)

    def add(self, other: Rows) -> None:
        for name in ("vulnerabilities", "aliases", "affected", "severities", "details", "cpes", "kev", "epss"):
            getattr(self, name).extend(getattr(other, name))


def group_of(record_id: str, aliases: Iterable[str]) -> str:
    """The group id, as the compiler would give it; a record naming several CVEs is a group of its own."""
    ids = sorted({record_id, *aliases})
    cves = [i for i in ids if i.startswith("CVE-")]
    if len(cves) > 1:
        return record_id
    return cves[0] if cves else ids[0]


def osv_rows(record: Mapping[str, Any], provider: str = "osv") -> Rows:
    rows = Rows()
    record_id = record["id"]
    aliases = [*record.get("aliases", []), *record.get("upstream", [])]
    group = group_of(record_id, aliases)
    db_specific = record.get("database_specific") or {}
    severity_text = db_specific.get("severity") if isinstance(db_specific, dict) else None
    rows.vulnerabilities.append((record_id, provider, group, record.get("withdrawn"), record.get("published"),
                                 record.get("modified"), (severity_text or "").lower() or None,
                                 record.get("summary")))
    several_cves = group == record_id and len([i for i in aliases if i.startswith("CVE-")]) > 1
    if not several_cves:
        for member in sorted({record_id, *aliases}):
            rows.aliases.append((group, member))
    for severity in record.get("severity") or []:
        if severity.get("type", "").startswith("CVSS_"):
            rows.severities.append((record_id, provider, severity["type"], severity["score"], None))
    # Like the compiler: a record naming several CVEs keeps its aliases with its upstream ids.
    upstream = sorted(set(aliases)) if several_cves else record.get("upstream", [])
    rows.details.append((record_id, record.get("details", ""), compact([r["url"] for r in record.get("references", [])]),
                         compact(db_specific.get("cwe_ids", []) if isinstance(db_specific, dict) else []),
                         compact(upstream) if upstream else None,
                         compact(record["related"]) if record.get("related") else None))
    for affected in record.get("affected", []):
        package = affected["package"]
        ranges = [r for r in affected.get("ranges", []) if r.get("type") in ("ECOSYSTEM", "SEMVER")]
        fixed = [e["fixed"] for r in ranges for e in r.get("events", []) if "fixed" in e]
        state = FixState.FIXED if fixed else FixState.NOT_FIXED
        rows.affected.append((
            record_id, package["ecosystem"], normalize_package_name(package["ecosystem"], package["name"]),
            compact(ranges) if ranges else None,
            compact(affected["versions"]) if affected.get("versions") else None,
            state.value, compact(fixed) if fixed else None, None,
        ))
    return rows


def write_db(path: Path, rows: Rows, meta: Mapping[str, str] | None = None,
             coverage: Sequence[SourceCoverage] | None = None) -> Path:
    """The database; `coverage` defaults to loose records of provider osv in every ecosystem with rows."""
    if coverage is None:
        counts: dict[str, set[str]] = {}
        for row in rows.affected:
            counts.setdefault(row[1], set()).add(row[0])
        coverage = [SourceCoverage("osv", ecosystem, len(ids), None, False, "loose records")
                    for ecosystem, ids in sorted(counts.items())]
    db = sqlite3.connect(path)
    db.executescript(DDL)
    scores_date = {"epss_score_date": EPSS_DATE} if rows.epss else {}
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   sorted({"schema_version": SCHEMA_VERSION, **scores_date, **(meta or {})}.items()))
    db.execute("INSERT INTO providers (name, captured_at, input_sha256, records, skipped, skipped_reasons) "
               "VALUES ('osv', '2026-11-28T00:00:00Z', '00', 1, 0, '{}')")
    db.executemany("INSERT OR IGNORE INTO vulnerabilities VALUES (?,?,?,?,?,?,?,?)", rows.vulnerabilities)
    db.executemany("INSERT OR IGNORE INTO aliases VALUES (?,?)", rows.aliases)
    db.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?,?,?)", rows.affected)
    db.executemany("INSERT INTO severities VALUES (?,?,?,?,?)", rows.severities)
    db.executemany("INSERT OR IGNORE INTO details (vuln_id, details, refs, cwes, upstream, related) "
                   "VALUES (?,?,?,?,?,?)", rows.details)
    db.executemany("INSERT INTO cpes VALUES (?,?,?,?,?,?,?,?)", rows.cpes)
    db.executemany("INSERT INTO kev VALUES (?,?,?,?,?,?,?,?)", rows.kev)
    db.executemany("INSERT INTO epss VALUES (?,?,?)", rows.epss)
    db.executemany("INSERT INTO coverage VALUES (?,?,?,?,?,?)",
                   [(c.provider, c.ecosystem, c.records, c.newest, int(c.complete), c.basis) for c in coverage])
    db.commit()
    db.close()
    return path


def db_from_records(path: Path, records: Sequence[Mapping[str, Any]], extra: Rows | None = None,
                    coverage: Sequence[SourceCoverage] | None = None) -> Path:
    rows = Rows()
    for record in records:
        rows.add(osv_rows(record))
    if extra is not None:
        rows.add(extra)
    return write_db(path, rows, coverage=coverage)


DATABASE_INFO = DatabaseInfo(
    channel="test", bundle_version=7, schema_version=SCHEMA_VERSION, built_at="2026-11-28T00:00:00Z",
    expires_at="2026-12-28T00:00:00Z", bundle_sha256="ab" * 32, manifest_sha256="cd" * 32,
    key_ids=("ef" * 32,), providers=(("nvd", "2026-08-01T00:00:00Z"), ("osv", "2026-11-28T00:00:00Z")),
)
