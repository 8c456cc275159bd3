from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from scanner.db import audit, errors
from scanner.db.state import StateDir
from tests.db.bundles import NOW


def filled(tmp_path: Path, count: int = 4) -> StateDir:
    state = StateDir(tmp_path / "s")
    for index in range(count):
        audit.append(state, "import", {"n": index}, NOW)
    return state


def test_chain_verifies_and_reports_head(tmp_path: Path) -> None:
    state = filled(tmp_path)
    summary = audit.verify_log(state.audit_log)
    assert summary.records == 4
    lines = state.audit_log.read_bytes().splitlines()
    assert json.loads(lines[0])["prev"] == audit.GENESIS
    assert summary.head_sha256 == hashlib.sha256(lines[-1]).hexdigest()
    assert audit.verify_log(tmp_path / "none.log").records == 0


def test_record_scan(tmp_path: Path) -> None:
    audit.record_scan(tmp_path / "s", "sha256:" + "1" * 64, "2" * 64, {"critical": 1, "high": 3})
    record = json.loads((tmp_path / "s" / "audit.log").read_text())
    assert record["event"] == "scan" and record["counts"] == {"critical": 1, "high": 3}


@pytest.mark.parametrize(("tamper", "line"), [
    (lambda lines: [lines[0], lines[1].replace(b'"n":1', b'"n":7'), *lines[2:]], 3),  # edit
    (lambda lines: [lines[0], *lines[2:]], 2),  # removal
    (lambda lines: [lines[0], lines[2], lines[1], lines[3]], 2),  # reorder
    (lambda lines: [*lines[:2], b"garbage", *lines[2:]], 3),  # insertion
])
def test_tampering_breaks_the_chain(tmp_path: Path, tamper: object, line: int) -> None:
    state = filled(tmp_path)
    lines = state.audit_log.read_bytes().splitlines()
    state.audit_log.write_bytes(b"\n".join(tamper(lines)) + b"\n")  # type: ignore[operator]
    with pytest.raises(errors.AuditLogError, match=f"line {line}:"):
        audit.verify_log(state.audit_log)


def test_torn_tail_is_closed_and_reported(tmp_path: Path) -> None:
    state = filled(tmp_path, 2)
    with open(state.audit_log, "ab") as handle:
        handle.write(b'{"event":"imp')
    with pytest.raises(errors.AuditLogError, match="line 3: torn record"):
        audit.verify_log(state.audit_log)
    audit.append(state, "scan", {}, NOW)
    with pytest.raises(errors.AuditLogError, match="line 3: not a JSON record"):
        audit.verify_log(state.audit_log)
    last = json.loads(state.audit_log.read_bytes().splitlines()[-1])
    assert last["event"] == "scan"


def test_the_first_record_makes_the_log_file_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(audit, "fsync_directory", synced.append)
    state = filled(tmp_path, count=3)
    assert synced == [state.root]
