"""Many images in one run (`scanner scan A.tar B.tar DIR/ ...`): which targets, where reports go,
running the scans in worker processes, the summary table and the run's exit code.

The scans are CPU-bound Python, so they run in processes (`jobs` at a time), forked after the
database has been verified once. An image that cannot be read is an outcome like any other: its
error goes in the summary and the other images are scanned. Reports are spooled to files as each
scan ends, never held in memory together: peak memory is that of `jobs` scans, whatever the number
of images.

The exit code of the run is the worst of the images' codes, in this order: 0 (clean) < 1 (`--fail-on`
or `--fail-on-kev` tripped) < 50 (`--require-complete`: coverage short of complete, so the findings are
incomplete evidence) < any error code (the image could not be scanned: no evidence at all). Among
images of equal rank the first in the summary's order gives the code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from scanner.errors import OperatorInputError, ReportError
from scanner.terminal import printable

INCOMPLETE_COVERAGE_EXIT = 50  # `scan --require-complete` with coverage short of complete (docs/exit-codes.md)
# What a report file is called after, per findings format (`--output-dir`).
SUFFIXES = {"table": ".txt", "json": ".json", "sarif": ".sarif", "cyclonedx-json": ".cdx.json", "html": ".html",
            "csv": ".csv"}
SEVERITY_COLUMNS = ("critical", "high", "medium", "low", "negligible", "unknown")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 120  # characters of a report file name taken from the image's file name


def is_batch_directory(path: Path) -> bool:
    """A directory that is not itself an image (an OCI layout): `scanner scan DIR/` scans the archives in it."""
    from scanner.targets import is_oci_layout

    return path.is_dir() and not is_oci_layout(path)


@dataclass(frozen=True)
class Expanded:
    targets: tuple[Path, ...]
    skipped: tuple[Path, ...]  # entries of a directory argument that are not image archives
    repeated: tuple[Path, ...]  # targets named more than once (scanned once)


def expand_targets(arguments: Sequence[Path]) -> Expanded:
    """The targets in command-line order: a directory argument becomes its image archives in name order."""
    from scanner.targets import images_in

    targets: list[Path] = []
    skipped: list[Path] = []
    repeated: list[Path] = []
    seen: set[Path] = set()
    for argument in arguments:
        if is_batch_directory(argument):
            entries: Iterable[tuple[Path, bool]] = images_in(argument)
        else:
            entries = ((argument, True),)
        for path, is_image in entries:
            if not is_image:
                skipped.append(path)
                continue
            key = path.resolve()
            if key in seen:
                repeated.append(path)
                continue
            seen.add(key)
            targets.append(path)
    if not targets:
        raise OperatorInputError(f"no image archive among {', '.join(str(a) for a in arguments)}")
    return Expanded(tuple(targets), tuple(skipped), tuple(repeated))


def report_names(targets: Sequence[Path], suffix: str) -> list[str]:
    """One file name per target, from its file name (`a.tar` -> `a.json`): only letters, digits, `.`,
    `_` and `-`, never hidden, and unique (`a-2.json` for a second `a`), in the targets' order."""
    names: list[str] = []
    taken: set[str] = set()
    for target in targets:
        stem = target.name.removesuffix(".tar") if target.name.endswith(".tar") else target.name
        stem = _UNSAFE.sub("_", stem).lstrip(".")[:_MAX_STEM] or "image"
        name, number = f"{stem}{suffix}", 1
        while name.lower() in taken:  # case-insensitive file systems would merge a.json and A.json
            number += 1
            name = f"{stem}-{number}{suffix}"
        taken.add(name.lower())
        names.append(name)
    return names


