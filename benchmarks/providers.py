"""Per-provider build benchmark: build time, records per release and size of each distro provider's database.

    .venv/bin/python -m benchmarks.providers

Each provider is compiled alone from its sample feed in ../shared/data/feeds (best of three
`compile_database` runs, in this process: start-up is not counted), then the database is compressed with
zstd at the bundle writer's default level. The samples are small real extracts, so the figures show each
reader's fixed cost and per-record size, not a full feed's totals.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import zstandard

from dbbuilder.bundle.compress import DEFAULT_LEVEL
from dbbuilder.compile import compile_database

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
INPUTS = {"redhat": "redhat", "amazon": "amazon", "suse": "sles", "oracle": "oracle", "azure-linux": "azure-linux",
          "wolfi": "wolfi", "chainguard": "chainguard", "cve5": "cve5"}
RUNS = 3
RELEASES_SHOWN = 6


def main() -> None:
    print("| provider | input files | build | records | records per release | database | zstd |")
    print("|---|---:|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for provider, folder in INPUTS.items():
            out = Path(scratch, f"{provider}.sqlite")
            best = float("inf")
            for _ in range(RUNS):
                out.unlink(missing_ok=True)
                started = time.perf_counter()
                summary = compile_database(out, {provider: [FEEDS / folder]})
                best = min(best, time.perf_counter() - started)
            [entry] = summary.providers
            data = out.read_bytes()
            compressed = len(zstandard.ZstdCompressor(level=DEFAULT_LEVEL).compress(data))
            releases = [f"{row.ecosystem} {row.records}" for row in entry.coverage]
            shown = ", ".join(releases[:RELEASES_SHOWN]) + (
                f", … ({len(releases)} in all)" if len(releases) > RELEASES_SHOWN else "")
            files = sum(1 for path in (FEEDS / folder).rglob("*") if path.is_file())
            print(f"| {provider} | {files} | {best * 1000:.0f} ms | {entry.records} | {shown} | {len(data):,} B "
                  f"| {compressed:,} B |")


if __name__ == "__main__":
    main()
