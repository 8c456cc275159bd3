from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog import catalog_filesystem
from scanner.catalog.rpm import RpmCataloger, bdb, ndb, split_source_rpm, sqlite
from scanner.catalog.rpm.errors import DatabaseFormatError
from scanner.catalog.rpm.header import HeaderError, parse_header
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Distro

from .conftest import OSDB

ELDK = OSDB / "rpm-bdb" / "eldk-3.0" / "Packages"
SLE = OSDB / "rpm-ndb" / "sle15-bci" / "Packages.db"
MARINER = OSDB / "rpm-sqlite" / "cbl-mariner-2.0" / "rpmdb.sqlite"

STRING, STRING_ARRAY, INT32 = 6, 8, 4


def make_header(entries: list[tuple[int, int, bytes, int]]) -> bytes:
    """A header blob from (tag, type, data, count); data is laid out in order."""
    index, data = b"", b""
    for tag, kind, payload, count in entries:
        index += struct.pack(">IIII", tag, kind, len(data), count)
        data += payload
    return struct.pack(">II", len(entries), len(data)) + index + data


def _basic(extra: list[tuple[int, int, bytes, int]] | None = None) -> list[tuple[int, int, bytes, int]]:
    return [(1000, STRING, b"zlib\0", 1), (1001, STRING, b"1.2.11\0", 1), (1002, STRING, b"40.el9\0", 1),
            (1022, STRING, b"x86_64\0", 1), (1044, STRING, b"zlib-1.2.11-40.el9.src.rpm\0", 1), *(extra or [])]


def test_header_with_epoch_and_files() -> None:
    header = parse_header(make_header(_basic([
        (1003, INT32, struct.pack(">i", 1), 1),
        (1118, STRING_ARRAY, b"/usr/lib64/\0/usr/share/doc/zlib/\0", 2),
        (1117, STRING_ARRAY, b"libz.so.1\0README\0", 2),
        (1116, INT32, struct.pack(">2i", 0, 1), 2),
    ])))
    assert header.evr == "1:1.2.11-40.el9"
    assert header.files == ("/usr/lib64/libz.so.1", "/usr/share/doc/zlib/README")


@pytest.mark.parametrize(("blob", "message"), [
    (b"\0\0", "shorter than its preamble"),
    (struct.pack(">II", 0x10000, 0), "index entry count"),
    (struct.pack(">II", 1, 0x10000000), "data size"),
    (struct.pack(">II", 1000, 10), "declares"),
    (make_header([(1000, STRING, b"zlib", 1)]), "unterminated"),
    (make_header([(1000, STRING, b"x\0", 1), (1117, STRING_ARRAY, b"a\0", 0xFFFFFFFF)]), "does not fit"),
    (make_header([(1000, STRING, b"x\0", 1), (1116, INT32, b"\0\0\0\0", 0x40000000)]), "does not fit"),
    (make_header([(1001, STRING, b"1\0", 1)]), "no NAME"),
    (make_header([(1000, STRING, b"x\0", 1), (1118, STRING_ARRAY, b"/\0", 1), (1117, STRING_ARRAY, b"a\0", 1),
                  (1116, INT32, struct.pack(">i", 7), 1)]), "outside"),
    (make_header([(1000, STRING, b"x\0", 1), (1117, STRING_ARRAY, b"a\0b\0", 2),
                  (1116, INT32, struct.pack(">i", 0), 1)]), "DIRINDEXES"),
])
def test_hostile_headers_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        parse_header(blob)


def test_offset_beyond_data_is_refused() -> None:
    blob = bytearray(make_header(_basic()))
    struct.pack_into(">I", blob, 8 + 8, 0x7FFFFFFF)  # first entry's offset
    with pytest.raises(HeaderError, match="beyond data size"):
        parse_header(bytes(blob))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_header_bytes_raise_only_header_error(data: bytes) -> None:
    with contextlib.suppress(HeaderError):
        parse_header(data)


def test_split_source_rpm() -> None:
    assert split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm") == ("util-linux", "2.32.1-42.el8_8")
    assert split_source_rpm("foo-1-2.nosrc.rpm") == ("foo", "1-2")
    assert split_source_rpm("(none)") == ("", "")
    assert split_source_rpm("broken.src.rpm") == ("", "")


def _catalog(path: str, data: bytes, distro_files: dict[str, bytes] | None = None) -> tuple[list[str], list[str]]:
    fs = MemoryFilesystem(files={path: data, **(distro_files or {})})
    catalog = catalog_filesystem(fs, [RpmCataloger()])
    return [p.name for p in catalog.packages], list(catalog.warnings)


