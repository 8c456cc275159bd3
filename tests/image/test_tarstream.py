"""The tar parser: against the standard library's writer, and header by header against Go's reader rules.

Go's archive/tar reader is the specification (every container runtime unpacks with it); each rule
below is one of its behaviours, or a refusal where Go fails or the runtimes refuse the member.
tests/image/test_tar_differential.py checks the same against umoci itself.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.errors import ImageError
from scanner.image.decompress import Budget, LayerStream
from scanner.image.limits import Limits
from scanner.image.tarstream import SeekableBlocks, TarMember, iter_members, member_data
from tests.image.builders import compress
from tests.image.tarcraft import (
    BLOCK,
    GNU,
    STAR,
    V7,
    archive,
    data,
    gnu_long,
    header,
    member,
    pax,
    pax_record,
)
from tests.image.test_hostile import single_layer_archive

FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}
names = st.text(st.sampled_from("abc/._-é"), min_size=1, max_size=40).filter(lambda n: n.strip("/") and n[-1] != "/")
LIMITS = Limits()


def _archive(members: list[tuple[str, bytes]], tar_format: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive_file:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive_file.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _parse(raw: bytes, compression: str = "none", read_data: bool = True) -> list[tuple[str, bytes]]:
    with LayerStream(io.BytesIO(compress(raw, compression)), "test", Budget(1 << 30)) as stream:
        out = []
        for entry in iter_members(stream, "test", LIMITS):
            out.append((entry.name.decode(), stream.read(entry.size) if read_data else b""))
        stream.drain()
    return out


def members(raw: bytes, limits: Limits = LIMITS) -> list[tuple[TarMember, bytes]]:
    """Every member with its content (sparse holes filled), from a seekable reader."""
    blocks = SeekableBlocks(io.BytesIO(raw), len(raw))
    out = []
    for entry in iter_members(blocks, "t", limits):
        content = member_data(blocks, entry).read(entry.size) if entry.is_regular else b""
        out.append((entry, content))
    return out


def view(raw: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(name, typeflag, content or link target) of each member."""
    return [(entry.name, entry.type, content if entry.is_regular else entry.linkname)
            for entry, content in members(raw)]


def refused(raw: bytes, match: str, limits: Limits = LIMITS) -> None:
    with pytest.raises(ImageError, match=match) as error:
        members(raw, limits)
    assert "\n" not in str(error.value) and error.value.exit_code == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(names, st.binary(max_size=1500)), max_size=8), st.sampled_from(sorted(FORMATS)),
       st.sampled_from(["none", "gzip", "zstd"]))
def test_round_trip_matches_tarfile(entries: list[tuple[str, bytes]], format_name: str, compression: str) -> None:
    raw = _archive(entries, FORMATS[format_name])
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive_file:
        expected = [(info.name, archive_file.extractfile(info).read())  # type: ignore[union-attr]
                    for info in archive_file.getmembers()]
    assert _parse(raw, compression) == expected


@pytest.mark.parametrize("format_name", ["gnu", "pax"])
def test_long_names_and_link_names(format_name: str) -> None:
    long_name = "d/" * 80 + "file"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=FORMATS[format_name]) as archive_file:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "t/" * 70 + "target"
        archive_file.addfile(link)
        info = tarfile.TarInfo(long_name)
        info.size = 3
        archive_file.addfile(info, io.BytesIO(b"abc"))
    with LayerStream(io.BytesIO(buffer.getvalue()), "t", Budget(1 << 30)) as stream:
        found = list(iter_members(stream, "t", LIMITS))
    assert found[0].linkname.decode() == "t/" * 70 + "target"
    assert found[1].name.decode() == long_name and found[1].size == 3


