"""Build the vulnerability database (scanner/db/schema.py) from the feed readers' records.

Records stream into a staging SQLite file beside the output, in batches, so memory does not grow with
the feeds. Staging is then resolved with SQL: one version per (provider, id) (the newest `modified`,
then a withdrawn one, then the first read), parts of assembled advisories merged, alias groups
computed. The final database is written in sorted order into a temporary file, indexed, ANALYZEd and
VACUUMed, then renamed over `out`: the same inputs give a byte-identical file, and a failed build
leaves no partial output.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from scanner import __version__
from scanner.db.schema import CPE_ECOSYSTEM, DDL, SCHEMA_VERSION
from scanner.db.store import SourceCoverage
from scanner.errors import FeedError, MissingExtraError, OperatorInputError

from ..sources import PROVIDERS
from ..sources.base import compact_json, rfc3339
from ..sources.feedio import input_files, inputs_sha256
from ..sources.records import FeedFacts, Record, SkipLog
from .exploitation import FINAL_INSERTS as EXPLOITATION_INSERTS
from .exploitation import stage_exploitation
from .groups import alias_groups, is_cve

# 4096 vs 65536 measured on the full-scale synthetic corpus (docs/performance.md, "Database build").
DEFAULT_PAGE_SIZE = 4096
_PAGE_SIZES = frozenset(1 << shift for shift in range(9, 17))
BATCH_RECORDS = 2000
# The capture time of a provider whose data carries no date and was given none: any age policy, an older
# scanner's included, calls it stale (docs/database.md, "Capture time rule").
EPOCH = "1970-01-01T00:00:00Z"
# Where a provider's captured_at comes from (providers.captured_at_basis).
CAPTURE_GIVEN, CAPTURE_FEED, CAPTURE_RECORDS, CAPTURE_UNKNOWN = "given", "feed", "records", "unknown"
# The coverage basis of records that are no whole export, and of ones the operator declared whole.
LOOSE_RECORDS = "loose records"
DECLARED_COMPLETE = "--complete"
_LISTED = 20  # ecosystems named in an error message


Progress = Callable[..., None]


@dataclass(frozen=True)
class ProviderSummary:
    """One provider's entry, as the bundle manifest's `providers` list holds it."""

    name: str
    captured_at: str  # RFC 3339 UTC; EPOCH when unknown
    input_sha256: str
    records: int
    skipped: int
    skipped_reasons: Mapping[str, int]
    withdrawn: int = 0
    ecosystems: Mapping[str, int] = field(default_factory=dict)  # ecosystem -> records with a package there
    captured_at_basis: str = CAPTURE_RECORDS  # CAPTURE_GIVEN, _FEED, _RECORDS or _UNKNOWN
    coverage: tuple[SourceCoverage, ...] = ()  # by ecosystem


@dataclass(frozen=True)
class CompileSummary:
    providers: tuple[ProviderSummary, ...]
    database_size: int  # bytes on disk
    vulnerabilities: int
    affected_rows: int
    groups: int  # alias groups of two or more ids

    def refuse_empty(self) -> None:
        """Raise FeedError when a provider that was given input kept no record.

        A signed bundle with an empty provider would make every scan report "nothing found" for that
        provider's packages: worse than no bundle at all. Checked before signing.
        """
        for provider in self.providers:
            if provider.records == 0:
                reasons = ", ".join(f"{reason}: {count}" for reason, count in provider.skipped_reasons.items())
                detail = f"{provider.skipped} skipped ({reasons})" if provider.skipped else "no records found"
                raise FeedError(f"provider {provider.name} kept no records: {detail}; refusing to sign a bundle "
                                "that would report nothing for its packages (--allow-empty to override)")


_STAGING_DDL = """
CREATE TABLE s_records (seq INTEGER PRIMARY KEY, provider TEXT, id TEXT, precedence INTEGER, modified TEXT,
    published TEXT, withdrawn TEXT, severity TEXT, summary TEXT, details TEXT, refs TEXT, cwes TEXT);
