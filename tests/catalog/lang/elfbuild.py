"""Minimal ELF64 little-endian executables, built byte by byte for Go and Rust cataloger tests.

One PT_LOAD segment maps the whole file at BASE, so a section at file offset `o` lives at BASE + o.
"""

from __future__ import annotations

import struct

BASE = 0x400000
ET_EXEC, ET_DYN, ET_REL = 2, 3, 1
_EHDR, _PHDR, _SHDR = 64, 56, 64
DATA_OFFSET = 0x1000


def _align(value: int, to: int = 16) -> int:
    return (value + to - 1) // to * to


def build_elf(sections: list[tuple[str, bytes]], *, e_type: int = ET_EXEC, section_table: bool = True) -> bytes:
    """An ELF file whose named sections hold the given bytes, laid out from DATA_OFFSET in order."""
    body = bytearray(DATA_OFFSET)
    placed: list[tuple[str, int, int]] = []
    for name, content in sections:
        offset = _align(len(body))
        body.extend(b"\0" * (offset - len(body)))
        placed.append((name, offset, len(content)))
        body.extend(content)
    names = b"\0" + b"".join(name.encode() + b"\0" for name, _ in sections) + b".shstrtab\0"
    strtab_offset = _align(len(body))
    body.extend(b"\0" * (strtab_offset - len(body)))
    body.extend(names)
    shoff = _align(len(body), 8)
    body.extend(b"\0" * (shoff - len(body)))
    headers = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    name_at = 1
    for name, offset, size in placed:
        headers.append(struct.pack("<IIQQQQIIQQ", name_at, 1, 3, BASE + offset, offset, size, 0, 0, 16, 0))
        name_at += len(name) + 1
    headers.append(struct.pack("<IIQQQQIIQQ", name_at, 3, 0, 0, strtab_offset, len(names), 0, 0, 1, 0))
    if section_table:
        body.extend(b"".join(headers))
    shnum = len(headers) if section_table else 0
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", e_type, 0x3E, 1, BASE + DATA_OFFSET, _EHDR,
                               shoff if section_table else 0, 0, _EHDR, _PHDR, 1, _SHDR, shnum,
                               shnum - 1 if section_table else 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 6, 0, BASE, BASE, len(body), len(body), 0x1000)
    body[0:_EHDR + _PHDR] = ehdr + phdr
    return bytes(body)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


SENTINEL_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
SENTINEL_END = bytes.fromhex("f932433186182072008242104116d8f2")


def go_inline_buildinfo(version: str, modinfo: str) -> bytes:
    """The Go >= 1.18 `.go.buildinfo` blob: header, then varint-prefixed version and module info."""
    wrapped = SENTINEL_START + modinfo.encode() + SENTINEL_END
    header = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    return header + _varint(len(version)) + version.encode() + _varint(len(wrapped)) + wrapped


def go_pointer_elf(version: str, modinfo: str, *, section_table: bool = True) -> bytes:
    """A Go < 1.18 executable: `.go.buildinfo` holds pointers to string headers in `.data`."""
    wrapped = SENTINEL_START + modinfo.encode() + SENTINEL_END
    data_address = BASE + DATA_OFFSET  # .data is placed first
    version_at, modinfo_at = data_address + 32, data_address + 32 + len(version)
    data = struct.pack("<QQQQ", version_at, len(version), modinfo_at, len(wrapped)) + version.encode() + wrapped
    blob = b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", data_address, data_address + 16)
    return build_elf([(".data", data), (".go.buildinfo", blob)], section_table=section_table)
