"""Layer blobs decompressed as a stream: compression chosen by magic bytes (gzip, zstd, plain), the
sha256 of the stored blob and of the uncompressed tar computed on the fly, and a cap on the bytes
decompressed over a whole image. The tar parser (`tarstream.py`) reads the result as a `BlockReader`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import queue
import sys
import threading
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import BinaryIO, cast

import zstandard

from scanner.errors import ImageError


def _gzip_engine() -> ModuleType:
    """ISA-L's inflate, with zlib's interface (max_length, unconsumed_tail, eof, unused_data, CRC and size
    checks): 2-3x zlib's speed, faster than `gzip -dc` itself. zlib where isal has no wheel (pyproject)."""
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:  # pragma: no cover - platforms without an isal wheel
        return zlib


GZIP_ENGINE = _gzip_engine()
# Large reads and chunks: a thread working in C (read, inflate, hash) must take the GIL back between
# two pieces of work, and the parser, busy in Python, hands it over only every switch interval. The
# queues (to the parser, to the hashing thread) hold _QUEUE_DEPTH chunks each at most: 16 MiB each.
_READ_SIZE = 4 * 1024 * 1024
_MAX_CHUNK = 4 * 1024 * 1024
_QUEUE_DEPTH = 4
# While layers are read: how soon the parsing thread hands the GIL to a reading thread that wants it
# back (CPython's default is 5 ms, during which the other core idles).
_READING_SWITCH_INTERVAL = 0.0005
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def compression_of(head: bytes) -> str:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


