"""rpm's sqlite package database (`rpmdb.sqlite`, rpm 4.16+): table Packages(hnum, blob).

The file is copied from its stream to a private temporary directory (with a non-empty
`rpmdb.sqlite-wal`, which sqlite then replays there) and opened from that copy, never from a path in
the image and never held in memory. The schema comes from the image, so it is distrusted: only a
plain table without generated columns is read, rows are fetched a few at a time, a blob over
`max_rpm_header_size` is skipped without being loaded, and text is never decoded (a non-UTF-8 name
in an error message must not escape as UnicodeDecodeError).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import BinaryIO

from scanner.catalog.limits import CatalogLimits
from scanner.catalog.rpm.errors import DatabaseFormatError

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_CHUNK = 1024 * 1024
_FETCH = 64
# The length is read without loading the blob (sqlite's length() reads the record header only).
_QUERY = ("SELECT hnum, typeof(blob), length(blob), "
          "CASE WHEN typeof(blob) = 'blob' AND length(blob) <= ? THEN blob END FROM Packages")
# sqlite's own messages carry names from the file; with bytes they can never fail to decode.
_SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)


def _message(error: Exception) -> str:
    """sqlite's message; one that Python could not decode (a name from the file) with its bytes replaced."""
    if isinstance(error, UnicodeDecodeError) and isinstance(error.object, bytes):
        return error.object.decode("utf-8", "replace")
    return str(error)


def _copy(stream: BinaryIO, target: Path) -> None:
    stream.seek(0)
    with target.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            out.write(chunk)


def _check_schema(connection: sqlite3.Connection) -> None:
    """Only a plain Packages table is read: a view, a virtual table or a generated column could
    compute rows or values without end from the image's schema."""
    schema = connection.execute(
        "SELECT type, sql FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE").fetchall()
    if len(schema) != 1 or schema[0][0] != b"table" or bytes(schema[0][1] or b"").upper().startswith(b"CREATE VIRTUAL"):
        raise DatabaseFormatError("no plain Packages table")
    if any(column[6] for column in connection.execute("PRAGMA table_xinfo(Packages)")):
        raise DatabaseFormatError("the Packages table has generated columns")


def read_blobs(stream: BinaryIO, label: str, limits: CatalogLimits, warn: Callable[[str], None],
               wal: BinaryIO | None = None) -> Generator[bytes, None, None]:
    """Every header blob in table order; rows that are not blobs, or too large, become warnings."""
    stream.seek(0)
    head = stream.read(_HEADER_SIZE)
    if not head.startswith(_SQLITE_MAGIC) or len(head) < _HEADER_SIZE:
        raise DatabaseFormatError("not an SQLite database (magic mismatch)")
    directory = Path(tempfile.mkdtemp(prefix="scanner-rpmdb-"))
    connection: sqlite3.Connection | None = None
    try:
        database = directory / "rpmdb.sqlite"
        _copy(stream, database)
        if wal is not None:
            _copy(wal, Path(f"{database}-wal"))
        connection = sqlite3.connect(database)
        connection.text_factory = bytes
        connection.execute("PRAGMA trusted_schema = OFF")
        _check_schema(connection)
        cursor = connection.execute(_QUERY, (limits.max_rpm_header_size,))
    except (*_SQLITE_ERRORS, OSError, DatabaseFormatError) as error:
        if connection is not None:
            connection.close()
        shutil.rmtree(directory, ignore_errors=True)
        if isinstance(error, DatabaseFormatError):
            raise
        raise DatabaseFormatError(f"unreadable: {_message(error)}") from error
    return _blobs(connection, cursor, directory, label, limits, warn)


def _blobs(connection: sqlite3.Connection, cursor: sqlite3.Cursor, directory: Path, label: str,
           limits: CatalogLimits, warn: Callable[[str], None]) -> Generator[bytes, None, None]:
    rows_read = 0
    try:
        while True:
            try:
                rows = cursor.fetchmany(_FETCH)
            except _SQLITE_ERRORS as error:
                warn(f"{label}: rows after the first {rows_read} not read: {_message(error)}")
                return
            if not rows:
                return
            for number, kind, length, blob in rows:
                rows_read += 1
                if rows_read > limits.max_records:
                    warn(f"{label}: more than {limits.max_records} rows (cap max_records); the rest is not read")
                    return
                if isinstance(blob, bytes):
                    yield blob
                elif kind == b"blob":
                    warn(f"{label}: header {number} skipped: a blob of {length} bytes is over "
                         f"{limits.max_rpm_header_size} (cap max_rpm_header_size)")
                else:
                    warn(f"{label}: header {number} skipped: not a blob")
    finally:
        connection.close()
        shutil.rmtree(directory, ignore_errors=True)
