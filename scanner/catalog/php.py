"""PHP packages installed by Composer: `vendor/composer/installed.json`, else `composer.lock`.

installed.json is a list of packages in Composer 1 and `{"packages": [...]}` in Composer 2. A
composer.lock (`packages` and `packages-dev`) counts only where no installed vendor tree sits beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, register
from scanner.catalog.langpkg import (
    CapturedFile,
    ParseError,
    captured_files,
    make_package,
    read_json,
    text_field,
)
from scanner.catalog.purl import purl
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro

INSTALLED_PATTERNS = ("**/vendor/composer/installed.json",)
LOCKFILE_PATTERNS = ("**/composer.lock",)


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


class PhpCataloger(LimitedCataloger):
    name = "php"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(INSTALLED_PATTERNS, max_size=self.limits.max_lockfile_size),
                FileRequest(LOCKFILE_PATTERNS, max_size=self.limits.max_lockfile_size))

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        findings = Findings(self.limits)
        installed, lockfiles = self.requests
        sources = list(captured_files(fs, installed))
        installed_roots = {found.path.removesuffix("vendor/composer/installed.json") for found in sources}
        sources += [lock for lock in captured_files(fs, lockfiles)
                    if lock.path.removesuffix("composer.lock") not in installed_roots
                    and "vendor" not in lock.path.split("/")]
        for source in sources:
            entries = read_json(fs, source.path, findings, lambda document: list(composer_entries(document)))
            if entries is None:
                continue
            if not self._entries(source, entries, findings):
                break
        return findings.result()

    def _entries(self, source: CapturedFile, entries: list[tuple[dict[str, Any], bool]], findings: Findings) -> bool:
        """Add the packages of one file; False once no more packages are kept."""
        for entry, dev in entries:
            name, version = text_field(entry, "name"), text_field(entry, "version")
            if "/" not in name or not version:
                continue
            where = f"{source.path}: {name!r}"
            with findings.record(where):  # a name like "x/" is no PURL: that entry only is skipped
                vendor, _, project = name.partition("/")
                package = make_package(
                    source, name=name, version=version,
                    purl=purl("composer", project, version, namespace=vendor),
                    ecosystem="Packagist", cataloger=self.name, licenses=_licenses(entry),
                    metadata=[("dev", "true" if dev else ""), ("type", text_field(entry, "type"))],
                )
                if not findings.add(package, where):
                    return False
        return True


register(PhpCataloger())
