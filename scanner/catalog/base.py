"""The cataloger interface and its registry.

A cataloger is one module under scanner/catalog/ that defines a class satisfying `Cataloger`
and registers an instance with `register`. `scanner.catalog.catalog_filesystem` runs them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package


@dataclass(frozen=True)
class CatalogResult:
    packages: tuple[Package, ...] = ()
    # image path -> name of the OS package that installed it (dpkg .list, rpm file list, apk F:/R:)
    owned_paths: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class Cataloger(Protocol):
    name: str  # short and stable: "dpkg", "apk", "rpm", "python", "java" ...

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        """The files this cataloger needs the content of."""
        ...

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult: ...


_REGISTRY: dict[str, Cataloger] = {}


def read_text(fs: Filesystem, path: str) -> str | None:
    """A captured file as text (undecodable bytes replaced); None when it was not captured."""
    try:
        return fs.read_bytes(path).decode("utf-8", "replace")
    except KeyError:
        return None


def register(cataloger: Cataloger) -> Cataloger:
    if cataloger.name in _REGISTRY:
        raise ValueError(f"cataloger {cataloger.name!r} registered twice")
    _REGISTRY[cataloger.name] = cataloger
    return cataloger


def registered() -> tuple[Cataloger, ...]:
    """Every registered cataloger, in name order (deterministic output)."""
    return tuple(_REGISTRY[name] for name in sorted(_REGISTRY))
