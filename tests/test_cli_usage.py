"""Bad command lines give one line on stderr and exit 2, for both programs."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = f"from {program}.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("program", "args", "expected"),
    [
        ("scanner", ("scan", "image.tar", "--bogus"), "No such option: --bogus"),
        ("scanner", ("scan",), "Missing argument 'TARGET'"),
        ("scanner", ("inspect", "image.tar", "-o", "xml"), "'xml' is not one of"),
        ("dbbuilder", ("build", "--nope"), "No such option: --nope"),
    ],
)
def test_usage_error_is_one_line_with_exit_2(program: str, args: tuple[str, ...], expected: str) -> None:
    result = _run(program, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{program}: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_no_arguments_prints_help_and_exits_2() -> None:
    result = _run("scanner")
    assert result.returncode == 2
    assert "Usage:" in result.stdout + result.stderr


def test_version_exits_0() -> None:
    result = _run("scanner", "version")
    assert result.returncode == 0
    assert result.stdout.strip()
