"""Benchmarks: each module runs with `.venv/bin/python -m benchmarks.NAME` (docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_bytecode() -> None:
    """Write the project's bytecode before timing child processes, as a wheel install has it: with
    PYTHONDONTWRITEBYTECODE set (as on some CI images) an editable install would otherwise compile
    every module on every run, about 0.2 s of each `scanner` process."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "scanner"), str(ROOT / "dbbuilder")],
                   env=env, check=True, stdout=subprocess.DEVNULL)
