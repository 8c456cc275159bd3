"""One piece of work in a forked child while the parent goes on: reading an image beside verifying the
database and loading the matcher.

Both are Python work, which one process runs one after the other (the GIL); a child process runs on the
other core. The child is a fork, so it needs no start-up and no imports of its own; it hands its result
(or the exception it raised) back pickled through a pipe and leaves with `os._exit`, running none of the
parent's exit handlers. Where forking is unavailable or unsafe (no `os.fork`, or threads already running,
whose locks a child would inherit held), the work runs in the parent when its result is asked for.

Use as a context manager: leaving it without the result stops and reaps the child.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Generic, TypeVar

from scanner.errors import InternalError

T = TypeVar("T")

_READ_SIZE = 1024 * 1024


class Pending(Generic[T]):
    """The result of `function`, computed in a forked child (or, failing that, here when asked for)."""

    def __init__(self, function: Callable[[], T], what: str) -> None:
        self._function: Callable[[], T] | None = function
        self._what = what
        self._pid = 0
        self._pipe = -1
        if hasattr(os, "fork") and threading.active_count() == 1:
            self._fork(function)

    def _fork(self, function: Callable[[], T]) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's lines are not traced; tests check what it sends
            os.close(read_end)
            _run_child(function, write_end)
        os.close(write_end)
        self._pid, self._pipe, self._function = pid, read_end, None

    def result(self) -> T:
        """The function's return value, or the exception it raised, raised here."""
        if self._function is not None:
            function, self._function = self._function, None
            return function()
        if self._pid == 0:
            raise InternalError(f"{self._what}: its result was already taken")
        payload = self._receive()
        status = self._reap()
        if not payload:
            how = (f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}")
            raise InternalError(f"{self._what}: the child process ended without a result ({how})")
        ok, value = pickle.loads(payload)  # our own fork's bytes, through our own pipe
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _receive(self) -> bytes:
        parts = []
        try:
            while chunk := os.read(self._pipe, _READ_SIZE):
                parts.append(chunk)
        finally:
            os.close(self._pipe)
            self._pipe = -1
        return b"".join(parts)

    def _reap(self) -> int:
        """Wait for the child; its exit status, or minus the signal that ended it."""
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        return os.waitstatus_to_exitcode(status)

    def __enter__(self) -> Pending[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._pid:  # the parent failed (or was interrupted) first: the child's work is not wanted
            os.kill(self._pid, signal.SIGTERM)  # it unwinds as on any SIGTERM: spool files removed
            if self._pipe >= 0:
                os.close(self._pipe)
                self._pipe = -1
            self._reap()


def _quiet_exit(number: int, frame: FrameType | None) -> None:  # pragma: no cover - runs in the child
    raise SystemExit(128 + number)


def _run_child(function: Callable[[], T], pipe: int) -> None:  # pragma: no cover - runs in the child
    # Stopped by the parent: unwind (open images remove their spool files) without the parent's message.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _quiet_exit)
    status = 0
    try:
        try:
            payload = pickle.dumps((True, function()), pickle.HIGHEST_PROTOCOL)
        except BaseException as error:  # the parent raises it: same message, same exit code
            payload = _pickled_error(error)
        with os.fdopen(pipe, "wb") as out:
            out.write(payload)
    except BaseException:  # the parent was gone (broken pipe) or the result would not pickle
        status = 1
    finally:
        os._exit(status)


def _pickled_error(error: BaseException) -> bytes:
    """The exception as the parent can raise it; an unpicklable one becomes an InternalError naming it."""
    try:
        payload = pickle.dumps((False, error), pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)  # the parent must be able to rebuild it
        return payload
    except Exception:
        described = InternalError(f"{type(error).__name__}: {error}")
        return pickle.dumps((False, described), pickle.HIGHEST_PROTOCOL)
