"""The Go and Rust catalogers of one catalog_filesystem call read the executables in one shared pass."""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from scanner.catalog import Catalog, catalog_filesystem
from scanner.catalog import langpkg as langpkg_module
from scanner.catalog.base import Cataloger, Findings
from scanner.catalog.elf import ElfFile
from scanner.catalog.golang import BuildInfo, GoCataloger
from scanner.catalog.langpkg import CapturedFile
from scanner.catalog.limits import CatalogLimits
from scanner.catalog.rust import RustCataloger
from scanner.image.filesystem import Filesystem, MemoryFilesystem
from tests.catalog.lang.conftest import AUDIT
from tests.catalog.lang.elfbuild import ET_REL, build_elf, go_inline_buildinfo

MODINFO = ("path\texample.com/app\nmod\texample.com/app\tv1.0.0\th1:a=\n"
           "dep\tgolang.org/x/text\tv0.3.7\th1:b=\n")
GO = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.21.0", MODINFO))])
RUST = build_elf([(".dep-v0", zlib.compress(json.dumps(AUDIT).encode()))])
BOTH = build_elf([(".dep-v0", zlib.compress(json.dumps(AUDIT).encode())),
                  (".go.buildinfo", go_inline_buildinfo("go1.20.4", MODINFO))])


def _crate(name: str) -> bytes:
    return build_elf([(".dep-v0", zlib.compress(json.dumps({"packages": [{"name": name, "version": "1.0.0"}]}).encode()))])


