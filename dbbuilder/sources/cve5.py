"""CVE JSON 5 records (the CVE Program's cvelistV5 layout: one `CVE-YYYY-NNNN.json` per CVE).

Kept per CVE: the description, CWE ids and CVSS vectors (v4.0, v3.1, v3.0, v2.0) of the CNA and of the
ADPs (CISA-ADP, ...), each row's `source` naming who scored it: `cve5/<CNA shortName>` or
`cve5/adp/<ADP shortName>`. They join NVD's rows of the same CVE, so a finding has a CVSS score where
NVD has none yet.

CPE rows for the opt-in CPE matcher come from `affected[]` (CNA and ADPs), only where the data says
unambiguously which product and which versions: the product is named by the entry's CPE 2.3 `cpes` (with
version `*` or `-`), else by `vendor` and `product` that are CPE-like names once lower-cased with `_` for
spaces (no placeholder such as `n/a`); each `versions[]` item of status `affected` and versionType
`semver` without `changes` gives one row: `version` (`0` = from the start) to `lessThan` (excluding) or
`lessThanOrEqual` (including), or that version alone. An entry with several ranges from `0` (nested: read
literally, fixed releases of older branches would be affected) gives none. Everything else an entry claims affected (another
versionType, `changes`, wildcards, `defaultStatus: affected`, which says "every version not listed") is
left out and counted under a `CPE not derived: …` reason, beside the skips but never fatal with --strict:
it is not malformed, only not expressible as CPE bounds. NVD's configurations stay primary: the compiler
keeps CVE JSON 5 CPE rows only for CVEs NVD gives none for (docs/database.md).

Records are read strictly: a field of the wrong JSON type, a CVSS key whose vector is of another
version, an unknown state make the record malformed (skipped with the reason; fatal with --strict).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner.jsonstrict import list_of, member, optional_member

from .base import english_text, first_sentence, require_mapping, rfc3339, severity_row, unique_strings
from .feedio import parse_document, read_capped
from .records import CpeRow, FeedFacts, Record, RecordError, SeverityRow, SkipLog

PROVIDER = "cve5"
FLAG_HELP = ("CVE JSON 5 records (cvelistV5 CVE-*.json) or directories: descriptions, CWEs and the CNA's"
             " and ADPs' CVSS (repeatable).")
PRECEDENCE = 90
# The largest real records (kernel CVEs listing every affected version) are a few hundred KiB.
MAX_FILE_BYTES = 16 << 20
_FILE_NAME = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}\.json")  # not cvelistV5's delta.json, deltaLog.json
_CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}", re.ASCII)
_CWE_ID = re.compile(r"CWE-[0-9]{1,9}", re.ASCII)
# Metric keys, best first: the CVSS type each holds and how its vector must start (v2 has no prefix).
_METRICS = (("cvssV4_0", "CVSS_V4", "CVSS:4.0/"), ("cvssV3_1", "CVSS_V3", "CVSS:3.1/"),
            ("cvssV3_0", "CVSS_V3", "CVSS:3.0/"), ("cvssV2_0", "CVSS_V2", ""))
_STATES = ("PUBLISHED", "REJECTED")
# CPE derivation from affected[]: names, versions, and the count keys of what is left out.
_CPE_TOKEN = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}", re.ASCII)
_PLAIN_VERSION = re.compile(r"[0-9][0-9A-Za-z.+~_-]{0,63}", re.ASCII)
_CPE_UNESCAPED = re.compile(r"[^A-Za-z0-9._-]")
_CPE_SEPARATOR = re.compile(r"(?<!\\):")
_SEMVER_TYPES = frozenset({"semver"})
_VERSION_STATUSES = frozenset({"affected", "unaffected", "unknown"})
NOT_DERIVED = "CPE not derived: "
NO_NAME = NOT_DERIVED + "no CPE 2.3 name or CPE-like vendor and product"
AFFECTED_BY_DEFAULT = NOT_DERIVED + "defaultStatus affected"
NOT_SEMVER = NOT_DERIVED + "versionType not semver"
WITH_CHANGES = NOT_DERIVED + "version changes"
NOT_PLAIN = NOT_DERIVED + "not a plain version or range"
NESTED_RANGES = NOT_DERIVED + "several ranges from version 0"


def accepts(path: Path) -> bool:
    return _FILE_NAME.fullmatch(path.name) is not None


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    del facts  # a record says nothing about the whole list, nor when it was captured
    for name, path in files:
        left_out: Counter[str] = Counter()
        try:
            record = parse_record(parse_document(read_capped(path, MAX_FILE_BYTES), path.name), left_out)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        # Not malformed, so not fatal with --strict: counted beside the skips for the audit trail.
        skips.reasons.update(left_out)
        yield record


def _malformed(detail: str) -> RecordError:
    return RecordError("malformed CVE record", detail)


def _field(record: Mapping[str, Any], key: str, kind: type, where: str, *, required: bool = False) -> Any:
    """`record[key]` of JSON type `kind`; None when absent or null unless `required`."""
    get = member if required else optional_member
    return get(record, key, kind, where or "record", _malformed)


def _objects(record: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    return list_of(_field(record, key, list, where) or [], dict, f"{where}.{key}", _malformed)


def parse_record(document: object, left_out: Counter[str] | None = None) -> Record:
    """One CVE JSON 5 record (`dataType` CVE_RECORD, `dataVersion` 5.x); `left_out` counts, by reason, the
    affected entries and versions no CPE row could be derived from."""
    top = require_mapping(document, "CVE record")
    if top.get("dataType") != "CVE_RECORD":
        raise RecordError("not a CVE JSON 5 record", "dataType is not CVE_RECORD")
    version = _field(top, "dataVersion", str, "", required=True)
    if not version.startswith("5."):
        raise RecordError("unsupported CVE JSON version", version[:20])
    meta = _field(top, "cveMetadata", dict, "", required=True)
    cve_id = _field(meta, "cveId", str, "cveMetadata", required=True)
    if not _CVE_ID.fullmatch(cve_id):
        raise RecordError("missing or invalid CVE id", cve_id[:40])
    state = _field(meta, "state", str, "cveMetadata", required=True)
    if state not in _STATES:
        raise RecordError("unknown CVE state", state[:20])
    containers = _field(top, "containers", dict, "", required=True)
    cna = _field(containers, "cna", dict, "containers", required=True)
    adps = _objects(containers, "adp", "containers")
    modified = rfc3339(_field(meta, "dateUpdated", str, "cveMetadata"))
    withdrawn = None
    if state == "REJECTED":
        withdrawn = rfc3339(_field(meta, "dateRejected", str, "cveMetadata")) or modified
    cna_name = _short_name(cna, "containers.cna") or _field(meta, "assignerShortName", str, "cveMetadata")
    if not cna_name:
        raise RecordError("no CNA name", "neither containers.cna.providerMetadata.shortName nor assignerShortName")
    severities: list[SeverityRow] = _severities(cna, f"{PROVIDER}/{cna_name}", "containers.cna")
    cwes = _cwes(cna, "containers.cna")
    counts: Counter[str] = Counter() if left_out is None else left_out
    cpes = _cpe_rows(cna, "containers.cna", counts)
    for index, adp in enumerate(adps):
        where = f"containers.adp[{index}]"
        adp_name = _short_name(adp, where)
        if not adp_name:
            raise RecordError("no ADP name", f"{where}.providerMetadata.shortName")
        severities += [row for row in _severities(adp, f"{PROVIDER}/adp/{adp_name}", where) if row not in severities]
        cwes += _cwes(adp, where)
        cpes += _cpe_rows(adp, where, counts)
    description = english_text(_objects(cna, "descriptions", "containers.cna"))
    title = _field(cna, "title", str, "containers.cna")
    return Record(
        id=cve_id,
        provider=PROVIDER,
        modified=modified,
        published=rfc3339(_field(meta, "datePublished", str, "cveMetadata")),
        withdrawn=withdrawn,
        summary=title.strip() if title and title.strip() else first_sentence(description),
        details=description,
        references=unique_strings(reference.get("url") for reference in _objects(cna, "references", "containers.cna")),
        cwes=unique_strings(cwes),
        severities=tuple(severities),
        cpes=tuple(dict.fromkeys(cpes)),
    )


def _short_name(container: Mapping[str, Any], where: str) -> str | None:
    provider = _field(container, "providerMetadata", dict, where)
    name = _field(provider, "shortName", str, f"{where}.providerMetadata") if provider else None
    return name.strip() if name and name.strip() else None


def _severities(container: Mapping[str, Any], source: str, where: str) -> list[SeverityRow]:
    rows: list[SeverityRow] = []
    for index, metric in enumerate(_objects(container, "metrics", where)):
        for key, kind, prefix in _METRICS:
            data = _field(metric, key, dict, f"{where}.metrics[{index}]")
            if data is None:
                continue
            vector = _field(data, "vectorString", str, f"{where}.metrics[{index}].{key}", required=True).strip()
            if not vector.startswith(prefix) or (not prefix and vector.startswith("CVSS:")):
                raise RecordError("CVSS vector of another version", f"{where}.metrics[{index}].{key}: {vector[:40]}")
            row = severity_row(source, vector, kind)
            if row not in rows:
                rows.append(row)
    return rows


def _cwes(container: Mapping[str, Any], where: str) -> list[str]:
    found = []
    for index, problem in enumerate(_objects(container, "problemTypes", where)):
        for entry in _objects(problem, "descriptions", f"{where}.problemTypes[{index}]"):
            cwe = entry.get("cweId")
            if isinstance(cwe, str) and _CWE_ID.fullmatch(cwe):
                found.append(cwe)
    return found


def _cpe_rows(container: Mapping[str, Any], where: str, left_out: Counter[str]) -> list[CpeRow]:
    """CPE rows for the affected versions of a container's `affected[]` (see the module docstring)."""
    rows: list[CpeRow] = []
    for index, entry in enumerate(_objects(container, "affected", where)):
        at = f"{where}.affected[{index}]"
        versions = _objects(entry, "versions", at)
        default = _field(entry, "defaultStatus", str, at)
        statuses = [_field(item, "status", str, f"{at}.versions[{n}]", required=True) for n, item in enumerate(versions)]
        if any(status not in _VERSION_STATUSES for status in [*statuses, default or "unknown"]):
            raise _malformed(f"{at} status is not affected, unaffected or unknown")
        claimed = [item for item, status in zip(versions, statuses, strict=True) if status == "affected"]
        names = _cpe_names(entry, at)
        if default != "affected" and not claimed:
            continue  # nothing claimed affected: nothing to represent
        if not names:
            left_out[NO_NAME] += 1
        elif default == "affected":
            left_out[AFFECTED_BY_DEFAULT] += 1
        else:
            derived = [bounds for item in claimed if (bounds := _bounds(item, at, left_out)) is not None]
            if len({(below, up_to) for version, start, below, up_to in derived if version == "*" and start is None}) > 1:
                # Several ranges "from 0" nest inside the widest: read literally, every version below its end
                # is affected, fixed releases of older branches included; the CNA meant one range per branch.
                left_out[NESTED_RANGES] += 1
                continue
            rows += [_row(name, *bounds) for bounds in derived for name in names]
    return rows


