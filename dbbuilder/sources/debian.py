"""Debian security tracker data: the advisory lists (`data/DSA/list`, `data/DLA/list`, `data/DTSA/list`), the
per-CVE list (`data/CVE/list`) and the tracker's JSON export (`/tracker/data/json`).

Debian's data is per CVE, so the reader emits, like osv.dev, one `DEBIAN-CVE-…` advisory per CVE (upstream:
the CVE) holding the per-release, per-source-package state. One CVE is spread over many inputs (one DSA per
release, the CVE list, the JSON export), so each piece is emitted as a *part* of that advisory and the
compiler assembles the parts: for a (release, package) the most authoritative piece wins, JSON export
(precedence 0) over the CVE list (1) over the advisory lists (2, the earliest advisory first).

Each DSA/DLA/DTSA is also kept as an advisory of its own (summary, date, its CVEs as upstream); it carries
package rows only when it names no CVE (regression updates), so a finding is never reported twice.

Only explicit release lines are read from `data/CVE/list`: a release it does not mention inherits the
unstable state, which needs the release's package versions to evaluate. Unstable (`sid`) lines are not
stored: OSV has no ecosystem for it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from scanner.clock import rfc3339
from scanner.model import FixState

from .base import affected_row, highest_severity, require_mapping, severity_label, text_or_none
from .feedio import iter_json_object, read_capped
from .records import AffectedRow, FeedFacts, Record, RecordError, SkipLog

PROVIDER = "debian"
FLAG_HELP = "Debian security tracker DSA/DLA lists or JSON export (repeatable)."
PRECEDENCE = 20
MAX_FILE_BYTES = 1 << 30

# Codename -> OSV ecosystem, spelled as OSV spells Debian releases.
RELEASES: Mapping[str, str] = {
    "woody": "Debian:3.0",
    "sarge": "Debian:3.1",
    "etch": "Debian:4.0",
    "lenny": "Debian:5.0",
    "squeeze": "Debian:6.0",
    "wheezy": "Debian:7",
    "jessie": "Debian:8",
    "stretch": "Debian:9",
    "buster": "Debian:10",
    "bullseye": "Debian:11",
    "bookworm": "Debian:12",
    "trixie": "Debian:13",
    "forky": "Debian:14",
    "duke": "Debian:15",
}
_UNSTABLE = {"sid", "unstable", "experimental"}

STATES: Mapping[str, FixState] = {
    "unfixed": FixState.NOT_FIXED,
    "postponed": FixState.NOT_FIXED,  # will be fixed, in a later update
    "not-affected": FixState.NOT_AFFECTED,
    "removed": FixState.NOT_AFFECTED,  # the package is not in the release
    "no-dsa": FixState.WONT_FIX,  # no advisory; maybe a point release some day
    "ignored": FixState.WONT_FIX,
    "end-of-life": FixState.END_OF_LIFE,
    "undetermined": FixState.UNDER_INVESTIGATION,
}

PRECEDENCE_JSON, PRECEDENCE_CVE_LIST, PRECEDENCE_ADVISORY = 0, 1, 2

# Inputs that are whole for the releases they name (docs/database.md, "Coverage"). The CVE list is not:
# a release it does not name inherits the unstable line, which is not stored. DTSAs were advisories for
# testing, not for a release's security archive. Samples and extracts have the same form as the real
# thing, so each must also look whole: the tracker's export lists tens of thousands of issues for each
# release it tracks, and the DSA and DLA lists hold thousands of advisories, numbered without gaps
# (a list trimmed to some packages leaves most numbers out).
TRACKER_EXPORT = "Debian security tracker JSON export"
TRACKER_EXPORT_MIN_ISSUES = 1000  # per release
WHOLE_LISTS = frozenset({"DSA", "DLA"})
WHOLE_LIST_MIN_ADVISORIES = 100
WHOLE_LIST_MIN_DENSITY = 0.9  # advisory numbers present / numbers from the oldest to the newest

_ADVISORY_HEADER = re.compile(
    r"^\[(?P<date>[^\]]+)\]\s+(?P<id>(?:DSA|DLA|DTSA)-\d+(?:-\d+)?)\s*(?P<rest>.*)$")
_CVE_HEADER = re.compile(r"^(?P<id>CVE-\d{4}-(?:\d{4,}|X+))\s*(?P<rest>.*)$")
_PACKAGE_LINE = re.compile(
    r"^(?:\[(?P<release>[a-z-]+)\]\s+)?-\s+(?P<package>[a-z0-9][a-z0-9+.-]*)"
    r"(?:\s+(?P<version><[a-z-]+>|[^\s(<]+))?(?:\s+\((?P<note>[^)]*)\)?)?\s*$")
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
_ADVISORY_ID = re.compile(r"^(?:DSA|DLA|DTSA)-\d+(?:-\d+)?$")
_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)\b")


def accepts(path: Path) -> bool:
    return path.name.endswith(".json") or path.name == "list" or path.name.startswith("list.")


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    for name, path in files:
        try:
            text = read_capped(path, MAX_FILE_BYTES).decode("utf-8")
        except UnicodeDecodeError as error:
            skips.skip("not UTF-8 text", name, str(error))
            continue
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        if path.name.endswith(".json"):
            yield from _judged_tracker_json(text, name, skips, facts)
            continue
        first = next((line for line in text.splitlines() if line.strip()), "")
        header = _ADVISORY_HEADER.match(first)
        if header:
            yield from _judged_advisory_list(header["id"].split("-", 1)[0], text, name, skips, facts)
        elif _CVE_HEADER.match(first):
            yield from _read_cve_list(text, name, skips)
        else:
            skips.skip("not a tracker list", name, first[:60])


def _judged_tracker_json(text: str, name: str, skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    """The export's records; it is whole for each release it has TRACKER_EXPORT_MIN_ISSUES issues for."""
    issues: Counter[str] = Counter()
    for record in _read_tracker_json(text, name, skips):
        issues.update({row.ecosystem for row in record.affected})
        yield record
    for ecosystem, count in issues.items():
        if count >= TRACKER_EXPORT_MIN_ISSUES:
            facts.export(ecosystem, TRACKER_EXPORT)
        else:
            facts.notes.setdefault(ecosystem, f"Debian tracker JSON with {count} issue(s) for it: an extract")