def _patched(data: bytes, offset: int, layout: str, *values: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into(layout, patched, offset, *values)
    return bytes(patched)


# Files each cataloger warns about or passes over, from the ELF, Go and Rust tests' hostile inputs.
HOSTILE = {
    "bin/cut-header": GO[:40],
    "bin/cut-table": BOTH[:len(BOTH) - 10],
    "bin/garbage": b"\x7fELF" + bytes(range(256)) * 2,
    "bin/class-3": b"\x7fELF\x03" + GO[5:],
    "bin/names-index": _patched(RUST, 62, "<H", 200),
    "bin/header-size": _patched(RUST, 58, "<H", 16),
    "bin/program-table": _patched(build_elf([(".go.buildinfo", go_inline_buildinfo("go1.21.0", MODINFO))],
                                            section_table=False), 32, "<Q", 2**63),
    "bin/not-zlib": build_elf([(".dep-v0", b"not zlib at all")]),
    "bin/nested": build_elf([(".dep-v0", zlib.compress(b"[" * 100_000 + b"]" * 100_000))]),
    "bin/varint": build_elf([(".go.buildinfo", b"\xff Go buildinf:\x08\x02" + bytes(16) + b"\xff" * 20)]),
    "bin/unmapped": build_elf([(".go.buildinfo", b"\xff Go buildinf:\x08\x00" + (0xDEAD0000).to_bytes(8, "little") * 2)]),
    "bin/both": BOTH,
    "bin/go": GO,
    "bin/rust": RUST,
    "lib/object.o": _patched(BOTH, 16, "<H", ET_REL),
    "src/x/testdata/both": BOTH,
}


def _filesystem(files: dict[str, bytes]) -> MemoryFilesystem:
    return MemoryFilesystem(files=files, modes=dict.fromkeys(files, 0o755))


class _CountingFilesystem(MemoryFilesystem):
    opened: Counter[str]

    def open(self, path: str) -> BinaryIO:
        self.opened[path] += 1
        return super().open(path)


def test_each_executable_is_opened_and_its_headers_parsed_once_for_go_and_rust(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"usr/bin/go": GO, "usr/bin/rust": RUST, "usr/bin/both": BOTH, "usr/bin/plain": build_elf([(".data", b"x")])}
    fs = _CountingFilesystem(files=files, modes=dict.fromkeys(files, 0o755))
    fs.opened = Counter()
    parsed: list[ElfFile] = []
    read_section_table = ElfFile._read_section_table

    def counted(elf: ElfFile) -> tuple[list[tuple[int, ...]], bytes]:
        parsed.append(elf)
        return read_section_table(elf)

    monkeypatch.setattr(ElfFile, "_read_section_table", counted)
    catalog = catalog_filesystem(fs, [GoCataloger(), RustCataloger()])
    assert fs.opened == dict.fromkeys(files, 1)
    assert len(parsed) == len(set(map(id, parsed))) == len(files)  # kept alive in the list: ids are distinct
    found = {(package.cataloger, package.name, package.locations[0]) for package in catalog.packages}
    assert {("go", "stdlib", "usr/bin/go"), ("go", "stdlib", "usr/bin/both"), ("rust", "smallvec", "usr/bin/rust"),
            ("rust", "smallvec", "usr/bin/both")} <= found
    assert catalog.warnings == ()


def _alone(cataloger: GoCataloger | RustCataloger, fs: MemoryFilesystem) -> tuple[set[str], list[str]]:
    result = cataloger.catalog(fs, None)
    return ({f"{package.purl} {package.locations}" for package in result.packages},
            [f"{cataloger.name}: {warning}" for warning in result.warnings])


def _together(catalog: Catalog, name: str) -> tuple[set[str], list[str]]:
    return ({f"{package.purl} {package.locations}" for package in catalog.packages if package.cataloger == name},
            [warning for warning in catalog.warnings if warning.startswith(f"{name}: ")])


@pytest.mark.parametrize("limits", [CatalogLimits(), CatalogLimits(max_packages=3), CatalogLimits(max_warnings=2),
                                    CatalogLimits(max_elf_headers=2), CatalogLimits(max_dep_v0_size=10)], ids=repr)
def test_together_each_finds_and_warns_what_it_does_alone(limits: CatalogLimits) -> None:
    fs = _filesystem(HOSTILE)
    catalog = catalog_filesystem(fs, [GoCataloger(limits), RustCataloger(limits)])
    go, rust = _alone(GoCataloger(limits), fs), _alone(RustCataloger(limits), fs)
    assert _together(catalog, "go") == go
    assert _together(catalog, "rust") == rust
    assert catalog.warnings == tuple(go[1] + rust[1])


def test_hostile_files_are_one_warning_each_for_each_cataloger() -> None:
    catalog = catalog_filesystem(_filesystem(HOSTILE), [GoCataloger(), RustCataloger()])
    warned = Counter(": ".join(warning.split(": ")[:2]) for warning in catalog.warnings)  # "go: bin/x"
    for path in ("bin/cut-header", "bin/cut-table", "bin/garbage", "bin/class-3", "bin/names-index",
                 "bin/header-size"):
        assert warned[f"go: {path}"] == warned[f"rust: {path}"] == 1, path
    assert (warned["go: bin/program-table"], warned["rust: bin/program-table"]) == (1, 0)
    for path in ("bin/varint", "bin/unmapped"):
        assert (warned[f"go: {path}"], warned[f"rust: {path}"]) == (1, 0), path
    for path in ("bin/not-zlib", "bin/nested"):
        assert (warned[f"go: {path}"], warned[f"rust: {path}"]) == (0, 1), path
    assert not any("object.o" in warning or "testdata" in warning for warning in catalog.warnings)
    assert len(catalog.warnings) == 17
    go_locations = {package.locations[0] for package in catalog.packages if package.cataloger == "go"}
    rust_locations = {package.locations[0] for package in catalog.packages if package.cataloger == "rust"}
    assert go_locations == {"bin/both", "bin/go"}
    assert rust_locations == {"bin/both", "bin/rust", "src/x/testdata/both"}


def test_a_cataloger_that_is_full_stops_reading_while_the_other_goes_on() -> None:
    files = {"a/go": GO, "b/cut": GO[:200], "c/rust": _crate("first"), "d/rust": _crate("second")}
    limits = CatalogLimits(max_packages=2)
    catalog = catalog_filesystem(_filesystem(files), [GoCataloger(limits), RustCataloger(limits)])
    assert [package.name for package in catalog.packages if package.cataloger == "rust"] == ["first", "second"]
    assert len([package for package in catalog.packages if package.cataloger == "go"]) == 2
    go_warnings = [warning for warning in catalog.warnings if warning.startswith("go: ")]
    assert len(go_warnings) == 1 and "cap max_packages" in go_warnings[0]  # b/cut is never read for Go
    assert [warning.split(": ")[1] for warning in catalog.warnings if warning.startswith("rust: ")] == ["b/cut"]


class _FailingGo(GoCataloger):
    def packages_of(self, executable: CapturedFile, info: BuildInfo, findings: Findings) -> None:
        raise RuntimeError(f"boom at {executable.path}")


class _FailingSkip(RustCataloger):
    def skips(self, fs: Filesystem, path: str) -> bool:
        if path == "bin/rust":
            raise KeyError(path)
        return False


def test_a_cataloger_that_fails_ends_its_own_run_only() -> None:
    fs = _filesystem({"bin/both": BOTH, "bin/go": GO, "bin/rust": RUST})
    catalog = catalog_filesystem(fs, [_FailingGo(), RustCataloger()])
    assert catalog.warnings == ("go: cataloger failed, its packages are missing: RuntimeError: boom at bin/both",)
    assert {package.locations[0] for package in catalog.packages} == {"bin/both", "bin/rust"}
    assert {package.cataloger for package in catalog.packages} == {"rust"}
    catalog = catalog_filesystem(fs, [GoCataloger(), _FailingSkip()])
    assert catalog.warnings == ("rust: cataloger failed, its packages are missing: KeyError: 'bin/rust'",)
    assert {package.cataloger for package in catalog.packages} == {"go"}
    with pytest.raises(RuntimeError, match="boom at bin/both"):
        _FailingGo().catalog(fs, None)


def test_a_failure_listing_the_executables_fails_every_executable_cataloger(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fs: object, request: object) -> Iterator[CapturedFile]:
        raise OSError("index gone")
        yield  # pragma: no cover - a generator that fails when first asked

    monkeypatch.setattr(langpkg_module, "captured_files", broken)
    catalog = catalog_filesystem(_filesystem({"bin/go": GO}), [GoCataloger(), RustCataloger()])
    assert catalog.warnings == ("go: cataloger failed, its packages are missing: OSError: index gone",
                                "rust: cataloger failed, its packages are missing: OSError: index gone")


def test_nothing_is_kept_from_one_call_to_the_next() -> None:
    catalogers: list[Cataloger] = [GoCataloger(), RustCataloger()]
    first = catalog_filesystem(_filesystem({"bin/app": GO}), catalogers)
    second = catalog_filesystem(_filesystem({"bin/app": RUST}), catalogers)
    assert {package.cataloger for package in first.packages} == {"go"}
    assert {package.cataloger for package in second.packages} == {"rust"}
