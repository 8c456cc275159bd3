"""The in-toto Statement v1 a scan attestation signs, with the `vulns` predicate (v0.2), docs/attestations.md.

Subject: what was scanned, by digest. For an image, its config digest (the image id, which names the
image whatever archive carries it) and, when the scan read an archive file, that file's sha256 (what
`scanner attest verify --image` checks); for an SBOM, the file's sha256.

Predicate: the `vulns` predicate's fields (`scanner.uri`, `scanner.version`, `scanner.db.uri`,
`.version`, `.lastUpdate`, `scanner.result[]` with `id`, `severity[]` and `annotations[]`, and
`metadata.scanStartedOn` / `scanFinishedOn`), and beside them, in the JSON report's own shapes
(docs/report-json.md), what an auditor needs to judge the result: the database's provenance (channel,
bundle version, bundle and manifest digests, signing key ids, each provider's capture time and age),
the target, the options (filters change what is reported), the coverage, the summary counts, and the
suppressed and unevaluated findings. Each result's annotation is the finding as the JSON report writes
it: package, vulnerability, fix state and versions, KEV and EPSS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from scanner.attest.errors import AttestationError
from scanner.jsonstrict import loads_strict, member
from scanner.match.scan import ScanReport
from scanner.model import Finding
from scanner.report.findings_json import (
    coverage_json,
    database_json,
    finding_json,
    headline_cvss,
    summary_json,
    target_json,
    unevaluated_json,
)

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/vulns/v0.2"
SCANNER_URI = "pkg:generic/airgap-scanner"
# Subject kinds (the `kind` annotation of each subject).
IMAGE_CONFIG, IMAGE_ARCHIVE, SBOM_FILE = "image-config", "image-archive", "sbom"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: str  # lower-case hex
    kind: str  # IMAGE_CONFIG, IMAGE_ARCHIVE or SBOM_FILE


def subjects(report: ScanReport, file_name: str, file_sha256: str | None) -> tuple[Subject, ...]:
    """What the scan of `report` attests to: the image config (images) and the file scanned, when it was one."""
    target = report.target
    found = []
    if target.kind == "image":
        algorithm, _, digest = target.digest.partition(":")
        if algorithm == "sha256" and _SHA256.fullmatch(digest):
            found.append(Subject(target.name, digest, IMAGE_CONFIG))
    if file_sha256 is not None:
        found.append(Subject(file_name, file_sha256, IMAGE_ARCHIVE if target.kind == "image" else SBOM_FILE))
    if not found:
        raise AttestationError(f"{target.name}: nothing to name the target by (no sha256 image id, no file digest)")
    return tuple(found)


def _result(finding: Finding) -> dict[str, Any]:
    vulnerability = finding.vulnerability
    severity = [{"method": "airgap-scanner", "score": vulnerability.severity.label}]
    cvss = headline_cvss(vulnerability)
    if cvss is not None:
        severity.append({"method": f"cvss_v{cvss.version}", "score": f"{cvss.score:.1f}"})
    return {"id": vulnerability.id, "severity": severity, "annotations": [finding_json(finding)]}


def statement(report: ScanReport, subject: Sequence[Subject]) -> dict[str, Any]:
    database = report.database
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.name, "digest": {"sha256": s.sha256}, "annotations": {"kind": s.kind}}
                    for s in subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "scanner": {
                "uri": f"{SCANNER_URI}@{report.scanner_version}",
                "version": report.scanner_version,
                "db": {
                    "uri": f"pkg:generic/airgap-scanner-bundle@{database.bundle_version}"
                           f"?channel={database.channel}&checksum=sha256:{database.bundle_sha256}",
                    "version": f"{database.channel}/{database.bundle_version}",
                    "lastUpdate": database.built_at,
                    **database_json(report),
                },
                "result": [_result(finding) for finding in report.findings],
            },
            "metadata": {"scanStartedOn": report.started_at, "scanFinishedOn": report.generated_at},
            "target": target_json(report),
            "options": report.options.to_json(),
            "coverage": [coverage_json(entry) for entry in report.coverage],
            "summary": summary_json(report),
            "suppressed": [finding_json(finding) for finding in report.suppressed],
            "unevaluated": [unevaluated_json(item) for item in report.unevaluated],
        },
    }


def statement_bytes(document: Mapping[str, Any]) -> bytes:
    """The signed payload: compact, key-sorted UTF-8 JSON (the same scan gives the same bytes)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "backslashreplace")


