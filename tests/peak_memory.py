"""Peak memory of the current process, for bounded-memory tests that run their work in a child process.

VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (a large pytest worker) across exec,
so a child of a 400 MiB worker would report at least 400 MiB whatever it did itself.
"""

from __future__ import annotations

import resource
from pathlib import Path

STATUS = Path("/proc/self/status")


def peak_rss_kib() -> int:
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
