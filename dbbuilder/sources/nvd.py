"""NVD CVE records: CVE API 2.0 pages (`{"vulnerabilities": [{"cve": ...}]}`), bare API 2.0 `cve` objects
(one per file, as mirrors keep them) and the legacy 1.1 JSON feed (`{"CVE_Items": [...]}`), plain or gzipped.

A page is parsed whole (API pages hold at most 2,000 CVEs; a legacy yearly feed about 20,000) and its
records are handed on one by one. CPE configurations are kept flat, vulnerable matches only, for the
opt-in CPE matcher; platform conditions (`AND` nodes) are not modelled.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner.db.schema import CPE_ECOSYSTEM

from .base import (
    english_text,
    first_sentence,
    require_mapping,
    rfc3339,
    severity_row,
    text_or_none,
    unique_strings,
)
from .feedio import parse_document, read_capped
from .records import CpeRow, FeedFacts, Record, RecordError, SeverityRow, SkipLog

PROVIDER = "nvd"
FLAG_HELP = "NVD CVE API 2.0 pages or legacy 1.1 feeds (repeatable)."
PRECEDENCE = 80
MAX_FILE_BYTES = 1 << 30

# NVD 2.0 metric keys, best first, and the CVSS type each holds.
_METRICS = (("cvssMetricV40", "CVSS_V4"), ("cvssMetricV31", "CVSS_V3"), ("cvssMetricV30", "CVSS_V3"),
            ("cvssMetricV2", "CVSS_V2"))
_PLACEHOLDER_CWES = {"NVD-CWE-Other", "NVD-CWE-noinfo"}
_NVD_SOURCE = "nvd@nist.gov"


def accepts(path: Path) -> bool:
    return path.name.endswith((".json", ".json.gz"))


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    for name, path in files:
        try:
            document = require_mapping(_load(path), "NVD file")
            items, parse = _items(document)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        facts.export(CPE_ECOSYSTEM, "NVD CVE data")
        # When NVD produced the page (API 2.0) or the feed (legacy 1.1): the data is as fresh as that.
        stamp = rfc3339(document.get("timestamp") or document.get("CVE_data_timestamp"))
        if stamp is not None:
            facts.timestamps.append(stamp)
        for index, item in enumerate(items):
            try:
                yield parse(item)
            except RecordError as error:
                skips.skip(error.reason, f"{name} item {index}", error.detail)


def _load(path: Path) -> object:
    data = read_capped(path, MAX_FILE_BYTES)
    if path.name.endswith(".gz"):
        try:
            # A gzip bomb stops at the same cap as a plain file.
            data = zlib.decompressobj(wbits=31).decompress(data, MAX_FILE_BYTES + 1)
        except zlib.error as error:
            raise RecordError("invalid gzip", str(error)) from error
        if len(data) > MAX_FILE_BYTES:
            raise RecordError("file too large", f"over {MAX_FILE_BYTES} bytes decompressed")
    return parse_document(data, path.name.removesuffix(".gz"))


def _items(page: Mapping[str, Any]) -> tuple[list[Any], Any]:
    if "vulnerabilities" in page:
        items = page["vulnerabilities"]
        if not isinstance(items, list):
            raise RecordError("malformed NVD page", "vulnerabilities is not a list")
        return items, _parse_api_item
    if "CVE_Items" in page:
        items = page["CVE_Items"]
        if not isinstance(items, list):
            raise RecordError("malformed NVD feed", "CVE_Items is not a list")
        return items, parse_legacy_item
    if "id" in page and "descriptions" in page:
        return [{"cve": page}], _parse_api_item
    raise RecordError("not an NVD file", "no vulnerabilities, CVE_Items or cve object")


def _parse_api_item(item: object) -> Record:
    return parse_api_cve(require_mapping(item, "item").get("cve"))


def parse_api_cve(value: object) -> Record:
    """One CVE API 2.0 `cve` object."""
    cve = require_mapping(value, "cve")
    cve_id = text_or_none(cve.get("id"))
    if cve_id is None or not cve_id.startswith("CVE-"):
        raise RecordError("missing or invalid CVE id")
    modified = rfc3339(cve.get("lastModified"))
    description = english_text(cve.get("descriptions"))
    severities: list[SeverityRow] = []
    metrics = cve.get("metrics")
    if isinstance(metrics, dict):
        for key, kind in _METRICS:
            for metric in _dicts(metrics.get(key)):
                data = metric.get("cvssData")
                vector = data.get("vectorString") if isinstance(data, dict) else None
                if isinstance(vector, str) and vector.strip():
                    source = metric.get("source")
                    row = severity_row(_source(source if metric.get("type") != "Primary" else _NVD_SOURCE),
                                       vector.strip(), kind)
                    if row not in severities:
                        severities.append(row)
    cwes = [entry.get("value") for weakness in _dicts(cve.get("weaknesses"))
            for entry in _dicts(weakness.get("description"))]
    cpes = [row for configuration in _dicts(cve.get("configurations"))
            for row in _cpe_rows(configuration.get("nodes"), "cpeMatch", "criteria")]
    return _record(
        cve_id,
        modified=modified,
        published=rfc3339(cve.get("published")),
        withdrawn=modified if cve.get("vulnStatus") == "Rejected" else None,
        description=description,
        references=[ref.get("url") for ref in _dicts(cve.get("references"))],
        cwes=cwes,
        severities=severities,
        cpes=cpes,
    )


def parse_legacy_item(value: object) -> Record:
    """One item of the legacy 1.1 feed's `CVE_Items`."""
    item = require_mapping(value, "CVE item")
    cve = require_mapping(item.get("cve"), "cve")
    meta = cve.get("CVE_data_meta")
    cve_id = text_or_none(meta.get("ID")) if isinstance(meta, dict) else None
    if cve_id is None or not cve_id.startswith("CVE-"):
        raise RecordError("missing or invalid CVE id")
    modified = rfc3339(item.get("lastModifiedDate"))
    description_block = cve.get("description")
    description = english_text(description_block.get("description_data") if isinstance(description_block, dict)
                           else None)
    severities: list[SeverityRow] = []
    impact = item.get("impact")
    if isinstance(impact, dict):
        for base_key, cvss_key, kind in (("baseMetricV3", "cvssV3", "CVSS_V3"), ("baseMetricV2", "cvssV2", "CVSS_V2")):
            base = impact.get(base_key)
            data = base.get(cvss_key) if isinstance(base, dict) else None
            vector = data.get("vectorString") if isinstance(data, dict) else None
            if isinstance(vector, str) and vector.strip():
                severities.append(severity_row(PROVIDER, vector.strip(), kind))
    problemtype = cve.get("problemtype")
    cwes = [entry.get("value")
            for block in _dicts(problemtype.get("problemtype_data") if isinstance(problemtype, dict) else None)
            for entry in _dicts(block.get("description"))]
    references = cve.get("references")
    configurations = item.get("configurations")
    return _record(
        cve_id,
        modified=modified,
        published=rfc3339(item.get("publishedDate")),
        withdrawn=modified if description and description.startswith("** REJECT **") else None,
        description=description,
        references=[ref.get("url") for ref in _dicts(references.get("reference_data")
                                                     if isinstance(references, dict) else None)],
        cwes=cwes,
        severities=severities,
        cpes=_cpe_rows(configurations.get("nodes") if isinstance(configurations, dict) else None,
                       "cpe_match", "cpe23Uri"),
    )


