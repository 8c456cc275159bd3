from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.cli import main
from scanner.db.errors import BundleArchiveError, FormatVersionError, ManifestError, SignaturesError
from tests.db.bundles import Parts, Signer, make_parts

FEEDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "feeds"
EPOCH = "1795910400"  # 2026-11-29T00:00:00Z


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["dbbuilder", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, _ = run(monkeypatch, capsys, "keygen", "--out", str(tmp_path / "keys"), "--name", "release")
    assert code == 0
    assert re.fullmatch(r"[0-9a-f]{64}\n", out)
    return tmp_path / "keys"


def build_args(keys: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--osv", str(FEEDS / "osv" / "npm"), "--osv", str(FEEDS / "osv" / "Maven"),
            "--nvd", str(FEEDS / "nvd"), "--key", str(keys / "release.pem"), "--channel", "test",
            "--bundle-version", "3", "--expires-in", "3650d", "--out", str(out), "--level", "3", *extra]


def test_keygen_with_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("hunter2\n")
    code, _, _ = run(monkeypatch, capsys, "keygen", "--out", str(tmp_path), "--passphrase-file", str(passphrase))
    assert code == 0
    assert b"ENCRYPTED" in (tmp_path / "bundle-key.pem").read_bytes()
    code, _, err = run(monkeypatch, capsys, "keygen", "--out", str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1
    assert "already exists" in err


def test_build_inspect_verify(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "feeds.bundle"
    code, stdout, err = run(monkeypatch, capsys, *build_args(keys, out))
    assert code == 0, err
    assert "Maven" in stdout
    assert "npm" in stdout
    assert "database (zstd)" in stdout
    code, stdout, _ = run(monkeypatch, capsys, "inspect", str(out))
    assert code == 0
    assert "UNVERIFIED" in stdout
    assert "channel:  test" in stdout
    assert "vulns.sqlite.zst" in stdout
    code, stdout, _ = run(monkeypatch, capsys, "verify", str(out), "--trust", str(keys / "release.pub.pem"))
    assert code == 0
    assert "verified: channel test, version 3" in stdout

    captured = tmp_path / "captured.bundle"
    code, _, err = run(monkeypatch, capsys, *build_args(keys, captured, "--captured-at", "nvd=2026-11-28T06:00:00Z"))
    assert code == 0, err
    code, stdout, _ = run(monkeypatch, capsys, "inspect", str(captured))
    assert re.search(r"nvd\s+.*2026-11-28T06:00:00Z", stdout)

    again = tmp_path / "again.bundle"
    assert run(monkeypatch, capsys, *build_args(keys, again))[0] == 0
    assert again.read_bytes() == out.read_bytes()


def test_build_records_coverage_and_undated_providers(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "coverage.bundle"
    code, stdout, err = run(monkeypatch, capsys, *build_args(keys, out, "--alpine", str(FEEDS / "alpine" / "v3.11"),
                                                             "--complete", "npm"))
    assert code == 0, err
    assert re.search(r"npm\s.*complete: --complete", stdout) and re.search(r"Maven\s.*partial: loose records", stdout)
    assert "UNKNOWN (no date in the feed)" in stdout
    # (all) counts distinct records; one record may name several ecosystems, and the table says so.
    flat = " ".join(stdout.split())
    assert "records: distinct vulnerability ids kept. A provider's (all) row counts each once" in flat
    assert "the ecosystem rows need not add up to (all)" in flat
    assert "warning: provider alpine: its data carries no date" in err and "--captured-at alpine=TIME" in err
    with tarfile.open(out) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        providers = {p["name"]: p for p in json.loads(member.read())["providers"]}
    assert providers["osv"]["coverage"]["npm"]["complete"] is True
    assert providers["osv"]["coverage"]["npm"]["basis"] == "--complete"
    assert providers["osv"]["coverage"]["Maven"] == {"records": 14, "newest": providers["osv"]["coverage"]["Maven"][
        "newest"], "complete": False, "basis": "loose records"}
    assert providers["alpine"]["coverage"]["Alpine:v3.11"]["complete"] is True
    assert (providers["alpine"]["captured_at"], providers["alpine"]["captured_at_basis"]) == (
        "1970-01-01T00:00:00Z", "unknown")
    assert providers["nvd"]["captured_at_basis"] == "feed"
    code, stdout, _ = run(monkeypatch, capsys, "inspect", str(out))
    assert code == 0
    assert re.search(r"alpine\s+│ unknown \(no date in the feed\)", stdout)
    assert re.search(r"^  npm\s+complete osv: 8 records, newest \S+, complete \(--complete\)$", stdout, re.MULTILINE)
    assert re.search(r"^  Maven\s+partial  osv: 14 records", stdout, re.MULTILINE)
    assert re.search(r"^  CPE\s+complete nvd: ", stdout, re.MULTILINE)
    code, _, err = run(monkeypatch, capsys, *build_args(keys, tmp_path / "x.bundle", "--complete", "Debian:12"))
    assert code == 2 and "--complete Debian:12: no input has records for it" in err
    assert not (tmp_path / "x.bundle").exists()


def test_verify_refusals(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.bundle"
    assert run(monkeypatch, capsys, *build_args(keys, out, "--strict"))[0] == 0
    assert run(monkeypatch, capsys, "keygen", "--out", str(tmp_path / "other"))[0] == 0
    code, _, err = run(monkeypatch, capsys, "verify", str(out), "--trust", str(tmp_path / "other" / "bundle-key.pub.pem"))
    assert code == 21
    assert err.startswith("dbbuilder: error: ")
    code, _, err = run(monkeypatch, capsys, "verify", str(out), "--trust", str(keys / "release.pem"))
    assert code == 35  # a private key is not a trusted public key
    data = bytearray(out.read_bytes())
    data[-20000] ^= 1  # inside the compressed database
    (tmp_path / "bad.bundle").write_bytes(bytes(data))
    code, _, err = run(monkeypatch, capsys, "verify", str(tmp_path / "bad.bundle"), "--trust",
                       str(keys / "release.pub.pem"))
    assert code == 31
    (tmp_path / "short.bundle").write_bytes(out.read_bytes()[:3000])
    for command in ("inspect", "verify"):
        extra = ["--trust", str(keys / "release.pub.pem")] if command == "verify" else []
        code, _, err = run(monkeypatch, capsys, command, str(tmp_path / "short.bundle"), *extra)
        assert code == 11, err
        assert err.count("\n") == 1


def test_build_usage_errors(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.bundle"
    for args, message in (
        (build_args(keys, out, "--expires-in", "soon"), "duration"),
        (["build", "--key", str(keys / "release.pem"), "--channel", "c", "--bundle-version", "1",
          "--out", str(out)], "no feed"),
        ([*build_args(keys, out)[:-2], "--key", str(tmp_path / "absent.pem")], "absent.pem"),
        (build_args(keys, tmp_path / "absent" / "x.bundle"), "does not exist"),
        (build_args(keys, out, "--captured-at", "ghsa=2026-01-01T00:00:00Z"), "PROVIDER=TIME"),
        (build_args(keys, out, "--captured-at", "osv"), "PROVIDER=TIME"),
    ):
        code, _, err = run(monkeypatch, capsys, *args)
        assert code == 2, err
        assert message in err
        assert err.count("\n") == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]


def test_missing_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(monkeypatch, capsys, "inspect", str(tmp_path / "none.bundle"))
    assert code == 10
    assert "none.bundle" in err


def test_a_provider_that_kept_nothing_is_not_signed(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "GHSA-x.json").write_text('{"id": ')
    out = tmp_path / "empty.bundle"
    args = ["build", "--osv", str(broken), "--nvd", str(FEEDS / "nvd"), "--key", str(keys / "release.pem"),
            "--channel", "test", "--bundle-version", "1", "--out", str(out), "--level", "3"]
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 9
    assert err.count("\n") == 1
    assert "provider osv kept no records: 1 skipped (invalid JSON: 1)" in err
    assert not out.exists()
    code, _, err = run(monkeypatch, capsys, *args, "--allow-empty")
    assert code == 0, err
    assert out.exists()


# --- `inspect` on hostile bundles: one line and an exit code, never a traceback or a hang ----------

PROVIDER = {"name": "osv", "captured_at": "2026-11-28T00:00:00Z", "input_sha256": "0" * 64, "records": 1,
            "skipped": 0, "skipped_reasons": {}}
FILE_FIELDS = ("name", "sha256", "size", "uncompressed_sha256", "uncompressed_size")
WRONG = ([1], {"a": 1}, 1, -1, 1.5, True, None, "text")


def provider(**fields: object) -> list[dict[str, object]]:
    return [{**PROVIDER, **fields}]


def manifest_cases() -> dict[str, dict[str, Any]]:
    """Manifest changes, each leaving one field of the wrong type (or shape); the expected exit code."""
    cases: dict[str, dict[str, Any]] = {}
    for key in ("channel", "schema_version", "bundle_version", "built_at", "expires_at", "builder", "providers",
                "files"):
        for value in WRONG:
            if not (key == "bundle_version" and type(value) is int and value >= 0) and not (
                    key in ("channel", "schema_version") and value == "text"):
                cases[f"{key}={value!r}"] = {key: value}
    for key in ("name", "captured_at", "input_sha256", "records", "skipped", "skipped_reasons"):
        for value in WRONG:
            if not (key in ("records", "skipped") and type(value) is int and value >= 0) and not (
                    key == "name" and value == "text") and not (key == "skipped_reasons" and value == {"a": 1}):
                cases[f"providers[0].{key}={value!r}"] = {"providers": provider(**{key: value})}
    for value in ([1], {"osv": 1}, None, 1):
        cases[f"two providers named {value!r}"] = {"providers": provider(name=value) + provider(name=value)}
    for reasons in ({"a": "many"}, {"a": True}, {"a": None}, {"a": [1]}):
        cases[f"skipped_reasons={reasons!r}"] = {"providers": provider(skipped_reasons=reasons)}
    for coverage in ([1], "text", {"npm": 5}, {"npm": {"records": "1", "newest": None, "complete": True, "basis": ""}}):
        cases[f"coverage={coverage!r}"] = {"providers": provider(coverage=coverage)}
    for value in WRONG:
        if value != "text":
            cases[f"builder.name={value!r}"] = {"builder": {"name": value, "version": "1"}}
        cases[f"providers[{value!r}]"] = {"providers": [value]}
        cases[f"files[{value!r}]"] = {"files": [value]}
    return cases


MANIFEST_CASES = manifest_cases()


def write_parts(path: Path, parts: Parts, manifest: bytes | None = None, signatures: bytes | None = None) -> Path:
    path.write_bytes(Parts(manifest if manifest is not None else parts.manifest,
                           signatures if signatures is not None else parts.signatures,
                           parts.payload, parts.raw).bundle())
    return path


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_inspect_refuses_a_manifest_field_of_the_wrong_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], case: str) -> None:
    bundle = write_parts(tmp_path / "x.bundle", make_parts(Signer(), **MANIFEST_CASES[case]))
    code, out, err = run(monkeypatch, capsys, "inspect", str(bundle))
    assert (code, out) == (ManifestError.exit_code, ""), err
    assert err.startswith("dbbuilder: error: manifest.json") and err.count("\n") == 1, err


@pytest.mark.parametrize(("manifest", "signatures", "exit_code"), [
    (b"[]", None, ManifestError.exit_code),
    (b'{"format": "airgap-scanner-bundle", "format": "x"}', None, ManifestError.exit_code),
    (b'{"format_version": NaN}', None, ManifestError.exit_code),
    (b'{"format": ["airgap-scanner-bundle"]}', None, FormatVersionError.exit_code),
    (b'{"format": "airgap-scanner-bundle", "format_version": "1"}', None, FormatVersionError.exit_code),
    (None, b'{"signatures": {"keyid": "x"}}', SignaturesError.exit_code),
    (None, b'{"signatures": [{"keyid": ["a"], "signature": "AA=="}]}', SignaturesError.exit_code),
    (None, b'{"signatures": [{"keyid": "' + b"a" * 64 + b'", "signature": 5}]}', SignaturesError.exit_code),
    (None, b'{"signatures": [{"keyid": "' + b"a" * 64 + b'", "signature": "\xc3\xa9"}]}', SignaturesError.exit_code),
    (None, b'{"signatures": [' + b"[" * 30000 + b"]" * 30000 + b"]}", SignaturesError.exit_code),
])
def test_inspect_refuses_malformed_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], manifest: bytes | None,
                                             signatures: bytes | None, exit_code: int) -> None:
    bundle = write_parts(tmp_path / "x.bundle", make_parts(Signer()), manifest, signatures)
    code, out, err = run(monkeypatch, capsys, "inspect", str(bundle))
    assert (code, out) == (exit_code, ""), err
    assert err.startswith("dbbuilder: error: ") and err.count("\n") == 1, err


def test_inspect_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "x.bundle"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-c", "from dbbuilder.cli import main; main()", "inspect", str(fifo)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == BundleArchiveError.exit_code
    assert result.stderr == f"dbbuilder: error: {fifo}: cannot read bundle: not a regular file\n"


def test_inspect_escapes_what_the_manifest_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    parts = make_parts(Signer(), builder={"name": "tests\x1b]0;pwned\x07", "version": "1\u202e0"},
                       providers=provider(name="osv\x9b8m[red]x[/red]"))
    code, out, err = run(monkeypatch, capsys, "inspect", str(write_parts(tmp_path / "x.bundle", parts)))
    assert code == 0, err
    for character in ("\x1b", "\x9b", "\x07", "\u202e"):
        assert character not in out
    assert "tests\\x1b]0;pwned\\x07 1\\u202e0" in out
    assert "osv\\x9b8m[red]x[/red]" in out  # markup is text


@pytest.mark.parametrize("recorded", ["yesterday", "2026-13-01T00:00:00Z", "\u00b2"])
def test_fetch_since_last_with_a_corrupt_record_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str], recorded: str) -> None:
    (tmp_path / "fetch-state.json").write_text(json.dumps({"osv": {}, "nvd": {"last_until": recorded}}))
    code, out, err = run(monkeypatch, capsys, "fetch", "--dest", str(tmp_path), "--no-osv", "--since", "last")
    assert (code, out) == (9, "")
    assert err.startswith(f"dbbuilder: error: {tmp_path / 'fetch-state.json'}: nvd.last_until ") and \
        err.count("\n") == 1


def test_a_back_dated_build_never_signs_an_already_expired_bundle(
        keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14
    args = build_args(keys, tmp_path / "old.bundle")
    args[args.index("--expires-in") + 1] = "30d"
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2 and "which has passed" in err and "--expires-in" in err
    assert not (tmp_path / "old.bundle").exists()
