"""Bundle compression benchmark: zstd level and thread count vs size, compression and decompression time.

    .venv/bin/python -m benchmarks.bundle_compress                 # shared feeds + full-scale synthetic corpus
    .venv/bin/python -m benchmarks.bundle_compress --scale 0.1     # a tenth of the synthetic corpus
    .venv/bin/python -m benchmarks.bundle_compress --database X.sqlite   # an existing database only

Databases are built with benchmarks.dbbuild (same feeds, same seeded synthetic corpus). Each database is
compressed the way dbbuilder.bundle compresses it (one frame, 2**27 window, long-distance matching,
content size and checksum) at each level and thread count; outputs of different thread counts are
compared byte for byte (the reproducibility claim in dbbuilder/bundle/compress.py). Finally one full
signed bundle is written with the default level, to time `write_bundle` end to end.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.dbbuild import FEEDS, build, generate
from dbbuilder.bundle.compress import DEFAULT_LEVEL, compress_file
from dbbuilder.bundle.manifest import BundleIdentity
from dbbuilder.bundle.writer import write_bundle

MIB = 1024 * 1024


def measure(database: Path, levels: list[int], threads: list[int]) -> None:
    size = database.stat().st_size
    print(f"\n{database.name}: {size / MIB:.1f} MiB")
    print("| level | threads | compressed MiB | ratio | compress s | decompress s | same bytes as threads=1 |")
    print("|---|---|---|---|---|---|---|")
    for level in levels:
        reference = None
        for count in threads:
            out = io.BytesIO()
            started = time.perf_counter()
            payload = compress_file(database, out, level=level, threads=count)
            compress_seconds = time.perf_counter() - started
            digest = hashlib.sha256(out.getvalue()).hexdigest()
            reference = reference or digest
            started = time.perf_counter()
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(out.getvalue())) as reader:
                while reader.read(1 << 20):
                    pass
            decompress_seconds = time.perf_counter() - started
            print(f"| {level} | {count} | {payload.size / MIB:.2f} | {size / payload.size:.1f}x | "
                  f"{compress_seconds:.1f} | {decompress_seconds:.1f} | {'yes' if digest == reference else 'NO'} |")


def full_bundle(database: Path, scratch: Path) -> None:
    built = datetime(2026, 11, 29, tzinfo=UTC)
    started = time.perf_counter()
    result = write_bundle(scratch / "bench.bundle", database, BundleIdentity("bench", 1, built, built + timedelta(days=30)),
                          [Ed25519PrivateKey.generate()])
    print(f"write_bundle (level {DEFAULT_LEVEL}, all cores): {database.stat().st_size / MIB:.1f} MiB -> "
          f"{result.size / MIB:.2f} MiB bundle in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full-scale synthetic corpus")
    parser.add_argument("--levels", type=int, nargs="*", default=[3, 9, 12, 15, 19])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--database", type=Path, action="append", help="measure these databases instead")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the shared feeds")
    parser.add_argument("--no-bundle", action="store_true", help="skip the end-to-end write_bundle timing")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bundle-bench-") as scratch:
        root = Path(scratch)
        databases = list(options.database or [])
        if not databases:
            build(root / "shared.sqlite", {
                "osv": [str(FEEDS / "osv"), str(FEEDS / "osv-samples")], "nvd": [str(FEEDS / "nvd")],
                "debian": [str(FEEDS / "debian")], "alpine": [str(FEEDS / "alpine")]})
            databases.append(root / "shared.sqlite")
            if not options.skip_synthetic:
                osv_dir, nvd_dir = generate(root / "corpus", options.scale)
                build(root / "synthetic.sqlite", {"osv": [str(osv_dir)], "nvd": [str(nvd_dir)]})
                databases.append(root / "synthetic.sqlite")
        for database in databases:
            measure(database, options.levels, options.threads)
            if not options.no_bundle:
                full_bundle(database, root)


if __name__ == "__main__":
    main()
