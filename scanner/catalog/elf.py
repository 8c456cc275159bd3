"""The few parts of an ELF file the Go and Rust catalogers need, read with `struct` through seeks.

An image holds hundreds of executables and nearly all of them carry no Go or Rust build data, so
finding a section by name must cost a handful of small reads: the file header, the section header
table, and the section-name string table; the program header table only when asked for. Every offset
and size comes from the file and is checked against the file's length before it is read; the header
counts of extended numbering (`e_shnum` 0, `e_shstrndx` SHN_XINDEX, `e_phnum` PN_XNUM, whose real
values live in section 0) and the name table are capped (`CatalogLimits.max_elf_headers`,
`max_elf_names`). Anything malformed raises `ElfError`, which the catalogers turn into a warning.
"""

from __future__ import annotations

import struct
from typing import IO, NamedTuple

from scanner.catalog.limits import CatalogLimits

MAGIC = b"\x7fELF"
ET_EXEC, ET_DYN = 2, 3
PT_LOAD = 1
PF_W = 2
SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF
_PN_XNUM = 0xFFFF

# Per class (1: 32-bit, 2: 64-bit): the header after e_ident, a section header, a program header.
# Section header fields kept: name, type, offset, size, link, info. Program header: type, flags,
# offset, vaddr, filesz.
_FILE_HEADER = {1: "HHIIIIIHHHHHH", 2: "HHIQQQIHHHHHH"}
_SECTION_HEADER = {1: "II8xIIII8x", 2: "II16xQQII16x"}
_PROGRAM_HEADER = {1: "III4xI4xI4x", 2: "IIQQ8xQ16x"}
# Compiled once: a pass over an image's executables reads a few tables of each.
_STRUCTS = {order + layout: struct.Struct(order + layout) for order in "<>"
            for layouts in (_SECTION_HEADER, _PROGRAM_HEADER) for layout in layouts.values()}


class ElfError(ValueError):
    """The file is not ELF, or its headers are inconsistent with it (cut short, out of range, over a cap)."""


# Named tuples, not dataclasses: a tuple is built in a fraction of the time, and Go reads the program
# headers of every executable of an image.
class Section(NamedTuple):
    name: bytes
    type: int
    offset: int
    size: int


class Segment(NamedTuple):
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int


def _name_at(names: bytes, offset: int) -> bytes:
    """The NUL-terminated name at `offset` of a string table; b"" when none ends inside it."""
    end = names.find(b"\0", offset) if offset < len(names) else -1
    return names[offset:end] if end != -1 else b""


