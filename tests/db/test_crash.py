"""Kill imports at random points (SIGKILL, in a subprocess): the old or the new database is always installed
and valid, never neither, and the leftovers never break the next import."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard

from scanner.db.install import import_bundle, load_database
from scanner.db.state import StateDir
from tests.db.bundles import Parts, Signer, encode, manifest_document, signatures

KILLS = 10
# The child reports when its imports are done, so the kills land inside the import itself.
CHILD = """
import sys, time
from pathlib import Path
from scanner.db.install import import_bundle
print("ready", flush=True)
started = time.perf_counter()
import_bundle(Path(sys.argv[2]), state_dir=Path(sys.argv[1]))
print(time.perf_counter() - started, flush=True)
"""


def database_bytes(size: int) -> bytes:
    """Half random, half repetitive: a few MB that compress about 2:1, like a real database."""
    rng = random.Random(7)
    return b"".join(rng.randbytes(4096) + bytes(4096) for _ in range(size // 8192))


def versioned(payload: bytes, raw: bytes, version: int, signer: Signer) -> bytes:
    # Real time: the subprocess checks expiry against its own clock.
    now = datetime.now(UTC)
    manifest = encode(manifest_document(payload, raw, version=version, built=now - timedelta(hours=1),
                                        expires=now + timedelta(days=1)))
    return Parts(manifest, signatures(manifest, signer), payload, raw).bundle()


def start_import(state: StateDir, bundle: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(state.root), str(bundle)], text=True,
                               stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_killed_imports_leave_the_old_or_the_new_database(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    raw = database_bytes(8 * 1024 * 1024)
    payload = zstandard.ZstdCompressor(level=1).compress(raw)
    bundles = []
    for version in range(1, KILLS + 3):
        path = tmp_path / f"v{version}.bundle"
        path.write_bytes(versioned(payload, raw, version, signer))
        bundles.append(path)
    import_bundle(bundles[0], state_dir=state.root)

    process = start_import(state, bundles[1])
    output, _ = process.communicate(timeout=60)
    full = float(output)
    rng = random.Random(int.from_bytes(os.urandom(4)))
    for version, bundle in enumerate(bundles[2:], start=3):
        before = load_database(state_dir=state.root, audit=False).manifest.bundle_version
        process = start_import(state, bundle)
        time.sleep(rng.uniform(0.0, 1.1) * full)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        after = load_database(state_dir=state.root, audit=False)  # raises if neither is installed and valid
        assert after.manifest.bundle_version in (before, version)
        installed = json.loads(state.installed_pointer.read_text())["directory"]
        assert (state.databases / installed / "vulns.sqlite").is_file()
    final = import_bundle(bundles[-1], state_dir=state.root)
    assert final.database.manifest.bundle_version == KILLS + 2
    assert [entry.name for entry in state.databases.iterdir()] == [final.database.path.parent.name]
    assert not list(state.root.glob(".*.tmp"))

