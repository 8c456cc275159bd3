"""CVE JSON 5 records (the CVE Program's cvelistV5 layout: one `CVE-YYYY-NNNN.json` per CVE).

Kept per CVE: the description, CWE ids and CVSS vectors (v4.0, v3.1, v3.0, v2.0) of the CNA and of the
ADPs (CISA-ADP, ...), each row's `source` naming who scored it: `cve5/<CNA shortName>` or
`cve5/adp/<ADP shortName>`. They join NVD's rows of the same CVE, so a finding has a CVSS score where
NVD has none yet. Affected products and CPEs are not read.

Records are read strictly: a field of the wrong JSON type, a CVSS key whose vector is of another
version, an unknown state make the record malformed (skipped with the reason; fatal with --strict).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .base import english_text, first_sentence, require_mapping, rfc3339, severity_row, unique_strings
from .feedio import parse_document, read_capped
from .records import FeedFacts, Record, RecordError, SeverityRow, SkipLog

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
_JSON_TYPES: dict[type, str] = {str: "a string", list: "an array", dict: "an object"}


def accepts(path: Path) -> bool:
    return _FILE_NAME.fullmatch(path.name) is not None


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    del facts  # a record says nothing about the whole list, nor when it was captured
    for name, path in files:
        try:
            yield parse_record(parse_document(read_capped(path, MAX_FILE_BYTES), path.name))
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)


def _malformed(where: str, expected: str) -> RecordError:
    return RecordError("malformed CVE record", f"{where} is not {expected}")


def _field(record: Mapping[str, Any], key: str, kind: type, where: str, *, required: bool = False) -> Any:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        raise _malformed(f"{where}.{key}", _JSON_TYPES[kind])
    return value


def _objects(record: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    items = _field(record, key, list, where) or []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _malformed(f"{where}.{key}[{index}]", "an object")
    return items


def parse_record(document: object) -> Record:
    """One CVE JSON 5 record (`dataType` CVE_RECORD, `dataVersion` 5.x)."""
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
    for index, adp in enumerate(adps):
        where = f"containers.adp[{index}]"
        adp_name = _short_name(adp, where)
        if not adp_name:
            raise RecordError("no ADP name", f"{where}.providerMetadata.shortName")
        severities += [row for row in _severities(adp, f"{PROVIDER}/adp/{adp_name}", where) if row not in severities]
        cwes += _cwes(adp, where)
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
