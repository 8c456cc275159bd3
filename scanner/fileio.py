"""Reading a file a user or a feed names, whole, with a byte cap: the one place that opens such files.

Only regular files are read: a FIFO or a device (`/dev/zero`, `/dev/stdin`) would block or never end.
The file is opened without blocking and checked with fstat on the open descriptor, so what is checked
is what is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scanner.errors import ScannerError


class FileReadError(Exception):
    """Why a capped read failed: `reason` is "unreadable", "not a regular file" or "too large"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


def read_regular_file(path: Path, limit: int) -> bytes:
    """The whole content of the regular file `path`; FileReadError when unreadable or over `limit` bytes."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise FileReadError("unreadable", error.strerror or str(error)) from error
    regular = False
    try:
        regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
        if regular:
            with os.fdopen(descriptor, "rb") as handle:  # the handle owns and closes the descriptor
                data = handle.read(limit + 1)
    except OSError as error:
        raise FileReadError("unreadable", error.strerror or str(error)) from error
    finally:
        if not regular:
            os.close(descriptor)
    if not regular:
        raise FileReadError("not a regular file", "")
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
