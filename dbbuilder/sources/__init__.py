"""Feed readers: OSV, NVD, Debian tracker, Alpine secdb, Red Hat CSAF, CVE JSON 5.

Each provider module has `PROVIDER` (its name), `accepts(path)` (which files under an input directory it
reads) and `read(files, skips, facts)` (a stream of `Record`s; `facts` gets what the input says about
itself: which ecosystems it wholly exports, its own timestamps). `PROVIDERS` is the registry, in build order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import alpine, cve5, debian, nvd, osv, redhat
from .base import FeedFacts, MalformedFeedError, Reader, Record, SkipLog


@dataclass(frozen=True)
class Provider:
    name: str
    accepts: Callable[[Path], bool]
    read: Reader


PROVIDERS: Mapping[str, Provider] = {
    module.PROVIDER: Provider(module.PROVIDER, module.accepts, module.read)
    for module in (osv, nvd, debian, alpine, redhat, cve5)
}

__all__ = ["PROVIDERS", "FeedFacts", "MalformedFeedError", "Provider", "Reader", "Record", "SkipLog"]
