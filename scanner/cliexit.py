"""Running a typer application so that every failure is one line on stderr and a documented exit code.

Shared by the `scanner` and `dbbuilder` commands. Click's own usage errors (unknown flag, missing
argument) would otherwise print a multi-line box; operators' scripts want one line they can log.
Messages name members, paths and fields of hostile input: `_fail` escapes what a terminal would obey
(ESC, bidi overrides) and what would start a second line (scanner.terminal.printable).
"""

from __future__ import annotations

import copy
import gc
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

import typer

try:  # typer >= 0.22 carries its own copy of click; its exceptions are not click's
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on plain click
    from click import core as click_core  # type: ignore[no-redef]
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from scanner.errors import ScannerError, UsageError
from scanner.terminal import printable


def _fail(prog: str, message: str, exit_code: int) -> NoReturn:
    typer.echo(f"{prog}: error: {printable(message)}", err=True)
    sys.exit(exit_code)


def _plain_metavars(command: Any) -> None:
    """Plain help: it says `--since DATE` and `IMAGE`, never typer's `<str>`, `<bool>` or `{IMAGE}`.

    A flag shows no value (and an off-by-default flag no `--no-` twin); an option without a metavar of its own shows its name in capitals; an
    argument is IMAGE when required and [IMAGE] when not, in the usage line as in the list. Applied to
    every command of the tree, so no command can forget it.
    """
    # Help is laid out by click's own formatter, not rich: importing rich's help renderer (markdown
    # parser included) cost more than 100 ms, doubling the time of `--help` (docs/performance.md).
    command.rich_markup_mode = None
    for param in [*command.params, command.get_help_option(click_core.Context(command))]:
        if param is None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
            if param.default is False:  # `--no-X` of an off-by-default flag says nothing and crowds the help
                param.secondary_opts = []
        elif param.param_type_name == "argument":
            name = param.metavar = (param.metavar or param.name or "value").upper()
            usage = (name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else "")
            param.get_usage_pieces = lambda ctx, usage=usage: [usage]
            param.display_type_rich = lambda ctx: None  # the name column already says it
        elif param.metavar is None:
            param.metavar = (param.name or "value").upper()
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


# What `timeout`, CI runners and systemd send (SIGTERM), and a closed terminal (SIGHUP).
_TERMINATING = (signal.SIGTERM, signal.SIGHUP)


def _exit_on_signal(prog: str) -> Callable[[int, FrameType | None], None]:
    def handler(number: int, frame: FrameType | None) -> None:
        """Unwind like an interrupt, so that open images and half-built files are removed; exit 128 + signal."""
        for each in _TERMINATING:  # a second signal must not cut that clean-up short
            signal.signal(each, signal.SIG_IGN)
        sys.stderr.write(f"{prog}: terminated ({signal.Signals(number).name})\n")
        raise SystemExit(128 + number)
    return handler


def _invoked_name(app: typer.Typer, args: Sequence[str]) -> str | None:
    """The subcommand `args` invoke ("" for none: `--version`), or None where help lists them all or
    the arguments say nothing certain (an unknown option, `--`, no subcommand)."""
    if app.registered_callback is None or app.registered_callback.callback is None:
        return None
    params, _, _ = typer.main.get_params_convertors_ctx_param_name_from_function(app.registered_callback.callback)
    valued = {opt for param in params if not getattr(param, "is_flag", False) for opt in param.opts}
    flags = {opt for param in params if getattr(param, "is_flag", False) for opt in param.opts + param.secondary_opts}
    tokens = iter(args)
    for token in tokens:
        if token in valued:
            next(tokens, None)
        elif token.partition("=")[0] in valued:
            continue
        elif token == "--version":  # eager: it prints and exits before any subcommand is looked at
            return ""
        elif token in flags:
            continue
        elif token.startswith("-"):  # --help, `--`, or an option for click to refuse
            return None
        else:
            return token
    return None


def _command_tree(app: typer.Typer, args: Sequence[str]) -> click_core.Command:
    """The click commands for these arguments. Typer builds every command's parameters from its
    signature, 10-15 ms of each start-up for commands that will not run: where the arguments name a
    registered subcommand, only that one is built (and help, errors and parsing are those of the
    whole tree, which has the same subcommand)."""
    name = _invoked_name(app, args)
    if name is not None:
        narrowed = copy.copy(app)
        narrowed.registered_commands = [info for info in app.registered_commands if _command_name(info) == name]
        narrowed.registered_groups = [info for info in app.registered_groups if info.name == name]
        if name == "" or narrowed.registered_commands or narrowed.registered_groups:
            return typer.main.get_command(narrowed)
    return typer.main.get_command(app)


def _command_name(info: Any) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def run(app: typer.Typer, prog: str) -> NoReturn:
    try:
        for each in _TERMINATING:
            signal.signal(each, _exit_on_signal(prog))
        command = _command_tree(app, sys.argv[1:])
        _plain_metavars(command)
        try:
            result = command.main(prog_name=prog, standalone_mode=False)
        except click_exceptions.NoArgsIsHelpError as error:  # the message is the help text
            typer.echo(error.format_message())
            sys.exit(UsageError.exit_code)
        except click_exceptions.UsageError as error:
            where = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail(prog, " ".join(error.format_message().split()) + where, UsageError.exit_code)
        except click_exceptions.ClickException as error:
            _fail(prog, " ".join(error.format_message().split()), error.exit_code)
        except ScannerError as error:  # raised outside a command's own handling
            _fail(prog, str(error), error.exit_code)
        except (KeyboardInterrupt, typer.Abort):
            typer.echo(f"{prog}: interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)
    finally:
        # The process ends here: what is left is freed by the exit itself. Frozen, the interpreter's
        # final collection and module teardown skip walking it all (about 40 ms of every command's
        # exit). Nothing of ours waits on the collector: files are closed explicitly and spools are
        # removed by finalizers that run at exit either way (weakref.finalize).
        gc.freeze()

