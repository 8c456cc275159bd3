"""Bundle import benchmark: `scanner db import` and scan-start re-verification against the floor.

    .venv/bin/python -m benchmarks.bundle_import                 # shared-feeds bundle + 300 MB synthetic
    .venv/bin/python -m benchmarks.bundle_import --synthetic-mb 64 --skip-feeds   # quick smoke run

The floor for an import is what any tool must do with the same payload: `zstd -d` to a file, then
`sha256sum` of the result. Import additionally parses and verifies the signed manifest, hashes the
stored payload and the bundle file, writes and fsyncs the database. The shared-feeds bundle is built
with `dbbuilder build` (default level); the synthetic one is a database of realistic shape (narrow
lookup rows plus long text) compressed at level 3 to keep the benchmark short (decompression speed
hardly depends on the level). Everything lives in a temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dbbuilder.bundle.keys import generate_key_pair, load_private_key
from dbbuilder.bundle.manifest import BundleIdentity
from dbbuilder.bundle.writer import write_bundle
from scanner.db import bundle_format, trust
from scanner.db.archive import read_layout
from scanner.db.install import import_bundle, load_database
from scanner.db.schema import DDL, SCHEMA_VERSION
from scanner.db.state import StateDir

FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "feeds"
DBBUILDER = [sys.executable, "-c", "from dbbuilder.cli import main; main()"]
REPEATS = 3


def best(action: Callable[[], object], repeats: int = REPEATS, clock: Callable[[], float] = time.perf_counter
         ) -> float:
    times = []
    for _ in range(repeats):
        started = clock()
        action()
        times.append(clock() - started)
    return min(times)


def synthetic_database(path: Path, megabytes: int) -> None:
    """Rows shaped like the real schema: ids, ecosystems, source names, OSV ranges, long details."""
    rng = random.Random(1)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(20000)]
    ecosystems = ["PyPI", "npm", "Go", "Maven", "Debian:12", "Debian:11", "Ubuntu:22.04:LTS", "Alpine:v3.18"]
    connection = sqlite3.connect(path)
    connection.executescript(DDL)
    connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
    connection.execute("INSERT INTO providers (name, captured_at, input_sha256, records, skipped, skipped_reasons)"
                       " VALUES ('osv', ?, ?, 0, 0, '{}')",
                       (datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "0" * 64))
    batch, number = 5000, 0
    while path.stat().st_size < megabytes * 1024 * 1024:
        ids = [f"CVE-20{rng.randint(10, 26)}-{number + i:07d}" for i in range(batch)]
        connection.executemany(
            "INSERT INTO vulnerabilities (id, provider, group_id, withdrawn, published, modified, severity, summary)"
            " VALUES (?, 'osv', ?, NULL, ?, ?, ?, ?)", [
            (vid, vid, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", rng.choice(["low", "high", None]),
             " ".join(rng.choices(words, k=12))) for vid in ids])
        connection.executemany(
            "INSERT INTO affected (vuln_id, ecosystem, package, ranges, versions, fix_state, fixed, severity)"
            " VALUES (?, ?, ?, ?, NULL, 'fixed', ?, NULL)", [
            (vid, rng.choice(ecosystems), rng.choice(words),
             f'[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{rng.randint(1, 9)}.'
             f'{rng.randint(0, 30)}.{rng.randint(0, 9)}"}}]}}]', '["1.2.3"]')
            for vid in ids for _ in range(rng.randint(1, 4))])
        connection.executemany("INSERT INTO details (vuln_id, details, refs, cwes) VALUES (?, ?, ?, '[\"CWE-79\"]')", [
            (vid, " ".join(rng.choices(words, k=rng.randint(40, 120))),
             f'["https://example.org/advisories/{vid}"]') for vid in ids])
        connection.commit()
        number += batch
    connection.close()


def floor(bundle: Path, work: Path) -> float:
    """`zstd -d` of the payload to a file plus `sha256sum` of the output (payload extracted beforehand)."""
    with open(bundle, "rb") as stream:
        member = next(m for m in read_layout(stream) if m.name == bundle_format.DATABASE_NAME)
        stream.seek(member.offset)
        payload = work / "payload.zst"
        payload.write_bytes(stream.read(member.size))
    output = work / "floor.sqlite"

    def run() -> None:
        subprocess.run(["zstd", "-d", "-q", "-f", "--long=31", str(payload), "-o", str(output)], check=True)
        subprocess.run(["sha256sum", str(output)], check=True, stdout=subprocess.DEVNULL)
        output.unlink()

    seconds = best(run)
    payload.unlink()
    return seconds


def measure(name: str, bundle: Path, public_pem: bytes, work: Path) -> list[str]:
    size = bundle.stat().st_size
    floor_seconds = floor(bundle, work)
    states: list[Path] = []

    def fresh_import() -> None:
        state = StateDir(work / f"state-{len(states)}")
        states.append(state.root)
        trust.add_key(state, public_pem, "bench", "bench.pub.pem", datetime.now(UTC))
        import_bundle(bundle, state_dir=state.root, allow_expired=True)

    import_seconds = best(fresh_import)
    database = load_database(state_dir=states[-1], audit=False, allow_expired=True)
    def load() -> None:
        load_database(state_dir=states[-1], audit=False, allow_expired=True)

    load_seconds = best(load, 5)
    load_cpu_seconds = best(load, 5, time.process_time)
    for root in states:
        shutil.rmtree(root)
    raw = database.manifest.file(bundle_format.DATABASE_NAME).uncompressed_size
    return [name, f"{size / 1e6:.1f} MB", f"{raw / 1e6:.1f} MB", f"{floor_seconds:.2f} s",
            f"{import_seconds:.2f} s", f"{import_seconds / floor_seconds:.2f}x",
            f"{load_seconds * 1000:.0f} ms ({load_cpu_seconds * 1000:.0f} ms CPU)",
            f"{raw / load_cpu_seconds / 1e9:.2f} GB/s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-mb", type=int, default=300, help="uncompressed size of the synthetic database")
    parser.add_argument("--skip-feeds", action="store_true", help="do not build the shared-feeds bundle")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bundle-import-") as directory:
        work = Path(directory)
        keys = generate_key_pair(work, "bench")
        public_pem = keys.public_key.read_bytes()
        if not options.skip_feeds and FEEDS.is_dir():
            bundle = work / "feeds.bundle"
            subprocess.run([*DBBUILDER, "build", "--out", str(bundle), "--key", str(keys.private_key),
                            "--channel", "bench", "--bundle-version", "1", "--osv", str(FEEDS / "osv"),
                            "--nvd", str(FEEDS / "nvd"), "--debian", str(FEEDS / "debian"),
                            "--alpine", str(FEEDS / "alpine")], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            rows.append(measure("shared feeds (dbbuilder build)", bundle, public_pem, work))
            bundle.unlink()
        database = work / "synthetic.sqlite"
        synthetic_database(database, options.synthetic_mb)
        now = datetime.now(UTC).replace(microsecond=0)
        bundle = work / "synthetic.bundle"
        write_bundle(bundle, database, BundleIdentity("bench", 1, now, now + timedelta(days=30)),
                     [load_private_key(keys.private_key)], level=3)
        database.unlink()
        rows.append(measure(f"synthetic {options.synthetic_mb} MB", bundle, public_pem, work))
    header = ["bundle", "bundle size", "database", "floor: zstd -d + sha256sum", "scanner db import",
              "import / floor", "re-verify at scan start", "re-hash rate (CPU)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