CREATE TABLE s_links (seq INTEGER, kind TEXT, target TEXT);
CREATE TABLE s_affected (seq INTEGER, ecosystem TEXT, package TEXT, ranges TEXT, versions TEXT, fix_state TEXT,
    fixed TEXT, severity TEXT);
CREATE TABLE s_severities (seq INTEGER, source TEXT, type TEXT, vector TEXT, score REAL);
CREATE TABLE s_cpes (seq INTEGER, vendor TEXT, product TEXT, criteria TEXT, vsi TEXT, vse TEXT, vei TEXT, vee TEXT);
"""

_STAGING_INDEXES = """
CREATE INDEX s_records_key ON s_records(provider, id);
CREATE INDEX s_links_seq ON s_links(seq);
CREATE INDEX s_affected_seq ON s_affected(seq);
CREATE INDEX s_severities_seq ON s_severities(seq);
CREATE INDEX s_cpes_seq ON s_cpes(seq);
"""

# Whole records: the newest version per (provider, id); on a tie a withdrawn version (the withdrawal is the
# later event), then the first read. Parts: all of them.
_KEEP = """
CREATE TABLE s_keep AS SELECT seq, provider, id, precedence FROM (
    SELECT seq, provider, id, precedence, ROW_NUMBER() OVER (
        PARTITION BY provider, id, precedence IS NULL
        ORDER BY modified IS NULL, modified DESC, withdrawn IS NULL, seq) AS rank
    FROM s_records)
