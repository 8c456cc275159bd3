"""CISA's Known Exploited Vulnerabilities catalog (`known_exploited_vulnerabilities.json`).

The catalog is one JSON document (https://www.cisa.gov/known-exploited-vulnerabilities-catalog, schema
`known_exploited_vulnerabilities_schema.json` beside it): `catalogVersion`, `dateReleased`, `count` and
the `vulnerabilities` list. What the catalog says about itself must hold, or the whole file is refused
(FeedError): a catalog whose `count` differs from its list was cut short or edited, and a release time
that is no time leaves its age unknown. An entry that breaks the schema (a field missing or of the
wrong type, a malformed CVE id or date) is skipped and counted, or fatal with `strict`; a CVE listed
twice keeps its first entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from scanner.db.schema import KEV_PROVIDER
from scanner.errors import FeedError
from scanner.fileio import read_capped
from scanner.jsonstrict import expect, loads_strict, member

from .base import rfc3339
from .records import SkipLog

PROVIDER = KEV_PROVIDER
# The real catalog is about 1.3 MB for 1,400 entries; far larger is not the catalog.
MAX_CATALOG_BYTES = 64 * 1024 * 1024
# Longest text kept from an entry (CISA's required actions and notes run to a few hundred characters).
MAX_TEXT_CHARS = 4096
CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The schema's required fields of an entry, each a string.
_REQUIRED = ("cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded", "shortDescription",
             "requiredAction", "dueDate")
RANSOMWARE_UNKNOWN = "Unknown"  # the catalog's word when CISA lacks confirmation (and for an absent field)


@dataclass(frozen=True)
class KevEntry:
    cve: str
    date_added: str  # YYYY-MM-DD
    due_date: str  # YYYY-MM-DD
    known_ransomware_use: str  # "Known" or "Unknown" (the catalog's text)
    required_action: str
    vendor_project: str
    product: str
    name: str  # vulnerabilityName


@dataclass(frozen=True)
class KevCatalog:
    version: str  # catalogVersion, e.g. "2025.08.25"
    released: str  # dateReleased as RFC 3339 UTC, whole seconds: the data's capture time
    entries: tuple[KevEntry, ...]  # in the catalog's order, each CVE once


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class _SchemaBreak(Exception):
    """An entry field missing or of another JSON type; the message is the skip-log key."""


def _entry(value: object) -> KevEntry | str:
    """The entry, or the reason (a skip-log key) it breaks the schema."""
    try:
        fields: Mapping[str, Any] = expect(value, dict, "entry", _SchemaBreak)
        for name in _REQUIRED:
            member(fields, name, str, "entry", _SchemaBreak)
        ransomware = member(fields, "knownRansomwareCampaignUse", str, "entry", _SchemaBreak,
                            default=RANSOMWARE_UNKNOWN)
    except _SchemaBreak as error:
        return str(error)
    if not CVE_ID.fullmatch(fields["cveID"]):
        return "malformed cveID"
    if not _is_date(fields["dateAdded"]) or not _is_date(fields["dueDate"]):
        return "malformed date"
    texts = (fields["requiredAction"], fields["vendorProject"], fields["product"], fields["vulnerabilityName"],
             ransomware)
    if any(len(text) > MAX_TEXT_CHARS for text in texts):
        return "field too long"
    return KevEntry(cve=fields["cveID"], date_added=fields["dateAdded"], due_date=fields["dueDate"],
                    known_ransomware_use=ransomware.strip() or RANSOMWARE_UNKNOWN,
                    required_action=fields["requiredAction"].strip(), vendor_project=fields["vendorProject"].strip(),
                    product=fields["product"].strip(), name=fields["vulnerabilityName"].strip())


def read_kev(path: Path, skips: SkipLog) -> KevCatalog:
    """The catalog in `path`; FeedError naming the file when the catalog as a whole is not one."""
    what = f"KEV catalog {path}"
    document = expect(loads_strict(read_capped(path, MAX_CATALOG_BYTES, "KEV catalog", FeedError), what, FeedError),
                      dict, what, FeedError)
    version = member(document, "catalogVersion", str, what, FeedError)
    if not version.strip():
        raise FeedError(f"{what}: field 'catalogVersion' is blank")
    released, count = document.get("dateReleased"), document.get("count")
    captured = rfc3339(released) if isinstance(released, str) else None
    if captured is None:
        raise FeedError(f"{what}: dateReleased {str(released)[:40]!r} is not a date-time")
    listed = member(document, "vulnerabilities", list, what, FeedError)
    if type(count) is not int or count != len(listed):
        raise FeedError(f"{what}: count {str(count)[:20]} but {len(listed)} vulnerabilities listed "
                        "(cut short or edited)")
    entries: dict[str, KevEntry] = {}
    for index, value in enumerate(listed):
        entry = _entry(value)
        where = f"{path} vulnerabilities[{index}]"
        if isinstance(entry, str):
            skips.skip(entry, where)
        elif entry.cve in entries:
            skips.skip("duplicate cveID", where, entry.cve)
        else:
            entries[entry.cve] = entry
    return KevCatalog(version=version.strip(), released=captured, entries=tuple(entries.values()))
