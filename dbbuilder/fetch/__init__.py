"""Download feeds on the connected host: OSV per-ecosystem archives, NVD CVE API 2.0 pages, and the
distro sources of the registry below.

Every module here that defines `SOURCE` (a `FetchSource`) is a distro source of `dbbuilder fetch`: it gets
`--NAME/--no-NAME`, `--NAME-base-url` and (when it has items) a repeatable item flag, without a CLI edit.
A new source is one new module. OSV, NVD, Debian and Alpine keep their own options in the CLI.
"""

import importlib
import pkgutil
from collections.abc import Mapping

from .http import HttpClient
from .nvd import NVD_BASE_URL, fetch_nvd
from .osv import OSV_BASE_URL, fetch_osv
from .source import FetchSource


def _discover() -> Mapping[str, FetchSource]:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        source = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SOURCE", None)
        if isinstance(source, FetchSource):
            found[source.name] = source
    return found


SOURCES: Mapping[str, FetchSource] = _discover()

__all__ = ["NVD_BASE_URL", "OSV_BASE_URL", "SOURCES", "FetchSource", "HttpClient", "fetch_nvd", "fetch_osv"]
