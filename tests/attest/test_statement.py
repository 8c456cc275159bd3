"""The in-toto statement a scan attestation signs: its shape, its subjects, and reading it back."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest

from scanner.attest import attest, check_subject, dsse, hash_target, verify_attestation
from scanner.attest.errors import AttestationError, AttestationSubjectError
from scanner.attest.statement import (
    IMAGE_ARCHIVE,
    IMAGE_CONFIG,
    SBOM_FILE,
    read_statement,
    statement,
    statement_bytes,
    subjects,
)
from scanner.db.verify import TrustedKey
from scanner.match.filters import load_vex
from scanner.match.scan import ScanReport
from tests.db.bundles import Signer
from tests.report.test_findings_formats import TARGET, build_report

SCHEMA = json.loads((Path(__file__).parent / "intoto-vulns-statement.schema.json").read_text())
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScanReport:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    vex = tmp_path / "vex.json"
    vex.write_text(json.dumps({"statements": [{"vulnerability": {"name": "GHSA-xxxx-1111-2222"},
                                               "products": ["pkg:pypi/pillow@8.4.0"], "status": "not_affected",
                                               "justification": "component_not_present"}]}))
    return build_report(tmp_path, vex=load_vex(vex))


def test_statement_is_an_in_toto_vulns_statement(report: ScanReport) -> None:
    document = statement(report, subjects(report, "demo.tar", "ab" * 32))
    jsonschema.Draft7Validator(SCHEMA).validate(document)
    predicate = document["predicate"]
    assert [(s["digest"]["sha256"], s["annotations"]["kind"]) for s in document["subject"]] == [
        ("9" * 64, IMAGE_CONFIG), ("ab" * 32, IMAGE_ARCHIVE)]
    assert all(RFC3339.fullmatch(predicate["metadata"][key]) for key in ("scanStartedOn", "scanFinishedOn"))
    database = predicate["scanner"]["db"]
    assert (database["channel"], database["bundle_version"], database["bundle_sha256"], database["manifest_sha256"],
            database["key_ids"]) == ("test", 7, "ab" * 32, "cd" * 32, ["ef" * 32])
    assert [(p["name"], p["captured_at"]) for p in database["providers"]] == [
        ("nvd", "2026-08-01T00:00:00Z"), ("osv", "2026-11-28T00:00:00Z")]
    results = predicate["scanner"]["result"]
    assert [r["id"] for r in results] == [f.vulnerability.id for f in report.findings]
    openssl = next(r for r in results if r["id"] == "CVE-2022-0778")
    assert openssl["severity"] == [{"method": "airgap-scanner", "score": "high"}, {"method": "cvss_v3.1", "score": "7.5"}]
    finding = openssl["annotations"][0]
    assert finding["package"]["name"] == "libssl1.1" and finding["fix"]["state"] == "fixed"
    assert finding["vulnerability"]["kev"]["due_date"] == "2026-12-15"
    assert [c["status"] for c in predicate["coverage"]] == ["complete", "partial"]
    assert predicate["summary"]["known_exploited"] == 1
    assert predicate["suppressed"][0]["suppressed_by"].startswith("vex:")
    assert predicate["unevaluated"][0]["package"]["name"] == "weird"


def test_same_scan_same_payload(report: ScanReport) -> None:
    subject = subjects(report, "demo.tar", "ab" * 32)
    assert statement_bytes(statement(report, subject)) == statement_bytes(statement(report, subject))


def test_subjects_of_each_kind_of_target(report: ScanReport) -> None:
    assert subjects(report, "", None) == subjects(report, "", None)[:1]  # an OCI layout: the image id only
    sbom = dataclasses.replace(report, target=dataclasses.replace(TARGET, kind="sbom", digest="sha256:" + "cd" * 32))
    assert [(s.kind, s.sha256) for s in subjects(sbom, "app.cdx.json", "cd" * 32)] == [(SBOM_FILE, "cd" * 32)]
    nameless = dataclasses.replace(report, target=dataclasses.replace(TARGET, digest="md5:00"))
    with pytest.raises(AttestationError, match="nothing to name"):
        subjects(nameless, "", None)


def test_read_back_and_subject_check(report: ScanReport, tmp_path: Path) -> None:
    archive = tmp_path / "demo.tar"
    archive.write_bytes(b"an image archive")
    signer = Signer()
    envelope = attest(report, signer.private_key, hash_target(archive))
    verified = verify_attestation(envelope, [TrustedKey(signer.key_id, "host", signer.raw_public)], "att.json")
    scan = verified.scan
    assert (scan.target, scan.channel, scan.bundle_version, scan.findings, scan.known_exploited) == (
        "demo:latest", "test", 7, 3, 1)
    assert scan.counts["critical"] == 1 and not scan.clean
    assert "image archive" in check_subject(scan, archive)
    other = tmp_path / "other.tar"
    other.write_bytes(b"another image archive")
    with pytest.raises(AttestationSubjectError, match="is not the attestation's subject"):
        check_subject(scan, other)


@pytest.mark.parametrize("change", [
    lambda d: d.update(_type="https://in-toto.io/Statement/v0.1"),
    lambda d: d.update(predicateType="https://slsa.dev/provenance/v1"),
    lambda d: d.update(subject=[]),
    lambda d: d["subject"][0].update(digest={"sha512": "00"}),
    lambda d: d["subject"][0].update(annotations={"kind": "elsewhere"}),
    lambda d: d["predicate"]["scanner"]["db"].pop("channel"),
    lambda d: d["predicate"]["summary"].update(findings="3"),
    lambda d: d["predicate"]["options"].update(image=1),
])
def test_statements_of_another_shape_are_refused(report: ScanReport, change: object) -> None:
    document = statement(report, subjects(report, "demo.tar", "ab" * 32))
    assert callable(change)
    change(document)
    with pytest.raises(AttestationError):
        read_statement(statement_bytes(document))
    # ... also when signed by a trusted key: the shape is checked after the signature.
    signer = Signer()
    with pytest.raises(AttestationError, match=r"att\.json: statement"):
        verify_attestation(dsse.sign(statement_bytes(document), signer.private_key),
                           [TrustedKey(signer.key_id, "host", signer.raw_public)], "att.json")
