"""Report formats: one module per format, plugged into the registry in `scanner.report.base`.

This module holds what every format and its caller need: the one JSON serialisation and writing
the finished document atomically. It imports nothing from the formats, so using one format never
loads the others (docs/performance.md, start-up).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from scanner.errors import ReportError
from scanner.fileio import write_atomically


def dumps(document: Any) -> bytes:
    """UTF-8 JSON, two-space indent, key order as built, trailing newline: byte-stable.

    Values are exact: control characters are JSON escapes (`\\u001b`). A lone surrogate (a non-UTF-8
    byte 0xNN of a name, decoded with surrogateescape, or a `\\udcNN` escape in JSON the image held) has
    no UTF-8 encoding: it is written as the JSON escape `\\udcNN`, so the document stays UTF-8 and
    reads back to the same string (docs/report-json.md).
    """
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")


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
