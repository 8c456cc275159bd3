from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.db import trust
from scanner.db.state import StateDir
from tests.db.bundles import NOW, Signer
from tests.scanner_cli import runner


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="session")
def other_signer() -> Signer:
    return Signer()


@pytest.fixture
def state(tmp_path: Path, signer: Signer) -> StateDir:
    """A state directory that trusts `signer` (threshold 1)."""
    state = StateDir(tmp_path / "state")
    trust.add_key(state, signer.public_pem, "release", "release.pub.pem", NOW)
    return state


@dataclass(frozen=True)
class Snapshot:
    """Everything an import may change; equal snapshots mean the installed state was untouched."""

    pointer: bytes | None
    database_sha256: str | None
    rollback: bytes | None
    entries: tuple[str, ...]


def read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def snapshot(state: StateDir) -> Snapshot:
    pointer = read_or_none(state.installed_pointer)
    database = None
    if pointer is not None:
        database_path = state.databases / json.loads(pointer)["directory"] / "vulns.sqlite"
        database = hashlib.sha256(database_path.read_bytes()).hexdigest()
    entries = tuple(sorted(p.name for p in state.databases.iterdir())) if state.databases.exists() else ()
    return Snapshot(pointer, database, read_or_none(state.rollback_file), entries)


def scanner_runner(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                   state_root: Path) -> Callable[..., tuple[int, str, str]]:
    """`scanner --state-dir STATE_ROOT ARGS...` in this process: (exit code, stdout, stderr)."""
    monkeypatch.delenv("SCANNER_STATE_DIR", raising=False)
    run = runner(capsys, monkeypatch)
    return lambda *args: run("--state-dir", str(state_root), *args)
