"""Red Hat CSAF 2.0 documents: security advisories (RHSA, `csaf_security_advisory`) and per-CVE VEX files.

A document is Red Hat's when its `document.category` is `csaf_security_advisory` or `csaf_vex` and its
publisher is Red Hat; other JSON files are skipped ("not a Red Hat CSAF document"). The product tree names
product streams (a CPE such as `cpe:/a:redhat:enterprise_linux:9::appstream`) and packages (a PURL
`pkg:rpm/redhat/NAME@VERSION-RELEASE?arch=…&epoch=N`); a `default_component_of` relationship joins one of
each into the product id that `product_status` lists. The stream's CPE after the vendor is the OSV Red Hat
ecosystem (`Red Hat:enterprise_linux:9::appstream`), which an image's `Red Hat:enterprise_linux:9` reads
with every stream of its release (scanner/match/matcher.py, `is_spelling`).

Like osv.dev for Debian, the reader emits one `REDHAT-CVE-…` advisory per CVE (upstream: the CVE), as
parts the compiler assembles across documents: its rows are every (stream, package) the CVE's product
status names, binary and source (`arch=src`) rpm names both, so the matcher finds a package by either; its
rating is Red Hat's impact for the CVE (`threats`, else the document's `aggregate_severity`); its CVSS
vectors have source `redhat`. Each RHSA is also kept as an advisory of its own (title, dates, rating, its
CVEs as upstream, listed in the CVE parts' `related`), without rows, so a fix is never reported twice.
Where one package is named both not affected and affected (a source rpm marked not affected beside its
fixed binaries), the affected row is kept; two different affected states or fixes for one package make
the document ambiguous: it is skipped. Packages of modular streams (`rpmmod=`) are left out and counted:
they apply only to images with that module stream enabled, which the rpm database does not say.

Loose documents never make a stream's data whole: Red Hat's coverage stays partial.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from scanner.model import FixState

from .base import (
    affected_row,
    highest_severity,
    require_mapping,
    rfc3339,
    severity_label,
    severity_row,
    text_or_none,
    unique_strings,
)
from .feedio import parse_document, read_capped
from .records import AffectedRow, FeedFacts, Record, RecordError, SkipLog

PROVIDER = "redhat"
FLAG_HELP = "Red Hat CSAF advisories (RHSA) or VEX JSON files or directories (repeatable)."
PRECEDENCE = 40
MAX_FILE_BYTES = 64 << 20  # the largest RHSA documents (kernel, firefox) are a few MiB
MAX_TREE_DEPTH = 16  # vendor / family / product / architecture / version is 5 levels

CATEGORIES = frozenset({"csaf_security_advisory", "csaf_vex"})
MODULAR_SKIP = "modular stream package: needs module metadata of the image"
# For one CVE's (stream, package), a VEX file (Red Hat's current word on the CVE) wins over an advisory; among
# advisories, the first read (files in name order).
PRECEDENCE_VEX, PRECEDENCE_ADVISORY = 0, 1

# product_status category -> state. `known_affected` is refined by its remediation (REMEDIATION_STATES).
STATUS_STATES: Mapping[str, FixState] = {
    "fixed": FixState.FIXED,
    "known_affected": FixState.NOT_FIXED,
    "known_not_affected": FixState.NOT_AFFECTED,
    "under_investigation": FixState.UNDER_INVESTIGATION,
}
REMEDIATION_STATES: Mapping[str, FixState] = {
    "no_fix_planned": FixState.WONT_FIX,
    "none_available": FixState.NOT_FIXED,
}

_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


@dataclass(frozen=True)
class _Package:
    name: str
    evr: str | None  # epoch:version-release (no epoch when it is 0); None when the PURL has no version
    modular: bool


def accepts(path: Path) -> bool:
    return path.name.endswith(".json")


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    for name, path in files:
        try:
            document = require_mapping(parse_document(read_capped(path, MAX_FILE_BYTES), path.name), "document")
            records, modular = _records(document)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        except RecursionError:
            skips.skip("product tree too deep", name)
            continue
        if modular:
            # Not malformed, so not fatal with --strict: counted beside the skips for the audit trail.
            skips.reasons[MODULAR_SKIP] += modular
        facts.timestamps.extend(record.modified for record in records[:1] if record.modified is not None)
        yield from records


def _records(document: Mapping[str, Any]) -> tuple[list[Record], int]:
    """The document's records (its advisory first, then one part per CVE) and the number of (stream,
    package) rows of modular packages left out of them."""
    head = require_mapping(document.get("document"), "document")
    publisher = require_mapping(head.get("publisher", {}), "document.publisher")
    if head.get("category") not in CATEGORIES or not str(publisher.get("name")).startswith("Red Hat"):
        raise RecordError("not a Red Hat CSAF document")
    tracking = require_mapping(head.get("tracking"), "document.tracking")
    tracking_id = text_or_none(tracking.get("id"))
    if tracking_id is None:
        raise RecordError("document without tracking id")
    vex = _CVE_ID.match(tracking_id) is not None
    products = _products(require_mapping(document.get("product_tree"), "product_tree"))
    vulnerabilities = document.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        raise RecordError("vulnerabilities is not a list", tracking_id)
    modified = rfc3339(tracking.get("current_release_date"))
    aggregate = severity_label(require_mapping(head.get("aggregate_severity", {}), "aggregate_severity").get("text"))
    references = unique_strings(ref.get("url") for ref in _objects(head, "references"))
    parts: list[Record] = []
    modular: set[tuple[str, str]] = set()
    for entry in vulnerabilities:
        vulnerability = require_mapping(entry, "vulnerability")
        cve = text_or_none(vulnerability.get("cve"))
        if cve is None or not _CVE_ID.match(cve):
            raise RecordError("vulnerability without CVE id", tracking_id)
        rows: dict[tuple[str, str], AffectedRow] = {}
        for product_id, state in _states(vulnerability):
            stream_package = products.get(product_id)
            if stream_package is None:
                continue  # a stream or a package on its own: no (release, package) pair to store
            ecosystem, package = stream_package
            if package.modular:
                modular.add((ecosystem, package.name))
                continue
            if state is FixState.FIXED and package.evr is None:
                raise RecordError("fixed package without version", product_id)
            _add_row(rows, affected_row(ecosystem, package.name, state,
                                        fixed=package.evr if state is FixState.FIXED else None))
        impact = [severity_label(threat.get("details")) for threat in _objects(vulnerability, "threats")
                  if threat.get("category") == "impact"]
        vectors = unique_strings(require_mapping(score.get("cvss_v3", {}), "cvss_v3").get("vectorString")
                                 for score in _objects(vulnerability, "scores"))
        parts.append(Record(
            id=f"REDHAT-{cve}",
            provider=PROVIDER,
            part_precedence=PRECEDENCE_VEX if vex else PRECEDENCE_ADVISORY,
            modified=modified,
            published=rfc3339(vulnerability.get("release_date")),
            summary=text_or_none(vulnerability.get("title")),
            severity=highest_severity(impact) or aggregate,
            upstream=(cve,),
            related=() if vex else (tracking_id,),
            references=references,
            cwes=unique_strings([require_mapping(vulnerability.get("cwe", {}), "cwe").get("id")]),
            affected=tuple(rows[key] for key in sorted(rows)),
            severities=tuple(severity_row(PROVIDER, vector) for vector in sorted(vectors)),
        ))
    if vex:
        return parts, len(modular)
    advisory = Record(
        id=tracking_id,
        provider=PROVIDER,
        modified=modified,
        published=rfc3339(tracking.get("initial_release_date")) or modified,
        summary=text_or_none(head.get("title")),
        severity=aggregate,
        upstream=tuple(dict.fromkeys(part.upstream[0] for part in parts)),
        references=references,
    )
    return [advisory, *parts], len(modular)


def _add_row(rows: dict[tuple[str, str], AffectedRow], row: AffectedRow) -> None:
    """Adds the row; one package's rows must agree, except that a row that can match wins over not-affected.

    Red Hat marks a source rpm not affected where its binary rpms carry the fix (RHSA-2025:23414): a row
    that can match is the one that fails closed.
    """
    key = (row.ecosystem, row.package)
    kept = rows.get(key)
    if kept is None or kept.fix_state is FixState.NOT_AFFECTED:
        rows[key] = row
    elif row.fix_state is not FixState.NOT_AFFECTED and row != kept:
        raise RecordError("conflicting states for one package", f"{row.ecosystem} {row.package}")


def _objects(container: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = container.get(key, [])
    if not isinstance(value, list):
        raise RecordError(f"{key} is not a list")
    return [require_mapping(item, key) for item in value]


def _states(vulnerability: Mapping[str, Any]) -> Iterator[tuple[str, FixState]]:
    """(full product id, state) for every product the vulnerability's product_status names."""
    status = require_mapping(vulnerability.get("product_status", {}), "product_status")
    refined: dict[str, FixState] = {}
    for remediation in _objects(vulnerability, "remediations"):
        state = REMEDIATION_STATES.get(str(remediation.get("category")))
        if state is not None:
            refined.update(dict.fromkeys(_ids(remediation.get("product_ids", []), "remediation product_ids"), state))
    for category, base_state in STATUS_STATES.items():
        for product_id in _ids(status.get(category, []), f"product_status.{category}"):
            state = refined.get(product_id, base_state) if base_state is FixState.NOT_FIXED else base_state
            yield product_id, state