WHERE precedence IS NOT NULL OR rank = 1;
CREATE INDEX s_keep_seq ON s_keep(seq);
"""


def compile_database(
    out: Path,
    feeds: Mapping[str, Sequence[Path]],
    *,
    kev: Path | None = None,
    epss: Path | None = None,
    strict: bool = False,
    captured_at: Mapping[str, str] | None = None,
    complete: Iterable[str] = (),
    progress: Progress | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> CompileSummary:
    """Read the feeds under the given paths (files or directories) and write the database to `out`.

    `feeds` maps provider names (dbbuilder.sources.PROVIDERS) to their inputs; providers are read in
    registry order whatever the mapping's order. A malformed record or file is skipped and counted per
    provider; with `strict` it raises MalformedFeedError (a FeedError). `captured_at` gives a provider's
    capture time; otherwise it comes from the data: the feed's own timestamps, else its newest record date,
    else it is unknown (EPOCH). `complete` names ecosystems the operator declares the inputs a whole export
    of (OperatorInputError when no input has records there); the readers find the others (docs/database.md,
    "Coverage"). `kev` and `epss` name a CISA KEV catalog and a FIRST EPSS file
    (dbbuilder.compile.exploitation). `progress`, when given, is called with keyword arguments `stage`
    ("read", "resolve", "groups", "write", "optimize"), `provider` (or "") and `count` (records read so
    far in stage "read").
    """
    unknown = sorted(set(feeds) - set(PROVIDERS))
    if unknown:
        raise ValueError(f"unknown feed providers {unknown}; known: {', '.join(PROVIDERS)}")
    inputs = {name: feeds[name] for name in PROVIDERS if feeds.get(name)}
    report: Progress = progress or (lambda **_: None)
    out = Path(out)
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise FeedError(f"cannot write database {out}: {directory} is not a directory")
    if page_size not in _PAGE_SIZES:
        raise ValueError(f"page_size must be a power of two from 512 to 65536, not {page_size}")
    try:
        staging_path = _temp_path(directory, out.name, ".staging")
        final_path = _temp_path(directory, out.name, ".partial")
    except OSError as error:
        raise FeedError(f"cannot write database {out}: {error.strerror or error}") from error
    try:
        with closing(sqlite3.connect(staging_path)) as staging:
            staging.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-131072;"
                                  "PRAGMA temp_store=FILE;" + _STAGING_DDL)
            read_summaries = [
                _stage_provider(staging, name, [Path(p) for p in paths], strict, report)
                for name, paths in inputs.items()
            ]
            exploitation = stage_exploitation(staging, kev=kev, epss=epss, strict=strict)
            staging.executescript(_STAGING_INDEXES + _KEEP)
            _keep_primary_cpes(staging)
            staging.commit()
            report(stage="resolve", provider="", count=0)
            _stage_vulnerabilities(staging)
            report(stage="groups", provider="", count=0)
            group_count = _stage_groups(staging)
            declared = frozenset(complete)
            providers = tuple(_provider_summary(staging, s, (captured_at or {}).get(s.name), declared)
                              for s in read_summaries) + tuple(
                ProviderSummary(name=f.name, captured_at=f.captured_at, input_sha256=f.input_sha256,
                                records=f.records, skipped=f.skips.skipped,
                                skipped_reasons=dict(sorted(f.skips.reasons.items())), captured_at_basis=CAPTURE_FEED)
                for f in exploitation)
            _check_declared(declared, providers)
        report(stage="write", provider="", count=0)
        counts = _write_final(final_path, staging_path, providers, page_size, report)
        os.replace(final_path, out)
    except sqlite3.Error as error:
        raise FeedError(f"cannot build database {out}: {error}") from error
    except OSError as error:
        raise FeedError(f"cannot write database {out}: {error.strerror or error}") from error
    finally:
        for leftover in (staging_path, final_path):
            with suppress(FileNotFoundError):
                leftover.unlink()
    return CompileSummary(providers=providers, database_size=out.stat().st_size, groups=group_count, **counts)


def _temp_path(directory: Path, name: str, suffix: str) -> Path:
    handle, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=suffix)
    os.close(handle)
    Path(path).unlink()  # SQLite creates it; mkstemp only reserved a unique name
    return Path(path)


@dataclass(frozen=True)
class _ReadSummary:
    name: str
    input_sha256: str
    skips: SkipLog
    facts: FeedFacts


def _stage_provider(staging: sqlite3.Connection, name: str, paths: list[Path], strict: bool,
                    report: Progress) -> _ReadSummary:
    provider = PROVIDERS[name]
    files = input_files(paths, provider.accepts)
    digest = inputs_sha256(files)
    skips = SkipLog(name, strict=strict)
    facts = FeedFacts()
    count = 0
    seq = staging.execute("SELECT COALESCE(MAX(seq), 0) FROM s_records").fetchone()[0]
    for batch in _batches(provider.read(files, skips, facts), BATCH_RECORDS):
        _insert_batch(staging, seq, batch)
        seq += len(batch)
        count += len(batch)
        report(stage="read", provider=name, count=count)
    staging.commit()
    return _ReadSummary(name, digest, skips, facts)


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_batch(staging: sqlite3.Connection, first_seq: int, batch: list[Record]) -> None:
    records: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    affected: list[tuple[Any, ...]] = []
    severities: list[tuple[Any, ...]] = []
    cpes: list[tuple[Any, ...]] = []
    for offset, record in enumerate(batch, start=1):
        seq = first_seq + offset
        records.append((seq, record.provider, record.id, record.part_precedence, record.modified, record.published,
                        record.withdrawn, record.severity, record.summary, record.details,
                        _json_or_none(record.references), _json_or_none(record.cwes)))
        for kind, targets in (("alias", record.aliases), ("upstream", record.upstream), ("related", record.related)):
            links.extend((seq, kind, target) for target in targets)
        affected.extend((seq, row.ecosystem, row.package, row.ranges, row.versions, row.fix_state.value, row.fixed,
                         row.severity) for row in record.affected)
        severities.extend((seq, row.source, row.type, row.vector, row.score) for row in record.severities)
        cpes.extend((seq, row.vendor, row.product, row.criteria, row.version_start_including,
                     row.version_start_excluding, row.version_end_including, row.version_end_excluding)
                    for row in record.cpes)
    staging.executemany("INSERT INTO s_records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", records)
    staging.executemany("INSERT INTO s_links VALUES (?,?,?)", links)
    staging.executemany("INSERT INTO s_affected VALUES (?,?,?,?,?,?,?,?)", affected)
    staging.executemany("INSERT INTO s_severities VALUES (?,?,?,?,?)", severities)
    staging.executemany("INSERT INTO s_cpes VALUES (?,?,?,?,?,?,?,?)", cpes)


def _json_or_none(values: Sequence[str]) -> str | None:
    return compact_json(list(values)) if values else None


def _keep_primary_cpes(staging: sqlite3.Connection) -> None:
    """For one id, only the CPE rows of the provider of lowest precedence that has any: NVD's configurations
    over a CNA's affected data (CVE JSON 5), which fills in only where NVD has none (docs/database.md)."""
    order = " ".join(f"WHEN '{name}' THEN {provider.precedence}" for name, provider in PROVIDERS.items())
    staging.execute(f"""
        DELETE FROM s_cpes WHERE seq IN (
            SELECT seq FROM (
                SELECT k.seq, RANK() OVER (PARTITION BY k.id ORDER BY CASE k.provider {order} ELSE 99 END) AS rank
                FROM s_keep k WHERE k.seq IN (SELECT seq FROM s_cpes))
            WHERE rank > 1)
    """)


