"""The append-only audit log: one JSON object per line, each chained to the previous line by sha256.

Every line carries `prev`, the sha256 of the previous line's bytes, all of them (64 zeros for the first),
so that editing, inserting or removing a line breaks the chain at that point. Removing lines from the END
leaves a valid shorter chain: `scanner audit verify` prints the head digest so operators can note it
elsewhere (a ticket, a remote log) and compare later.

Lines are bounded (scanner.db.state.MAX_AUDIT_LINE_BYTES): a long text field is cut, and a record still
too long keeps only its event, time and chain link. A longer line is therefore not one the scanner wrote,
and `audit verify` says so; appending after one still hashes it whole, read in chunks, so the next
record's link is right. Neither reads more than a chunk or a line at a time, whatever the log holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scanner.clock import SYSTEM_CLOCK
from scanner.db.errors import AuditLogError, StateError
from scanner.db.state import AUDIT_LOG, MAX_AUDIT_FIELD_CHARS, MAX_AUDIT_LINE_BYTES, StateDir
from scanner.db.verify import format_time
from scanner.errors import BundleError

GENESIS = "0" * 64
CHUNK_BYTES = 64 * 1024


def _line_start(fd: int, stop: int) -> int:
    """Where the line ending at `stop` starts: the byte after the previous newline, found backwards in chunks."""
    position = stop
    while position > 0:
        begin = max(0, position - CHUNK_BYTES)
        newline = os.pread(fd, position - begin, begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        position = begin
    return 0


def _chain_link(fd: int) -> tuple[str, bool]:
    """The `prev` for a record appended to the file open on fd (the sha256 of its whole last line, without
    newline, or GENESIS when it is empty), and whether that last line is torn (no newline)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return GENESIS, False
    torn = os.pread(fd, 1, end - 1) != b"\n"
    stop = end if torn else end - 1
    digest = hashlib.sha256()
    for offset in range(_line_start(fd, stop), stop, CHUNK_BYTES):
        digest.update(os.pread(fd, min(CHUNK_BYTES, stop - offset), offset))
    return digest.hexdigest(), torn


def _shortened(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_AUDIT_FIELD_CHARS:
        return f"{value[:MAX_AUDIT_FIELD_CHARS]}... ({len(value)} characters)"
    if isinstance(value, Mapping):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shortened(item) for item in value]
    return value


def _encode(record: Mapping[str, object]) -> bytes:
    def dumps(document: Mapping[str, object]) -> bytes:
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    line = dumps({key: _shortened(value) for key, value in record.items()})
    if len(line) <= MAX_AUDIT_LINE_BYTES:
        return line
    return dumps({"event": record["event"], "time": record["time"], "prev": record["prev"],
                  "omitted": f"a record of {len(line)} bytes, more than the {MAX_AUDIT_LINE_BYTES}-byte cap"})


def append(state: StateDir, event: str, fields: Mapping[str, object], now: datetime | None = None) -> None:
    """Append one record, chained to the last line. A torn last line (crash mid-write) is closed with a
    newline and stays in the chain, where `audit verify` reports it."""
    directory = state.ensure()
    record: dict[str, object] = {"event": event, "time": format_time(now or SYSTEM_CLOCK.now()), **fields}
    fd = directory.open_file(AUDIT_LOG, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record["prev"], torn = _chain_link(fd)
        first = record["prev"] == GENESIS
        pending = (b"\n" if torn else b"") + _encode(record) + b"\n"
        while pending:
            pending = pending[os.write(fd, pending):]
        os.fsync(fd)
    except OSError as exc:
        raise StateError(f"cannot append to audit log {state.audit_log}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if first:  # the log's first record: make the new file's name durable too
        directory.sync()


def record_refusal(state: StateDir, operation: str, source: str, error: BundleError, size: int | None = None,
                   now: datetime | None = None) -> None:
    """Audit a refusal (of a bundle, an installed database or a root). A failure to write it is not
    reported over the refusal itself."""
    with contextlib.suppress(StateError):
        append(state, "refusal", {"operation": operation, "source": source, "size": size,
                                  "error": type(error).__name__, "exit_code": error.exit_code,
                                  "message": error.message}, now)


def record_scan(
    state_dir: Path | None, image_digest: str, bundle_sha256: str, counts: Mapping[str, int]
) -> None:
    """Record a scan: the image, the bundle whose data was used, and the result counts (e.g. per severity)."""
    with StateDir.resolve(state_dir) as state:
        append(state, "scan", {"image_digest": image_digest, "bundle_sha256": bundle_sha256, "counts": dict(counts)})


@dataclass(frozen=True)
class AuditSummary:
    records: int
    head_sha256: str  # sha256 of the last line; GENESIS when the log is empty


def verify_log(state: StateDir) -> AuditSummary:
    """Check the whole chain, a line at a time; AuditLogError names the first line that breaks it."""
    path = state.audit_log
    directory = state.directory()
    handle = None if directory is None else directory.reader(AUDIT_LOG)
    if handle is None:
        return AuditSummary(0, GENESIS)
    previous = GENESIS
    count = 0
    with handle:
        for number in itertools.count(1):
            try:
                raw = handle.readline(MAX_AUDIT_LINE_BYTES + 1)
            except OSError as exc:
                raise StateError(f"cannot read audit log {path}: {exc.strerror}") from None
            if not raw:
                break
            if not raw.endswith(b"\n"):
                if len(raw) > MAX_AUDIT_LINE_BYTES:
                    raise AuditLogError(f"{path} line {number}: longer than {MAX_AUDIT_LINE_BYTES} bytes, which no "
                                        "record the scanner writes is (inserted or edited)")
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
    return AuditSummary(count, previous)
