""".NET dependencies from `*.deps.json`, which the SDK writes beside every published application.

`libraries` maps "Name/Version" to the library's type. NuGet packages (`package`) and the runtime
packs of self-contained applications (`runtimepack`) are reported; `project` entries are the
application and its own projects, not something a NuGet advisory can describe, and are skipped.
A runtime pack's key carries a `runtimepack.` prefix that is not part of its NuGet id
(`runtimepack.Microsoft.NETCore.App.Runtime.linux-x64`): advisories name the pack without it.
"""

from __future__ import annotations

from packageurl import PackageURL

from scanner.catalog.base import CatalogResult, register
from scanner.catalog.langpkg import ParseError, captured_files, load_json, make_package, text_field
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package

DEPS_FILES = FileRequest(("**/*.deps.json",), max_size=64 * 1024 * 1024)
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


class DotnetCataloger:
    name = "dotnet"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (DEPS_FILES,)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        packages: list[Package] = []
        warnings: list[str] = []
        for found in captured_files(fs, DEPS_FILES):
            try:
                libraries = deps_libraries(load_json(fs.read_bytes(found.path)))
            except ParseError as error:
                warnings.append(f"{found.path}: {error}")
                continue
            packages.extend(
                make_package(found, name=name, version=version, purl=PackageURL(type="nuget", name=name, version=version),
                             ecosystem="NuGet", cataloger=self.name,
                             metadata=[("type", text_field(entry, "type")), ("sha512", text_field(entry, "sha512")),
                                       ("path", text_field(entry, "path"))])
                for name, version, entry in libraries
            )
        return CatalogResult(packages=tuple(packages), warnings=tuple(warnings))


register(DotnetCataloger())
