from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from scanner.catalog.rust import RustCataloger
from scanner.image.filesystem import MemoryFilesystem
from tests.catalog.lang.conftest import AUDIT
from tests.catalog.lang.elfbuild import build_elf


def catalog(files: dict[str, bytes]) -> tuple[dict[str, dict[str, str]], tuple[str, ...]]:
    fs = MemoryFilesystem(files=files, modes={p: 0o755 for p in files})
    result = RustCataloger().catalog(fs, None)
    return ({p.name: {"version": p.version, "purl": p.purl, "ecosystem": p.ecosystem, **dict(p.metadata)}
             for p in result.packages}, result.warnings)


def test_dep_v0_section_lists_every_crate() -> None:
    found, warnings = catalog({"usr/bin/hello": build_elf([(".dep-v0", zlib.compress(json.dumps(AUDIT).encode()))])})
    assert warnings == ()
    assert set(found) == {"hello", "smallvec", "cc"}
    assert found["smallvec"] == {"version": "1.6.0", "purl": "pkg:cargo/smallvec@1.6.0", "ecosystem": "crates.io",
                                 "source": "crates.io", "kind": "runtime"}
    assert found["cc"]["kind"] == "build" and found["hello"]["root"] == "true"


def test_executables_without_the_section_yield_nothing() -> None:
    assert catalog({"usr/bin/plain": build_elf([(".data", b"x")])}) == ({}, ())


@pytest.mark.parametrize("section", [
    b"not zlib at all",
    zlib.compress(b"{not json"),
    zlib.compress(b"[" * 100_000 + b"]" * 100_000),  # nesting far past any real document
    zlib.compress(b'{"packages": 3}'),
    zlib.compress(b" " * (65 * 1024 * 1024)),  # a decompression bomb: 65 MiB of blanks in 64 KiB
])
def test_hostile_sections_warn(section: bytes) -> None:
    found, warnings = catalog({"bin/x": build_elf([(".dep-v0", section)])})
    assert found == {} and len(warnings) == 1 and warnings[0].startswith("bin/x: ")


def test_real_rust_executable_with_audit_section(rust_audit_binary: Path) -> None:
    found, warnings = catalog({"usr/local/bin/hello": rust_audit_binary.read_bytes()})
    assert warnings == ()
    assert found["smallvec"]["version"] == "1.6.0" and found["hello"]["source"] == "local"
