"""Layer blobs decompressed as a stream: compression chosen by magic bytes (gzip, zstd, plain), the
sha256 of the stored blob and of the uncompressed tar computed on the fly, and a cap on the bytes
decompressed over a whole image. The tar parser (`tarstream.py`) reads the result as a `BlockReader`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import queue
import sys
import threading
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import BinaryIO, Protocol, cast

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
# queue holds QUEUE_DEPTH chunks at most: 16 MiB.
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
        self._queue: queue.Queue[tuple[hashlib._Hash, bytes] | None] = queue.Queue(maxsize=2 * _QUEUE_DEPTH)
        self._thread = threading.Thread(target=self._run, name=f"layer-hash {label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            item[0].update(item[1])

    def add(self, digest: hashlib._Hash, data: bytes) -> None:
        self._queue.put((digest, data))  # waits only for the hashing thread, which always makes progress

    def finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


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
            head = self._raw.read(_READ_SIZE)
        except BaseException:
            self._hasher.finish()
            raise
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
        self._producer = threading.Thread(target=self._produce, name=f"layer-reader {label}", daemon=True)
        self._producer.start()

    def _produce(self) -> None:
        item: bytes | BaseException | None = None
        try:
            for chunk in self._chunks:
                self._budget.spend(len(chunk), self.label)
                if not self._diff_is_blob:
                    self._hasher.add(self.diff_hash, chunk)
                if not self._put(chunk):
                    return
            self._raw.drain()
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            item = error
        finally:
            self._hasher.finish()  # before the end is announced: the digests are final once it is
        self._put(item)

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


class BlobWindow(Protocol):
    """A stored blob read by offset (`scanner.image.source.FileWindow`)."""

    @property
    def size(self) -> int: ...

    def fileno(self) -> int: ...

    def pread(self, size: int, position: int) -> bytes: ...

    def close(self) -> None: ...


_HASH_READ = 8 * 1024 * 1024
_READ_AHEAD = 64 * 1024  # headers and small files in one read; a larger file is skipped, not read


def _file_state(fd: int) -> tuple[int, ...]:
    state = os.fstat(fd)
    return state.st_dev, state.st_ino, state.st_size, state.st_mtime_ns, state.st_ctime_ns


class PlainLayer:
    """An uncompressed layer blob (as `docker save` writes them) read in place: the parser reads headers
    and wanted content at their offsets and skips the rest without reading it, while a thread hashes the
    whole blob with large reads on the other core. Its sha256 is also its diff_id.

    Parsing and hashing read the file apart, so the file must be the same for both: its identity, size,
    modification and change times are compared when the blob has been hashed (every write changes the
    change time), and a file that changed while it was read is refused. Use as a context manager.
    """

    compression = "none"

    def __init__(self, window: BlobWindow, label: str, budget: Budget, blob_algorithm: str = "sha256") -> None:
        self.label = label
        self._window = window
        self._state = _file_state(window.fileno())
        budget.spend(window.size, label)  # the blob is the uncompressed stream: its size is known now
        self.size = window.size
        self._hash = hashlib.new(blob_algorithm)
        self._diff_hash = None if self._hash.name == "sha256" else hashlib.sha256()
        self._position = 0
        self._buffer = b""
        self._buffer_start = 0
        self._hashed = 0
        self._failure: OSError | None = None
        self._stop = threading.Event()
        self._hasher = threading.Thread(target=self._hash_blob, name=f"layer-hash {label}", daemon=True)
        self._hasher.start()

    def _hash_blob(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._window.pread(_HASH_READ, self._hashed)
                if not data:
                    return
                self._hash.update(data)
                if self._diff_hash is not None:
                    self._diff_hash.update(data)
                self._hashed += len(data)
        except OSError as error:  # raised in the parsing thread by drain()
            self._failure = error

    @property
    def position(self) -> int:
        return self._position

    def read(self, size: int) -> bytes:
        offset = self._position - self._buffer_start
        if offset >= 0 and offset + size <= len(self._buffer):
            data = self._buffer[offset : offset + size]
        elif size >= _READ_AHEAD:
            data = self._window.pread(size, self._position)
        else:
            self._buffer = self._window.pread(_READ_AHEAD, self._position)
            self._buffer_start = self._position
            data = self._buffer[:size]
        self._position += len(data)
        return data

    def skip(self, size: int) -> int:
        size = max(0, min(size, self.size - self._position))
        self._position += size
        return size

    def drain(self) -> None:
        """Wait for the blob's hash; refuse a blob that could not be read whole or changed meanwhile."""
        self._hasher.join()
        if self._failure is not None:
            raise ImageError(f"{self.label}: cannot read ({self._failure.strerror or self._failure})")
        if self._hashed != self.size:
            raise ImageError(f"{self.label}: the layer blob is truncated ({self._hashed} of {self.size} bytes)")
        if _file_state(self._window.fileno()) != self._state:
            raise ImageError(f"{self.label}: the image file changed while it was being read; scan a copy that "
                             "nothing writes to")

    @property
    def blob_digest(self) -> str:
        return f"{self._hash.name}:{self._hash.hexdigest()}"

    @property
    def blob_size(self) -> int:
        return self._hashed

    @property
    def diff_id(self) -> str:
        return "sha256:" + (self._hash if self._diff_hash is None else self._diff_hash).hexdigest()

    def close(self) -> None:
        self._stop.set()
        self._hasher.join()
        self._window.close()

    def __enter__(self) -> PlainLayer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
