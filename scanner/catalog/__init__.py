"""Catalogers: turn image files into Package records.

`catalog_filesystem` detects the distro, runs every registered cataloger and marks language
packages whose files an OS package installed. Cataloger modules in this package register
themselves on import; `catalog_filesystem` imports them all, so a new cataloger is one new file.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner.catalog.base import Cataloger, CatalogResult, registered
from scanner.catalog.distro import DISTRO_REQUESTS, detect
from scanner.catalog.langpkg import ExecutableCataloger, ExecutablePass
from scanner.image import ImageMetadata, Limits, open_image
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package


@dataclass(frozen=True)
class Catalog:
    distro: Distro | None
    packages: tuple[Package, ...]  # sorted: deterministic output
    warnings: tuple[str, ...] = ()


def load_catalogers() -> tuple[Cataloger, ...]:
    """Import every module of this package (each cataloger registers itself) and return the catalogers."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return registered()


def all_requests(catalogers: Sequence[Cataloger] | None = None) -> tuple[FileRequest, ...]:
    """Every file the distro detection and `catalogers` (default: all) need the content of."""
    chosen = load_catalogers() if catalogers is None else catalogers
    return DISTRO_REQUESTS + tuple(request for cataloger in chosen for request in cataloger.requests)


class _Owners:
    """Which OS package owns a path, per cataloger: by the path as recorded, else after resolving symlinks.

    A recorded path may go through a symlinked directory (merged /usr: `lib/...` is `usr/lib/...`),
    so a language package found at the real path must still find its owner. Resolving is costly, so
    it is done only when an exact lookup misses, and once per distinct directory.
    """

    def __init__(self, fs: Filesystem, results: Mapping[str, CatalogResult]) -> None:
        self._fs = fs
        self._exact = {name: result.owned_paths for name, result in results.items() if result.owned_paths}
        self._resolved: dict[str, dict[str, str]] | None = None

    def owner(self, package: Package) -> str:
        if package.cataloger in self._exact or not self._exact:
            return ""  # package databases (those that own files) are never inside one another
        found = self._lookup(self._exact, package.locations)
        if found:
            return found
        real_locations = [self._fs.resolve(location) or location for location in package.locations]
        return self._lookup(self._resolved_tables(), real_locations)

    @staticmethod
    def _lookup(tables: Mapping[str, Mapping[str, str]], locations: Sequence[str]) -> str:
        for table in tables.values():
            for location in locations:
                if location in table:
                    return table[location]
        return ""

    def _resolved_tables(self) -> dict[str, dict[str, str]]:
        if self._resolved is None:
            directories: dict[str, str] = {"": ""}
            self._resolved = {}
            for cataloger, table in self._exact.items():
                resolved: dict[str, str] = {}
                for path, owner in table.items():
                    directory, _, base = path.rpartition("/")
                    if directory not in directories:
                        directories[directory] = self._fs.resolve(directory) or directory
                    real_directory = directories[directory]
                    resolved[f"{real_directory}/{base}" if real_directory else base] = owner
                self._resolved[cataloger] = resolved
        return self._resolved


def catalog_filesystem(fs: Filesystem, catalogers: Sequence[Cataloger] | None = None) -> Catalog:
    """Detect the distro and run `catalogers` (default: every registered one) over `fs`."""
    chosen = load_catalogers() if catalogers is None else tuple(catalogers)
    detection = detect(fs)
    distro = detection.distro
    results: dict[str, CatalogResult] = {}
    warnings: list[str] = [f"distro: {warning}" for warning in detection.warnings]
    executables = ExecutablePass(fs, chosen)  # Go and Rust read the same executables: each is parsed once
    for cataloger in chosen:
        try:
            if isinstance(cataloger, ExecutableCataloger):
                result = executables.result(cataloger)
            else:
                result = cataloger.catalog(fs, distro)
        except Exception as error:  # one broken cataloger must not hide what the others found
            warnings.append(f"{cataloger.name}: cataloger failed, its packages are missing: "
                            f"{type(error).__name__}: {error}")
            continue
        results[cataloger.name] = result
        warnings.extend(f"{cataloger.name}: {warning}" for warning in result.warnings)
    owners = _Owners(fs, results)
    packages = []
    for result in results.values():
        for package in result.packages:
            owner = owners.owner(package)
            packages.append(dataclasses.replace(package, owned_by=owner) if owner else package)
    return Catalog(distro=distro, packages=_sorted_unique(packages), warnings=tuple(warnings))


def _sorted_unique(packages: list[Package]) -> tuple[Package, ...]:
    """`tuple(sorted(set(packages)))`: of equal packages (metadata aside) the first found, in package order.

    Each package's order key is built once and sorted in C, equal neighbours dropped: hashing every field of
    every package into a set and then comparing packages through `Package.__lt__` cost twice as much.
    """
    keys = [package._order_key() for package in packages]
    unique: list[Package] = []
    previous: tuple[object, ...] | None = None
    for index in sorted(range(len(packages)), key=keys.__getitem__):  # stable: the first found leads its equals
        if keys[index] != previous:
            unique.append(packages[index])
            previous = keys[index]
    return tuple(unique)


def catalog_image(path: str | Path, *, image: str | None = None, platform: str | None = None,
                  limits: Limits | None = None) -> tuple[ImageMetadata, Catalog]:
    """Open the image archive at `path`, capture what every cataloger needs and catalog it."""
    catalogers = load_catalogers()
    with open_image(Path(path), requests=all_requests(catalogers), image=image, platform=platform,
                    limits=limits) as opened:
        catalog = catalog_filesystem(opened.filesystem, catalogers)
        image_warnings = tuple(f"image: {warning}" for warning in opened.warnings)
        return opened.metadata, dataclasses.replace(catalog, warnings=image_warnings + catalog.warnings)