def check_output_dir(directory: Path, names: Sequence[str]) -> None:
    """Create `directory` if needed; refuse, before any scan, to replace a report already there."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"--output-dir {directory}: cannot create it ({error.strerror or error})") from None
    if not directory.is_dir():
        raise ReportError(f"--output-dir {directory}: not a directory")
    existing = [name for name in names if os.path.lexists(directory / name)]
    if existing:
        raise OperatorInputError(f"--output-dir {directory}: {existing[0]} exists"
                         + (f" (and {len(existing) - 1} more report(s))" if len(existing) > 1 else "")
                         + "; remove them or choose another directory")


def exit_rank(code: int) -> int:
    if code == 0:
        return 0
    if code == 1:
        return 1
    return 2 if code == INCOMPLETE_COVERAGE_EXIT else 3


def worst_exit_code(codes: Iterable[int]) -> int:
    """The run's exit code (module docstring): highest rank, first of equal rank."""
    worst = 0
    for code in codes:
        if exit_rank(code) > exit_rank(worst):
            worst = code
    return worst


def default_jobs() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


Job = TypeVar("Job")
Outcome = TypeVar("Outcome")


def run_parallel(work: Callable[[Job], Outcome], jobs: Sequence[Job], workers: int,
                 lost: Callable[[Job, str], Outcome]) -> Iterator[Outcome]:
    """`work(job)` for every job, `workers` processes at a time, outcomes in the jobs' order.

    One worker runs the jobs in this process (no pool to start). Workers are forked: they start with
    the modules already imported and the database already verified, and with the default signal
    dispositions, so a SIGTERM to the process group ends them quietly and this process handles it. A
    worker that dies (killed, out of memory) breaks the pool: the jobs it leaves unfinished come back as
    `lost(job, why)`, never as a hang. The wait polls, so a signal delivered to another thread of this
    process still reaches its handler; when this process stops early, the workers are terminated.
    """
    if workers <= 1 or len(jobs) <= 1:
        yield from (work(job) for job in jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from scanner.overlap import freeze_for_fork

    freeze_for_fork()
    executor = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("fork"),
                                   initializer=_default_signals)
    try:
        futures = [executor.submit(work, job) for job in jobs]
        for job, future in zip(jobs, futures, strict=True):
            while True:
                try:
                    outcome = future.result(timeout=_POLL_SECONDS)
                except TimeoutError:
                    continue
                except BrokenProcessPool:
                    outcome = lost(job, "its worker process died (killed, or out of memory)")
                break
            yield outcome
        executor.shutdown(wait=True)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():  # stopped early: no worker outlives the run
            child.terminate()


_POLL_SECONDS = 0.2


def _default_signals() -> None:
    import signal

    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)


@dataclass(frozen=True)
class SummaryRow:
    image: str  # the target as named on the command line (or found in a directory argument)
    exit_code: int
    packages: int = 0
    counts: tuple[int, ...] = ()  # per SEVERITY_COLUMNS, active findings
    fixable: int = 0  # active findings with a fixed version
    coverage: str = ""  # complete, partial, none, or "" without packages
    status: str = ""  # "ok", "fail-on", "incomplete", or the error


def summary_table(rows: Sequence[SummaryRow]) -> str:
    """The summary: one line per image, fixed columns; errors follow the table, one line each."""
    header = ("image", "packages", *SEVERITY_COLUMNS, "fixable", "coverage", "exit")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        if row.counts:
            lines.append((printable(row.image), str(row.packages), *(str(count) for count in row.counts), str(row.fixable),
                          row.coverage or "-", f"{row.exit_code} {row.status}"))
        else:
            lines.append((printable(row.image), *("-" * (len(header) - 2)), f"{row.exit_code} error"))
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    text = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width) if column < len(header) - 2
                      else cell.ljust(width) for column, (cell, width) in enumerate(zip(line, widths, strict=True))
                      ).rstrip() for line in lines]
    errors = [printable(row.status if row.status.startswith(row.image) else f"{row.image}: {row.status}")
              for row in rows if not row.counts]  # most errors name the file already
    return "\n".join([*text, *(["", "errors:", *errors] if errors else [])]) + "\n"