def _record(cve_id: str, *, modified: str | None, published: str | None, withdrawn: str | None,
            description: str | None, references: Iterable[object], cwes: Iterable[object],
            severities: list[SeverityRow], cpes: list[CpeRow]) -> Record:
    return Record(
        id=cve_id,
        provider=PROVIDER,
        modified=modified,
        published=published,
        withdrawn=withdrawn,
        summary=first_sentence(description),
        details=description,
        references=unique_strings(references),
        cwes=tuple(cwe for cwe in unique_strings(cwes) if cwe not in _PLACEHOLDER_CWES),
        severities=tuple(severities),
        cpes=tuple(dict.fromkeys(cpes)),
    )


def _cpe_rows(nodes: object, match_key: str, criteria_key: str) -> list[CpeRow]:
    """Vulnerable CPE matches of a configuration's nodes, children included (the 1.1 feed nests them)."""
    rows: list[CpeRow] = []
    pending = list(_dicts(nodes))
    while pending:
        node = pending.pop(0)
        pending.extend(_dicts(node.get("children")))
        for match in _dicts(node.get(match_key)):
            criteria = match.get(criteria_key)
            if match.get("vulnerable") is not True or not isinstance(criteria, str):
                continue
            parts = criteria.split(":")
            if len(parts) < 6 or parts[:2] != ["cpe", "2.3"]:
                raise RecordError("malformed CPE", criteria)
            rows.append(CpeRow(
                vendor=parts[3],
                product=parts[4],
                criteria=criteria,
                version_start_including=text_or_none(match.get("versionStartIncluding")),
                version_start_excluding=text_or_none(match.get("versionStartExcluding")),
                version_end_including=text_or_none(match.get("versionEndIncluding")),
                version_end_excluding=text_or_none(match.get("versionEndExcluding")),
            ))
    return rows


def _source(source: object) -> str:
    if not isinstance(source, str) or source == _NVD_SOURCE:
        return PROVIDER
    return f"{PROVIDER}/{source}"


def _dicts(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
