"""Lookups through the squashed filesystem, as catalogers make them, and hostile path resolution.

    .venv/bin/python -m benchmarks.fs_lookups [--workdir DIR] [--image TAR ...] [--repeat N]

Opens each image (default: the 5,000-package dpkg image of `benchmarks.os_catalogers`, built once in
--workdir) with every cataloger's requests and reports CPU time (steadier than wall time on a shared
machine), best of --repeat: the read; every cataloger over the filesystem; and one lookup pass over
the `Filesystem` API alone: `captured` for each request, then `entry`, `resolve` and `read_bytes` of
each captured path. Then the resolution of one path of 10,000 components, in the image's filesystem
and in a `MemoryFilesystem`. Only the public API is used, so the same script measures older code
(`PYTHONPATH=old-tree`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from benchmarks.os_catalogers import build_images
from scanner.catalog import all_requests, load_catalogers
from scanner.image import open_image
from scanner.image.filesystem import FileRequest, Filesystem, MemoryFilesystem

LONG_PATH = "/".join(["a"] * 10_000)


def cpu(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def lookup_pass(fs: Filesystem, requests: Sequence[FileRequest]) -> tuple[float, int]:
    """CPU time of the pass and the number of captured paths it went through."""
    start = time.process_time()
    paths = sorted({path for request in requests for path in fs.captured(request)})
    for path in paths:
        fs.entry(path)
        fs.resolve(path)
        fs.read_bytes(path)
    return time.process_time() - start, len(paths)


def measure(image: Path) -> dict[str, float]:
    catalogers = load_catalogers()
    requests = all_requests(catalogers)
    figures: dict[str, float] = {}
    start = time.process_time()
    with open_image(image, requests=requests) as opened:
        figures["read"] = time.process_time() - start
        fs = opened.filesystem
        for cataloger in catalogers:
            figures[cataloger.name] = cpu(partial(cataloger.catalog, fs, None))
        figures["catalogers"] = sum(figures[cataloger.name] for cataloger in catalogers)
        figures["lookup pass"], figures["paths"] = lookup_pass(fs, requests)
        figures["long path (image)"] = cpu(lambda: fs.resolve(LONG_PATH))
    memory = MemoryFilesystem(files={LONG_PATH: b""}, symlinks={"lib": "usr/lib"})
    figures["long path (memory)"] = cpu(lambda: memory.resolve(LONG_PATH))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/airgap-bench-os"))
    parser.add_argument("--image", type=Path, action="append", help="image archives (default: dpkg-5000.tar)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.image:
        images = args.image
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        images = list(build_images(args.workdir, None).values())
    print("| image | read | all catalogers | dpkg | lookup pass (paths) | per path | 10,000-component path: image / memory |")
    print("|---|---|---|---|---|---|---|")
    for image in images:
        runs = [measure(image) for _ in range(args.repeat)]
        best = {key: min(run[key] for run in runs) for key in runs[0]}
        print(f"| {image.name} | {best['read']:.2f} s | {best['catalogers']:.2f} s | {best['dpkg']:.2f} s | "
              f"{best['lookup pass']:.3f} s ({best['paths']:.0f}) | "
              f"{best['lookup pass'] / max(best['paths'], 1) * 1e6:.1f} µs | "
              f"{best['long path (image)'] * 1e3:.1f} ms / {best['long path (memory)'] * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