def _ids(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordError(f"{what} is not a list of strings")
    return value


def _products(tree: Mapping[str, Any]) -> dict[str, tuple[str, _Package]]:
    """Full product id -> (ecosystem, package) for every stream/package relationship of the tree."""
    streams: dict[str, str] = {}
    packages: dict[str, _Package] = {}
    _walk(tree.get("branches", []), streams, packages, 0)
    joined: dict[str, tuple[str, _Package]] = {}
    for relationship in _objects(tree, "relationships"):
        if relationship.get("category") != "default_component_of":
            continue
        full = require_mapping(relationship.get("full_product_name"), "full_product_name").get("product_id")
        stream = streams.get(str(relationship.get("relates_to_product_reference")))
        package = packages.get(str(relationship.get("product_reference")))
        if isinstance(full, str) and stream is not None and package is not None:
            joined[full] = (stream, package)
    return joined


def _walk(branches: object, streams: dict[str, str], packages: dict[str, _Package], depth: int) -> None:
    if depth > MAX_TREE_DEPTH:
        raise RecordError("product tree too deep")
    if not isinstance(branches, list):
        raise RecordError("product tree branches is not a list")
    for entry in branches:
        branch = require_mapping(entry, "branch")
        product = branch.get("product")
        if product is not None:
            product = require_mapping(product, "product")
            product_id = product.get("product_id")
            helper = require_mapping(product.get("product_identification_helper", {}), "identification helper")
            if isinstance(product_id, str):
                ecosystem = _ecosystem(helper.get("cpe"))
                package = _package(helper.get("purl"))
                if ecosystem is not None:
                    streams[product_id] = ecosystem
                elif package is not None:
                    packages[product_id] = package
        _walk(branch.get("branches", []), streams, packages, depth + 1)


def _ecosystem(cpe: object) -> str | None:
    """`cpe:/a:redhat:enterprise_linux:9::appstream` -> `Red Hat:enterprise_linux:9::appstream`."""
    if not isinstance(cpe, str) or not cpe.startswith("cpe:/"):
        return None
    fields = cpe[len("cpe:/"):].split(":")
    if len(fields) < 3 or fields[1] != "redhat" or not fields[2]:
        return None
    return "Red Hat:" + ":".join(fields[2:]).rstrip(":")


def _package(purl_text: object) -> _Package | None:
    if not isinstance(purl_text, str) or not purl_text.startswith("pkg:rpm/"):
        return None
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError as error:
        raise RecordError("invalid package URL", purl_text[:200]) from error
    qualifiers: dict[str, str] = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    epoch = qualifiers.get("epoch", "0") or "0"
    if not epoch.isascii() or not epoch.isdigit():
        raise RecordError("invalid package epoch", purl_text[:200])
    version = str(purl.version) if purl.version else None
    evr = None if version is None else (version if int(epoch) == 0 else f"{int(epoch)}:{version}")
    return _Package(name=str(purl.name), evr=evr, modular="rpmmod" in qualifiers)
