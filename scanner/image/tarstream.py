"""Streaming tar reading: decompression by magic bytes, digests on the fly, and a small tar parser.

The parser is our own rather than `tarfile` because a layer may hold millions of members and
`tarfile` spends several microseconds and one object graph per member; here a member costs one
512-byte slice and a few integer conversions. It reads POSIX ustar, pax and GNU long-name headers
from any `BlockReader`: a decompressing `LayerStream` or a seekable outer archive.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

import zstandard

from scanner.errors import ImageError

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_READ_SIZE = 1024 * 1024
_MAX_CHUNK = 1024 * 1024
_QUEUE_DEPTH = 8
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHECKSUM_SPACES_SUM = 8 * ord(" ")

REGULAR_TYPES = frozenset({b"0", b"\0", b"7"})
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"
_DATA_LESS_TYPES = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})
_META_TYPES = frozenset({b"L", b"K", b"x", b"g"})  # headers describing the next member


class BlockReader(Protocol):
    def read(self, size: int) -> bytes:
        """Up to `size` bytes; fewer only at the end of the stream."""
        ...

    def skip(self, size: int) -> int:
        """Discard up to `size` bytes; returns how many were skipped (fewer only at the end)."""
        ...

    @property
    def position(self) -> int:
        """Bytes consumed so far."""
        ...


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


class _HashingReader:
    """Reads the stored blob, hashing it for the compressed digest."""

    def __init__(self, raw: BinaryIO, algorithm: str) -> None:
        self._raw = raw
        self.hash = hashlib.new(algorithm)
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size if size >= 0 else _READ_SIZE)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_READ_SIZE):
            pass


class LayerStream:
    """The uncompressed bytes of one layer blob, hashed (diff_id) as they are produced.

    A producer thread reads, decompresses and hashes; the caller's thread parses. zlib, zstd and
    hashlib release the GIL on large buffers, so on two cores decompression overlaps parsing. The
    queue between them holds a few chunks at most, which bounds memory. Use as a context manager.
    """

    def __init__(self, raw: BinaryIO, label: str, budget: Budget, blob_algorithm: str = "sha256") -> None:
        self.label = label
        self._budget = budget
        self._raw = _HashingReader(raw, blob_algorithm)
        self._raw_file = raw
        head = self._raw.read(_READ_SIZE)
        self.compression = compression_of(head)
        self.diff_hash = hashlib.sha256()
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
                self.diff_hash.update(chunk)
                if not self._put(chunk):
                    return
            self._raw.drain()
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            item = error
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
        return "sha256:" + self.diff_hash.hexdigest()

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
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while True:
                try:
                    out = decompressor.decompress(data, _MAX_CHUNK)
                except zlib.error as error:
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


class SeekableBlocks:
    """A `BlockReader` over a plain seekable file (the outer archive): skipping is seeking."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self._size = size
        self._position = 0

    @property
    def position(self) -> int:
        return self._position

    def read(self, size: int) -> bytes:
        data = self._file.read(size)
        self._position += len(data)
        return data

    def skip(self, size: int) -> int:
        size = max(0, min(size, self._size - self._position))
        self._file.seek(size, 1)
        self._position += size
        return size


@dataclass(slots=True)
class TarMember:
    name: bytes
    type: bytes
    size: int  # bytes of data stored in the archive for this member
    mode: int
    linkname: bytes
    offset: int  # where the data starts in the (uncompressed) stream
    sparse: bool = False

    @property
    def is_regular(self) -> bool:
        return self.type in REGULAR_TYPES and not self.name.endswith(b"/")


def _octal(field: bytes, label: str, what: str) -> int:
    if field[:1] and field[0] & 0x80:
        # GNU base-256 for values that do not fit the octal field.
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise ImageError(f"{label}: tar header has an unreadable {what} field {text[:16]!r}") from None


def _checksum_ok(header: bytes, stored: int) -> bool:
    # The tar checksum is the byte sum with the checksum field read as spaces. adler32's low half is
    # (1 + byte sum) mod 65521, computed in C, so this avoids a Python-level loop over 512 bytes;
    # a sum can reach 130560, hence the modulo on both sides. Summing the whole block and then
    # swapping the field's 8 bytes for 8 spaces saves copying the block.
    low = zlib.adler32(header) & 0xFFFF
    return low == (1 + stored + sum(header[148:156]) - _CHECKSUM_SPACES_SUM) % 65521