def _cpe_names(entry: Mapping[str, Any], where: str) -> list[list[str]]:
    """The CPE 2.3 names (as their 13 components) an affected entry is about; [] when it names none."""
    listed = _field(entry, "cpes", list, where)
    if listed:
        names = []
        for cpe in listed:
            parts = _CPE_SEPARATOR.split(cpe) if isinstance(cpe, str) else []
            if (len(parts) != 13 or parts[:2] != ["cpe", "2.3"] or parts[2] not in ("a", "o", "h")
                    or parts[3] in ("*", "-", "") or parts[4] in ("*", "-", "") or parts[5] not in ("*", "-")):
                return []  # one name we cannot use makes the entry's product uncertain
            names.append(parts)
        return names
    vendor, product = (_cpe_token(_field(entry, key, str, where)) for key in ("vendor", "product"))
    if vendor is None or product is None:
        return []
    return [["cpe", "2.3", "a", vendor, product, *["*"] * 8]]


def _cpe_token(name: str | None) -> str | None:
    token = "_".join(name.lower().split()) if name else ""
    return token if _CPE_TOKEN.fullmatch(token) else None


def _bounds(item: Mapping[str, Any], where: str, left_out: Counter[str]) -> tuple[str, str | None, str | None,
                                                                                    str | None] | None:
    """(version, start including, end excluding, end including) of one affected version item, or None
    (counted) when it is not a plain semver version or range."""
    if item.get("versionType") not in _SEMVER_TYPES:
        left_out[NOT_SEMVER] += 1
        return None
    if item.get("changes") is not None:
        left_out[WITH_CHANGES] += 1
        return None
    version = _field(item, "version", str, f"{where}.versions[]", required=True)
    below, up_to = (_field(item, key, str, f"{where}.versions[]") for key in ("lessThan", "lessThanOrEqual"))
    plain = all(_PLAIN_VERSION.fullmatch(value) for value in (version, below, up_to) if value is not None)
    if not plain or (below is not None and up_to is not None):
        left_out[NOT_PLAIN] += 1
        return None
    if below is None and up_to is None:
        return version, None, None, None
    return "*", None if version == "0" else version, below, up_to


def _row(name: list[str], version: str, start: str | None, below: str | None, up_to: str | None) -> CpeRow:
    criteria = ":".join([*name[:5], _CPE_UNESCAPED.sub(lambda found: "\\" + found.group(), version)
                         if version != "*" else name[5], *name[6:]])
    return CpeRow(vendor=name[3], product=name[4], criteria=criteria, version_start_including=start,
                  version_end_excluding=below, version_end_including=up_to)