@dataclass(frozen=True)
class AttestedScan:
    """What `scanner attest verify` shows of a verified statement."""

    subjects: tuple[Subject, ...]
    scanner_version: str
    started: str
    finished: str
    channel: str
    bundle_version: int
    bundle_sha256: str
    database_key_ids: tuple[str, ...]
    target: str
    image: str  # the scan's --image ("" when none): which image of a multi-image archive
    platform: str  # the scan's --platform ("" when none)
    counts: Mapping[str, int]  # by severity
    findings: int
    known_exploited: int
    clean: bool

    def subject(self, kind: str) -> Subject | None:
        return next((s for s in self.subjects if s.kind == kind), None)


_T = TypeVar("_T")


def _get(document: Any, path: str, kind: type[_T]) -> _T:
    """The value at a dotted `path` of objects, of JSON type `kind`."""
    *parents, key = path.split(".")
    for name in parents:
        document = document.get(name) if isinstance(document, dict) else None
    where = ".".join(["statement", *parents])
    return member(document if isinstance(document, dict) else {}, key, kind, where, AttestationError)


def _optional_text(document: Any, option: str) -> str:
    value = _get(document, "predicate.options", dict).get(option)
    if value is not None and not isinstance(value, str):
        raise AttestationError(f"statement: predicate.options.{option} is not a string")
    return value or ""


def _subject(entry: object, index: int) -> Subject:
    where = f"statement: subject[{index}]"
    if not isinstance(entry, dict):
        raise AttestationError(f"{where}: not an object")
    digest = entry.get("digest")
    annotations = entry.get("annotations")
    name = entry.get("name", "")
    if not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str) or not _SHA256.fullmatch(
            digest["sha256"]):
        raise AttestationError(f"{where}: no sha256 digest")
    kind = annotations.get("kind") if isinstance(annotations, dict) else None
    if kind not in (IMAGE_CONFIG, IMAGE_ARCHIVE, SBOM_FILE) or not isinstance(name, str):
        raise AttestationError(f"{where}: no kind this scanner writes")
    return Subject(name, digest["sha256"], kind)


def read_statement(payload: bytes) -> AttestedScan:
    """The facts of a statement this scanner wrote; AttestationError when it is of another shape."""
    document = loads_strict(payload, "statement", AttestationError)
    if _get(document, "_type", str) != STATEMENT_TYPE:
        raise AttestationError(f"statement: _type is not {STATEMENT_TYPE}")
    if _get(document, "predicateType", str) != PREDICATE_TYPE:
        raise AttestationError(f"statement: predicateType is not {PREDICATE_TYPE}")
    listed = _get(document, "subject", list)
    if not listed:
        raise AttestationError("statement: no subject")
    counts = _get(document, "predicate.summary.by_severity", dict)
    if not all(isinstance(k, str) and type(v) is int for k, v in counts.items()):
        raise AttestationError("statement: predicate.summary.by_severity is not counts")
    key_ids = _get(document, "predicate.scanner.db.key_ids", list)
    return AttestedScan(
        subjects=tuple(_subject(entry, index) for index, entry in enumerate(listed)),
        scanner_version=_get(document, "predicate.scanner.version", str),
        started=_get(document, "predicate.metadata.scanStartedOn", str),
        finished=_get(document, "predicate.metadata.scanFinishedOn", str),
        channel=_get(document, "predicate.scanner.db.channel", str),
        bundle_version=_get(document, "predicate.scanner.db.bundle_version", int),
        bundle_sha256=_get(document, "predicate.scanner.db.bundle_sha256", str),
        database_key_ids=tuple(str(k) for k in key_ids),
        target=_get(document, "predicate.target.name", str),
        image=_optional_text(document, "image"),
        platform=_optional_text(document, "platform"),
        counts=dict(counts),
        findings=_get(document, "predicate.summary.findings", int),
        known_exploited=_get(document, "predicate.summary.known_exploited", int),
        clean=_get(document, "predicate.summary.clean", bool),
    )
