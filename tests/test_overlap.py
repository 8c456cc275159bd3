"""`scanner.overlap.Pending`: work in a forked child, its result or its exception back in the parent."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scanner import overlap
from scanner.errors import ImageError, InternalError
from scanner.overlap import Pending


def test_the_work_runs_in_a_child_and_its_result_comes_back() -> None:
    with Pending(lambda: (os.getpid(), {"packages": ("a", "b")}), "reading") as pending:
        pid, value = pending.result()
    assert pid != os.getpid()
    assert value == {"packages": ("a", "b")}


def _refuse() -> None:
    raise ImageError("image.tar: layer 0: bad tar header checksum at offset 512")


def test_the_childs_error_is_raised_in_the_parent_with_its_message_and_exit_code() -> None:
    with Pending(_refuse, "reading") as pending, pytest.raises(ImageError, match="bad tar header") as raised:
        pending.result()
    assert raised.value.exit_code == 3


class _Unpicklable(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def _unpicklable() -> None:
    raise _Unpicklable("both", "parts")


def test_an_error_that_cannot_be_sent_back_is_an_internal_error_naming_it() -> None:
    with Pending(_unpicklable, "reading") as pending, pytest.raises(InternalError, match="_Unpicklable: both parts"):
        pending.result()


def _killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_child_killed_without_a_result_is_an_internal_error() -> None:
    with Pending(_killed, "reading the image") as pending, \
            pytest.raises(InternalError, match=r"reading the image: .*killed by SIGKILL"):
        pending.result()


def test_leaving_without_the_result_stops_the_child_which_cleans_up(tmp_path: Path) -> None:
    marker = tmp_path / "spool"

    def work() -> None:
        marker.write_text("busy")
        try:
            time.sleep(30)
        finally:  # as an open image removes its spool directory
            marker.unlink()

    started = time.monotonic()
    with pytest.raises(RuntimeError), Pending(work, "reading"):
        while not marker.exists():
            time.sleep(0.01)
        raise RuntimeError("the database was refused")
    assert time.monotonic() - started < 10
    assert not marker.exists()
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(-1, os.WNOHANG)


def test_with_a_thread_running_the_work_runs_here_when_asked_for() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with Pending(os.getpid, "reading") as pending:
            assert pending.result() == os.getpid()
    finally:
        stop.set()
        thread.join()


def test_a_result_cut_short_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class CutShort:  # the child's pickle, as a child killed while writing it would leave it
        HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL
        loads = staticmethod(pickle.loads)

        @staticmethod
        def dumps(value: object, protocol: int) -> bytes:
            return pickle.dumps(value, protocol)[:-3]

    monkeypatch.setattr(overlap, "pickle", CutShort)
    with Pending(lambda: ("packages",) * 100, "reading") as pending, \
            pytest.raises(InternalError, match="ended without a result"):
        pending.result()


def test_when_fork_fails_the_work_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError("fork: Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    with Pending(os.getpid, "reading") as pending:
        assert pending.result() == os.getpid()


def test_what_exists_before_the_fork_is_frozen_out_of_the_collector() -> None:
    """Collections in either process then never write into the pages the two share (copy-on-write)."""
    code = ("import gc\nfrom scanner.overlap import Pending\nbefore = gc.get_freeze_count()\n"
            "with Pending(lambda: 1, 'work') as work:\n    assert work.result() == 1\n"
            "print(before, gc.get_freeze_count())")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, after = map(int, shown)
    assert before == 0 and after > 1000
