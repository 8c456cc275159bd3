"""Raw tar headers built field by field, for archives `tarfile` cannot write (hostile and rare forms).

Every field of `header` takes bytes, stored as given (padded with NULs, never truncated silently),
or an int, stored as octal digits and a NUL the way Go and GNU tar write them.
"""

from __future__ import annotations

BLOCK = 512

# (offset, width) of the header fields; `prefix` is ustar's, star's is 131 bytes and GNU has none.
FIELDS = {
    "name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12),
    "mtime": (136, 12), "chksum": (148, 8), "typeflag": (156, 1), "linkname": (157, 100),
    "magic": (257, 6), "version": (263, 2), "uname": (265, 32), "gname": (297, 32),
    "devmajor": (329, 8), "devminor": (337, 8), "prefix": (345, 155),
    "atime": (345, 12), "ctime": (357, 12),  # GNU
    "star_prefix": (345, 131), "star_atime": (476, 12), "star_ctime": (488, 12), "trailer": (508, 4),  # star
    "realsize": (483, 12),  # old GNU sparse
}
USTAR = {"magic": b"ustar\0", "version": b"00"}
GNU = {"magic": b"ustar ", "version": b" \0"}
STAR = {"magic": b"ustar\0", "version": b"00", "trailer": b"tar\0"}
V7: dict[str, bytes] = {}


def octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def checksums(block: bytes | bytearray) -> tuple[int, int]:
    """(unsigned, signed) byte sums with the checksum field read as spaces."""
    data = bytes(block[:148]) + b" " * 8 + bytes(block[156:BLOCK])
    return sum(data), sum(b - 256 if b >= 128 else b for b in data)


def header(name: bytes = b"file", *, typeflag: bytes = b"0", size: int | bytes = 0, mode: int | bytes = 0o644,
           layout: dict[str, bytes] | None = None, checksum: int | bytes | str = "unsigned",
           **fields: int | bytes) -> bytes:
    """One 512-byte header block. `checksum` is "unsigned", "signed", a number or the raw field."""
    block = bytearray(BLOCK)
    chosen = USTAR if layout is None else layout
    values: dict[str, int | bytes] = {"uid": 0, "gid": 0, "mtime": 1_600_000_000, **chosen,
                                      "name": name, "typeflag": typeflag, "size": size, "mode": mode}
    if chosen is not V7:
        values.update(devmajor=0, devminor=0)
    values.update(fields)
    for key, value in values.items():
        offset, width = FIELDS[key]
        raw = octal(value, width) if isinstance(value, int) else value
        if len(raw) > width:
            raise ValueError(f"{key}: {len(raw)} bytes do not fit {width}")
        block[offset : offset + len(raw)] = raw
    if isinstance(checksum, bytes):  # raw field bytes; "%o" in them becomes the unsigned sum
        field = checksum.replace(b"%o", b"%o" % checksums(block)[0])
        if len(field) > 8:
            raise ValueError(f"checksum: {len(field)} bytes do not fit 8")
        block[148:156] = field.ljust(8, b"\0")
    else:
        unsigned, signed = checksums(block)
        number = {"unsigned": unsigned, "signed": signed}[checksum] if isinstance(checksum, str) else checksum
        block[148:156] = b"%06o\0 " % number
    return bytes(block)


def data(content: bytes) -> bytes:
    """Content padded to whole blocks."""
    return content + bytes(-len(content) % BLOCK)


def member(name: bytes, content: bytes = b"", **fields: int | bytes | dict[str, bytes] | str | None) -> bytes:
    size = fields.pop("size", len(content))
    return header(name, size=size, **fields) + data(content)  # type: ignore[arg-type]


def pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax(records: list[tuple[bytes, bytes]] | bytes, kind: bytes = b"x", name: bytes = b"PaxHeaders/x") -> bytes:
    """A pax extended ("x") or global ("g") header with its records."""
    payload = records if isinstance(records, bytes) else b"".join(pax_record(k, v) for k, v in records)
    return header(name, typeflag=kind, size=len(payload)) + data(payload)


def gnu_long(kind: bytes, payload: bytes) -> bytes:
    """A GNU long name ("L") or long link name ("K") header; the payload is stored as given."""
    return header(b"././@LongLink", typeflag=kind, size=len(payload), layout=GNU) + data(payload)


def archive(*parts: bytes, end: bytes = bytes(2 * BLOCK)) -> bytes:
    return b"".join(parts) + end
