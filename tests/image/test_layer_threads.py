"""`LayerStream`'s threads: a reading thread, a hashing thread, the parser in the caller's; both digests of
what the parser saw, a hashing failure reported rather than hung on, and the GIL handed over quickly."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys

import pytest

from scanner.errors import ImageError
from scanner.image import decompress
from scanner.image.decompress import Budget, LayerStream
from scanner.image.limits import Limits
from scanner.image.tarstream import iter_members
from tests.image.builders import file, tar_bytes

LAYER = tar_bytes([file("big.bin", os.urandom(9 * 1024 * 1024)), file("etc/x", b"x")])


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
def test_both_digests_are_those_of_the_bytes_read(algorithm: str, compressed: bool) -> None:
    blob = gzip.compress(LAYER, compresslevel=1) if compressed else LAYER
    with LayerStream(io.BytesIO(blob), "t", Budget(1 << 30), algorithm) as stream:
        assert [m.name for m in iter_members(stream, "t", Limits())] == [b"big.bin", b"etc/x"]
        stream.drain()
        assert stream.blob_digest == f"{algorithm}:" + hashlib.new(algorithm, blob).hexdigest()
        assert stream.diff_id == "sha256:" + hashlib.sha256(LAYER).hexdigest()
        assert (stream.blob_size, stream.size) == (len(blob), len(LAYER))


class _BrokenHash:
    name = "sha256"

    def update(self, data: bytes) -> None:
        raise MemoryError


def test_a_hashing_failure_is_raised_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashlib, "new", lambda algorithm: _BrokenHash())
    with LayerStream(io.BytesIO(gzip.compress(LAYER, compresslevel=1)), "t", Budget(1 << 30)) as stream, \
            pytest.raises(MemoryError):
        list(iter_members(stream, "t", Limits()))
        stream.drain()


def test_a_truncated_blob_is_refused() -> None:
    with LayerStream(io.BytesIO(gzip.compress(LAYER)[:-4096]), "t", Budget(1 << 30)) as stream, \
            pytest.raises(ImageError, match="truncated"):
        list(iter_members(stream, "t", Limits()))
        stream.drain()


def test_reading_layers_hands_the_gil_over_quickly_and_restores_the_interval() -> None:
    before = sys.getswitchinterval()
    with decompress.responsive_threads():
        assert sys.getswitchinterval() <= 0.0005
    assert sys.getswitchinterval() == before
