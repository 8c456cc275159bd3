"""The `redhat` provider: Red Hat CSAF 2.0 documents (RHSA security advisories, per-CVE VEX files), Security
Data API per-CVE documents and OVAL v2 definitions files, told apart by content, not by file name.

XML (plain or compressed) is an OVAL file, read by redhat_oval; anything else is JSON.

A JSON object with a `document` member is CSAF: Red Hat's when its `document.category` is
`csaf_security_advisory` or `csaf_vex` and its publisher is Red Hat ("not a Red Hat CSAF document"
otherwise). One with a CVE `name` and the security data fields (`threat_severity`, `affected_release`,
`package_state` …) is a security data document, read by redhat_securitydata; a CVE list entry (`CVE`,
`resource_url`) is counted and left out; anything else is skipped ("not a Red Hat CSAF or security data
document").

CSAF: the product tree names product streams (a CPE such as `cpe:/a:redhat:enterprise_linux:9::appstream`)
and packages (a PURL `pkg:rpm/redhat/NAME@VERSION-RELEASE?arch=…&epoch=N`); a `default_component_of`
relationship joins one of each into the product id that `product_status` lists. The stream's CPE after the
vendor is the OSV Red Hat ecosystem (`Red Hat:enterprise_linux:9::appstream`, `Red Hat:rhel_eus:8.6::baseos`),
which an image's `Red Hat:enterprise_linux:9` reads with every stream of its release
(scanner/match/matcher.py, `is_spelling`). A package of a module stream (PURL qualifier
`rpmmod=NAME:STREAM:VERSION:CONTEXT`) goes to the stream's module ecosystem
(`Red Hat:enterprise_linux:8::appstream::module:ruby:2.7`), which only an rpm with that MODULARITYLABEL
reads: matched against the non-modular package of the same name, its fixes would be wrong both ways.

Like osv.dev for Debian, the reader emits one `REDHAT-CVE-…` advisory per CVE (upstream: the CVE), as
parts the compiler assembles across documents: its rows are every (stream, package) the CVE's product
status names, binary and source (`arch=src`) rpm names both, so the matcher finds a package by either; its
rating is Red Hat's impact for the CVE (`threats`, else the document's `aggregate_severity`); its CVSS
vectors have source `redhat`. Each RHSA is also kept as an advisory of its own (title, dates, rating, its
CVEs as upstream, listed in the CVE parts' `related`), without rows, so a fix is never reported twice.
Where one package is named both not affected and affected (a source rpm marked not affected beside its
fixed binaries), the affected row is kept; two different affected states or fixes for one package make
the document ambiguous: it is skipped. For one (ecosystem, package) a VEX part wins over an RHSA part,
which wins over a security data part (redhat_rows); security data rows of a CVE a VEX file was read for
are dropped (the two forms name streams and releases apart, so the compiler could not choose).

OVAL parts give way to all of these (redhat_oval); its files are read last, with the security data documents.

Loose documents never make a stream's data whole: Red Hat's coverage stays partial.
"""

from __future__ import annotations

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
from .oval import accepts_xml
from .records import AffectedRow, FeedFacts, Record, RecordError, SkipLog
from .redhat_oval import is_oval
from .redhat_oval import read_file as oval_records
from .redhat_rows import (
    CVE_ID,
    PRECEDENCE_ADVISORY,
    PRECEDENCE_VEX,
    add_row,
    module_ecosystem,
    stream_ecosystem,
)
from .redhat_securitydata import LIST_ENTRY_SKIP, cve_records, is_cve_document, is_cve_list_entry

PROVIDER = "redhat"
FLAG_HELP = ("Red Hat CSAF advisories (RHSA) or VEX JSON files, Security Data API per-CVE documents, or OVAL v2 "
             "files (rhel-N.oval.xml[.bz2]), files or directories (repeatable).")
PRECEDENCE = 40
MAX_FILE_BYTES = 64 << 20  # the largest RHSA documents (kernel, firefox) are a few MiB
MAX_TREE_DEPTH = 16  # vendor / family / product / architecture / version is 5 levels

CATEGORIES = frozenset({"csaf_security_advisory", "csaf_vex"})
UNKNOWN_FORM = "not a Red Hat CSAF or security data document"

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


@dataclass(frozen=True)
class _Package:
    name: str
    evr: str | None  # epoch:version-release (no epoch when it is 0); None when the PURL has no version
    module: str | None  # the `rpmmod` label (NAME:STREAM:VERSION:CONTEXT) of a module stream's package


