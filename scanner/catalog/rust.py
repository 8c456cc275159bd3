"""Rust crates recorded by cargo-auditable in the executables it builds.

cargo-auditable stores its dependency list in an ELF section `.dep-v0`: zlib-compressed JSON
`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`. Every entry is a
crate compiled into the binary (`kind: "build"` entries ran only at build time; they are reported
with that kind in metadata). Executables without the section carry no crate list and yield nothing.
"""

from __future__ import annotations

from scanner.catalog.base import Findings, register
from scanner.catalog.elf import ElfFile
from scanner.catalog.langpkg import (
    CapturedFile,
    ExecutableCataloger,
    ParseError,
    inflate,
    load_json,
    make_package,
    text_field,
)
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.purl import purl

SECTION = b".dep-v0"


def parse_dep_v0(compressed: bytes, limits: CatalogLimits = DEFAULT_LIMITS) -> list[dict[str, str]]:
    """The crates of a `.dep-v0` section: name, version, source, kind, root ("true" or "")."""
    document = load_json(inflate(compressed, limits.max_dep_v0_inflated), limits)
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


def read_crates(elf: ElfFile, limits: CatalogLimits = DEFAULT_LIMITS) -> list[dict[str, str]] | None:
    """The crates of an executable built by cargo-auditable; None for any other executable."""
    section = elf.section(SECTION, limits.max_dep_v0_size)
    return None if section is None else parse_dep_v0(section, limits)


class RustCataloger(ExecutableCataloger[list[dict[str, str]]]):
    name = "rust"

    def read(self, elf: ElfFile) -> list[dict[str, str]] | None:
        return read_crates(elf, self.limits)

    def packages_of(self, executable: CapturedFile, crates: list[dict[str, str]], findings: Findings) -> None:
        for crate in crates:
            where = f"{executable.path}: crate {crate['name']!r}"
            with findings.record(where):
                package = make_package(
                    executable, name=crate["name"], version=crate["version"],
                    purl=purl("cargo", crate["name"], crate["version"]),
                    ecosystem="crates.io", cataloger=self.name,
                    metadata=[("source", crate["source"]), ("kind", crate["kind"]), ("root", crate["root"])])
                if not findings.add(package, where):
                    return


register(RustCataloger())