def _pax_records(data: bytes, label: str) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise ImageError(f"{label}: malformed pax header")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ImageError(f"{label}: malformed pax header length") from None
        if length <= space - pos or pos + length > len(data):
            raise ImageError(f"{label}: malformed pax header length")
        record = data[space + 1 : pos + length].removesuffix(b"\n")
        key, sep, value = record.partition(b"=")
        if not sep:
            raise ImageError(f"{label}: malformed pax record")
        records[key] = value
        pos += length
    return records


def iter_members(reader: BlockReader, label: str, max_header_size: int) -> Iterator[TarMember]:
    """Yield each member; the caller may read part of its data from `reader` before the next one.

    The parser keeps track of the position and skips whatever data and padding the caller left.
    Ends at the end-of-archive block or at the end of the stream on a block boundary.
    """
    long_name: bytes | None = None
    long_link: bytes | None = None
    pax: dict[bytes, bytes] = {}

    def read_meta(size: int, what: str) -> bytes:
        if size < 0 or size > max_header_size:
            raise ImageError(f"{label}: {what} of {size} bytes exceeds the {max_header_size}-byte cap")
        data = reader.read(size)
        padded = (size + BLOCK - 1) & ~(BLOCK - 1)
        if len(data) < size or reader.skip(padded - size) < padded - size:
            raise ImageError(f"{label}: truncated {what}")
        return data

    start = reader.position
    while True:
        # `start` is tracked here rather than asked of the reader: every path below leaves the
        # reader exactly at the next header, or raises.
        header = reader.read(BLOCK)
        if len(header) < BLOCK:
            if not header:
                return
            raise ImageError(f"{label}: truncated tar header at offset {start}")
        if header == _ZERO_BLOCK:
            return
        # Numeric fields: the plain octal case, nearly every field, is parsed inline (a call per
        # field is a noticeable share of a tiny member's cost); `_octal` handles everything else.
        try:
            stored = int(header[148:156].rstrip(b"\0 ") or b"0", 8)
        except ValueError:
            stored = _octal(header[148:156], label, "checksum")
        if not _checksum_ok(header, stored):
            raise ImageError(f"{label}: bad tar header checksum at offset {start}")
        kind = header[156:157]
        try:
            size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
        except ValueError:
            size = _octal(header[124:136], label, "size")
        if kind in _META_TYPES:
            if kind == b"L":
                long_name = read_meta(size, "GNU long name").split(b"\0", 1)[0]
            elif kind == b"K":
                long_link = read_meta(size, "GNU long link name").split(b"\0", 1)[0]
            elif kind == b"x":
                pax.update(_pax_records(read_meta(size, "pax header"), label))
            else:
                read_meta(size, "pax global header")
            start = reader.position
            continue
        # Fields are cut at their first NUL; an empty prefix or link name (nearly every member) is
        # recognised by its first byte without slicing the field.
        end = header.find(b"\0", 0, 100)
        name = header[: end if end >= 0 else 100]
        if header[345] and header[257:263] == b"ustar\x00":
            end = header.find(b"\0", 345, 500)
            name = header[345 : end if end >= 0 else 500] + b"/" + name
        if header[157]:
            end = header.find(b"\0", 157, 257)
            linkname = header[157 : end if end >= 0 else 257]
        else:
            linkname = b""
        if long_name is not None:
            name = long_name
        if long_link is not None:
            linkname = long_link
        sparse = kind == b"S"
        if pax:
            name = pax.get(b"path", name)
            linkname = pax.get(b"linkpath", linkname)
            if b"size" in pax:
                try:
                    size = int(pax[b"size"])
                except ValueError:
                    raise ImageError(f"{label}: malformed pax size") from None
            sparse = sparse or any(key.startswith(b"GNU.sparse.") for key in pax)
        if size < 0:
            raise ImageError(f"{label}: negative member size at offset {start}")
        data_size = 0 if kind in _DATA_LESS_TYPES else size
        try:
            mode = int(header[100:108].rstrip(b"\0 ") or b"0", 8)
        except ValueError:
            mode = _octal(header[100:108], label, "mode")
        offset = start + BLOCK
        yield TarMember(name, kind, data_size, mode, linkname, offset, sparse)
        long_name = long_link = None
        if pax:
            pax = {}
        # `reader` sits somewhere inside the data; move to the next header.
        end = offset + ((data_size + BLOCK - 1) & ~(BLOCK - 1))
        position = reader.position
        if end > position and reader.skip(end - position) < end - position:
            raise ImageError(f"{label}: truncated tar member {name.decode('utf-8', 'replace')!r}")
        start = max(end, position)
