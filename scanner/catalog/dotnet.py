""".NET dependencies from `*.deps.json`, which the SDK writes beside every published application.

`libraries` maps "Name/Version" to the library's type. NuGet packages (`package`) and the runtime
packs of self-contained applications (`runtimepack`) are reported; `project` entries are the
application and its own projects, not something a NuGet advisory can describe, and are skipped.
A runtime pack's key carries a `runtimepack.` prefix that is not part of its NuGet id
(`runtimepack.Microsoft.NETCore.App.Runtime.linux-x64`): advisories name the pack without it.
"""

from __future__ import annotations

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, register
from scanner.catalog.langpkg import ParseError, captured_files, make_package, read_json, text_field
from scanner.catalog.purl import purl
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro

DEPS_PATTERNS = ("**/*.deps.json",)
_REPORTED_TYPES = {"package", "runtimepack"}
_RUNTIME_PACK_PREFIX = "runtimepack."


def deps_libraries(document: object) -> list[tuple[str, str, dict[str, object]]]:
    """(name, version, library entry) of each NuGet package a deps.json lists."""
    libraries = document.get("libraries") if isinstance(document, dict) else None
    if not isinstance(libraries, dict):
        raise ParseError("no libraries object")
    found = []
    for key, entry in libraries.items():
        name, _, version = key.rpartition("/")
        kind = text_field(entry, "type")
        if kind == "runtimepack":
            name = name.removeprefix(_RUNTIME_PACK_PREFIX)
        if name and version and isinstance(entry, dict) and kind in _REPORTED_TYPES:
            found.append((name, version, entry))
    return found


class DotnetCataloger(LimitedCataloger):
    name = "dotnet"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(DEPS_PATTERNS, max_size=self.limits.max_lockfile_size),)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        findings = Findings(self.limits)
        for found in captured_files(fs, self.requests[0]):
            libraries = read_json(fs, found.path, findings, deps_libraries)
            if libraries is None:
                continue
            for name, version, entry in libraries:
                where = f"{found.path}: {name}/{version}"
                with findings.record(where):
                    package = make_package(
                        found, name=name, version=version, purl=purl("nuget", name, version),
                        ecosystem="NuGet", cataloger=self.name,
                        metadata=[("type", text_field(entry, "type")), ("sha512", text_field(entry, "sha512")),
                                  ("path", text_field(entry, "path"))])
                    if not findings.add(package, where):
                        return findings.result()
        return findings.result()


register(DotnetCataloger())
