"""Report formats: one module per format, plugged into the registry in `scanner.report.base`.

This module holds what every format's caller needs: writing the finished document atomically.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from scanner.errors import ReportError


def write_output(data: bytes, path: Path | None) -> None:
    """`data` to `path` atomically (a temporary file beside it, then rename), or to stdout when None."""
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error
    try:
        with os.fdopen(handle, "wb") as output:
            os.fchmod(output.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 is not what a user expects
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
