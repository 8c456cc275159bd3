"""Feed readers, one module per provider, found by the registry below.

A provider module defines `PROVIDER` (its name: the `dbbuilder build --NAME` flag, the manifest's and
`inspect`'s name), `FLAG_HELP` (that flag's help), `PRECEDENCE` (for an id several providers publish, the
lowest gives the vulnerabilities row), `accepts(path)` (which files under an input directory it reads) and
`read(files, skips, facts)` (a stream of `Record`s; `facts` gets what the input says about itself: which
ecosystems it wholly exports, its own timestamps). A new provider is one new module here: `PROVIDERS`
picks up every module that defines `PROVIDER`, in precedence order.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .records import FeedFacts, MalformedFeedError, Reader, Record, SkipLog


@dataclass(frozen=True)
class Provider:
    name: str
    accepts: Callable[[Path], bool]
    read: Reader
    flag_help: str
    precedence: int


def _discover() -> Mapping[str, Provider]:
    found: list[Provider] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        name = getattr(module, "PROVIDER", None)
        if name is None or not hasattr(module, "read"):  # helpers, and the KEV/EPSS enrichment readers
            continue
        found.append(Provider(name, module.accepts, module.read, module.FLAG_HELP, module.PRECEDENCE))
    found.sort(key=lambda provider: (provider.precedence, provider.name))
    return {provider.name: provider for provider in found}


PROVIDERS: Mapping[str, Provider] = _discover()

__all__ = ["PROVIDERS", "FeedFacts", "MalformedFeedError", "Provider", "Reader", "Record", "SkipLog"]
