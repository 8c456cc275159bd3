"""The `dbbuilder` command: thin wrapper over dbbuilder.sources, dbbuilder.compile and dbbuilder.bundle."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from scanner.errors import ScannerError

app = typer.Typer(
    name="dbbuilder",
    help="Compile OSV, NVD and distro feeds into a signed vulnerability bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    """Compile OSV, NVD and distro feeds into a signed vulnerability bundle."""


def fail(error: ScannerError) -> NoReturn:
    typer.echo(f"dbbuilder: error: {error}", err=True)
    raise typer.Exit(error.exit_code)


def main() -> None:
    try:
        app()
    except ScannerError as error:
        typer.echo(f"dbbuilder: error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.echo("dbbuilder: interrupted", err=True)
        sys.exit(130)