def _pages(data: bytes, *page_types: int) -> list[int]:
    return [number for number in range(1, len(data) // 4096) if data[number * 4096 + 25] in page_types]


def test_bdb_truncated_file_keeps_what_is_readable() -> None:
    data = ELDK.read_bytes()
    names, warnings = _catalog("var/lib/rpm/Packages", data[: len(data) // 2])
    assert 0 < len(names) < 132
    assert warnings and all("var/lib/rpm/Packages" in warning for warning in warnings)
    assert any("points past the file" in warning for warning in warnings)


def test_bdb_overflow_loop_is_detected() -> None:
    data = bytearray(ELDK.read_bytes())
    chained = next(n for n in _pages(bytes(data), 7) if struct.unpack_from("<I", data, n * 4096 + 16)[0])
    struct.pack_into("<I", data, chained * 4096 + 16, chained)  # next page: itself
    names, warnings = _catalog("var/lib/rpm/Packages", bytes(data))
    assert len(names) == 131
    assert len(warnings) == 1 and f"loops at page {chained}" in warnings[0]


def test_bdb_page_with_bogus_entry_count_is_skipped_and_named() -> None:
    data = bytearray(ELDK.read_bytes())
    page = _pages(bytes(data), 2, 13)[0]  # hash page, unsorted (DB 4.0) or sorted
    struct.pack_into("<H", data, page * 4096 + 20, 0xFFFF)
    names, warnings = _catalog("var/lib/rpm/Packages", bytes(data))
    assert 0 < len(names) < 132
    assert warnings == [f"rpm: var/lib/rpm/Packages: page {page} skipped: 65535 entries do not fit the page"]


def test_bdb_not_a_database() -> None:
    names, warnings = _catalog("var/lib/rpm/Packages", b"\0" * 8192)
    assert names == []
    assert warnings == ["rpm: var/lib/rpm/Packages: not read: not a Berkeley DB hash database (magic mismatch)"]
    with pytest.raises(DatabaseFormatError):
        bdb.read_values(b"short", [], "x")


def test_bdb_big_endian_metadata_is_understood() -> None:
    with pytest.raises(DatabaseFormatError, match="page size"):
        bdb.read_values(b"\0" * 12 + struct.pack(">II", bdb.HASH_MAGIC, 9) + struct.pack(">I", 3) + b"\0" * 600,
                        [], "x")


def test_ndb_corrupt_slot_and_blob_are_skipped_and_named() -> None:
    data = bytearray(SLE.read_bytes())
    data[32:36] = b"XXXX"  # first slot's magic
    first_used = next(offset for offset in range(48, 4096, 16) if struct.unpack_from("<I", data, offset + 4)[0])
    block = struct.unpack_from("<I", data, first_used + 8)[0] * 16
    data[block:block + 4] = b"XXXX"
    names, warnings = _catalog("usr/lib/sysimage/rpm/Packages.db", bytes(data))
    assert len(names) == 33
    assert any("slot 0 skipped: bad slot magic" in warning for warning in warnings)
    assert any("blob header does not match its slot" in warning for warning in warnings)


def test_ndb_refuses_other_files() -> None:
    for data, message in ((b"RpmP", "too short"), (b"XXXX" + b"\0" * 60, "magic"),
                          (b"RpmP" + struct.pack("<III", 0, 0, 99) + b"\0" * 60, "slot pages")):
        with pytest.raises(DatabaseFormatError, match=message):
            ndb.read_blobs(data, [], "x")


def test_sqlite_refuses_other_files() -> None:
    with pytest.raises(DatabaseFormatError, match="magic"):
        sqlite.read_blobs(b"not sqlite", [], "x")
    damaged = bytearray(MARINER.read_bytes())
    damaged[100:] = b"\xff" * (len(damaged) - 100)
    names, warnings = _catalog("var/lib/rpm/rpmdb.sqlite", bytes(damaged))
    assert names == [] and warnings[0].startswith("rpm: var/lib/rpm/rpmdb.sqlite: not read: unreadable:")


@pytest.mark.parametrize("schema", [
    # Rows without end: reading this view would never return (and would fill memory).
    "CREATE VIEW Packages AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
    "SELECT x AS hnum, zeroblob(8) AS blob FROM n",
    "CREATE TABLE Other (hnum INTEGER, blob BLOB)",
])
def test_sqlite_reads_only_a_plain_packages_table(tmp_path: Path, schema: str) -> None:
    path = tmp_path / "rpmdb.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(schema)
        connection.commit()
    with pytest.raises(DatabaseFormatError, match="no plain Packages table"):
        sqlite.read_blobs(path.read_bytes(), [], "x")


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=20))
def test_random_damage_to_real_databases_never_crashes(damage: list[tuple[int, int]]) -> None:
    for path, source in (("var/lib/rpm/Packages", ELDK), ("usr/lib/sysimage/rpm/Packages.db", SLE)):
        data = bytearray(source.read_bytes())
        for position, value in damage:
            data[position % len(data)] = value
        _catalog(path, bytes(data))


def test_purl_namespace_epoch_and_upstream() -> None:
    blob = make_header(_basic([(1003, INT32, struct.pack(">i", 2), 1), (1011, STRING, b"Rocky Enterprise\0", 1)]))
    data = MemoryFilesystem(files={"etc/os-release": b'ID="rocky"\nVERSION_ID="9.3"\n'})
    (package,) = RpmCataloger()._packages(data, Distro("rocky", "9.3"), "var/lib/rpm/rpmdb.sqlite",
                                           iter([blob]), []).packages
    assert package.version == "2:1.2.11-40.el9"
    assert package.ecosystem == "Rocky Linux:9"
    assert package.source_name == "" and package.source_version == ""
    assert package.purl == ("pkg:rpm/rocky/zlib@1.2.11-40.el9?arch=x86_64&distro=rocky-9.3&epoch=2"
                            "&upstream=zlib-1.2.11-40.el9.src.rpm")


SPEC = """Name: {name}
Version: {version}
Release: 3
{epoch}
Summary: a test package
License: {license}
BuildArch: noarch
Vendor: Example
%description
test
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo hi > %{{buildroot}}/usr/share/{name}/data.txt
%files
/usr/share/{name}/data.txt
"""


def _rpm_tools() -> bool:
    present = shutil.which("rpmbuild") is not None and shutil.which("rpm") is not None
    if not present and os.environ.get("CI") == "true":
        pytest.fail("rpm and rpmbuild must be installed in CI (.ci/run)")
    return present


@pytest.mark.tools
def test_database_made_by_rpm_itself(tmp_path: Path) -> None:
    if not _rpm_tools():
        pytest.skip("rpmbuild not installed")
    top = tmp_path / "top"
    packages = [("air-one", "1.0", "Epoch: 3", "MIT"), ("air-two", "2.5", "", "GPL-2.0-or-later")]
    for name, version, epoch, license_text in packages:
        spec = tmp_path / f"{name}.spec"
        spec.write_text(SPEC.format(name=name, version=version, epoch=epoch, license=license_text))
        subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)], check=True,
                       capture_output=True)
    dbpath = tmp_path / "root" / "var" / "lib" / "rpm"
    dbpath.mkdir(parents=True)
    subprocess.run(["rpm", "--dbpath", str(dbpath), "--initdb"], check=True, capture_output=True)
    subprocess.run(["rpm", "--dbpath", str(dbpath), "-i", "--nodeps", "--justdb",
                    *map(str, sorted((top / "RPMS" / "noarch").glob("*.rpm")))], check=True, capture_output=True)
    expected = subprocess.run(["rpm", "--dbpath", str(dbpath), "-qa", "--qf",
                               "%{NAME} %{EPOCH} %{VERSION}-%{RELEASE} %{LICENSE}\n"],
                              check=True, capture_output=True, text=True).stdout.split("\n")
    files = {f"var/lib/rpm/{path.name}": path.read_bytes() for path in dbpath.iterdir() if path.is_file()}
    catalog = catalog_filesystem(MemoryFilesystem(files=files), [RpmCataloger()])
    found = sorted(f"{p.name} {p.version.split(':')[0] if ':' in p.version else '(none)'} "
                   f"{p.version.split(':')[-1]} {p.licenses[0]}" for p in catalog.packages)
    assert found == sorted(line for line in expected if line)
    assert catalog.warnings == ()
    result = RpmCataloger().catalog(MemoryFilesystem(files=files), None)
    assert result.owned_paths["usr/share/air-one/data.txt"] == "air-one"