def test_seekable_outer_reader_skips_data() -> None:
    raw = _archive([("a", b"1" * 3000), ("b", b"2")], tarfile.PAX_FORMAT)
    blocks = SeekableBlocks(io.BytesIO(raw), len(raw))
    found = list(iter_members(blocks, "outer", LIMITS))
    assert [(m.name, m.size) for m in found] == [(b"a", 3000), (b"b", 1)]
    assert raw[found[1].offset : found[1].offset + 1] == b"2"


# Names: which header field or record wins, and where the prefix field is.

@pytest.mark.parametrize("order", ["long name first", "pax first"])
def test_gnu_long_name_beats_pax_path_in_either_order(order: str) -> None:
    parts = [gnu_long(b"L", b"usr/gnu\0"), pax([(b"path", b"usr/pax"), (b"linkpath", b"pax-target")]),
             gnu_long(b"K", b"gnu-target\0")]
    raw = archive(*(parts if order == "long name first" else parts[::-1]),
                  header(b"header", typeflag=b"2", linkname=b"header-target"))
    assert view(raw) == [(b"usr/gnu", b"2", b"gnu-target")]


def test_an_empty_long_name_or_pax_value_keeps_the_header_field() -> None:
    raw = archive(gnu_long(b"L", b"\0garbage"), pax([(b"path", b""), (b"size", b"")]), member(b"kept", b"abc"))
    assert view(raw) == [(b"kept", b"0", b"abc")]


def test_the_last_long_name_and_the_last_pax_header_win_whole() -> None:
    # A second pax header replaces the first entirely: its `path` is gone, not merged.
    raw = archive(gnu_long(b"L", b"first\0"), gnu_long(b"L", b"second\0x"), pax([(b"path", b"from-pax")]),
                  pax([(b"mtime", b"1.5")]), member(b"m", b"abc"))
    assert view(raw) == [(b"second", b"0", b"abc")]
    raw = archive(pax([(b"path", b"from-pax")]), pax([(b"mtime", b"1")]), member(b"header", b"abc"))
    assert view(raw) == [(b"header", b"0", b"abc")]


def test_a_global_header_applies_to_nothing_and_ends_what_came_before() -> None:
    raw = archive(gnu_long(b"L", b"lost\0"), pax([(b"path", b"lost-too")]), pax([(b"path", b"g")], kind=b"g"),
                  member(b"m", b"abc"), pax([(b"size", b"2")], kind=b"g"), member(b"n", b"xyz"))
    assert view(raw) == [(b"m", b"0", b"abc"), (b"n", b"0", b"xyz")]


@pytest.mark.parametrize(("layout", "prefix_field", "expected"), [
    (None, "prefix", b"p" * 155 + b"/n"),  # ustar: 155 bytes
    (STAR, "star_prefix", b"p" * 131 + b"/n"),  # star ("tar\0" at 508): 131 bytes, then atime and ctime
    (V7, "prefix", b"n"),  # v7: no prefix at all
])
def test_prefix_field_per_format(layout: dict[str, bytes] | None, prefix_field: str, expected: bytes) -> None:
    width = 131 if layout is STAR else 155
    extra: dict[str, Any] = {prefix_field: b"p" * width}
    if layout is STAR:
        extra.update(star_atime=0, star_ctime=0)
    raw = archive(header(b"n", size=3, layout=layout, **extra), data(b"abc"))
    assert view(raw) == [(expected, b"0", b"abc")]


def test_star_prefix_running_into_atime_is_refused() -> None:
    raw = archive(header(b"n", size=3, layout=STAR, star_prefix=b"p" * 131, star_atime=b"p" * 12), data(b"abc"))
    refused(raw, "unreadable atime field")


def test_gnu_headers_have_a_prefix_only_where_atime_or_ctime_do_not_parse() -> None:
    valid_times = archive(header(b"n", size=3, layout=GNU, atime=0o1234, ctime=0o4321), data(b"abc"))
    assert view(valid_times) == [(b"n", b"0", b"abc")]
    old_go_writer = archive(header(b"n", size=3, layout=GNU, prefix=b"usr/lib"), data(b"abc"))
    assert view(old_go_writer) == [(b"usr/lib/n", b"0", b"abc")]
    not_ascii = archive(header(b"n", size=3, layout=GNU, prefix=b"\xe9t\xe9"), data(b"abc"))
    assert view(not_ascii) == [(b"n", b"0", b"abc")]