class ElfFile:
    """An ELF file's headers over a seekable binary stream; sections and segments read on first use."""

    def __init__(self, stream: IO[bytes], limits: CatalogLimits) -> None:
        self.stream = stream
        self.limits = limits
        self.size = stream.seek(0, 2)
        ident = self.read_at(0, 16)
        if ident[:4] != MAGIC:
            raise ElfError("not an ELF file")
        elf_class, data = ident[4], ident[5]
        if elf_class not in (1, 2) or data not in (1, 2):
            raise ElfError(f"ELF class {elf_class} / data encoding {data} not understood")
        self._order = "<" if data == 1 else ">"
        self._class = elf_class
        header = self._unpack(_FILE_HEADER[elf_class], 16)
        (self.type, _machine, _version, _entry, self._phoff, self._shoff, _flags, _ehsize,
         self._phentsize, self._phnum, self._shentsize, self._shnum, self._shstrndx) = header
        self._section_table: tuple[list[tuple[int, ...]], bytes] | None = None
        self._sections: tuple[Section, ...] | None = None
        self._segments: tuple[Segment, ...] | None = None

    def read_at(self, offset: int, size: int) -> bytes:
        """Exactly `size` bytes at `offset`; ElfError when they are not all inside the file."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfError(f"{size} bytes at offset {offset:#x} run past the end of the file ({self.size} bytes)")
        self.stream.seek(offset)
        data = self.stream.read(size)
        if len(data) != size:
            raise ElfError("file truncated")
        return data

    def _unpack(self, layout: str, offset: int) -> tuple[int, ...]:
        fmt = self._order + layout
        return struct.unpack(fmt, self.read_at(offset, struct.calcsize(fmt)))

    def _table(self, offset: int, count: int, entry_size: int, layout: str, what: str) -> list[tuple[int, ...]]:
        """`count` entries of `layout` at `offset`, `entry_size` bytes apart, read in one go."""
        fmt = _STRUCTS[self._order + layout]
        if count > self.limits.max_elf_headers:
            raise ElfError(f"{count} {what} headers, over {self.limits.max_elf_headers} (cap max_elf_headers)")
        if entry_size < fmt.size:
            raise ElfError(f"{what} header size {entry_size} is under {fmt.size}")
        table = self.read_at(offset, count * entry_size)
        if entry_size == fmt.size:
            return list(fmt.iter_unpack(table))
        return [fmt.unpack_from(table, index * entry_size) for index in range(count)]

    def _section_zero(self) -> tuple[int, ...]:
        """Section 0, where extended numbering keeps the real section count, name index and segment count."""
        return self._table(self._shoff, 1, self._shentsize, _SECTION_HEADER[self._class], "section")[0]

    @property
    def sections(self) -> tuple[Section, ...]:
        if self._sections is None:
            rows, names = self._sections_read()
            self._sections = tuple(Section(_name_at(names, name_offset), kind, offset, size)
                                   for name_offset, kind, offset, size, _, _ in rows)
        return self._sections

    def _sections_read(self) -> tuple[list[tuple[int, ...]], bytes]:
        """The section header rows and the section-name table, read once."""
        if self._section_table is None:
            self._section_table = self._read_section_table()
        return self._section_table

    def _read_section_table(self) -> tuple[list[tuple[int, ...]], bytes]:
        if self._shoff == 0:
            return [], b""
        count, names_index = self._shnum, self._shstrndx
        if count == 0 or names_index == _SHN_XINDEX:
            zero = self._section_zero()
            count = zero[3] if count == 0 else count
            names_index = zero[4] if names_index == _SHN_XINDEX else names_index
        rows = self._table(self._shoff, count, self._shentsize, _SECTION_HEADER[self._class], "section")
        if not rows:
            return [], b""
        if names_index >= len(rows):
            raise ElfError(f"section-name table index {names_index} is not among the {len(rows)} sections")
        _, names_type, names_offset, names_size, _, _ = rows[names_index]
        if names_type == SHT_NOBITS:
            names_size = 0
        if names_size > self.limits.max_elf_names:
            raise ElfError(f"section-name table of {names_size} bytes, over {self.limits.max_elf_names} "
                           "(cap max_elf_names)")
        return rows, self.read_at(names_offset, names_size)

    @property
    def segments(self) -> tuple[Segment, ...]:
        if self._segments is None:
            self._segments = self._read_segments()
        return self._segments

    def _read_segments(self) -> tuple[Segment, ...]:
        if self._phoff == 0:
            return ()
        count = self._phnum
        if count == _PN_XNUM:
            if self._shoff == 0:
                raise ElfError("extended program header count without a section 0")
            count = self._section_zero()[5]
        rows = self._table(self._phoff, count, self._phentsize, _PROGRAM_HEADER[self._class], "program")
        if self._class == 1:  # 32-bit: flags come after the sizes
            return tuple(Segment(kind, flags, offset, vaddr, filesz) for kind, offset, vaddr, filesz, flags in rows)
        return tuple(map(Segment._make, rows))

    def section(self, name: bytes, limit: int) -> bytes | None:
        """The content of the first section called `name`; None when there is none or it has no bytes
        in the file (SHT_NOBITS); ElfError when it is over `limit` bytes or not inside the file."""
        rows, names = self._sections_read()
        # Most files have no such section, and then the name table does not hold it either; where it does,
        # a name is built only where the table holds `name` at its offset.
        if name + b"\0" not in names:
            return None
        for name_offset, kind, offset, size, _, _ in rows:
            if names.startswith(name, name_offset) and _name_at(names, name_offset) == name:
                if kind == SHT_NOBITS:
                    return None
                if size > limit:
                    raise ElfError(f"section {name.decode('ascii', 'replace')} is {size} bytes, over the "
                                   f"{limit} byte limit")
                return self.read_at(offset, size)
        return None

    def read_virtual(self, address: int, size: int) -> bytes:
        """`size` bytes at a virtual address, through the PT_LOAD segment that maps it from the file."""
        for segment in self.segments:
            if segment.type == PT_LOAD and segment.vaddr <= address \
                    and address + size <= segment.vaddr + segment.filesz:
                return self.read_at(segment.offset + address - segment.vaddr, size)
        raise ElfError(f"address {address:#x} is not mapped from the file")
