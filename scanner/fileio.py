"""Opening or reading whole (with a byte cap) a file a user or a feed names: the one place that opens such files;
and writing a file atomically.

Only regular files are read: a FIFO or a device (`/dev/zero`, `/dev/stdin`) would block or never end.
The file is opened without blocking and checked with fstat on the open descriptor, so what is checked
is what is read.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tempfile
from pathlib import Path

from scanner.errors import ScannerError

TEMPORARY_SUFFIX = ".tmp"  # of the temporary files write_atomically creates, as ".NAME.XXXXXXXX.tmp"


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """`data` to `path` through a temporary file beside it, fsynced, then renamed: a crash or a full disk
    leaves the old content or the new, never half of it. `mode` defaults to what a plain open would give
    (0666 less the umask). OSError on failure, with the temporary file removed."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as output:
            os.fchmod(output.fileno(), _default_mode() if mode is None else mode)  # mkstemp's is 0600
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _default_mode() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


class FileReadError(Exception):
    """Why a capped read failed: `reason` is "unreadable", "not a regular file" or "too large"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


class NotRegularFileError(OSError):
    """The path names a directory, FIFO, socket or device, not a regular file."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.EINVAL, "not a regular file", str(path))


def open_regular_file(path: Path) -> io.BufferedReader:
    """`path` opened for binary reading; NotRegularFileError (an OSError) unless it is a regular file.

    A FIFO named as an image or a bundle would otherwise block the open, or the read, for ever.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotRegularFileError(path)
        handle = os.fdopen(descriptor, "rb")  # the file owns and closes the descriptor from here
        handle.raw.name = str(path)  # type: ignore[attr-defined]  # errors name the path, not the descriptor
        return handle
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_file(path: Path, limit: int) -> bytes:
    """The whole content of the regular file `path`; FileReadError when unreadable or over `limit` bytes."""
    try:
        with open_regular_file(path) as handle:
            data = handle.read(limit + 1)
    except NotRegularFileError as error:
        raise FileReadError("not a regular file", "") from error
    except OSError as error:
        raise FileReadError("unreadable", error.strerror or str(error)) from error
    if len(data) > limit:
        raise FileReadError("too large", f"larger than {limit} bytes")
    return data


def read_capped(path: Path, limit: int, what: str, error: type[ScannerError]) -> bytes:
    """`read_regular_file`, failing with the caller's `error` and one line naming `what` and `path`:
    "SBOM x.json: cannot read (No such file or directory)", "… larger than N bytes", "… not a regular file"."""
    try:
        return read_regular_file(path, limit)
    except FileReadError as problem:
        if problem.reason == "unreadable":
            message = f"cannot read ({problem.detail})"
        else:
            message = problem.detail or problem.reason
        raise error(f"{what} {path}: {message}") from problem
