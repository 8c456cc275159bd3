"""The tar parser against the standard library's writer, in every header format it produces."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.errors import ImageError
from scanner.image.tarstream import Budget, LayerStream, SeekableBlocks, iter_members
from tests.image.builders import compress

FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}
names = st.text(st.sampled_from("abc/._-é"), min_size=1, max_size=40).filter(lambda n: n.strip("/") and n[-1] != "/")


def _archive(members: list[tuple[str, bytes]], tar_format: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _parse(data: bytes, compression: str = "none", read_data: bool = True) -> list[tuple[str, bytes]]:
    with LayerStream(io.BytesIO(compress(data, compression)), "test", Budget(1 << 30)) as stream:
        out = []
        for member in iter_members(stream, "test", 1 << 20):
            out.append((member.name.decode(), stream.read(member.size) if read_data else b""))
        stream.drain()
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(names, st.binary(max_size=1500)), max_size=8), st.sampled_from(sorted(FORMATS)),
       st.sampled_from(["none", "gzip", "zstd"]))
def test_round_trip_matches_tarfile(members: list[tuple[str, bytes]], format_name: str, compression: str) -> None:
    data = _archive(members, FORMATS[format_name])
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        expected = [(info.name, archive.extractfile(info).read())  # type: ignore[union-attr]
                    for info in archive.getmembers()]
    assert _parse(data, compression) == expected


@pytest.mark.parametrize("format_name", ["gnu", "pax"])
def test_long_names_and_link_names(format_name: str) -> None:
    long_name = "d/" * 80 + "file"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=FORMATS[format_name]) as archive:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "t/" * 70 + "target"
        archive.addfile(link)
        info = tarfile.TarInfo(long_name)
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    with LayerStream(io.BytesIO(buffer.getvalue()), "t", Budget(1 << 30)) as stream:
        members = list(iter_members(stream, "t", 1 << 20))
    assert members[0].linkname.decode() == "t/" * 70 + "target"
    assert members[1].name.decode() == long_name and members[1].size == 3


def test_ustar_prefix_field() -> None:
    name = "p" * 120 + "/name"
    data = _archive([(name, b"x")], tarfile.USTAR_FORMAT)
    assert _parse(data) == [(name, b"x")]


def test_base256_size_field() -> None:
    header = bytearray(tarfile.TarInfo("big").tobuf(tarfile.GNU_FORMAT))
    header[124:136] = b"\x80" + (5).to_bytes(11, "big")
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    data = bytes(header) + b"hello".ljust(512, b"\0") + bytes(1024)
    assert _parse(data) == [("big", b"hello")]


def test_seekable_outer_reader_skips_data() -> None:
    data = _archive([("a", b"1" * 3000), ("b", b"2")], tarfile.PAX_FORMAT)
    blocks = SeekableBlocks(io.BytesIO(data), len(data))
    members = list(iter_members(blocks, "outer", 1 << 20))
    assert [(m.name, m.size) for m in members] == [(b"a", 3000), (b"b", 1)]
    assert data[members[1].offset : members[1].offset + 1] == b"2"


def test_truncated_data_is_an_error() -> None:
    data = _archive([("a", b"x" * 5000)], tarfile.PAX_FORMAT)
    with pytest.raises(ImageError, match="truncated tar member 'a'"):
        _parse(data[:2048], read_data=False)


def test_garbage_header_is_an_error() -> None:
    data = bytearray(_archive([("a", b"x")], tarfile.PAX_FORMAT))
    data[10] ^= 0xFF
    with pytest.raises(ImageError, match="bad tar header checksum at offset 0"):
        _parse(bytes(data))
