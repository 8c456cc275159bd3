"""Reading the files a user names for a scan (SBOMs, ignore files, VEX documents): capped, one-line errors."""

from __future__ import annotations

from pathlib import Path

from scanner.errors import ScannerError


def read_capped(path: Path, limit: int, what: str, error: type[ScannerError]) -> bytes:
    """The whole file, or `error` naming `what` and `path` when it cannot be read or exceeds `limit` bytes."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as problem:
        raise error(f"{what} {path}: cannot read ({problem.strerror or problem})") from problem
    if len(raw) > limit:
        raise error(f"{what} {path}: larger than {limit} bytes")
    return raw