def _stage_vulnerabilities(staging: sqlite3.Connection) -> None:
    """One vulnerabilities row and one details row per id, merged over its kept records and parts."""
    staging.execute("""
        CREATE TABLE s_vulns (id TEXT PRIMARY KEY, provider TEXT, withdrawn TEXT, published TEXT, modified TEXT,
            severity TEXT, summary TEXT, details TEXT, refs TEXT, cwes TEXT, upstream TEXT, related TEXT)
    """)
    # For an id several providers publish (an OSV record named CVE-…, an OSV Debian DSA also read from the
    # tracker lists), the provider of lowest precedence gives the vulnerabilities row; all rows are kept.
    order = " ".join(f"WHEN '{name}' THEN {provider.precedence}" for name, provider in PROVIDERS.items())
    versions = staging.execute(f"""
        SELECT r.id, r.provider, r.withdrawn, r.published, r.modified, r.severity, r.summary, r.details, r.refs,
               r.cwes
        FROM s_records r JOIN s_keep k ON k.seq = r.seq
        ORDER BY r.id, CASE r.provider {order} ELSE 99 END, r.precedence IS NOT NULL, r.precedence,
                 r.modified IS NULL, r.modified DESC, r.withdrawn IS NULL, r.seq
    """)
    # Both queries run in id order: the links of each id are read alongside its versions.
    links = groupby(staging.cursor().execute("""
        SELECT DISTINCT k.id, l.kind, l.target FROM s_links l JOIN s_keep k ON k.seq = l.seq
        ORDER BY k.id, l.kind, l.target
    """), key=lambda row: row[0])
    pending = next(links, None)
    merged = []
    for vuln_id, group in groupby(versions, key=lambda row: row[0]):
        while pending is not None and pending[0] < vuln_id:
            pending = next(links, None)
        linked: dict[str, list[str]] = {"alias": [], "upstream": [], "related": []}
        if pending is not None and pending[0] == vuln_id:
            for _, kind, target in pending[1]:
                linked[kind].append(target)
            pending = next(links, None)
        if len({i for i in (vuln_id, *linked["alias"], *linked["upstream"]) if is_cve(i)}) > 1:
            # A record naming several CVEs joins none of their groups: keep its aliases with its upstream
            # ids, where the scanner finds the CVEs it covers (scanner/match/matcher.py).
            linked["upstream"] = sorted({*linked["upstream"], *linked["alias"]})
        merged.append(_merge_versions(vuln_id, list(group), linked))
        if len(merged) >= BATCH_RECORDS:
            staging.executemany("INSERT INTO s_vulns VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", merged)
            merged = []
    staging.executemany("INSERT INTO s_vulns VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", merged)
    staging.commit()