def test_gnu_magic_needs_its_version() -> None:
    # "ustar " with another version is v7 to Go: no device fields parsed, no prefix.
    raw = archive(header(b"n", size=3, layout={"magic": b"ustar ", "version": b"00"}, devmajor=b"zz",
                         prefix=b"pre"), data(b"abc"))
    assert view(raw) == [(b"n", b"0", b"abc")]


def test_fields_are_cut_at_their_first_nul() -> None:
    raw = archive(header(b"a\0hidden", typeflag=b"2", linkname=b"t\0rest"), gnu_long(b"L", b"long\0tail"),
                  member(b"x", b"1"))
    assert view(raw) == [(b"a", b"2", b"t"), (b"long", b"0", b"1")]


# Numeric fields: Go's parseNumeric and parseOctal, exactly.

@pytest.mark.parametrize("size_field", [
    b"\0\0\0" + b"00000005\0",  # leading NULs (a differential found in review)
    b"   00000005 ",  # leading and trailing spaces
    b"5",
    b"0000000005\0x",  # anything after a NUL
    b"\x80" + (5).to_bytes(11, "big"),  # base-256
])
def test_size_field_encodings(size_field: bytes) -> None:
    raw = archive(header(b"a", size=size_field), data(b"hello"), member(b"b", b"next"))
    assert view(raw) == [(b"a", b"0", b"hello"), (b"b", b"0", b"next")]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("size", b"0000 0005\0", "unreadable size"),  # a space inside the digits
    ("size", b"+0000005\0", "unreadable size"),
    ("size", b"0o000005\0", "unreadable size"),
    ("size", b"0000_0005\0", "unreadable size"),
    ("size", b"00000009\0", "unreadable size"),
    ("mode", b"\t0000644", "unreadable mode"),
    ("uid", b"x", "unreadable uid"),
    ("gid", b"-1", "unreadable gid"),
    ("mtime", b"\x80" + b"\xff" * 11, "unreadable mtime"),  # base-256 beyond int64
    ("devmajor", b"zz", "unreadable devmajor"),  # parsed for ustar, star and GNU
    ("size", b"\xff" * 12, "negative size"),  # base-256 -1
])
def test_numeric_fields_go_cannot_read_are_refused(field: str, value: bytes, message: str) -> None:
    fields: dict[str, Any] = {field: value}
    refused(archive(header(b"a", **fields)), message)


def test_negative_size_is_fine_where_there_is_no_data() -> None:
    raw = archive(header(b"l", typeflag=b"2", linkname=b"t", size=b"\xff" * 12), member(b"f", b"x"))
    assert view(raw) == [(b"l", b"2", b"t"), (b"f", b"0", b"x")]


def test_base256_values() -> None:
    raw = archive(header(b"a", size=3, mode=b"\x80" + (0o755).to_bytes(7, "big"), mtime=b"\xff" * 12), data(b"abc"))
    [(entry, content)] = members(raw)
    assert (entry.mode, content) == (0o755, b"abc")


def test_v7_headers_ignore_the_device_fields() -> None:
    raw = archive(header(b"a", size=1, layout=V7, devmajor=b"nonsense"), data(b"x"))
    assert view(raw) == [(b"a", b"0", b"x")]


@pytest.mark.parametrize("checksum", ["signed", b"  %o\0", b"\0%o ", b"%o\0x"])
def test_checksum_forms_go_accepts(checksum: str | bytes) -> None:
    raw = archive(header(b"\xe9t\xe9", size=1, checksum=checksum), data(b"x"))
    assert view(raw) == [(b"\xe9t\xe9", b"0", b"x")]


