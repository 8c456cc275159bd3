"""Red Hat Security Data API per-CVE documents (`/hydra/rest/securitydata/cve/CVE-….json`) as `redhat` records.

A helper of the `redhat` provider (dbbuilder/sources/redhat.py), which tells these documents from CSAF by
content. A document's `affected_release` entries are fixes (`package`: the source rpm's NEVRA, `cpe`, the
`advisory` that shipped it), its `package_state` entries packages without a fix (`package_name`: the source
rpm, `fix_state`, `cpe`). The CPE names a release, not a stream (`cpe:/o:redhat:enterprise_linux:8` is
`Red Hat:enterprise_linux:8`; EUS/AUS/E4S/TUS releases keep theirs: `Red Hat:rhel_eus:8.6`), which an image
of that release reads with every stream of it. Rows are keyed by source rpm name: the matcher looks an rpm up
by its binary name, then by its source rpm's.

A package named `NAME:STREAM/package` is an rpm of that module stream: its rows go to the module's ecosystem
(`Red Hat:enterprise_linux:8::module:python38:3.8`). `NAME:flatpak/…` entries (flatpak applications),
container images (`rhel9/ruby-31`) and fixes that name a module build (`ruby:2.7-8080020230427102918.63b34585`,
not its rpms) are not rpms of an image's rpm database: left out and counted, not fatal with --strict. An
entry with an unknown `fix_state`, a `package` that is not a NEVRA or a product CPE that is not Red Hat's is
skipped and counted (fatal with --strict); a field of the wrong JSON type skips the document.

The CVE list API's entries (`CVE`, `affected_packages`: NEVRAs without their product) name no stream: they
are counted and left out; the per-CVE document of the same CVE says everything they do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from scanner.model import FixState

from .base import (
    affected_row,
    require_mapping,
    rfc3339,
    severity_label,
    severity_row,
    text_or_none,
    unique_strings,
)
from .records import AffectedRow, Record, RecordError, SkipLog
from .redhat_rows import (
    CVE_ID,
    MODULE_PART,
    PRECEDENCE_SECURITY_DATA,
    add_row,
    module_ecosystem,
    stream_ecosystem,
)

LIST_ENTRY_SKIP = "security data CVE list entry: names no product stream"
NOT_RPM_SKIP = "flatpak, container image or other non-rpm component"
MODULE_BUILD_SKIP = "fix names a module build, not its rpms"
NO_PACKAGE_SKIP = "fix without a package"

# package_state fix_state (Red Hat's CVE pages) -> state; mapped as Red Hat's CSAF VEX files state the same facts.
FIX_STATES: Mapping[str, FixState] = {
    "affected": FixState.NOT_FIXED,
    "fix deferred": FixState.NOT_FIXED,  # VEX: known_affected, remediation none_available
    "will not fix": FixState.WONT_FIX,
    "out of support scope": FixState.WONT_FIX,  # VEX: known_affected, remediation no_fix_planned
    "not affected": FixState.NOT_AFFECTED,
    "under investigation": FixState.UNDER_INVESTIGATION,
}

_RPM_NAME = re.compile(r"[A-Za-z0-9._+-]+")
_NEVRA = re.compile(r"(?P<name>[A-Za-z0-9._+-]+)-(?:(?P<epoch>\d+):)?(?P<version>[A-Za-z0-9._+~^]+)"
                    r"-(?P<release>[A-Za-z0-9._+~^]+)")
# A module build: NAME:STREAM-VERSION.CONTEXT
_MODULE_BUILD = re.compile(r"[A-Za-z0-9._+-]+:[A-Za-z0-9._+]+-\d+\.[0-9a-f]+")
_ADVISORY_ID = re.compile(r"RH[SBE]A-\d{4}:\d{4,}")
_CWE_ID = re.compile(r"CWE-\d+")


class _EntryError(RecordError):
    """One entry is malformed: it is skipped, the rest of the document is read."""


def is_cve_document(document: Mapping[str, Any]) -> bool:
    """A per-CVE document: its `name` and at least one of the fields only these documents have."""
    return "name" in document and any(key in document for key in (
        "threat_severity", "affected_release", "package_state", "bugzilla", "cvss3"))


def is_cve_list_entry(document: Mapping[str, Any]) -> bool:
    return "CVE" in document and "resource_url" in document


def cve_records(document: Mapping[str, Any], provider: str, superseded: Collection[str], skips: SkipLog,
                where: str) -> list[Record]:
    """The document's `REDHAT-CVE-…` part, then one part per advisory it names.

    For a CVE in `superseded` (a VEX file of it was read: Red Hat's current word), the part keeps its text,
    ratings and advisories but no rows. Entry skips and counts reach `skips` only when the whole document
    reads: a document skipped for a field of the wrong type counts once, under that reason.
    """
    cve = document.get("name")
    if not isinstance(cve, str) or not CVE_ID.fullmatch(cve):
        raise RecordError("security data document without CVE id")
    entry_skips: list[tuple[str, str]] = []
    left_out: Counter[str] = Counter()
    rows: dict[tuple[str, str], AffectedRow] = {}
    advisories: dict[str, list[str]] = {}  # advisory -> its release dates here
    for entry in _objects(document, "affected_release"):
        try:
            fix = _fix(entry)
        except _EntryError as error:
            entry_skips.append((error.reason, error.detail))
            continue
        advisory, date = _advisory(entry)
        if advisory is not None:
            advisories.setdefault(advisory, []).extend([date] if date else [])
        if isinstance(fix, str):
            left_out[fix] += 1
        else:
            add_row(rows, fix)
    for entry in _objects(document, "package_state"):
        try:
            state_row = _state(entry)
        except _EntryError as error:
            entry_skips.append((error.reason, error.detail))
            continue
        if isinstance(state_row, str):
            left_out[state_row] += 1
        else:
            add_row(rows, state_row)
    dates = [date for dated in advisories.values() for date in dated]
    published = rfc3339(_text(document, "public_date"))
    bugzilla = _mapping(document, "bugzilla")
    cvss3 = _mapping(document, "cvss3")
    vector = _text(cvss3, "cvss3_scoring_vector")
    references = [*_strings(document, "references"), _text(bugzilla, "url") or ""]
    part = Record(
        id=f"REDHAT-{cve}",
        provider=provider,
        part_precedence=PRECEDENCE_SECURITY_DATA,
        modified=max([*dates, *([published] if published else [])], default=None),
        published=published,
        summary=text_or_none(bugzilla.get("description")),
        details=_details(document),
        severity=severity_label(_text(document, "threat_severity")),
        upstream=(cve,),
        related=tuple(sorted(advisories)),
        references=unique_strings(url for text in references for url in text.split() if url.startswith("http")),
        cwes=tuple(dict.fromkeys(_CWE_ID.findall(_text(document, "cwe") or ""))),
        affected=() if cve in superseded else tuple(rows[key] for key in sorted(rows)),
        severities=(severity_row(provider, vector),) if vector else (),
    )
    for reason, detail in entry_skips:
        skips.skip(reason, where, detail)
    skips.reasons.update(left_out)  # not malformed, so not fatal with --strict
    return [part, *(Record(id=advisory, provider=provider, part_precedence=PRECEDENCE_SECURITY_DATA,
                           modified=max(dated, default=None), published=min(dated, default=None), upstream=(cve,))
                    for advisory, dated in sorted(advisories.items()))]


def _fix(entry: Mapping[str, Any]) -> AffectedRow | str:
    """A fixed row, or the reason the fix is not an rpm of an image (counted)."""
    package = entry.get("package")
    if package is None:
        return NO_PACKAGE_SKIP
    if not isinstance(package, str):
        raise RecordError("affected_release package is not a string")
    nevra = _NEVRA.fullmatch(package)
    if nevra is None:
        if _MODULE_BUILD.fullmatch(package):
            return MODULE_BUILD_SKIP
        if "/" in package:
            return NOT_RPM_SKIP
        raise _EntryError("invalid NEVRA", package[:200])
    epoch = int(nevra["epoch"] or 0)
    version = f"{nevra['version']}-{nevra['release']}"
    return affected_row(_ecosystem(entry), nevra["name"], FixState.FIXED,
                        fixed=f"{epoch}:{version}" if epoch else version)


def _advisory(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    advisory = entry.get("advisory")
    if advisory is not None and not isinstance(advisory, str):
        raise RecordError("affected_release advisory is not a string")
    if advisory is None or not _ADVISORY_ID.fullmatch(advisory):
        return None, None
    return advisory, rfc3339(_text(entry, "release_date"))


def _state(entry: Mapping[str, Any]) -> AffectedRow | str:
    """A row for a package without a fix, or the reason it is not an rpm of an image (counted)."""
    name = entry.get("package_name")
    state_text = entry.get("fix_state")
    if not isinstance(name, str) or not isinstance(state_text, str):
        raise RecordError("package_state entry without package_name and fix_state strings")
    module, _, package = name.rpartition("/")
    module_name, _, stream_name = module.partition(":")
    if module and (not MODULE_PART.fullmatch(module_name) or not MODULE_PART.fullmatch(stream_name)
                   or stream_name == "flatpak"):
        return NOT_RPM_SKIP
    if not _RPM_NAME.fullmatch(package):
        raise _EntryError("invalid package name", name[:200])
    state = FIX_STATES.get(state_text.strip().lower())
    if state is None:
        raise _EntryError("unknown fix_state", state_text[:200])
    ecosystem = _ecosystem(entry)
    return affected_row(module_ecosystem(ecosystem, module) if module else ecosystem, package, state)


def _ecosystem(entry: Mapping[str, Any]) -> str:
    ecosystem = stream_ecosystem(entry.get("cpe"))
    if ecosystem is None:
        raise _EntryError("entry without a Red Hat product CPE", str(entry.get("cpe"))[:200])
    return ecosystem


def _details(document: Mapping[str, Any]) -> str | None:
    mitigation_text = _text(_mapping(document, "mitigation"), "value")
    statement = _text(document, "statement")
    paragraphs = [*_strings(document, "details"),
                  *([f"Statement: {statement}"] if statement else []),
                  *([f"Mitigation: {mitigation_text}"] if mitigation_text else [])]
    return "\n\n".join(paragraphs) or None


# JSON null is taken as an absent member; any other value of the wrong type refuses the document.
def _mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    return {} if value is None else require_mapping(value, key)


def _objects(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = [] if document.get(key) is None else document[key]
    if not isinstance(value, list):
        raise RecordError(f"{key} is not a list")
    return [require_mapping(item, f"{key} entry") for item in value]


def _strings(document: Mapping[str, Any], key: str) -> list[str]:
    value = [] if document.get(key) is None else document[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordError(f"{key} is not a list of strings")
    return [item.strip() for item in value if item.strip()]


def _text(container: Mapping[str, Any], key: str) -> str | None:
    value = container.get(key)
    if value is not None and not isinstance(value, str):
        raise RecordError(f"{key} is not a string")
    return text_or_none(value)
