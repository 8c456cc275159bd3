"""The `scanner` command: parses flags, calls the library, turns our errors into one line and an exit code.

Each command lives in this file as a thin function; the work happens in the library packages.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from scanner import __version__
from scanner.errors import ScannerError

app = typer.Typer(
    name="scanner",
    help="Offline vulnerability scanner for container image archives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    """Offline vulnerability scanner for container image archives."""


def fail(error: ScannerError) -> NoReturn:
    typer.echo(f"scanner: error: {error}", err=True)
    raise typer.Exit(error.exit_code)


@app.command()
def version() -> None:
    """Print the scanner's version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except ScannerError as error:  # raised outside a command's own handling
        typer.echo(f"scanner: error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.echo("scanner: interrupted", err=True)
        sys.exit(130)
