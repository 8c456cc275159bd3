from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import zstandard

from dbbuilder.bundle.compress import compress_file


def compressed(source: Path, threads: int) -> bytes:
    out = io.BytesIO()
    compress_file(source, out, level=3, threads=threads)
    return out.getvalue()


def test_output_does_not_depend_on_thread_count(database: Path) -> None:
    outputs = {compressed(database, threads) for threads in (1, 2, 4)}
    assert len(outputs) == 1


def test_round_trip_and_digests(database: Path) -> None:
    out = io.BytesIO()
    payload = compress_file(database, out, level=3, threads=2)
    data = out.getvalue()
    plain = database.read_bytes()
    assert (payload.size, payload.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (payload.uncompressed_size, payload.uncompressed_sha256) == (len(plain), hashlib.sha256(plain).hexdigest())
    frame = zstandard.get_frame_parameters(data)
    assert frame.content_size == len(plain)
    assert frame.has_checksum
    assert zstandard.ZstdDecompressor().decompress(data) == plain


def test_single_threaded_mode_is_refused(database: Path) -> None:
    with pytest.raises(ValueError, match="threads"):
        compress_file(database, io.BytesIO(), threads=0)
