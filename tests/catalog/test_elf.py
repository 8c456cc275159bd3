"""scanner.catalog.elf: section and segment tables read with struct, against readelf and hostile input."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.catalog.elf import ElfError, ElfFile
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from tests.catalog.lang.elfbuild import BASE, build_elf


def open_bytes(data: bytes, limits: CatalogLimits = DEFAULT_LIMITS) -> ElfFile:
    return ElfFile(io.BytesIO(data), limits)


def _system_binaries() -> list[Path]:
    found = {Path(sys.executable).resolve()}
    for name in ("ls", "sh", "tar", "objcopy", "readelf"):
        path = shutil.which(name)
        if path is not None:
            found.add(Path(path).resolve())
    return sorted(path for path in found if path.read_bytes()[:4] == b"\x7fELF")


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf not installed")
@pytest.mark.parametrize("binary", _system_binaries(), ids=str)
def test_section_names_offsets_and_sizes_match_readelf(binary: Path) -> None:
    listing = subprocess.run(["readelf", "-S", "-W", str(binary)], capture_output=True, text=True, check=True).stdout
    expected = [(name, int(offset, 16), int(size, 16)) for name, offset, size in re.findall(
        r"^\s*\[\s*\d+\]\s+(\S*)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", listing, re.M)]
    with binary.open("rb") as stream:
        elf = ElfFile(stream, DEFAULT_LIMITS)
        got = [(s.name.decode(), s.offset, s.size) for s in elf.sections][1:]  # readelf lists section 0 as NULL
        loads = [s for s in elf.segments if s.type == 1]
    assert got == expected[1:]
    assert loads, "an executable maps at least one PT_LOAD segment"


def test_section_content_and_virtual_reads() -> None:
    elf = open_bytes(build_elf([(".dep-v0", b"crates"), (".go.buildinfo", b"\xff Go buildinf:")]))
    assert elf.type == 2
    assert elf.section(b".dep-v0", 100) == b"crates"
    assert elf.section(b".missing", 100) is None
    with pytest.raises(ElfError, match="over the 3 byte limit"):
        elf.section(b".dep-v0", 3)
    offset = next(s.offset for s in elf.sections if s.name == b".dep-v0")
    assert elf.read_virtual(BASE + offset, 6) == b"crates"
    with pytest.raises(ElfError, match="not mapped"):
        elf.read_virtual(0xDEAD0000, 4)


def _be32_elf() -> bytes:
    """A 32-bit big-endian ELF with one named section and one PT_LOAD segment (as on MIPS or PowerPC)."""
    names = b"\0.dep-v0\0.shstrtab\0"
    content = b"payload!"
    ehsize, phsize, shsize = 52, 32, 40
    content_at = ehsize + phsize
    names_at = content_at + len(content)
    shoff = names_at + len(names)
    shoff += -shoff % 4
    header = b"\x7fELF" + bytes([1, 2, 1]) + bytes(9) + struct.pack(
        ">HHIIIIIHHHHHH", 2, 8, 1, 0x1000, ehsize, shoff, 0, ehsize, phsize, 1, shsize, 3, 2)
    program = struct.pack(">IIIIIIII", 1, 0, 0x10000, 0x10000, shoff, shoff, 5, 0x1000)
    body = header + program + content + names
    body += bytes(shoff - len(body))
    sections = [bytes(shsize),
                struct.pack(">IIIIIIIIII", 1, 1, 2, 0x10000 + content_at, content_at, len(content), 0, 0, 1, 0),
                struct.pack(">IIIIIIIIII", 9, 3, 0, 0, names_at, len(names), 0, 0, 1, 0)]
    return body + b"".join(sections)


def test_32_bit_big_endian() -> None:
    elf = open_bytes(_be32_elf())
    assert elf.section(b".dep-v0", 100) == b"payload!"
    [segment] = elf.segments
    assert (segment.type, segment.flags, segment.vaddr) == (1, 5, 0x10000)
    assert elf.read_virtual(0x10000 + 52 + 32, 8) == b"payload!"


def _patched(data: bytes, offset: int, layout: str, *values: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into(layout, patched, offset, *values)
    return bytes(patched)


_SHOFF, _PHOFF, _PHNUM, _SHNUM, _SHSTRNDX = 40, 32, 56, 60, 62


def _shoff(data: bytes) -> int:
    return int(struct.unpack_from("<Q", data, _SHOFF)[0])


def test_extended_numbering_reads_counts_from_section_zero() -> None:
    data = build_elf([(".dep-v0", b"x")])
    shnum, shstrndx = struct.unpack_from("<HH", data, _SHNUM)
    extended = _patched(data, _SHNUM, "<HH", 0, 0xFFFF)
    extended = _patched(extended, _shoff(data) + 32, "<QII", shnum, shstrndx, 1)  # sh_size, sh_link, sh_info
    extended = _patched(extended, _PHNUM, "<H", 0xFFFF)
    elf = open_bytes(extended)
    assert elf.section(b".dep-v0", 10) == b"x"
    assert len(elf.segments) == 1


@pytest.mark.parametrize(("patch", "message"), [
    (lambda d: d[:40], "run past the end"),  # header cut short
    (lambda d: b"\x7fELF\x03" + d[5:], "class 3"),
    (lambda d: b"\x7fELF\x02\x07" + d[6:], "data encoding 7"),
    (lambda d: b"\x7fELX" + d[4:], "not an ELF file"),
    (lambda d: _patched(d, _SHOFF, "<Q", 2**63), "run past the end"),
    (lambda d: _patched(d, _SHOFF, "<Q", len(d) - 10), "run past the end"),
    (lambda d: _patched(d, _SHSTRNDX, "<H", 200), "section-name table index 200"),
    (lambda d: _patched(d, 58, "<H", 16), "section header size 16"),
    # extended numbering claiming 2**32 - 1 sections: refused before anything is read
    (lambda d: _patched(_patched(d, _SHNUM, "<H", 0), _shoff(d) + 32, "<Q", 2**32 - 1), "cap max_elf_headers"),
    # the name table's size beyond the file
    (lambda d: _patched(d, _shoff(d) + 2 * 64 + 32, "<Q", 2**40), "max_elf_names"),
])
def test_hostile_section_tables_are_refused(patch: object, message: str) -> None:
    data = patch(build_elf([(".dep-v0", b"x")]))  # type: ignore[operator]
    with pytest.raises(ElfError, match=message):
        open_bytes(data).section(b".dep-v0", 100)


@pytest.mark.parametrize(("patch", "message"), [
    (lambda d: _patched(d, _PHOFF, "<Q", 2**63), "run past the end"),
    (lambda d: _patched(d, _PHNUM, "<H", 0xFFFE), "run past the end"),
    (lambda d: _patched(_patched(d, _PHNUM, "<H", 0xFFFF), _SHOFF, "<Q", 0), "without a section 0"),
])
def test_hostile_program_tables_are_refused(patch: object, message: str) -> None:
    data = patch(build_elf([(".dep-v0", b"x")]))  # type: ignore[operator]
    with pytest.raises(ElfError, match=message):
        _ = open_bytes(data).segments


def test_name_offsets_outside_the_name_table_give_empty_names() -> None:
    data = build_elf([(".dep-v0", b"x")])
    elf = open_bytes(_patched(data, _shoff(data) + 64, "<I", 0xFFFFFF))
    assert [s.name for s in elf.sections] == [b"", b"", b".shstrtab"]
    assert elf.section(b".dep-v0", 10) is None


def test_a_small_header_cap_is_named() -> None:
    with pytest.raises(ElfError, match="3 section headers, over 2"):
        _ = open_bytes(build_elf([(".dep-v0", b"x")]), CatalogLimits(max_elf_headers=2)).sections
