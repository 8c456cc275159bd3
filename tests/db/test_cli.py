"""The trust, db and audit commands through the real entry point: output, one-line errors, exit codes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scanner.db.schema import DDL, SCHEMA_VERSION
from tests.db.bundles import Signer, sqlite_database, write_bundle
from tests.db.conftest import scanner_runner

Run = tuple[int, str, str]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    return scanner_runner(monkeypatch, capsys, tmp_path / "state")


def fresh(path: Path, signer: Signer, **options: object) -> Path:
    now = datetime.now(UTC)
    return write_bundle(path, signer, built=now - timedelta(hours=1), expires=now + timedelta(days=10), **options)


def test_trust_import_status_verify_audit(run, signer: Signer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pem = tmp_path / "release.pub.pem"
    pem.write_bytes(signer.public_pem)
    bundle = fresh(tmp_path / "v1.bundle", signer, version=1)
    code, _, err = run("db", "import", str(bundle))
    assert code == 20 and err.startswith("scanner: error: no trusted keys") and err.count("\n") == 1
    code, out, _ = run("trust", "add", str(pem))
    assert code == 0 and f"trusted: {signer.key_id} (release)" in out
    assert run("trust", "list")[1].splitlines() == [f"{signer.key_id}  release", "threshold: 1 of 1 trusted key(s)"]
    code, out, err = run("db", "status")
    assert code == 7 and "no vulnerability database installed" in err
    code, out, _ = run("db", "import", str(bundle))
    assert code == 0 and out.startswith("installed database stable v1: built ")
    code, out, _ = run("db", "status")
    assert code == 0
    for expected in ("channel: stable", "bundle version: 1", "provider: osv captured", "verification: ok",
                     f"signed by: {signer.key_id}", "path: "):
        assert expected in out
    code, out, _ = run("db", "verify")
    assert code == 0 and out.startswith("verified database stable v1")
    older = fresh(tmp_path / "v0.bundle", signer, version=0, raw=sqlite_database(2))
    code, _, err = run("db", "import", str(older))
    assert code == 28 and "bundle_version 0 is older than installed 1 on channel stable" in err
    assert run("db", "import", "--allow-downgrade", str(older))[0] == 0
    code, out, _ = run("audit", "verify")
    assert code == 0 and "chain intact, 5 records" in out
    last = json.loads((tmp_path / "state" / "audit.log").read_text().splitlines()[-1])
    assert last["event"] == "import" and last["overrides"] == ["downgrade"]


def test_db_verify_and_status_fail_after_tampering(run, signer: Signer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pem = tmp_path / "k.pem"
    pem.write_bytes(signer.public_pem)
    run("trust", "add", str(pem), "--name", "ops")
    run("db", "import", str(fresh(tmp_path / "b.bundle", signer)))
    (database,) = (tmp_path / "state" / "db").glob("*/vulns.sqlite")
    database.chmod(0o644)
    database.write_bytes(b"x" * 10)
    code, _, err = run("db", "verify")
    assert code == 37 and "altered after import" in err
    code, out, err = run("db", "status")
    assert code == 37 and "verification: FAILED" in out
    assert err.startswith("scanner: error: database ") and err.count("\n") == 1


def test_policies(run, signer: Signer, other_signer: Signer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name, key in (("a", signer), ("b", other_signer)):
        (tmp_path / f"{name}.pem").write_bytes(key.public_pem)
        run("trust", "add", str(tmp_path / f"{name}.pem"))
    assert run("trust", "policy", "--threshold", "2")[1] == "threshold: 2 of 2 trusted key(s)\n"
    code, _, err = run("db", "import", str(fresh(tmp_path / "b.bundle", signer)))
    assert code == 23 and "requires 2" in err
    code, _, err = run("trust", "policy", "--threshold", "0")  # the documented PolicyError, not a usage error
    assert code == 39 and "at least one signature" in err
    code, out, err = run("trust", "remove", other_signer.key_id[:10])
    assert code == 0 and "no bundle can verify" in err
    code, out, _ = run("db", "policy", "--max-age", "3", "--provider-max-age", "nvd=1.5", "--on-stale", "fail")
    assert out.splitlines() == ["max age: 3 days 0 hours", "max age for nvd: 1 day 12 hours", "on stale data: fail"]
    assert run("db", "policy", "--provider-max-age", "nvd")[0] == 2
    assert run("db", "policy", "--max-age", "-1")[0] == 39
    assert run("db", "policy", "--no-max-age")[1].startswith("max age: none")
    changes = [line for line in (tmp_path / "state" / "audit.log").read_text().splitlines()
               if '"freshness-policy"' in line]
    assert len(changes) == 2 and '"max_age_days":null' in changes[-1]


def test_bad_inputs_are_one_line_errors(run, tmp_path: Path, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("trust", "add", str(tmp_path / "missing.pem"))
    assert code == 35 and err.count("\n") == 1
    code, _, err = run("db", "import", str(tmp_path / "missing.bundle"))
    assert code == 10 and "cannot open bundle" in err
    (tmp_path / "state" / "audit.log").write_text('{"prev": "bad"}\n')
    code, _, err = run("audit", "verify")
    assert code == 38 and "line 1: chain broken" in err


def test_db_status_lists_the_verified_coverage_and_unknown_capture_times(  # type: ignore[no-untyped-def]
        run, signer: Signer, tmp_path: Path) -> None:
    connection = sqlite3.connect(":memory:")
    connection.executescript(DDL)
    connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
    connection.executemany("INSERT INTO coverage VALUES (?, ?, ?, ?, ?, ?)", [
        ("osv", "Debian:12", 6, "2024-01-01T00:00:00Z", 0, "loose records"),
        ("alpine", "Alpine:v3.18", 900, None, 1, "Alpine secdb branch")])
    connection.commit()
    raw = bytes(connection.serialize())
    connection.close()
    now = datetime.now(UTC)
    providers = [{"name": "alpine", "captured_at": "1970-01-01T00:00:00Z", "captured_at_basis": "unknown",
                  "input_sha256": "0" * 64, "records": 900, "skipped": 0, "skipped_reasons": {}}]
    bundle = write_bundle(tmp_path / "v1.bundle", signer, raw=raw, built=now - timedelta(hours=1),
                          expires=now + timedelta(days=10), providers=providers)
    pem = tmp_path / "release.pub.pem"
    pem.write_bytes(signer.public_pem)
    assert run("trust", "add", str(pem))[0] == 0
    assert run("db", "policy", "--no-max-age")[0] == 0  # an unknown capture time is stale under any limit
    assert run("db", "import", str(bundle))[0] == 0
    code, out, _ = run("db", "status")
    assert code == 0
    assert "provider: alpine captured at an unknown time (no date in its feed: treated as stale)" in out
    assert ("  Alpine:v3.18             complete alpine: 900 records, newest undated, complete "
            "(Alpine secdb branch)\n") in out
    assert "  Debian:12                partial  osv: 6 records, newest 2024-01-01T00:00:00Z, partial" in out