def accepts(path: Path) -> bool:
    """CSAF files (`*.json`), security data documents, which vunnel stores as bare `CVE-…` names, and OVAL files."""
    return path.name.endswith(".json") or CVE_ID.fullmatch(path.name) is not None or accepts_xml(path)


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    """CSAF documents first, then security data documents and OVAL files: these drop their rows for a CVE a VEX
    file was read for, as the forms name streams and releases apart and the compiler's precedence could not
    choose."""
    vex_cves: set[str] = set()
    security_data: list[tuple[str, Path]] = []
    oval_files: list[tuple[str, Path]] = []
    for name, path in files:
        try:
            if is_oval(path):
                oval_files.append((name, path))
                continue
            document = _document(path)
            if "document" not in document:
                if is_cve_document(document):
                    security_data.append((name, path))
                elif is_cve_list_entry(document):
                    skips.reasons[LIST_ENTRY_SKIP] += 1  # not malformed, so not fatal with --strict
                else:
                    raise RecordError(UNKNOWN_FORM)
                continue
            records, vex = _records(document)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        except RecursionError:
            skips.skip("product tree too deep", name)
            continue
        if vex:
            vex_cves.update(record.upstream[0] for record in records)
        facts.timestamps.extend(record.modified for record in records[:1] if record.modified is not None)
        yield from records
    for name, path in security_data:  # read again: holding every parsed document would not be bounded
        try:
            document = _document(path)
            if not is_cve_document(document):
                raise RecordError(UNKNOWN_FORM)  # changed since the first pass
            yield from cve_records(document, PROVIDER, vex_cves, skips, name)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
    for name, path in oval_files:
        yield from oval_records(name, path, PROVIDER, skips, facts, vex_cves)


def _document(path: Path) -> Mapping[str, Any]:
    return require_mapping(parse_document(read_capped(path, MAX_FILE_BYTES), path.name), "document")


def _records(document: Mapping[str, Any]) -> tuple[list[Record], bool]:
    """The document's records (its advisory first, then one part per CVE), and whether it is a VEX file."""
    head = require_mapping(document.get("document"), "document")
    publisher = require_mapping(head.get("publisher", {}), "document.publisher")
    if head.get("category") not in CATEGORIES or not str(publisher.get("name")).startswith("Red Hat"):
        raise RecordError("not a Red Hat CSAF document")
    tracking = require_mapping(head.get("tracking"), "document.tracking")
    tracking_id = text_or_none(tracking.get("id"))
    if tracking_id is None:
        raise RecordError("document without tracking id")
    vex = CVE_ID.fullmatch(tracking_id) is not None
    products = _products(require_mapping(document.get("product_tree"), "product_tree"))
    vulnerabilities = document.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        raise RecordError("vulnerabilities is not a list", tracking_id)
    modified = rfc3339(tracking.get("current_release_date"))
    aggregate = severity_label(require_mapping(head.get("aggregate_severity", {}), "aggregate_severity").get("text"))
    references = unique_strings(ref.get("url") for ref in _objects(head, "references"))
    parts: list[Record] = []
    for entry in vulnerabilities:
        vulnerability = require_mapping(entry, "vulnerability")
        cve = text_or_none(vulnerability.get("cve"))
        if cve is None or not CVE_ID.fullmatch(cve):
            raise RecordError("vulnerability without CVE id", tracking_id)
        rows: dict[tuple[str, str], AffectedRow] = {}
        for product_id, state in _states(vulnerability):
            stream_package = products.get(product_id)
            if stream_package is None:
                continue  # a stream or a package on its own: no (release, package) pair to store
            ecosystem, package = stream_package
            if package.module is not None:
                ecosystem = module_ecosystem(ecosystem, package.module)
            if state is FixState.FIXED and package.evr is None:
                raise RecordError("fixed package without version", product_id)
            add_row(rows, affected_row(ecosystem, package.name, state,
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
        return parts, True
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
    return [advisory, *parts], False


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
                ecosystem = stream_ecosystem(helper.get("cpe"))
                package = _package(helper.get("purl"))
                if ecosystem is not None:
                    streams[product_id] = ecosystem
                elif package is not None:
                    packages[product_id] = package
        _walk(branch.get("branches", []), streams, packages, depth + 1)


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
    return _Package(name=str(purl.name), evr=evr, module=qualifiers.get("rpmmod"))
