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

import gc
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Generic, TypeVar

from scanner.errors import InternalError

T = TypeVar("T")

_READ_SIZE = 1024 * 1024
_STOPPING = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
_PATIENCE = 5.0  # seconds a stopped child has to clean up before it is killed


def freeze_for_fork() -> None:
    """Before forking: what exists now (modules, the verified database's objects) leaves the cyclic
    collector's care for good, as the gc module's documentation advises. Collections in the child (and
    the parent) then never walk, nor write into, the objects the two share: no copy-on-write of those
    pages, and shorter collections. Measured on a one-layer Debian scan: 40 ms less wall time."""
    gc.freeze()


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
        try:
            read_end, write_end = os.pipe()
        except OSError:  # out of descriptors: the work runs here instead
            return
        freeze_for_fork()
        # Signals wait until the child has its own handlers: the parent's would unwind the parent's stack there.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
        try:
            pid = os.fork()
        except OSError:  # a process limit, or no memory to copy the page tables: the work runs here instead
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:  # pragma: no cover - the child's lines are not traced; tests check what it sends
            try:
                os.close(read_end)
                _run_child(function, write_end, blocked)
            finally:
                os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
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
        try:
            ok, value = pickle.loads(payload)  # our own fork's bytes, through our own pipe
        except Exception:  # nothing, or cut short: the child died writing it
            how = f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
            raise InternalError(f"{self._what}: the child process ended without a result ({how})") from None
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

    def _reap(self, patience: float | None = None) -> int:
        """Wait for the child (killed after `patience` seconds); its exit status, or minus its signal."""
        if patience is not None:
            deadline = time.monotonic() + patience
            while time.monotonic() < deadline:
                pid, status = os.waitpid(self._pid, os.WNOHANG)
                if pid:
                    self._pid = 0
                    return os.waitstatus_to_exitcode(status)
                time.sleep(0.01)
            os.kill(self._pid, signal.SIGKILL)  # deep in C code (a regex, a query): no Python to unwind
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
            self._reap(_PATIENCE)


def _quiet_exit(number: int, frame: FrameType | None) -> None:  # pragma: no cover - runs in the child
    for each in _STOPPING:  # a second signal (the parent's SIGTERM after a Ctrl-C) must not cut clean-up short
        signal.signal(each, signal.SIG_IGN)
    raise SystemExit(128 + number)


def _run_child(function: Callable[[], T], pipe: int,
               mask: Iterable[int]) -> None:  # pragma: no cover - runs in the child
    # Stopped by the parent or the terminal: unwind (open images remove their spool files) without the
    # parent's message, then take the signals held since the fork.
    for number in _STOPPING:
        signal.signal(number, _quiet_exit)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
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