def test_checksum_congruent_modulo_65521_is_still_wrong() -> None:
    # adler32 checks the sum modulo 65521; the exact sum is what Go compares.
    block = header(b"a", size=1)
    wrong = int(block[148:156].strip(b" \0"), 8) + 65521
    refused(archive(header(b"a", size=1, checksum=wrong), data(b"x")), "bad tar header checksum")


def test_garbage_header_is_an_error() -> None:
    raw = bytearray(_archive([("a", b"x")], tarfile.PAX_FORMAT))
    raw[10] ^= 0xFF
    refused(bytes(raw), "bad tar header checksum at offset 0")


# Typeflags: Go's normalisation, and the ones the runtimes refuse to unpack.

def test_old_style_directory_has_no_data_so_what_follows_is_a_header() -> None:
    # "\0" with a trailing slash is a directory to Go: the 512 "data" bytes are the next header.
    raw = archive(header(b"d/", typeflag=b"\0", size=512), member(b"inside", b"seen"))
    assert view(raw) == [(b"d/", b"5", b""), (b"inside", b"0", b"seen")]


def test_regular_typeflag_with_trailing_slash_is_a_file() -> None:
    assert view(archive(member(b"f/", b"abc"), member(b"g", b"x", typeflag=b"\0"))) == [
        (b"f/", b"0", b"abc"), (b"g", b"0", b"x")]


@pytest.mark.parametrize("typeflag", [b"7", b"S", b"V", b"M", b"N", b"D", b"A", b"I", b"\xff"])
def test_typeflags_the_runtimes_refuse_are_refused(typeflag: bytes) -> None:
    layout = GNU if typeflag == b"S" else None
    refused(archive(member(b"a", b"abc", typeflag=typeflag, layout=layout)), "refuse to unpack")


def test_header_only_types_have_no_data_whatever_the_size_says() -> None:
    raw = archive(header(b"l", typeflag=b"2", linkname=b"t", size=512), member(b"after", b"x"))
    assert view(raw) == [(b"l", b"2", b"t"), (b"after", b"0", b"x")]


# End of the archive, as Go reads it.

def test_end_of_archive_forms() -> None:
    one = member(b"a", b"x")
    assert view(archive(one, end=b"")) == [(b"a", b"0", b"x")]
    assert view(archive(one, end=bytes(BLOCK))) == [(b"a", b"0", b"x")]  # one zero block, then EOF
    assert view(archive(one, end=bytes(2 * BLOCK) + b"garbage" * 100)) == [(b"a", b"0", b"x")]
    assert view(archive(header(b"a", size=5) + b"hello", end=b"")) == [(b"a", b"0", b"hello")]  # EOF in padding
    refused(archive(one, end=bytes(BLOCK) + member(b"b", b"y")), "zero block followed by a non-zero block")
    refused(archive(one, end=bytes(BLOCK) + b"x" * 100), "truncated tar header")


def test_truncated_data_is_an_error() -> None:
    raw = _archive([("a", b"x" * 5000)], tarfile.PAX_FORMAT)
    with pytest.raises(ImageError, match="truncated tar member 'a'"):
        _parse(raw[:2048], read_data=False)
    refused(archive(pax([(b"path", b"p")]), end=b"")[:BLOCK + 5], "truncated pax header")


# Pax records: Go's parsePAX and mergePAX.

def test_pax_size_and_records() -> None:
    raw = archive(pax([(b"size", b"+3"), (b"mtime", b"-1.5"), (b"uid", b"00012"), (b"comment", b"a\0b")]),
                  header(b"a", size=0), data(b"abc"))
    assert view(raw) == [(b"a", b"0", b"abc")]
    raw = archive(pax(b"0013 path=ab\n"), member(b"x", b"1"))  # leading zeros in the length
    assert view(raw) == [(b"ab", b"0", b"1")]
    raw = archive(pax(pax_record(b"path", b"abc") + pax_record(b"path", b"def")), member(b"x", b"1"))
    assert view(raw) == [(b"def", b"0", b"1")]


