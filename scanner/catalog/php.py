"""PHP packages installed by Composer: `vendor/composer/installed.json`, else `composer.lock`.

installed.json is a list of packages in Composer 1 and `{"packages": [...]}` in Composer 2. A
composer.lock (`packages` and `packages-dev`) counts only where no installed vendor tree sits beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from packageurl import PackageURL

from scanner.catalog.base import CatalogResult, register
from scanner.catalog.langpkg import ParseError, captured_files, load_json, make_package, text_field
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package

INSTALLED = FileRequest(("**/vendor/composer/installed.json",), max_size=64 * 1024 * 1024)
LOCKFILES = FileRequest(("**/composer.lock",), max_size=64 * 1024 * 1024)


def composer_entries(document: Any) -> Iterator[tuple[dict[str, Any], bool]]:
    """(package entry, is a dev dependency) from installed.json (v1 or v2) or composer.lock."""
    if isinstance(document, list):
        yield from ((entry, False) for entry in document if isinstance(entry, dict))
        return
    if not isinstance(document, dict):
        raise ParseError("neither a package list nor an object")
    dev_names = document.get("dev-package-names")
    dev_set = {n for n in dev_names if isinstance(n, str)} if isinstance(dev_names, list) else set()
    for key, dev in (("packages", False), ("packages-dev", True)):
        entries = document.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict):
                    yield entry, dev or text_field(entry, "name") in dev_set


def _licenses(entry: dict[str, Any]) -> list[str]:
    declared = entry.get("license")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [lic for lic in declared if isinstance(lic, str)]
    return []


class PhpCataloger:
    name = "php"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (INSTALLED, LOCKFILES)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        packages: list[Package] = []
        warnings: list[str] = []
        sources = list(captured_files(fs, INSTALLED))
        installed_roots = {found.path.removesuffix("vendor/composer/installed.json") for found in sources}
        sources += [lock for lock in captured_files(fs, LOCKFILES)
                    if lock.path.removesuffix("composer.lock") not in installed_roots
                    and "vendor" not in lock.path.split("/")]
        for source in sources:
            try:
                entries = list(composer_entries(load_json(fs.read_bytes(source.path))))
            except ParseError as error:
                warnings.append(f"{source.path}: {error}")
                continue
            for entry, dev in entries:
                name, version = text_field(entry, "name"), text_field(entry, "version")
                if "/" not in name or not version:
                    continue
                vendor, _, project = name.partition("/")
                packages.append(make_package(
                    source, name=name, version=version,
                    purl=PackageURL(type="composer", namespace=vendor, name=project, version=version),
                    ecosystem="Packagist", cataloger=self.name, licenses=_licenses(entry),
                    metadata=[("dev", "true" if dev else ""), ("type", text_field(entry, "type"))],
                ))
        return CatalogResult(packages=tuple(packages), warnings=tuple(warnings))


register(PhpCataloger())