def _judged_advisory_list(kind: str, text: str, name: str, skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    """The list's records; a DSA or DLA list that looks whole is whole for every release it names."""
    releases: set[str] = set()
    numbers: set[int] = set()
    for record in _read_advisory_list(text, name, skips):
        releases.update(row.ecosystem for row in record.affected)
        if record.part_precedence is None:  # the advisory itself, not a DEBIAN-CVE part
            numbers.add(int(record.id.split("-")[1]))
        yield record
    if kind not in WHOLE_LISTS:
        return
    basis = f"Debian {kind} list"
    span = max(numbers) - min(numbers) + 1 if numbers else 0
    whole = len(numbers) >= WHOLE_LIST_MIN_ADVISORIES and len(numbers) >= WHOLE_LIST_MIN_DENSITY * span
    for ecosystem in releases:
        if whole:
            facts.export(ecosystem, basis)
        else:
            facts.notes.setdefault(ecosystem, f"{basis} extract ({len(numbers)} advisories)")


@dataclass
class _Entry:
    """One entry of a tracker text list: its header and the lines below it."""

    header: re.Match[str]
    line_number: int
    lines: list[str] = field(default_factory=list)


def _entries(text: str, header: re.Pattern[str], name: str, skips: SkipLog) -> Iterator[_Entry]:
    current: _Entry | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not line[0].isspace():
            match = header.match(line)
            if current is not None:
                yield current
            current = _Entry(match, number) if match else None
            if match is None:
                skips.skip("malformed entry header", f"{name}:{number}", line[:60])
        elif current is not None:
            current.lines.append(line.strip())
    if current is not None:
        yield current


@dataclass(frozen=True)
class _PackageLine:
    release: str | None  # None for the unstable line ("- pkg ...")
    package: str
    state: FixState
    fixed: str | None
    urgency: str | None


def _package_line(line: str) -> _PackageLine | None:
    """A `[release] - package version-or-<state> (notes)` line; None when the line is something else."""
    match = _PACKAGE_LINE.match(line)
    if match is None:
        return None
    version, note = match["version"], match["note"] or ""
    urgency = severity_label(note.split(";", 1)[0].split(",", 1)[0].strip()) if note else None
    if version is None:
        state, fixed = FixState.NOT_FIXED, None
    elif version.startswith("<"):
        state = STATES.get(version.strip("<>"), FixState.UNKNOWN)
        if state is FixState.UNKNOWN:
            raise RecordError("unknown state", version)
        fixed = None
    else:
        state, fixed = FixState.FIXED, version
    return _PackageLine(match["release"], match["package"], state, fixed, urgency)


def _row(line: _PackageLine, where: str, skips: SkipLog) -> AffectedRow | None:
    if line.release is None or line.release in _UNSTABLE:
        return None
    ecosystem = RELEASES.get(line.release)
    if ecosystem is None:
        skips.skip("unknown release", where, line.release)
        return None
    return affected_row(ecosystem, line.package, line.state, fixed=line.fixed, severity=line.urgency)


def _entry_body(entry: _Entry, linked_id: re.Pattern[str], where: str,
                skips: SkipLog) -> tuple[list[str], list[AffectedRow]]:
    """The ids in the entry's `{…}` lines that `linked_id` matches, and the rows of its package lines."""
    linked: list[str] = []
    rows: list[AffectedRow] = []
    for line in entry.lines:
        if line.startswith("{"):
            linked.extend(token for token in line.strip("{}").split() if linked_id.match(token))
        elif line.startswith(("[", "-")):
            parsed = _package_line(line)
            if parsed is None:
                raise RecordError("malformed package line", line[:80])
            row = _row(parsed, where, skips)
            if row is not None:
                rows.append(row)
    return list(dict.fromkeys(linked)), rows


def _read_advisory_list(text: str, name: str, skips: SkipLog) -> Iterator[Record]:
    for entry in _entries(text, _ADVISORY_HEADER, name, skips):
        where = f"{name}:{entry.line_number}"
        advisory_id = entry.header["id"]
        date = _advisory_date(entry.header["date"])
        try:
            cves, rows = _entry_body(entry, _CVE_ID, where, skips)
        except RecordError as error:
            skips.skip(error.reason, where, error.detail)
            continue
        yield Record(
            id=advisory_id,
            provider=PROVIDER,
            modified=date,
            published=date,
            summary=text_or_none(entry.header["rest"]),
            upstream=tuple(cves),
            affected=() if cves else tuple(rows),
            severity=highest_severity(row.severity for row in rows),
        )
        for cve in cves:
            yield Record(
                id=f"DEBIAN-{cve}",
                provider=PROVIDER,
                part_precedence=PRECEDENCE_ADVISORY,
                modified=date,
                upstream=(cve,),
                related=(advisory_id,),
                affected=tuple(rows),
            )


def _advisory_date(text: str) -> str | None:
    """"29 Mar 2023" (DSA, DLA) or "August 26th, 2005" (DTSA) as RFC 3339; None when neither."""
    cleaned = _ORDINAL.sub(r"\1", text.strip())
    for layout in ("%d %b %Y", "%B %d, %Y", "%d %B %Y", "%b %d, %Y"):
        try:
            return rfc3339(datetime.strptime(cleaned, layout))  # midnight UTC: the layouts hold no time
        except ValueError:
            continue
    return None


def _read_cve_list(text: str, name: str, skips: SkipLog) -> Iterator[Record]:
    for entry in _entries(text, _CVE_HEADER, name, skips):
        cve = entry.header["id"]
        if not _CVE_ID.match(cve):
            continue  # CVE-YYYY-XXXX: an issue still waiting for its id
        where = f"{name}:{entry.line_number}"
        try:
            related, rows = _entry_body(entry, _ADVISORY_ID, where, skips)
        except RecordError as error:
            skips.skip(error.reason, where, error.detail)
            continue
        description = entry.header["rest"].strip()
        yield Record(
            id=f"DEBIAN-{cve}",
            provider=PROVIDER,
            part_precedence=PRECEDENCE_CVE_LIST,
            summary=description[1:-1].strip() or None if len(description) > 2 else None,
            upstream=(cve,),
            related=tuple(related),
            affected=tuple(rows),
            severity=highest_severity(row.severity for row in rows),
        )


def _read_tracker_json(text: str, name: str, skips: SkipLog) -> Iterator[Record]:
    """`{source package: {CVE id: {"description", "releases": {codename: {"status", ...}}}}}`, one package at
    a time."""
    try:
        for package, issues in iter_json_object(text):
            if not isinstance(issues, dict):
                skips.skip("malformed package entry", f"{name}:{package}")
                continue
            for cve in sorted(issues):
                where = f"{name}:{package}/{cve}"
                if not _CVE_ID.match(cve):
                    continue  # TEMP-… ids: issues without a CVE
                try:
                    yield _tracker_issue(package, cve, require_mapping(issues[cve], "issue"), where, skips)
                except RecordError as error:
                    skips.skip(error.reason, where, error.detail)
    except RecordError as error:
        skips.skip(error.reason, name, error.detail)


def _tracker_issue(package: str, cve: str, issue: Mapping[str, object], where: str, skips: SkipLog) -> Record:
    # The export writes `"releases": []` for an issue no release tracks.
    releases = require_mapping(issue.get("releases") or {}, "releases")
    rows: list[AffectedRow] = []
    for codename in sorted(releases):
        if codename in _UNSTABLE:
            continue
        ecosystem = RELEASES.get(codename)
        if ecosystem is None:
            skips.skip("unknown release", where, codename)
            continue
        release = require_mapping(releases[codename], "release")
        state, fixed = _tracker_state(release)
        urgency = release.get("urgency")
        rows.append(affected_row(ecosystem, package, state, fixed=fixed, severity=severity_label(urgency)))
    return Record(
        id=f"DEBIAN-{cve}",
        provider=PROVIDER,
        part_precedence=PRECEDENCE_JSON,
        details=text_or_none(issue.get("description")),
        upstream=(cve,),
        affected=tuple(rows),
        severity=highest_severity(row.severity for row in rows),
    )


def _tracker_state(release: Mapping[str, object]) -> tuple[FixState, str | None]:
    status, fixed = release.get("status"), text_or_none(release.get("fixed_version"))
    if status == "resolved":
        if fixed == "0":
            return FixState.NOT_AFFECTED, None
        return (FixState.FIXED, fixed) if fixed else (FixState.UNKNOWN, None)
    if status == "open":
        if release.get("urgency") == "end-of-life":
            return FixState.END_OF_LIFE, None
        if "nodsa" in release:
            reason = release.get("nodsa_reason")
            return (FixState.NOT_FIXED if reason == "postponed" else FixState.WONT_FIX), None
        return FixState.NOT_FIXED, None
    if status == "undetermined":
        return FixState.UNDER_INVESTIGATION, None
    raise RecordError("unknown status", str(status))
