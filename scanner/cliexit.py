"""Running a typer application so that every failure is one line on stderr and a documented exit code.

Shared by the `scanner` and `dbbuilder` commands. Click's own usage errors (unknown flag, missing
argument) would otherwise print a multi-line box; operators' scripts want one line they can log.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

try:  # typer >= 0.22 carries its own copy of click; its exceptions are not click's
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on plain click
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from scanner.errors import ScannerError, UsageError


def run(app: typer.Typer, prog: str) -> NoReturn:
    try:
        result = app(standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError:  # typer has already printed the help
        sys.exit(UsageError.exit_code)
    except click_exceptions.UsageError as error:
        where = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        message = " ".join(error.format_message().split())
        typer.echo(f"{prog}: error: {message}{where}", err=True)
        sys.exit(UsageError.exit_code)
    except click_exceptions.ClickException as error:
        typer.echo(f"{prog}: error: {' '.join(error.format_message().split())}", err=True)
        sys.exit(error.exit_code)
    except ScannerError as error:  # raised outside a command's own handling
        typer.echo(f"{prog}: error: {error}", err=True)
        sys.exit(error.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo(f"{prog}: interrupted", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
