"""Start-up time of both commands: what a user waits for before any work.

    .venv/bin/python -m benchmarks.startup [--runs 20]

Runs `scanner --version`, `scanner --help`, `scanner scan --help`, `dbbuilder --version` and a bare
interpreter (`python -c pass`, the floor) interleaved, `--runs` times each, and prints the median and
the best wall time; then the ten slowest imports of `scanner --version` (`python -X importtime`,
cumulative microseconds).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import ensure_bytecode

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "scanner --version": [str(BIN / "scanner"), "--version"],
    "scanner --help": [str(BIN / "scanner"), "--help"],
    "scanner scan --help": [str(BIN / "scanner"), "scan", "--help"],
    "dbbuilder --version": [str(BIN / "dbbuilder"), "--version"],
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    return elapsed


def slowest_imports(command: list[str], count: int = 10) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the slowest top-level-or-nested imports of `command`."""
    script = command[0]
    result = subprocess.run([sys.executable, "-X", "importtime", script, *command[1:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    ensure_bytecode()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the page cache and .pyc files
        wall(command)
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(wall(command))
    print(f"{'command':<26} {'median':>8} {'best':>8}")
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values) * 1000:>6.0f} ms {min(values) * 1000:>6.0f} ms")
    print("\nslowest imports of `scanner --version` (cumulative):")
    for micros, module in slowest_imports(COMMANDS["scanner --version"]):
        print(f"  {micros / 1000:>6.1f} ms  {module}")


if __name__ == "__main__":
    main()
