from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scanner.db import audit, errors
from scanner.db.state import MAX_AUDIT_LINE_BYTES, Directory, StateDir
from tests.db.bundles import NOW


def filled(tmp_path: Path, count: int = 4) -> StateDir:
    state = StateDir(tmp_path / "s")
    for index in range(count):
        audit.append(state, "import", {"n": index}, NOW)
    return state


def test_chain_verifies_and_reports_head(tmp_path: Path) -> None:
    state = filled(tmp_path)
    summary = audit.verify_log(state)
    assert summary.records == 4
    lines = state.audit_log.read_bytes().splitlines()
    assert json.loads(lines[0])["prev"] == audit.GENESIS
    assert summary.head_sha256 == hashlib.sha256(lines[-1]).hexdigest()
    assert audit.verify_log(StateDir(tmp_path / "none")).records == 0


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
        audit.verify_log(state)


def test_torn_tail_is_closed_and_reported(tmp_path: Path) -> None:
    state = filled(tmp_path, 2)
    with open(state.audit_log, "ab") as handle:
        handle.write(b'{"event":"imp')
    with pytest.raises(errors.AuditLogError, match="line 3: torn record"):
        audit.verify_log(state)
    audit.append(state, "scan", {}, NOW)
    with pytest.raises(errors.AuditLogError, match="line 3: not a JSON record"):
        audit.verify_log(state)
    last = json.loads(state.audit_log.read_bytes().splitlines()[-1])
    assert last["event"] == "scan"


def test_the_first_record_makes_the_log_file_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(Directory, "sync", lambda directory: synced.append(directory.path))
    state = filled(tmp_path, count=3)
    assert synced == [state.root]


def test_a_long_field_is_cut_and_the_chain_holds(tmp_path: Path) -> None:
    state = filled(tmp_path, 2)
    audit.append(state, "refusal", {"source": "x" * (1024 * 1024), "n": 2}, NOW)
    audit.append(state, "scan", {"n": 3}, NOW)
    lines = state.audit_log.read_bytes().splitlines()
    assert max(len(line) for line in lines) <= MAX_AUDIT_LINE_BYTES
    assert json.loads(lines[2])["source"].endswith("... (1048576 characters)")
    assert audit.verify_log(state).records == 4


def test_a_record_over_the_line_cap_keeps_its_event_time_and_link(tmp_path: Path) -> None:
    state = filled(tmp_path, 1)
    audit.append(state, "freshness-policy", {"provider_max_age_days": {f"p{i}": 1.5 for i in range(20_000)}}, NOW)
    audit.append(state, "scan", {}, NOW)
    record = json.loads(state.audit_log.read_bytes().splitlines()[1])
    assert set(record) == {"event", "time", "prev", "omitted"} and record["event"] == "freshness-policy"
    assert audit.verify_log(state).records == 3


def test_the_link_hashes_the_whole_previous_line(tmp_path: Path) -> None:
    """A line longer than any chunk (not one of ours) is hashed whole: the break is reported at that line,
    not at the scanner's next record."""
    state = filled(tmp_path, 2)
    previous = hashlib.sha256(state.audit_log.read_bytes().splitlines()[-1]).hexdigest()
    long_line = json.dumps({"event": "x", "prev": previous, "pad": "y" * (300 * 1024)}).encode()
    with open(state.audit_log, "ab") as handle:
        handle.write(long_line + b"\n")
    audit.append(state, "scan", {}, NOW)
    assert json.loads(state.audit_log.read_bytes().splitlines()[-1])["prev"] == hashlib.sha256(long_line).hexdigest()
    with pytest.raises(errors.AuditLogError, match=f"line 3: longer than {MAX_AUDIT_LINE_BYTES} bytes"):
        audit.verify_log(state)


def test_a_line_of_any_length_is_handled_in_bounded_memory(tmp_path: Path) -> None:
    """256 MiB in one line (sparse): appending hashes it in chunks, verifying reads no more than the cap."""
    state = filled(tmp_path, 2)
    size = 256 * 1024 * 1024
    with open(state.audit_log, "r+b") as handle:
        handle.truncate(handle.seek(0, os.SEEK_END) + size)
    child = textwrap.dedent(f"""
        from pathlib import Path
        from scanner.db import audit, errors
        from tests.peak_memory import peak_rss_kib
        from scanner.db.state import StateDir
        state = StateDir(Path({str(state.root)!r}))
        audit.append(state, "scan", {{}})
        try:
            audit.verify_log(state)
        except errors.AuditLogError as error:
            print(error)
        print(peak_rss_kib())
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[2], timeout=120)
    message, peak_kib = result.stdout.splitlines()
    assert "line 3: longer than" in message
    assert int(peak_kib) < 150 * 1024
    with open(state.audit_log, "rb") as handle:
        handle.seek(-1024, os.SEEK_END)
        last = json.loads(handle.read().split(b"\n")[-2])
    assert last["event"] == "scan"
