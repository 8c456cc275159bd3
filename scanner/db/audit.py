"""The append-only audit log: one JSON object per line, each chained to the previous line by sha256.

Every line carries `prev`, the sha256 of the previous line's bytes (64 zeros for the first), so that
editing, inserting or removing a line breaks the chain at that point. Removing lines from the END
leaves a valid shorter chain: `scanner audit verify` prints the head digest so operators can note it
elsewhere (a ticket, a remote log) and compare later.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.db.errors import AuditLogError, StateError
from scanner.db.state import StateDir, fsync_directory
from scanner.db.verify import format_time

GENESIS = "0" * 64
# A line is a small record; a longer "line" is not one of ours.
MAX_LINE_BYTES = 64 * 1024


def _tail(fd: int) -> tuple[bytes, bool]:
    """The last line of the file open on fd (without newline), and whether it is torn (no newline).

    Reads at most MAX_LINE_BYTES: our records are far smaller, and a longer line breaks the chain anyway.
    """
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return b"", False
    torn = os.pread(fd, 1, end - 1) != b"\n"
    stop = end if torn else end - 1
    begin = max(0, stop - MAX_LINE_BYTES)
    return os.pread(fd, stop - begin, begin).rsplit(b"\n", 1)[-1], torn


def append(state: StateDir, event: str, fields: Mapping[str, object], now: datetime | None = None) -> None:
    """Append one record, chained to the last line. A torn last line (crash mid-write) is closed with a
    newline and stays in the chain, where `audit verify` reports it."""
    state.ensure()
    record = {"event": event, "time": format_time(now or datetime.now(UTC)), **fields}
    try:
        fd = os.open(state.audit_log, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last, torn = _tail(fd)
            record["prev"] = hashlib.sha256(last).hexdigest() if last else GENESIS
            line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
            os.write(fd, (b"\n" if torn else b"") + line + b"\n")
            os.fsync(fd)
            if not last and not torn:  # the log's first record: make the new file's name durable too
                fsync_directory(state.root)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateError(f"cannot append to audit log {state.audit_log}: {exc.strerror}") from None


def record_scan(
    state_dir: Path | None, image_digest: str, bundle_sha256: str, counts: Mapping[str, int]
) -> None:
    """Record a scan: the image, the bundle whose data was used, and the result counts (e.g. per severity)."""
    append(StateDir.resolve(state_dir), "scan",
           {"image_digest": image_digest, "bundle_sha256": bundle_sha256, "counts": dict(counts)})


@dataclass(frozen=True)
class AuditSummary:
    records: int
    head_sha256: str  # sha256 of the last line; GENESIS when the log is empty


def verify_log(path: Path) -> AuditSummary:
    """Check the whole chain; AuditLogError names the first line that breaks it."""
    previous = GENESIS
    count = 0
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    raise AuditLogError(f"{path} line {number}: torn record (no newline): crash or truncation")
                line = raw[:-1]
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):  # includes UnicodeDecodeError, JSONDecodeError
                    raise AuditLogError(f"{path} line {number}: not a JSON record (edited or torn)") from None
                if not isinstance(record, dict) or record.get("prev") != previous:
                    raise AuditLogError(
                        f"{path} line {number}: chain broken (line {number - 1} was edited or removed, "
                        f"or this line was inserted)")
                previous = hashlib.sha256(line).hexdigest()
                count += 1
    except FileNotFoundError:
        return AuditSummary(0, GENESIS)
    except OSError as exc:
        raise StateError(f"cannot read audit log {path}: {exc.strerror}") from None
    return AuditSummary(count, previous)