def _merge_versions(vuln_id: str, versions: list[tuple[Any, ...]], linked: Mapping[str, list[str]]) -> tuple[Any, ...]:
    """The first version (preferred provider, whole record or most authoritative part) leads; the others fill gaps."""

    def first_of(index: int) -> Any:
        return next((version[index] for version in versions if version[index] is not None), None)

    def union_of(index: int) -> str | None:
        items: dict[str, None] = {}
        for version in versions:
            if version[index] is not None:
                items.update(dict.fromkeys(json.loads(version[index])))
        return compact_json(list(items)) if items else None

    published = [v[3] for v in versions if v[3]]
    modified = [v[4] for v in versions if v[4]]
    return (
        vuln_id,
        versions[0][1],
        versions[0][2],
        min(published) if published else None,
        max(modified) if modified else None,
        first_of(5),
        first_of(6),
        first_of(7),
        union_of(8),
        union_of(9),
        compact_json(linked["upstream"]) if linked["upstream"] else None,
        compact_json(linked["related"]) if linked["related"] else None,
    )


def _stage_groups(staging: sqlite3.Connection) -> int:
    links: dict[str, set[str]] = {}
    for vuln_id, target in staging.execute(
            "SELECT k.id, l.target FROM s_links l JOIN s_keep k ON k.seq = l.seq WHERE l.kind != 'related'"):
        links.setdefault(vuln_id, set()).add(target)
    withdrawn = {row[0] for row in staging.execute("SELECT id FROM s_vulns WHERE withdrawn IS NOT NULL")}
    groups = alias_groups(links, withdrawn)
    staging.execute("CREATE TABLE s_groups (id TEXT PRIMARY KEY, group_id TEXT NOT NULL)")
    staging.executemany("INSERT INTO s_groups VALUES (?, ?)", sorted(groups.items()))
    staging.commit()
    return len(set(groups.values()))


def _provider_summary(staging: sqlite3.Connection, read: _ReadSummary, captured: str | None,
                      declared: frozenset[str]) -> ProviderSummary:
    records, withdrawn, newest = staging.execute("""
        SELECT COUNT(DISTINCT k.id), COUNT(DISTINCT CASE WHEN r.withdrawn IS NOT NULL THEN k.id END), MAX(r.modified)
        FROM s_keep k JOIN s_records r ON r.seq = k.seq WHERE k.provider = ?
    """, (read.name,)).fetchone()
    # Dates of every kept version and part: an assembled advisory's date is its newest part's.
    held = {ecosystem: (count, dated) for ecosystem, count, dated in staging.execute("""
        SELECT a.ecosystem, COUNT(DISTINCT k.id), MAX(r.modified)
        FROM s_affected a JOIN s_keep k ON k.seq = a.seq JOIN s_records r ON r.seq = k.seq
        WHERE k.provider = ? GROUP BY a.ecosystem
    """, (read.name,))}
    cpe_records, cpe_newest = staging.execute("""
        SELECT COUNT(DISTINCT k.id), MAX(r.modified)
        FROM s_keep k JOIN s_records r ON r.seq = k.seq
        WHERE k.provider = ? AND k.seq IN (SELECT seq FROM s_cpes)
    """, (read.name,)).fetchone()
    if cpe_records:
        held[CPE_ECOSYSTEM] = (cpe_records, cpe_newest)
    captured_at, basis = _captured_at(read.name, captured, read.facts.timestamps, newest)
    return ProviderSummary(
        name=read.name,
        captured_at=captured_at,
        input_sha256=read.input_sha256,
        records=records,
        skipped=read.skips.skipped,
        skipped_reasons=dict(sorted(read.skips.reasons.items())),
        withdrawn=withdrawn,
        ecosystems={ecosystem: count for ecosystem, (count, _) in sorted(held.items()) if ecosystem != CPE_ECOSYSTEM},
        captured_at_basis=basis,
        coverage=_coverage(read.name, held, read.facts, declared),
    )