class Budget:
    """Decompressed bytes still allowed over the whole image: the cap against decompression bombs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, amount: int, where: str) -> None:
        self.used += amount
        if self.used > self.limit:
            raise ImageError(
                f"{where}: more than {self.limit} bytes after decompression "
                "(possible decompression bomb; raise --max-uncompressed-size if the image is genuine)"
            )


@contextlib.contextmanager
def responsive_threads() -> Iterator[None]:
    """Within: the GIL changes hands every 0.5 ms, so the threads that read and hash layers keep their core busy."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, _READING_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class _Hasher:
    """Hashes the chunks handed to it on a thread of its own, so that hashing a layer twice (stored and
    uncompressed) runs beside decompression instead of after it. `finish` waits for every chunk."""

    def __init__(self, label: str) -> None:
        self._queue: queue.Queue[tuple[hashlib._Hash, bytes] | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"layer-hash {label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.failure is None:  # after a failure it only empties the queue, so `add` never blocks
                try:
                    item[0].update(item[1])
                except BaseException as error:  # (MemoryError) the digests are void: reported by `finish`
                    self.failure = error

    def add(self, digest: hashlib._Hash, data: bytes) -> None:
        self._queue.put((digest, data))  # waits only for the hashing thread, which always makes progress

    def finish(self) -> BaseException | None:
        """Wait for every chunk handed over; what made the hashing fail, if anything did."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        return self.failure


class _HashingReader:
    """Reads the stored blob, hashing it (on the hasher's thread) for the compressed digest."""

    def __init__(self, raw: BinaryIO, algorithm: str, hasher: _Hasher) -> None:
        self._raw = raw
        self._hasher = hasher
        self.hash = hashlib.new(algorithm)
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size if size >= 0 else _READ_SIZE)
        self._hasher.add(self.hash, data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_READ_SIZE):
            pass


class LayerStream:
    """The uncompressed bytes of one layer blob, hashed (diff_id) as they are produced.

    A producer thread reads and decompresses, a hashing thread hashes what it read and what it produced,
    the caller's thread parses. zlib, zstd and hashlib release the GIL on large buffers, so on two cores
    decompression overlaps hashing and parsing. The queues between them hold a few chunks at most, which
    bounds memory. Use as a context manager.
    """

    def __init__(self, raw: BinaryIO, label: str, budget: Budget, blob_algorithm: str = "sha256") -> None:
        self.label = label
        self._budget = budget
        self._hasher = _Hasher(label)
        self._raw = _HashingReader(raw, blob_algorithm, self._hasher)
        self._raw_file = raw
        try:
            self._start()
        except BaseException:
            self._hasher.finish()
            raise

    def _start(self) -> None:
        head = self._raw.read(_READ_SIZE)
        self.compression = compression_of(head)
        self.diff_hash = hashlib.sha256()
        # An uncompressed blob is its own uncompressed stream: its sha256 blob digest is the diff_id, and
        # hashing the same bytes twice would be the largest cost of reading such a layer.
        self._diff_is_blob = self.compression == "none" and self._raw.hash.name == "sha256"
        self.size = 0
        self._buf = b""
        self._pos = 0
        chunks = {"gzip": self._gzip_chunks, "zstd": self._zstd_chunks, "none": self._plain_chunks}
        self._chunks = chunks[self.compression](head)
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._stop = threading.Event()
        self._finished = False
        self._producer = threading.Thread(target=self._produce, name=f"layer-reader {self.label}", daemon=True)
        self._producer.start()

    def _produce(self) -> None:
        item: bytes | BaseException | None = None
        try:
            for chunk in self._chunks:
                self._budget.spend(len(chunk), self.label)
                if not self._diff_is_blob:
                    self._hasher.add(self.diff_hash, chunk)
                if not self._put(chunk):
                    break  # closed: nobody reads on
            else:
                self._raw.drain()
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            item = error
        failure = self._hasher.finish()  # before the end is announced: the digests are final once it is
        self._put(item if item is not None else failure)

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        self._stop.set()
        self._producer.join()
        self._raw_file.close()

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def blob_digest(self) -> str:
        return f"{self._raw.hash.name}:{self._raw.hash.hexdigest()}"

    @property
    def blob_size(self) -> int:
        return self._raw.size

    @property
    def diff_id(self) -> str:
        return "sha256:" + (self._raw.hash if self._diff_is_blob else self.diff_hash).hexdigest()

    @property
    def position(self) -> int:
        return self.size - (len(self._buf) - self._pos)

    def _plain_chunks(self, head: bytes) -> Iterator[bytes]:
        data = head
        while data:
            yield data
            data = self._raw.read(_READ_SIZE)

    def _gzip_chunks(self, head: bytes) -> Iterator[bytes]:
        data = head
        while data:
            decompressor = GZIP_ENGINE.decompressobj(16 + zlib.MAX_WBITS)
            while True:
                try:
                    out = decompressor.decompress(data, _MAX_CHUNK)
                except GZIP_ENGINE.error as error:
                    raise ImageError(f"{self.label}: corrupt gzip stream ({error})") from None
                if out:
                    yield out
                if decompressor.eof:
                    break
                data = decompressor.unconsumed_tail or self._raw.read(_READ_SIZE)
                if not data:
                    raise ImageError(f"{self.label}: gzip stream is truncated")
            # Concatenated gzip members form one stream; anything else after the end is padding.
            data = decompressor.unused_data or self._raw.read(_READ_SIZE)
            if data and not data.startswith(_GZIP_MAGIC):
                self._raw.drain()
                return

    def _zstd_chunks(self, head: bytes) -> Iterator[bytes]:
        # stream_reader bounds each read's output; a truncated frame is caught by the tar
        # structure or the diff_id check, since the zstd reader just stops.
        replay = _Prefixed(head, self._raw)
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(BinaryIO, replay), read_size=_READ_SIZE, read_across_frames=True
        )
        while True:
            try:
                out = reader.read(_MAX_CHUNK)
            except zstandard.ZstdError as error:
                raise ImageError(f"{self.label}: corrupt zstd stream ({error})") from None
            if not out:
                return
            yield out

    def _next_chunk(self) -> bytes:
        if self._finished:
            return b""
        item = self._queue.get()
        if isinstance(item, bytes):
            self.size += len(item)
            return item
        self._finished = True
        self._producer.join()
        if item is not None:
            raise item
        return b""

    def read(self, size: int) -> bytes:
        end = self._pos + size
        if end <= len(self._buf):
            data = self._buf[self._pos : end]
            self._pos = end
            return data
        parts = [self._buf[self._pos :]]
        missing = size - len(parts[0])
        self._buf, self._pos = b"", 0
        while missing > 0:
            chunk = self._next_chunk()
            if not chunk:
                break
            if len(chunk) <= missing:
                parts.append(chunk)
                missing -= len(chunk)
            else:
                parts.append(chunk[:missing])
                self._buf, self._pos = chunk, missing
                missing = 0
        return b"".join(parts)

    def skip(self, size: int) -> int:
        available = len(self._buf) - self._pos
        if size <= available:
            self._pos += size
            return size
        skipped = available
        self._buf, self._pos = b"", 0
        while skipped < size:
            chunk = self._next_chunk()
            if not chunk:
                break
            if skipped + len(chunk) <= size:
                skipped += len(chunk)
            else:
                self._buf, self._pos = chunk, size - skipped
                skipped = size
        return skipped

    def drain(self) -> None:
        """Consume the rest (padding after the end-of-archive blocks counts towards the diff_id)."""
        self._buf, self._pos = b"", 0
        while self._next_chunk():
            pass


class _Prefixed:
    """A reader that first returns `head`, then continues from `rest`."""

    def __init__(self, head: bytes, rest: _HashingReader) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._rest.read(size)

