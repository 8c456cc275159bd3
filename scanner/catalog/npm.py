"""npm packages: installed trees (`node_modules/**/package.json`) and lockfiles without a tree.

Only a package.json that is a package's own manifest counts (`node_modules/<name>/package.json` or
`node_modules/@scope/<name>/package.json`): the fixtures and examples that packages ship in their
subfolders are not installed packages. A `private` manifest is a workspace root or an application,
never something from the registry, and is skipped. A `package-lock.json` (v1 nested
`dependencies`, v2/v3 flat `packages`) is read only where the directory has no `node_modules`,
since an installed tree is the better evidence.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from packageurl import PackageURL

from scanner.catalog.base import CatalogResult, register
from scanner.catalog.langpkg import (
    CapturedFile,
    ParseError,
    captured_files,
    load_json,
    make_package,
    text_field,
)
from scanner.image.filesystem import EntryKind, FileRequest, Filesystem
from scanner.model import Distro, Package

MANIFESTS = FileRequest(("**/node_modules/*/package.json", "**/node_modules/@*/*/package.json"),
                        max_size=4 * 1024 * 1024)
LOCKFILES = FileRequest(("**/package-lock.json",), max_size=64 * 1024 * 1024)

_MAX_LOCK_DEPTH = 64  # v1 lockfiles nest `dependencies`; deeper than this is hostile
_ALIAS = re.compile(r"npm:(?P<name>(?:@[^/@]+/)?[^@]+)@(?P<version>.+)")


def _licenses(manifest: dict[str, Any]) -> list[str]:
    declared = manifest.get("license")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, dict):
        return [text_field(declared, "type")]
    legacy = manifest.get("licenses")
    if isinstance(legacy, list):
        return [entry if isinstance(entry, str) else text_field(entry, "type") for entry in legacy]
    return []


def npm_purl(name: str, version: str) -> PackageURL:
    scope, _, bare = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=bare, version=version)


def _lock_entries_v1(tree: Any, depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(tree, dict):
        return
    if depth > _MAX_LOCK_DEPTH:
        raise ParseError(f"dependencies nested deeper than {_MAX_LOCK_DEPTH} levels")
    for name, entry in tree.items():
        if isinstance(entry, dict):
            yield name, entry
            yield from _lock_entries_v1(entry.get("dependencies"), depth + 1)


def _lock_entries(lock: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, entry) of every package a lockfile pins, v2/v3 `packages` preferred over v1 `dependencies`."""
    if not isinstance(lock, dict):
        raise ParseError("not a JSON object")
    packages = lock.get("packages")
    if isinstance(packages, dict):
        for key, entry in packages.items():
            # Only node_modules entries come from a registry: "" is the project itself, other keys
            # ("packages/ws") are its workspace folders, and links point at those folders.
            if "node_modules/" not in key or not isinstance(entry, dict) or entry.get("link"):
                continue
            yield text_field(entry, "name") or key.rpartition("node_modules/")[2], entry
        return
    yield from _lock_entries_v1(lock.get("dependencies"))


class NpmCataloger:
    name = "npm"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (MANIFESTS, LOCKFILES)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        packages: list[Package] = []
        warnings: list[str] = []
        for found in captured_files(fs, MANIFESTS):
            try:
                manifest = load_json(fs.read_bytes(found.path))
            except ParseError as error:
                warnings.append(f"{found.path}: {error}")
                continue
            name, version = text_field(manifest, "name"), text_field(manifest, "version")
            if not name or not version or manifest.get("private") is True:
                continue
            packages.append(make_package(found, name=name, version=version, purl=npm_purl(name, version),
                                         ecosystem="npm", cataloger=self.name, licenses=_licenses(manifest)))
        for lockfile in captured_files(fs, LOCKFILES):
            tree = fs.entry(posixpath.join(posixpath.dirname(lockfile.path), "node_modules"))
            if "node_modules" in lockfile.path.split("/") or (tree is not None and tree.kind is EntryKind.DIR):
                continue
            try:
                packages.extend(self._locked(fs, lockfile))
            except ParseError as error:
                warnings.append(f"{lockfile.path}: {error}")
        return CatalogResult(packages=tuple(packages), warnings=tuple(warnings))

    def _locked(self, fs: Filesystem, lockfile: CapturedFile) -> list[Package]:
        found: list[Package] = []
        for declared_name, entry in _lock_entries(load_json(fs.read_bytes(lockfile.path))):
            name, version = declared_name, text_field(entry, "version")
            alias = _ALIAS.fullmatch(version)
            if alias:
                name, version = alias["name"], alias["version"]
            if not name or not version or ":" in version:
                continue  # git, file: and tarball URLs are not registry versions
            found.append(make_package(
                lockfile, name=name, version=version, purl=npm_purl(name, version), ecosystem="npm",
                cataloger=self.name, licenses=_licenses(entry),
                metadata=[("dev", "true" if entry.get("dev") is True else ""),
                          ("resolved", text_field(entry, "resolved")), ("integrity", text_field(entry, "integrity"))],
            ))
        return found


register(NpmCataloger())
