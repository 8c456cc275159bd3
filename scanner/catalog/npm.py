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
from scanner.image.filesystem import EntryKind, FileRequest, Filesystem
from scanner.model import Distro

MANIFEST_PATTERNS = ("**/node_modules/*/package.json", "**/node_modules/@*/*/package.json")
LOCKFILE_PATTERNS = ("**/package-lock.json",)

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


def npm_purl(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return purl("npm", bare, version, namespace=scope)


def _lock_entries_v1(tree: Any, max_depth: int, depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(tree, dict):
        return
    if depth > max_depth:
        raise ParseError(f"dependencies nested deeper than {max_depth} levels (cap max_npm_lock_depth)")
    for name, entry in tree.items():
        if isinstance(entry, dict):
            yield name, entry
            yield from _lock_entries_v1(entry.get("dependencies"), max_depth, depth + 1)


def _lock_entries(lock: Any, max_depth: int) -> Iterator[tuple[str, dict[str, Any]]]:
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
    yield from _lock_entries_v1(lock.get("dependencies"), max_depth)


class NpmCataloger(LimitedCataloger):
    name = "npm"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(MANIFEST_PATTERNS, max_size=self.limits.max_npm_manifest_size),
                FileRequest(LOCKFILE_PATTERNS, max_size=self.limits.max_lockfile_size))

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        findings = Findings(self.limits)
        manifests, lockfiles = self.requests
        for found in captured_files(fs, manifests):
            with findings.record(found.path):  # one bad manifest (a name like "x/") is one warning
                if not self._manifest(fs, found, findings):
                    return findings.result()
        for lockfile in captured_files(fs, lockfiles):
            tree = fs.entry(posixpath.join(posixpath.dirname(lockfile.path), "node_modules"))
            if "node_modules" in lockfile.path.split("/") or (tree is not None and tree.kind is EntryKind.DIR):
                continue
            entries = read_json(fs, lockfile.path, findings,
                                lambda lock: list(_lock_entries(lock, self.limits.max_npm_lock_depth)))
            if entries is None:
                continue
            if not self._locked(lockfile, entries, findings):
                break
        return findings.result()

    def _manifest(self, fs: Filesystem, found: CapturedFile, findings: Findings) -> bool:
        """Add the package a manifest describes; False once no more packages are kept."""
        manifest = read_json(fs, found.path, findings, lambda document: document)
        if not isinstance(manifest, dict):
            return True
        name, version = text_field(manifest, "name"), text_field(manifest, "version")
        if not name or not version or manifest.get("private") is True:
            return True
        return findings.add(make_package(found, name=name, version=version, purl=npm_purl(name, version),
                                         ecosystem="npm", cataloger=self.name, licenses=_licenses(manifest)),
                            found.path)

    def _locked(self, lockfile: CapturedFile, entries: list[tuple[str, dict[str, Any]]], findings: Findings) -> bool:
        """Add the registry packages a lockfile pins; False once no more packages are kept."""
        for declared_name, entry in entries:
            name, version = declared_name, text_field(entry, "version")
            alias = _ALIAS.fullmatch(version)
            if alias:
                name, version = alias["name"], alias["version"]
            if not name or not version or ":" in version:
                continue  # git, file: and tarball URLs are not registry versions
            where = f"{lockfile.path}: {declared_name!r}"
            with findings.record(where):
                package = make_package(
                    lockfile, name=name, version=version, purl=npm_purl(name, version), ecosystem="npm",
                    cataloger=self.name, licenses=_licenses(entry),
                    metadata=[("dev", "true" if entry.get("dev") is True else ""),
                              ("resolved", text_field(entry, "resolved")),
                              ("integrity", text_field(entry, "integrity"))],
                )
                if not findings.add(package, where):
                    return False
        return True


register(NpmCataloger())
