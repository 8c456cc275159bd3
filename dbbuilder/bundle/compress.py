"""zstd compression of the database: one frame, long window, multi-threaded, deterministic.

The level and thread count were chosen by measurement (docs/performance.md, section "Bundle").
Determinism: for a fixed level and window, zstd's multi-threaded mode gives the same bytes for every
worker count >= 1 (jobs are cut by size, not by thread), but differs from single-threaded mode
(threads = 0). So the builder always uses the multi-threaded mode, and a build on a 2-core host and one
on a 64-core host give the same bundle (tests/dbbuilder/bundle/test_compress.py checks it).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

# Level 12: on the full-scale synthetic database (1.1 GiB) 11 % smaller than level 3 in about 2.5 minutes on
# 2 cores; level 19 saves another 12-17 % but is 13-28x slower (40+ minutes at full scale).
# `dbbuilder build --level 19` is there for size-critical transfers.
DEFAULT_LEVEL = 12
# 2**27 = 128 MiB: the largest window every zstd decoder accepts without an explicit opt-in
# (`--long=27`), so the scanner decompresses with stock limits; long-distance matching finds the
# repetition between SQLite pages that a small window misses.
WINDOW_LOG = 27
CHUNK_BYTES = 1024 * 1024


def default_threads() -> int:
    """Every core (at least one worker): the thread count never changes the output, only the speed."""
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class CompressedPayload:
    """What the manifest says about one payload file."""

    sha256: str
    size: int
    uncompressed_sha256: str
    uncompressed_size: int


class _CountingHashWriter:
    """Passes bytes through to a file while hashing and counting them."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)


def compressor(level: int = DEFAULT_LEVEL, threads: int | None = None) -> zstandard.ZstdCompressor:
    workers = default_threads() if threads is None else threads
    if workers < 1:
        raise ValueError("zstd threads must be >= 1 (threads=0 changes the output)")
    parameters = zstandard.ZstdCompressionParameters.from_level(
        level,
        window_log=WINDOW_LOG,
        enable_ldm=True,
        threads=workers,
        write_content_size=True,
        write_checksum=True,
    )
    return zstandard.ZstdCompressor(compression_params=parameters)


def compress_file(
    source: Path, target: BinaryIO, *, level: int = DEFAULT_LEVEL, threads: int | None = None
) -> CompressedPayload:
    """Compress `source` into `target` as one zstd frame, hashing both sides on the way."""
    sink = _CountingHashWriter(target)
    plain_digest = hashlib.sha256()
    plain_size = 0
    total = source.stat().st_size
    with (
        source.open("rb") as handle,
        compressor(level, threads).stream_writer(cast(BinaryIO, sink), size=total, closefd=False) as writer,
    ):
        while chunk := handle.read(CHUNK_BYTES):
            plain_digest.update(chunk)
            plain_size += len(chunk)
            writer.write(chunk)
    if plain_size != total:
        raise OSError(f"{source}: changed size while being compressed")
    return CompressedPayload(sink.digest.hexdigest(), sink.size, plain_digest.hexdigest(), plain_size)
