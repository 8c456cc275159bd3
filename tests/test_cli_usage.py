"""Bad command lines give one line on stderr and exit 2, for both programs."""

from __future__ import annotations

import gc
import sys

import pytest

from tests.scanner_cli import run_program


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
    result = run_program(program, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{program}: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_no_arguments_prints_help_and_exits_2() -> None:
    result = run_program("scanner")
    assert result.returncode == 2
    assert "Usage:" in result.stdout + result.stderr


def test_version_exits_0() -> None:
    result = run_program("scanner", "version")
    assert result.returncode == 0
    assert result.stdout.strip()


HOSTILE = "x\x1b]0;pwned\x07\x1b[8m\x9b1m\nsecond line\u202e\u2066"


@pytest.mark.parametrize(("program", "args", "exit_code"), [
    ("scanner", ("inspect", f"/nonexistent/{HOSTILE}.tar"), 3),
    ("scanner", ("scan", "image.tar", f"--{HOSTILE}"), 2),
    ("dbbuilder", ("inspect", f"/nonexistent/{HOSTILE}.bundle"), 10),
])
def test_an_error_naming_hostile_text_is_one_escaped_line(program: str, args: tuple[str, ...], exit_code: int) -> None:
    result = run_program(program, *args)
    assert (result.returncode, result.stdout) == (exit_code, "")
    assert result.stderr.startswith(f"{program}: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "x\\x1b]0;pwned\\x07\\x1b[8m\\x9b1m\\x0asecond line\\u202e\\u2066" in result.stderr
    for character in "\x1b\x9b\x07\u202e\u2066":
        assert character not in result.stderr


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _command_paths(sub, (*path, name))
    return found


@pytest.mark.parametrize("program", ["scanner", "dbbuilder"])
def test_help_uses_plain_metavars_everywhere(program: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No `<str>`, `<bool>`, `<path>` type labels and no `{ARG}` in any command's help."""
    import importlib

    import typer

    from scanner.cliexit import _plain_metavars

    root = typer.main.get_command(importlib.import_module(f"{program}.cli").app)
    _plain_metavars(root)
    for path, _ in _command_paths(root):
        root.main([*path, "--help"], prog_name=program, standalone_mode=False)
        text = capsys.readouterr().out
        assert "Usage:" in text, path
        assert not any(label in text for label in ("<str>", "<bool>", "<int>", "<path>", "<float>")), (path, text)
        assert "{" not in text.split("Usage:", 1)[1].split("\n", 1)[0], (path, text)


@pytest.mark.parametrize(("args", "built"), [
    (("scan", "image.tar", "--fail-on", "high"), ["scan"]),
    (("--state-dir", "/tmp/state", "db", "status"), ["db"]),
    (("--state-dir=/tmp/state", "sbom", "image.tar"), ["sbom"]),
    (("--state-dir", "scan", "version"), ["version"]),  # "scan" is the option's value here
    (("--version",), []),
    (("--help",), None),
    (("scna", "image.tar"), None),  # unknown: the whole tree, for click's "Did you mean 'scan'?"
    (("--bogus", "scan"), None),
    (("--", "scan"), None),
    ((), None),
])
def test_only_the_invoked_subcommand_is_built(args: tuple[str, ...], built: list[str] | None) -> None:
    """Start-up builds one command's parameters, not all of them, where the arguments name it."""
    import typer

    from scanner.cli import app
    from scanner.cliexit import _command_tree

    everything = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert sorted(_command_tree(app, list(args)).commands) == (everything if built is None else built)  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [
    ("--state-dir", "/nonexistent/state", "scan"),
    ("scan", "--bogus"),
    ("db", "nope"),
    ("db",),
])
def test_a_narrowed_tree_parses_and_refuses_as_the_whole_tree(args: tuple[str, ...],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from scanner.cli import app
    from scanner.cliexit import _command_tree

    outcomes: list[object] = []
    for command in (typer.main.get_command(app), _command_tree(app, list(args))):
        try:
            command.main(list(args), prog_name="scanner", standalone_mode=False)
        except Exception as error:  # click's usage errors, compared by type and text
            outcomes.append((type(error).__name__, getattr(error, "format_message", str)()))
        outcomes.append(capsys.readouterr().out)
    assert outcomes[: len(outcomes) // 2] == outcomes[len(outcomes) // 2:]


def test_the_collector_is_frozen_when_a_command_ends(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter's exit then skips walking every object (docs/performance.md, start-up)."""
    from scanner.cli import main


    gc.unfreeze()
    monkeypatch.setattr(sys, "argv", ["scanner", "version"])
    with pytest.raises(SystemExit):
        main()
    assert gc.get_freeze_count() > 1000
