"""`scanner attest keygen`, `scan --attest`, `scanner attest verify`: end to end on the demo image."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest

from scanner.attest.errors import (
    AttestationError,
    AttestationKeyError,
    AttestationSignatureError,
    AttestationSubjectError,
    UntrustedAttestationError,
)
from tests.image.builders import ImageSpec, file, oci_layout
from tests.match.dbfixture import osv_rows
from tests.match.test_matcher import OPENSSL_DSA
from tests.scanner_cli import Run, TrustedBundle, runner, trusted_bundle

DEMO_IMAGE = Path(__file__).resolve().parents[2] / "bundles" / "demo-image.tar"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return runner(capsys, monkeypatch)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> TrustedBundle:
    return trusted_bundle(tmp_path_factory.mktemp("db"), osv_rows(OPENSSL_DSA))


@pytest.fixture
def host_key(tmp_path: Path, run: Run) -> tuple[Path, Path, Path]:
    """(private key, public key, passphrase file) made by `scanner attest keygen`."""
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    code, out, err = run("attest", "keygen", "--out", str(tmp_path / "keys"), "--passphrase-file", str(passphrase))
    assert code == 0, err
    private, public = tmp_path / "keys" / "attestation-key.pem", tmp_path / "keys" / "attestation-key.pub.pem"
    assert len(out.strip()) == 64 and "mode 0600" in err
    return private, public, passphrase


def scan_attested(run: Run, database: TrustedBundle, key: tuple[Path, Path, Path], out: Path,
                  *extra: str) -> tuple[int, str, str]:
    private, _, passphrase = key
    return run(*database.scanner_args("scan", str(DEMO_IMAGE), "--attest", str(private), "--attest-passphrase-file",
                                      str(passphrase), "--attestation-out", str(out), *extra))


def test_keygen_writes_an_encrypted_private_key_readable_by_its_owner_only(host_key: tuple[Path, Path, Path],
                                                                           run: Run, tmp_path: Path) -> None:
    private, public, passphrase = host_key
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    before = private.read_bytes()
    code, _, err = run("attest", "keygen", "--out", str(private.parent), "--passphrase-file", str(passphrase))
    assert code == AttestationKeyError.exit_code and "refusing to overwrite" in err
    assert private.read_bytes() == before
    code, _, err = run("attest", "keygen", "--out", str(tmp_path / "other"))
    assert code == 2 and "--passphrase-file" in err  # never an unencrypted host key


def test_scan_attest_then_verify(run: Run, database: TrustedBundle, host_key: tuple[Path, Path, Path],
                                 tmp_path: Path) -> None:
    attestation, report = tmp_path / "scan.att.json", tmp_path / "report.html"
    code, _, err = scan_attested(run, database, host_key, attestation, "-o", "html", "--file", str(report))
    assert code == 0, err
    envelope = attestation.read_bytes()
    digest = hashlib.sha256(envelope).hexdigest()
    assert f"sha256:{digest}" in err and f"sha256:{digest}" in report.read_text()
    audit = [json.loads(line) for line in (database.state / "audit.log").read_text().splitlines()]
    assert audit[-1]["event"] == "attestation" and audit[-1]["attestation_sha256"] == digest
    statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    assert [r["id"] for r in statement["predicate"]["scanner"]["result"]] == ["CVE-2022-0778", "CVE-2022-0778"]

    _, public, _ = host_key
    code, out, err = run("attest", "verify", str(attestation), "--trust", str(public), "--image", str(DEMO_IMAGE))
    assert code == 0, err
    assert "signature ok, signed by attestation-key.pub.pem" in out
    assert f"attestation sha256: {digest}" in out
    assert "findings: 2 (2 unknown), 0 in CISA KEV" in out
    assert "database: stable v1" in out and "demo-image.tar: sha256:" in out and "is the attested image archive" in out


def test_verify_refusals(run: Run, database: TrustedBundle, host_key: tuple[Path, Path, Path], tmp_path: Path) -> None:
    attestation = tmp_path / "scan.att.json"
    assert scan_attested(run, database, host_key, attestation)[0] == 0
    _, public, _ = host_key
    envelope = json.loads(attestation.read_bytes())

    def verify(path: Path, *extra: str, key: Path = public) -> tuple[int, str]:
        code, _, err = run("attest", "verify", str(path), "--trust", str(key), *extra)
        return code, err

    stranger = tmp_path / "stranger"
    passphrase = tmp_path / "pass"
    passphrase.write_text("x")
    assert run("attest", "keygen", "--out", str(stranger), "--passphrase-file", str(passphrase))[0] == 0
    code, err = verify(attestation, key=stranger / "attestation-key.pub.pem")
    assert code == UntrustedAttestationError.exit_code and "not a --trust key" in err

    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][-1]["digest"]["sha256"] = "0" * 64  # swap the subject inside the signed payload
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps({**envelope, "payload": base64.b64encode(
        json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()).decode()}, sort_keys=True, indent=2) + "\n")
    code, err = verify(altered)
    assert code == AttestationSignatureError.exit_code and "altered after signing" in err

    other_image = tmp_path / "other.tar"
    other_image.write_bytes(DEMO_IMAGE.read_bytes() + bytes(512))
    code, err = verify(attestation, "--image", str(other_image))
    assert code == AttestationSubjectError.exit_code and "is not the attestation's subject" in err

    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    assert verify(junk)[0] == AttestationError.exit_code
    assert verify(tmp_path / "absent.json")[0] == AttestationError.exit_code
    assert all(err.count("\n") == 1 for _, err in (verify(junk), verify(altered)))  # one line, no traceback


def test_scan_refuses_a_key_it_cannot_use_before_scanning(run: Run, database: TrustedBundle,
                                                          host_key: tuple[Path, Path, Path], tmp_path: Path) -> None:
    private, public, _ = host_key
    wrong = tmp_path / "wrong"
    wrong.write_text("not it")
    report = tmp_path / "report.json"
    code, _, err = run(*database.scanner_args(
        "scan", str(DEMO_IMAGE), "--attest", str(private), "--attest-passphrase-file", str(wrong),
        "--attestation-out", str(tmp_path / "a.json"), "--file", str(report)))
    assert code == AttestationKeyError.exit_code and "wrong passphrase" in err
    assert not report.exists() and not (tmp_path / "a.json").exists()
    code, _, err = run(*database.scanner_args("scan", str(DEMO_IMAGE), "--attest", str(private)))
    assert code == 2 and "--attestation-out" in err
    code, _, err = run(*database.scanner_args(
        "scan", str(DEMO_IMAGE), "--attest", str(public), "--attestation-out", str(tmp_path / "a.json")))
    assert code == AttestationKeyError.exit_code  # a public key is no signing key


def test_an_sbom_target_is_attested_by_its_file_digest(run: Run, database: TrustedBundle,
                                                       host_key: tuple[Path, Path, Path], tmp_path: Path) -> None:
    sbom = tmp_path / "demo.cdx.json"
    assert run("sbom", str(DEMO_IMAGE), "-o", "cyclonedx-json", "--file", str(sbom))[0] == 0
    private, public, passphrase = host_key
    attestation = tmp_path / "sbom.att.json"
    code, _, err = run(*database.scanner_args("scan", str(sbom), "--attest", str(private), "--attest-passphrase-file",
                                              str(passphrase), "--attestation-out", str(attestation)))
    assert code == 0, err
    code, out, err = run("attest", "verify", str(attestation), "--trust", str(public), "--image", str(sbom))
    assert code == 0, err
    assert "subject: sbom sha256:" in out and "is the attested sbom" in out


def test_an_oci_layout_directory_is_attested_by_its_image_id(run: Run, database: TrustedBundle,
                                                             host_key: tuple[Path, Path, Path], tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "layout", ImageSpec(layers=[[file("etc/os-release", b"ID=debian\n")]]),
                        as_tar=False)
    other = oci_layout(tmp_path / "other", ImageSpec(layers=[[file("etc/os-release", b"ID=alpine\n")]]),
                       as_tar=False)
    private, public, passphrase = host_key
    attestation = tmp_path / "layout.att.json"
    code, _, err = run(*database.scanner_args("scan", str(layout), "--attest", str(private), "--attest-passphrase-file",
                                              str(passphrase), "--attestation-out", str(attestation)))
    assert code == 0, err
    code, out, err = run("attest", "verify", str(attestation), "--trust", str(public), "--image", str(layout))
    assert code == 0, err
    assert "subject: image-archive" not in out and "is the attested image" in out
    code, _, err = run("attest", "verify", str(attestation), "--trust", str(public), "--image", str(other))
    assert code == AttestationSubjectError.exit_code and "is not the attestation's subject" in err
    code, _, err = run(*database.scanner_args("scan", str(layout), "--attest-passphrase-file", str(passphrase)))
    assert code == 2 and "no --attest given" in err

