"""The `scanner` entry point run in-process against a small signed bundle whose rows a test chooses.

For tests of what the commands print: `run` returns (exit code, stdout, stderr); an exception other
than SystemExit escapes it, so a test that passes through `run` also shows there was no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dbbuilder.bundle.keys import generate_key_pair, load_private_key
from dbbuilder.bundle.manifest import BundleIdentity
from dbbuilder.bundle.writer import write_bundle as write_compiled_bundle
from scanner.cli import main
from scanner.db import trust
from scanner.db.state import StateDir
from tests.db.bundles import Signer, write_bundle
from tests.match.dbfixture import Rows, write_db

Run = Callable[..., tuple[int, str, str]]


def runner(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["scanner", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out = capsys.readouterr()
        return int(exited.value.code or 0), out.out, out.err

    return run


def run_program(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`scanner ARGS` or `dbbuilder ARGS` through the real entry point, in a new process."""
    code = f"from {program}.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class TrustedBundle:
    bundle: Path
    state: Path  # trusts the bundle's signer

    def scanner_args(self, command: str, *args: str) -> tuple[str, ...]:
        """`scanner --state-dir STATE COMMAND ARGS --db BUNDLE`."""
        return ("--state-dir", str(self.state), command, *args, "--db", str(self.bundle))


def trusted_bundle(directory: Path, rows: Rows, **manifest: object) -> TrustedBundle:
    """A fresh bundle holding `rows`, signed by a new key that a new state directory trusts."""
    signer = Signer()
    database = write_db(directory / "vulns.sqlite", rows).read_bytes()
    now = datetime.now(UTC)
    bundle = write_bundle(directory / "test.bundle", signer, raw=database, built=now - timedelta(hours=1),
                          expires=now + timedelta(days=10), **manifest)
    state = directory / "state"
    trust.add_key(StateDir(state), signer.public_pem, "test", "test.pub.pem", now)
    return TrustedBundle(bundle, state)


def trusted_compiled_bundle(work: Path, database: Path, channel: str) -> TrustedBundle:
    """`database` (as dbbuilder compiles it) in a bundle valid for 30 days, signed by a new key made as
    `dbbuilder keygen` makes one, which a new state directory trusts."""
    keys = generate_key_pair(work, "test-key")
    built = datetime.now(UTC).replace(microsecond=0)
    bundle = work / f"{channel}.bundle"
    write_compiled_bundle(bundle, database, BundleIdentity(channel, 1, built, built + timedelta(days=30)),
                          [load_private_key(keys.private_key)])
    state = work / "state"
    trust.add_key(StateDir.resolve(state), trust.read_key_file(keys.public_key), "test", str(keys.public_key), built)
    return TrustedBundle(bundle, state)