def _coverage(provider: str, held: Mapping[str, tuple[int, str | None]], facts: FeedFacts,
              declared: frozenset[str]) -> tuple[SourceCoverage, ...]:
    """One entry per ecosystem the provider has records for or wholly exports (a branch with no fixes)."""
    entries = []
    for ecosystem in sorted({*held, *facts.exports}):
        count, newest = held.get(ecosystem, (0, None))
        if ecosystem in facts.exports:
            complete, basis = True, facts.exports[ecosystem]
        elif ecosystem in declared and count:
            complete, basis = True, DECLARED_COMPLETE
        else:
            complete, basis = False, facts.notes.get(ecosystem, LOOSE_RECORDS)
        entries.append(SourceCoverage(provider, ecosystem, count, newest, complete, basis))
    return tuple(entries)


def _check_declared(declared: frozenset[str], providers: Sequence[ProviderSummary]) -> None:
    held = {entry.ecosystem for provider in providers for entry in provider.coverage if entry.records}
    unknown = sorted(declared - held)
    if unknown:
        shown = sorted(held)[:_LISTED]
        more = f" and {len(held) - _LISTED} more" if len(held) > _LISTED else ""
        raise OperatorInputError(f"--complete {', '.join(unknown)}: no input has records for it; ecosystems with records: "
                         f"{', '.join(shown) or 'none'}{more}")


def _captured_at(name: str, explicit: str | None, feed_times: Sequence[str],
                 newest_modified: str | None) -> tuple[str, str]:
    """(captured_at, basis): when the provider's data was captured, and how we know.

    The operator's value, else the newest of the feed's own timestamps (and record dates, which cannot be
    later), else the newest record date. A feed with no date anywhere (Alpine's secdb, Debian's tracker
    JSON) is captured at an unknown time: EPOCH, which every age policy calls stale. File times are never
    used: a copy of years-old files is minutes old.
    """
    if explicit is not None:
        value = rfc3339(explicit)
        if value is None:
            raise FeedError(f"captured_at for {name} is not an RFC 3339 time: {explicit!r}")
        return value, CAPTURE_GIVEN
    if feed_times:
        return max([*feed_times, *([newest_modified] if newest_modified else [])]), CAPTURE_FEED
    if newest_modified:
        return str(newest_modified), CAPTURE_RECORDS
    return EPOCH, CAPTURE_UNKNOWN


