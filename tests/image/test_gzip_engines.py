"""ISA-L's inflate (`isal`) and zlib read gzip layers alike: the same bytes and digests, the same refusals.

`scanner.image.decompress` uses isal where its wheel exists and zlib elsewhere; both paths are checked here
on the shapes a layer can take (one member, concatenated members, padding after the end) and on the ways a
stream can be broken (bad CRC, bad length, truncation, corrupt deflate data).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from types import ModuleType

import pytest

from scanner.errors import ImageError
from scanner.image import decompress
from scanner.image.decompress import Budget, LayerStream

isal_zlib = pytest.importorskip("isal.isal_zlib")
ENGINES = [pytest.param(zlib, id="zlib"), pytest.param(isal_zlib, id="isal")]
PAYLOAD = bytes(range(256)) * 4096 + b"tail" * 1000  # over 1 MiB: several chunks


def read_all(blob: bytes) -> tuple[bytes, str, str]:
    parts = []
    with LayerStream(io.BytesIO(blob), "layer", Budget(1 << 30)) as stream:
        while chunk := stream.read(65536):
            parts.append(chunk)
        stream.drain()
        return b"".join(parts), stream.blob_digest, stream.diff_id


def _crc_broken(blob: bytes) -> bytes:
    return blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:]


def _length_broken(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


def _data_broken(blob: bytes) -> bytes:
    return blob[:20] + bytes(b ^ 0xFF for b in blob[20:60]) + blob[60:]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("blob", [
    pytest.param(gzip.compress(PAYLOAD, mtime=0), id="one member"),
    pytest.param(gzip.compress(PAYLOAD[:5000], mtime=0) + gzip.compress(PAYLOAD[5000:], mtime=0), id="two members"),
    pytest.param(gzip.compress(PAYLOAD, mtime=0) + bytes(1024), id="zero padding after the end"),
])
def test_valid_streams_read_the_same(monkeypatch: pytest.MonkeyPatch, engine: ModuleType, blob: bytes) -> None:
    monkeypatch.setattr(decompress, "GZIP_ENGINE", engine)
    data, _, diff_id = read_all(blob)
    assert data == PAYLOAD
    assert diff_id == "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("damage", "message"), [
    (_crc_broken, "corrupt gzip stream"),
    (_length_broken, "corrupt gzip stream"),
    (_data_broken, "corrupt gzip stream"),
    (lambda blob: blob[: len(blob) // 2], "gzip stream is truncated"),
])
def test_broken_streams_are_refused_alike(monkeypatch: pytest.MonkeyPatch, engine: ModuleType, damage: object,
                                          message: str) -> None:
    monkeypatch.setattr(decompress, "GZIP_ENGINE", engine)
    assert callable(damage)
    with pytest.raises(ImageError, match=message):
        read_all(damage(gzip.compress(PAYLOAD, mtime=0)))


def test_isal_is_the_engine_where_its_wheel_is_installed() -> None:
    assert decompress.GZIP_ENGINE is isal_zlib
