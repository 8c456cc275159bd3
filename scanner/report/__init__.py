"""Report formats: one module per format, plugged into the registry in `scanner.report.base`.

This module holds what every format's caller needs: writing the finished document atomically.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from scanner.errors import ReportError
from scanner.fileio import write_atomically


def write_output(data: bytes, path: Path | None) -> None:
    """`data` to `path` atomically (a temporary file beside it, then rename), or to stdout when None.

    A path that names a device or a pipe (`/dev/null`, `/dev/stdout`, a FIFO) is written to as it is:
    renaming a file over it would replace the device itself (as root, `--file /dev/null` would leave
    a regular file where the null device was).
    """
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error
    try:
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            with open(path, "wb") as output:
                output.write(data)
        else:
            write_atomically(path, data)
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error