def _write_final(path: Path, staging_path: Path, providers: Sequence[ProviderSummary], page_size: int,
                 report: Progress) -> dict[str, int]:
    try:
        import sqlite_utils  # the `builder` extra: an isolated host's scanner-only install does without it
    except ModuleNotFoundError:
        raise MissingExtraError("dbbuilder build needs the builder extra: pip install 'airgap-scanner[builder]'") from None
    with closing(sqlite3.connect(path)) as connection:
        db = sqlite_utils.Database(connection)
        connection.executescript(f"PRAGMA page_size={int(page_size)}; PRAGMA journal_mode=OFF;"
                                 "PRAGMA synchronous=OFF; PRAGMA cache_size=-131072;")
        connection.execute(f"PRAGMA user_version={int(SCHEMA_VERSION.split('.')[0])}")
        connection.executescript(DDL)
        # Indexes are built once the tables are full: faster than maintaining them row by row.
        indexes = [sql for (sql,) in connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")]
        for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall():
            connection.execute(f'DROP INDEX "{name}"')
        db.attach("staging", str(staging_path))
        db.table("meta").insert_all([{"key": "schema_version", "value": SCHEMA_VERSION},
                               {"key": "generator", "value": f"dbbuilder {__version__}"}])
        db.table("providers").insert_all([{
            "name": p.name, "captured_at": p.captured_at, "input_sha256": p.input_sha256, "records": p.records,
            "skipped": p.skipped, "skipped_reasons": compact_json(dict(p.skipped_reasons)),
            "withdrawn": p.withdrawn, "ecosystems": compact_json(dict(p.ecosystems)),
            "captured_at_basis": p.captured_at_basis,
        } for p in sorted(providers, key=lambda p: p.name)])
        db.table("coverage").insert_all([{
            "provider": entry.provider, "ecosystem": entry.ecosystem, "records": entry.records,
            "newest": entry.newest, "complete": int(entry.complete), "basis": entry.basis,
        } for entry in sorted((e for p in providers for e in p.coverage), key=lambda e: (e.provider, e.ecosystem))])
        connection.executescript(_FINAL_INSERTS + EXPLOITATION_INSERTS)
        connection.commit()
        for statement in indexes:
            connection.execute(statement)
        connection.commit()
        counts = {
            "vulnerabilities": connection.execute("SELECT COUNT(*) FROM vulnerabilities").fetchone()[0],
            "affected_rows": connection.execute("SELECT COUNT(*) FROM affected").fetchone()[0],
        }
        connection.execute("DETACH DATABASE staging")
        report(stage="optimize", provider="", count=0)
        db.analyze()
        db.vacuum()
    return counts


# Every table is filled in a fixed order, so the file depends only on its content.
_FINAL_INSERTS = """
INSERT INTO vulnerabilities (id, provider, group_id, withdrawn, published, modified, severity, summary)
SELECT v.id, v.provider, COALESCE(g.group_id, v.id), v.withdrawn, v.published, v.modified, v.severity, v.summary
FROM staging.s_vulns v LEFT JOIN staging.s_groups g ON g.id = v.id ORDER BY v.id;

INSERT INTO aliases (group_id, id) SELECT group_id, id FROM staging.s_groups ORDER BY group_id, id;

INSERT INTO details (vuln_id, details, refs, cwes, upstream, related)
SELECT id, details, refs, cwes, upstream, related FROM staging.s_vulns
WHERE details IS NOT NULL OR refs IS NOT NULL OR cwes IS NOT NULL OR upstream IS NOT NULL OR related IS NOT NULL
ORDER BY id;

INSERT INTO affected (vuln_id, ecosystem, package, ranges, versions, fix_state, fixed, severity)
SELECT DISTINCT id, ecosystem, package, ranges, versions, fix_state, fixed, severity FROM (
    SELECT k.id, a.ecosystem, a.package, a.ranges, a.versions, a.fix_state, a.fixed, a.severity, k.precedence,
           ROW_NUMBER() OVER (PARTITION BY k.provider, k.id, a.ecosystem, a.package, k.precedence IS NULL
                              ORDER BY k.precedence, k.seq) AS rank
    FROM staging.s_affected a JOIN staging.s_keep k ON k.seq = a.seq)
WHERE precedence IS NULL OR rank = 1
ORDER BY ecosystem, package, id, ranges, versions, fix_state, fixed, severity;

INSERT INTO severities (vuln_id, source, type, vector, score)
SELECT DISTINCT k.id, s.source, s.type, s.vector, s.score
FROM staging.s_severities s JOIN staging.s_keep k ON k.seq = s.seq
ORDER BY k.id, s.source, s.type, s.vector, s.score;

INSERT INTO cpes (vuln_id, vendor, product, criteria, version_start_including, version_start_excluding,
                  version_end_including, version_end_excluding)
SELECT DISTINCT k.id, c.vendor, c.product, c.criteria, c.vsi, c.vse, c.vei, c.vee
FROM staging.s_cpes c JOIN staging.s_keep k ON k.seq = c.seq
ORDER BY c.product, c.vendor, k.id, c.criteria, c.vsi, c.vse, c.vei, c.vee;
"""
