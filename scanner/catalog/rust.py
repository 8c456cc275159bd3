"""Rust crates recorded by cargo-auditable in the executables it builds.

cargo-auditable stores its dependency list in an ELF section `.dep-v0`: zlib-compressed JSON
`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`. Every entry is a
crate compiled into the binary (`kind: "build"` entries ran only at build time; they are reported
with that kind in metadata). Executables without the section carry no crate list and yield nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from elftools.elf.elffile import ELFFile
from packageurl import PackageURL

from scanner.catalog.base import CatalogResult, register
from scanner.catalog.langpkg import (
    ELF_EXECUTABLES,
    CapturedFile,
    ParseError,
    catalog_executables,
    elf_section,
    inflate,
    load_json,
    make_package,
    text_field,
)
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package

SECTION = ".dep-v0"
_MAX_COMPRESSED = 8 * 1024 * 1024
_MAX_JSON = 64 * 1024 * 1024


def parse_dep_v0(compressed: bytes) -> list[dict[str, str]]:
    """The crates of a `.dep-v0` section: name, version, source, kind, root ("true" or "")."""
    document = load_json(inflate(compressed, _MAX_JSON))
    entries = document.get("packages") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ParseError("no package list in .dep-v0")
    crates = []
    for entry in entries:
        name, version = text_field(entry, "name"), text_field(entry, "version")
        if name and version:
            crates.append({"name": name, "version": version, "source": text_field(entry, "source"),
                           "kind": text_field(entry, "kind") or "runtime",
                           "root": "true" if entry.get("root") is True else ""})
    return crates


def read_crates(elf: ELFFile) -> list[dict[str, str]] | None:
    """The crates of an executable built by cargo-auditable; None for any other executable."""
    section = elf_section(elf, SECTION, _MAX_COMPRESSED)
    return None if section is None else parse_dep_v0(section)


class RustCataloger:
    name = "rust"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (ELF_EXECUTABLES,)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        return catalog_executables(fs, read_crates, self._packages)

    def _packages(self, executable: CapturedFile, crates: list[dict[str, str]], warnings: list[str]) -> Iterator[Package]:
        for crate in crates:
            yield make_package(executable, name=crate["name"], version=crate["version"],
                               purl=PackageURL(type="cargo", name=crate["name"], version=crate["version"]),
                               ecosystem="crates.io", cataloger=self.name,
                               metadata=[("source", crate["source"]), ("kind", crate["kind"]), ("root", crate["root"])])

register(RustCataloger())
