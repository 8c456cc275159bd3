"""Report formats: one module per format, plugged into the registry in `scanner.report.base`.

This module holds what every format's caller needs: writing the finished document atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scanner.errors import ReportError
from scanner.fileio import write_atomically


def write_output(data: bytes, path: Path | None) -> None:
    """`data` to `path` atomically (a temporary file beside it, then rename), or to stdout when None."""
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        write_atomically(path, data)
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error