@pytest.mark.parametrize(("payload", "message"), [
    (b"\0" * 20, "malformed pax record length"),  # we used to stop at a NUL
    (b"12 path=abc\n\0", "malformed pax record length"),
    (b"11 path=abc\n", "does not end in a newline"),
    (b"13 path=abc\n", "malformed pax record length"),  # longer than what is left
    (b"4 =\n", "malformed pax record length"),  # under 5
    (b" 12 path=abc\n", "malformed pax record length"),
    (b"12 pathXabc\n", "malformed pax record"),
    (b"8 =abc\n", "malformed pax record"),
    (b"14 path=a\0bc\n", "malformed pax record"),  # NUL in a path
    (b"13 k\0y=value\n", "malformed pax record"),
    (pax_record(b"size", b"1_0"), "unreadable pax size"),
    (pax_record(b"size", b" 3"), "unreadable pax size"),
    (pax_record(b"size", b"-1"), "negative pax size"),
    (pax_record(b"uid", b"0x10"), "unreadable pax uid"),
    (pax_record(b"mtime", b"1.5e3"), "unreadable pax mtime"),
    (pax_record(b"atime", b".5"), "unreadable pax atime"),
    (pax_record(b"size", b"9223372036854775808"), "unreadable pax size"),
])
def test_pax_records_go_refuses(payload: bytes, message: str) -> None:
    refused(archive(pax(payload), member(b"a", b"abc")), message)


def test_pax_record_errors_in_a_global_header_are_refused_too() -> None:
    refused(archive(pax(b"9 bad\n", kind=b"g"), member(b"a", b"abc")), "malformed pax record")


# Sparse files: holes read as zeros, as Go's reader returns them.

