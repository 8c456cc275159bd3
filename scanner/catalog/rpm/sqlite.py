"""rpm's sqlite package database (`rpmdb.sqlite`, rpm 4.16+): table Packages(hnum, blob).

The file is opened from memory (`sqlite3.Connection.deserialize`), never from a path in the image.
rpm runs sqlite in WAL mode and checkpoints on exit; when an image still holds a non-empty
`rpmdb.sqlite-wal`, both are copied to a private temporary directory so sqlite replays the log there.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scanner.catalog.rpm.errors import DatabaseFormatError

_SQLITE_MAGIC = b"SQLite format 3\x00"
# Header bytes 18 and 19: file format write/read versions; 2 means WAL, which an in-memory copy cannot use.
_FORMAT_VERSION_OFFSET = 18


_QUERY = "SELECT hnum, blob FROM Packages ORDER BY hnum"


def _packages_rows(connection: sqlite3.Connection) -> list[tuple[object, object]]:
    """The rows of the Packages table. The schema comes from the image: a view or virtual table
    named Packages could compute rows without end, so only a plain table is read."""
    schema = connection.execute(
        "SELECT type, sql FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE").fetchall()
    if len(schema) != 1 or schema[0][0] != "table" or str(schema[0][1]).upper().startswith("CREATE VIRTUAL"):
        raise DatabaseFormatError("no plain Packages table")
    return connection.execute(_QUERY).fetchall()


def _rows_in_memory(data: bytes) -> list[tuple[object, object]]:
    image = bytearray(data)
    image[_FORMAT_VERSION_OFFSET:_FORMAT_VERSION_OFFSET + 2] = b"\x01\x01"
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(bytes(image))
        return _packages_rows(connection)
    finally:
        connection.close()


def _rows_with_log(data: bytes, wal: bytes) -> list[tuple[object, object]]:
    with tempfile.TemporaryDirectory(prefix="scanner-rpmdb-") as directory:
        database = Path(directory) / "rpmdb.sqlite"
        database.write_bytes(data)
        Path(f"{database}-wal").write_bytes(wal)
        connection = sqlite3.connect(database)
        try:
            return _packages_rows(connection)
        finally:
            connection.close()


def read_blobs(data: bytes, warnings: list[str], label: str, wal: bytes = b"") -> Iterator[bytes]:
    """Every header blob, in header number order; rows that are not blobs become warnings."""
    if not data.startswith(_SQLITE_MAGIC) or len(data) < 100:
        raise DatabaseFormatError("not an SQLite database (magic mismatch)")
    try:
        rows = _rows_with_log(data, wal) if wal else _rows_in_memory(data)
    except sqlite3.Error as error:
        raise DatabaseFormatError(f"unreadable: {error}") from error
    return _blobs(rows, warnings, label)


def _blobs(rows: list[tuple[object, object]], warnings: list[str], label: str) -> Iterator[bytes]:
    for number, blob in rows:
        if isinstance(blob, bytes):
            yield blob
        else:
            warnings.append(f"{label}: header {number} skipped: not a blob")
