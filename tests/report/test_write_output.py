"""`--file PATH`: a regular file is replaced atomically; a device or a pipe is written to, never replaced."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from scanner.report import write_output


def test_a_pipe_is_written_to_not_replaced(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    write_output(b"report\n", pipe)
    reader.join(timeout=10)
    assert received == [b"report\n"]
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode), "renaming a file over it would have replaced the pipe"


def test_the_null_device_stays_a_device() -> None:
    write_output(b"discarded", Path(os.devnull))
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_bytes(b"old, longer content")
    write_output(b"new", target)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