SPARSE_MAP_0X1 = [(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"), (b"GNU.sparse.name", b"sparse"),
                  (b"GNU.sparse.realsize", b"10"), (b"GNU.sparse.numblocks", b"2"), (b"GNU.sparse.map", b"0,2,8,2")]
SPARSE_CONTENT = b"ab\0\0\0\0\0\0cd"


@pytest.mark.parametrize("records,stored", [
    (SPARSE_MAP_0X1, b"abcd"),
    ([(b"GNU.sparse.size", b"10"), (b"GNU.sparse.numblocks", b"2"), (b"GNU.sparse.offset", b"0"),
      (b"GNU.sparse.numbytes", b"2"), (b"GNU.sparse.offset", b"8"), (b"GNU.sparse.numbytes", b"2"),
      (b"GNU.sparse.name", b"sparse")], b"abcd"),  # 0.0
    ([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"), (b"GNU.sparse.name", b"sparse"),
      (b"GNU.sparse.realsize", b"10")], data(b"2\n0\n2\n8\n2\n") + b"abcd"),  # 1.0: the map is in the data
], ids=["0.1", "0.0", "1.0"])
def test_sparse_files_read_with_holes(records: list[tuple[bytes, bytes]], stored: bytes) -> None:
    raw = archive(pax(records), member(b"GNUSparseFile.0/sparse", stored), member(b"next", b"n"))
    assert view(raw) == [(b"sparse", b"0", SPARSE_CONTENT), (b"next", b"0", b"n")]


def test_sparse_content_through_a_layer_stream_in_small_reads() -> None:
    raw = archive(pax(SPARSE_MAP_0X1), member(b"s", b"abcd"), member(b"next", b"n"))
    with LayerStream(io.BytesIO(gzip.compress(raw)), "t", Budget(1 << 20)) as stream:
        found = iter_members(stream, "t", LIMITS)
        content = member_data(stream, next(found))
        pieces = [content.read(3) for _ in range(5)]
        following = next(found)
        assert following.name == b"next" and stream.read(following.size) == b"n"
        stream.drain()
    assert pieces == [b"ab\0", b"\0\0\0", b"\0\0c", b"d", b""]


def test_unknown_sparse_version_is_a_plain_file() -> None:
    raw = archive(pax([(b"GNU.sparse.major", b"2"), (b"GNU.sparse.map", b"0,1"), (b"GNU.sparse.name", b"n")]),
                  member(b"plain", b"abcd"))
    assert view(raw) == [(b"plain", b"0", b"abcd")]


@pytest.mark.parametrize(("records", "stored", "message"), [
    ([*SPARSE_MAP_0X1[:-1], (b"GNU.sparse.map", b"0,2,8,3")], b"abcd", "beyond the file's size"),
    ([*SPARSE_MAP_0X1[:-1], (b"GNU.sparse.map", b"8,2,0,2")], b"abcd", "out of order"),
    (SPARSE_MAP_0X1, b"abcde", "covers 4 bytes but 5 are stored"),  # Go: errUnrefData while reading
    (SPARSE_MAP_0X1, b"abc", "covers 4 bytes but 3 are stored"),  # Go: errMissData
    ([*SPARSE_MAP_0X1[:-2], (b"GNU.sparse.numblocks", b"3"), SPARSE_MAP_0X1[-1]], b"abcd", "numblocks"),
    ([*SPARSE_MAP_0X1[:3], (b"GNU.sparse.realsize", b"x10"), *SPARSE_MAP_0X1[4:]], b"abcd", "sparse size"),
    ([*SPARSE_MAP_0X1[:2], (b"GNU.sparse.name", b"a\0b"), *SPARSE_MAP_0X1[3:]], b"abcd", "NUL"),
    ([(b"GNU.sparse.offset", b"0"), (b"GNU.sparse.offset", b"1")], b"", "sparse 0.0 records"),
    ([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0")], b"1\n0\n", "truncated GNU sparse map"),
])
def test_sparse_maps_go_fails_on_are_refused(records: list[tuple[bytes, bytes]], stored: bytes,
                                             message: str) -> None:
    refused(archive(pax(records), member(b"s", stored)), message)


def test_sparse_records_on_a_member_without_data_are_refused() -> None:
    refused(archive(pax(SPARSE_MAP_0X1), header(b"l", typeflag=b"2", linkname=b"t")), "holds no data")


# Caps (limits.py): each refusal names its cap.

def test_caps_name_themselves() -> None:
    refused(archive(pax([(b"path", b"p" * 5000)]), member(b"a")), r"5000 bytes .* 4096-byte cap \(max_path_length\)")
    refused(archive(gnu_long(b"L", b"d/" + b"n" * 256 + b"\0"), member(b"a")), "component over 255 bytes")
    refused(archive(gnu_long(b"K", b"t" * 300 + b"\0"), header(b"l", typeflag=b"2")),
            r"max_path_length", Limits(max_path_length=256))
    refused(archive(pax(b"".join(pax_record(b"k%d" % n, b"v") for n in range(11))), member(b"a")),
            r"more than 10 records \(cap max_pax_records\)", Limits(max_pax_records=10))
    refused(archive(*[pax([(b"mtime", b"1")])] * 4, member(b"a")), r"more than 3 .* \(cap max_meta_headers\)",
            Limits(max_meta_headers=3))
    refused(archive(gnu_long(b"L", b"a" * 600 + b"\0"), gnu_long(b"L", b"b" * 600 + b"\0"), member(b"a")),
            r"more than 1000 bytes .* \(cap max_meta_bytes\)", Limits(max_meta_bytes=1000))
    refused(archive(pax([(b"comment", b"x" * 2000)]), member(b"a")), r"exceeds the 1024-byte cap \(max_header_size\)",
            Limits(max_header_size=1024))
    refused(archive(pax([(b"comment", b"x" * (1 << 20))]), member(b"a")), "Go archive/tar's limit",
            Limits(max_header_size=1 << 30))
    refused(archive(pax(SPARSE_MAP_0X1), member(b"s", b"abcd")), r"more than 1 fragments \(cap max_sparse_fragments\)",
            Limits(max_sparse_fragments=1))


def test_meta_header_caps_count_per_member() -> None:
    limits = Limits(max_meta_headers=2)
    raw = archive(*[pax([(b"mtime", b"1")]), member(b"a")] * 10)
    assert len(members(raw, limits)) == 10


# Bounded by design: the bombs from the security review, in a subprocess for an honest peak RSS.

_BOMB_READER = """
import sys, time
from pathlib import Path
from scanner.errors import ImageError
from scanner.image import Limits, open_image
from tests.peak_memory import peak_rss_kib
limits = Limits(**eval(sys.argv[2]))
start = time.monotonic()
try:
    with open_image(Path(sys.argv[1]), limits=limits) as image:
        print("read", len(list(image.filesystem.entries())))
except ImageError as error:
    print("refused", error)
print(time.monotonic() - start)
print(peak_rss_kib())
"""


def _bomb_image(tmp_path: Path, unit: bytes, repeat: int, tail: bytes) -> Path:
    """A docker archive with one gzip layer: `unit` `repeat` times, then `tail` and the end blocks.

    The layer is concatenated gzip members (one stream to gzip readers, Go's included), so that
    building it compresses `unit` once.
    """
    end = tail + bytes(2 * BLOCK)
    blob = gzip.compress(unit, 1, mtime=0) * repeat + gzip.compress(end, mtime=0)
    digest = hashlib.sha256()
    for _ in range(repeat):
        digest.update(unit)
    digest.update(end)
    return single_layer_archive(tmp_path / "bomb.tar", blob, diff_id="sha256:" + digest.hexdigest())


def _read_bomb(path: Path, limits: str = "{}") -> tuple[str, float, int]:
    result = subprocess.run([sys.executable, "-c", _BOMB_READER, str(path), limits], capture_output=True, text=True,
                            check=True, timeout=120, cwd=Path(__file__).parents[2])
    outcome, seconds, peak_kib = result.stdout.strip().splitlines()
    return outcome, float(seconds), int(peak_kib) // 1024


def test_bomb_of_long_gnu_names_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    # 512 members each named by a 1 MiB GNU long name: 2.6 GiB peak before the path cap.
    unit = gnu_long(b"L", b"n" * ((1 << 20) - 1) + b"\0") + member(b"f", b"x")
    path = _bomb_image(tmp_path, unit, 512, b"")
    assert path.stat().st_size < 4 * 1024 * 1024
    outcome, seconds, peak_mib = _read_bomb(path)
    assert outcome.startswith("refused") and "max_path_length" in outcome
    assert peak_mib < 200 and seconds < 30, (peak_mib, seconds)


@pytest.mark.parametrize("limits", ["{}", "{'max_meta_headers': 10**9, 'max_meta_bytes': 10**12}"],
                         ids=["capped", "caps lifted"])
def test_bomb_of_consecutive_pax_headers_stays_bounded(tmp_path: Path, limits: str) -> None:
    # Thousands of pax headers before one member: refused at the cap; with the caps lifted each one
    # replaces the last (as in Go), so memory stays bounded all the same.
    unit = pax([(b"path", b"p/" * 450), (b"comment", b"c" * 3000)])
    path = _bomb_image(tmp_path, unit * 100, 200, member(b"f", b"x"))  # 20,000 headers, then a member
    outcome, seconds, peak_mib = _read_bomb(path, limits)
    if limits == "{}":
        assert outcome.startswith("refused") and "max_meta_headers" in outcome
    else:
        assert outcome == "read 1"
    assert peak_mib < 200 and seconds < 60, (peak_mib, seconds)
