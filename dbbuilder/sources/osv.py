"""OSV records (schema 1.x) as JSON or YAML files in directory trees, or inside OSV's per-ecosystem all.zip.

An `<Ecosystem>/all.zip` (the osv.dev bucket's layout, which `dbbuilder fetch` keeps) is a whole export of
that ecosystem; loose record files and other archives are not (docs/database.md, "Coverage").

Every ecosystem is read, distro ones included (`Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.18` ...).
GIT ranges are left out of the stored ranges: they cannot be evaluated on an installed package, and the
record's explicit `versions` list already names what they cover.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner.model import FixState
from scanner.names import normalize_package_name

from ..fetch.osv import ARCHIVE_NAME
from .base import (
    compact_json,
    json_list_or_none,
    require_mapping,
    rfc3339,
    severity_label,
    severity_row,
    string_list,
    text_or_none,
)
from .feedio import parse_document, read_capped
from .records import AffectedRow, FeedFacts, Record, RecordError, SeverityRow, SkipLog

PROVIDER = "osv"
FLAG_HELP = "OSV records: JSON/YAML trees or all.zip archives (repeatable)."
PRECEDENCE = 10
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
MAX_RECORD_BYTES = 16 << 20  # the largest real OSV records (kernel CVEs) are a few hundred KiB
MAX_ARCHIVE_MEMBERS = 2_000_000

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_CVSS_TYPES = {"CVSS_V2", "CVSS_V3", "CVSS_V4"}
# Severity types carrying a distro's own text rating rather than a CVSS vector.
_TEXT_SEVERITY_TYPES = {"Ubuntu"}


def accepts(path: Path) -> bool:
    return path.name.endswith(RECORD_SUFFIXES) or path.suffix == ".zip"


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    for name, path in files:
        if path.suffix == ".zip":
            family = path.parent.name if path.name == ARCHIVE_NAME else ""
            for record in _read_archive(name, path, skips):
                if family:
                    _note_export(record, family, f"OSV {family}/{ARCHIVE_NAME}", facts)
                yield record
            continue
        try:
            yield parse_record(parse_document(read_capped(path, MAX_RECORD_BYTES), path.name))
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)


def _note_export(record: Record, family: str, basis: str, facts: FeedFacts) -> None:
    """OSV publishes one `<Ecosystem>/all.zip` per ecosystem: it is whole for that ecosystem and its
    releases (`Debian/all.zip` for `Debian:12`), not for other ecosystems a record also names."""
    for row in record.affected:
        if row.ecosystem == family or row.ecosystem.startswith(family + ":"):
            facts.export(row.ecosystem, basis)


def _read_archive(name: str, path: Path, skips: SkipLog) -> Iterator[Record]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        skips.skip("unreadable archive", name, str(error))
        return
    with archive:
        members = sorted((m for m in archive.infolist() if not m.is_dir() and m.filename.endswith(RECORD_SUFFIXES)),
                         key=lambda m: m.filename)
        if len(members) > MAX_ARCHIVE_MEMBERS:
            skips.skip("too many archive members", name, str(len(members)))
            return
        for member in members:
            where = f"{name}:{member.filename}"
            try:
                yield parse_record(parse_document(_read_member(archive, member), member.filename))
            except RecordError as error:
                skips.skip(error.reason, where, error.detail)


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    # The declared size can lie: read at most one byte past the cap.
    if member.file_size > MAX_RECORD_BYTES:
        raise RecordError("file too large", f"{member.file_size} bytes")
    try:
        with archive.open(member) as stream:
            data = stream.read(MAX_RECORD_BYTES + 1)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as error:
        raise RecordError("unreadable archive member", str(error)) from error
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError("file too large", f"over {MAX_RECORD_BYTES} bytes")
    return data


def parse_record(document: object, provider: str = PROVIDER) -> Record:
    """One OSV record as a `Record`; RecordError when it is not a usable OSV record."""
    raw = require_mapping(document, "record")
    vuln_id = text_or_none(raw.get("id"))
    if vuln_id is None:
        raise RecordError("missing id")
    modified = rfc3339(raw.get("modified"))
    if modified is None:
        raise RecordError("missing or invalid modified", vuln_id)
    withdrawn = raw.get("withdrawn")
    text_rating, severities = _severities(raw.get("severity"), provider, vuln_id)
    database_specific = raw.get("database_specific")
    if text_rating is None and isinstance(database_specific, dict):
        text_rating = severity_label(database_specific.get("severity"))
    cwes: tuple[str, ...] = ()
    if isinstance(database_specific, dict):
        cwes = string_list(database_specific.get("cwe_ids"))
    affected_entries = raw.get("affected", [])
    if not isinstance(affected_entries, list):
        raise RecordError("malformed affected", vuln_id)
    affected: list[AffectedRow] = []
    for entry in affected_entries:
        row, entry_severities = _affected(entry, vuln_id, provider, text_rating)
        severities.extend(entry_severities)
        if row is not None:
            affected.append(row)
    return Record(
        id=vuln_id,
        provider=provider,
        modified=modified,
        published=rfc3339(raw.get("published")),
        # A present `withdrawn` withdraws the record even when its timestamp cannot be read.
        withdrawn=(rfc3339(withdrawn) or modified) if withdrawn else None,
        summary=text_or_none(raw.get("summary")),
        details=text_or_none(raw.get("details")),
        severity=text_rating,
        aliases=string_list(raw.get("aliases")),
        upstream=string_list(raw.get("upstream")),
        related=string_list(raw.get("related")),
        references=_references(raw.get("references")),
        cwes=cwes,
        affected=tuple(affected),
        severities=tuple(severities),
    )


def _severities(entries: object, provider: str, vuln_id: str) -> tuple[str | None, list[SeverityRow]]:
    if entries is None:
        return None, []
    if not isinstance(entries, list):
        raise RecordError("malformed severity", vuln_id)
    rows: list[SeverityRow] = []
    text_rating: str | None = None
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("score"), str):
            raise RecordError("malformed severity", vuln_id)
        kind, score = entry.get("type"), entry["score"].strip()
        if kind in _CVSS_TYPES:
            row = severity_row(provider, score, str(kind))
            if row not in rows:
                rows.append(row)
        elif kind in _TEXT_SEVERITY_TYPES and text_rating is None:
            text_rating = severity_label(score)
    return text_rating, rows


def _affected(entry: object, vuln_id: str, provider: str,
              text_rating: str | None) -> tuple[AffectedRow | None, list[SeverityRow]]:
    entry = require_mapping(entry, "affected entry")
    _, severities = _severities(entry.get("severity"), provider, vuln_id)
    package = entry.get("package")
    if package is None:
        return None, severities  # GIT-only entries name a repository, not a package: nothing to match
    package = require_mapping(package, "affected package")
    ecosystem, name = text_or_none(package.get("ecosystem")), text_or_none(package.get("name"))
    if ecosystem is None or name is None:
        raise RecordError("affected package without ecosystem or name", vuln_id)
    ranges, fixed, has_git_fix = _ranges(entry.get("ranges", []), vuln_id)
    if "versions" in entry and not isinstance(entry["versions"], list):
        raise RecordError("malformed versions", vuln_id)
    versions = string_list(entry.get("versions"))
    if fixed:
        state = FixState.FIXED
    elif has_git_fix:
        state = FixState.UNKNOWN  # fixed in a commit, but no release is named
    else:
        state = FixState.NOT_FIXED
    return AffectedRow(
        ecosystem=ecosystem,
        package=normalize_package_name(ecosystem, name),
        fix_state=state,
        ranges=compact_json(ranges) if ranges else None,
        versions=json_list_or_none(versions),
        fixed=json_list_or_none(fixed),
        severity=text_rating,
    ), severities


def _ranges(value: object, vuln_id: str) -> tuple[list[dict[str, Any]], list[str], bool]:
    """(stored ranges, fixed versions, whether a GIT range has a fix)."""
    if not isinstance(value, list):
        raise RecordError("malformed ranges", vuln_id)
    kept: list[dict[str, Any]] = []
    fixed: list[str] = []
    has_git_fix = False
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise RecordError("malformed ranges", vuln_id)
        events = [_event(event, vuln_id) for event in _event_list(item.get("events"), vuln_id)]
        if item["type"] == "GIT":
            has_git_fix = has_git_fix or any("fixed" in event for event in events)
            continue
        kept.append({"type": item["type"], "events": events})
        fixed.extend(event["fixed"] for event in events if "fixed" in event and event["fixed"] not in fixed)
    return kept, fixed, has_git_fix


def _event_list(value: object, vuln_id: str) -> list[object]:
    if not isinstance(value, list) or not value:
        raise RecordError("malformed ranges", vuln_id)
    return value


def _event(value: object, vuln_id: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise RecordError("malformed ranges", vuln_id)
    known = {kind: value[kind] for kind in _EVENT_KINDS if kind in value}
    if len(known) != 1 or not all(isinstance(v, str) and v for v in known.values()):
        raise RecordError("malformed ranges", vuln_id)
    return known


def _references(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    urls = [item.get("url") for item in value if isinstance(item, dict)]
    return tuple(dict.fromkeys(url.strip() for url in urls if isinstance(url, str) and url.strip()))