def test_sqlite_write_ahead_log_left_in_the_image_is_replayed(tmp_path: Path) -> None:
    database = tmp_path / "rpmdb.sqlite"
    database.write_bytes(MARINER.read_bytes())
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        blob = connection.execute("SELECT blob FROM Packages ORDER BY hnum LIMIT 1").fetchone()[0]
        header = bytearray(blob)
        name = parse_header(blob).name
        header[header.index(name.encode() + b"\0")] = ord("z")  # a 130th package, only in the log
        connection.execute("INSERT INTO Packages (hnum, blob) VALUES (9999, ?)", (bytes(header),))
        connection.commit()
        files = {"var/lib/rpm/rpmdb.sqlite": database.read_bytes(),
                 "var/lib/rpm/rpmdb.sqlite-wal": Path(f"{database}-wal").read_bytes()}
    finally:
        connection.close()
    assert files["var/lib/rpm/rpmdb.sqlite-wal"]
    catalog = catalog_filesystem(MemoryFilesystem(files=files), [RpmCataloger()])
    assert len(catalog.packages) == 130 and "z" + name[1:] in {p.name for p in catalog.packages}
    without_log = catalog_filesystem(MemoryFilesystem(files={"var/lib/rpm/rpmdb.sqlite": files[
        "var/lib/rpm/rpmdb.sqlite"]}), [RpmCataloger()])
    assert len(without_log.packages) == 129
