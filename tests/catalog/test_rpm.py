from __future__ import annotations

import contextlib
import io
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
from scanner.catalog.base import Findings
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.rpm import BlobReader, RpmCataloger, bdb, ndb, split_source_rpm, sqlite
from scanner.catalog.rpm.errors import DatabaseFormatError
from scanner.catalog.rpm.header import HeaderError, _strings, parse_header
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Distro

from .conftest import OSDB

ELDK = OSDB / "rpm-bdb" / "eldk-3.0" / "Packages"
SLE = OSDB / "rpm-ndb" / "sle15-bci" / "Packages.db"
MARINER = OSDB / "rpm-sqlite" / "cbl-mariner-2.0" / "rpmdb.sqlite"
POKY = OSDB / "rpm-bdb" / "poky-1.7.1" / "Packages"  # rpm5: a btree

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


# Random bytes almost never pass the preamble's counts, so they reach its checks only; a real-shaped
# header (strings, an INT32, a file list) with a few bytes changed and its end cut reaches every tag.
_FILE_TAGS = [(1003, INT32, struct.pack(">i", 1), 1), (1118, STRING_ARRAY, b"/usr/\0/etc/\0", 2),
              (1117, STRING_ARRAY, b"a\0b\0", 2), (1116, INT32, struct.pack(">2i", 0, 1), 2)]
_HEADER = make_header(_basic(_FILE_TAGS))


def _damaged_header(damage: list[tuple[int, int]], length: int) -> bytes:
    data = bytearray(_HEADER)
    for position, value in damage:
        data[position] = value
    return bytes(data[:length])


_DAMAGED_HEADERS = st.builds(_damaged_header, st.lists(st.tuples(st.integers(0, len(_HEADER) - 1),
                                                                 st.integers(0, 255)), max_size=4),
                             st.integers(0, len(_HEADER)))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), _DAMAGED_HEADERS))
def test_random_header_bytes_raise_only_header_error(data: bytes) -> None:
    with contextlib.suppress(HeaderError):
        parse_header(data)


def test_split_source_rpm() -> None:
    assert split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm") == ("util-linux", "2.32.1-42.el8_8")
    assert split_source_rpm("foo-1-2.nosrc.rpm") == ("foo", "1-2")
    assert split_source_rpm("(none)") == ("", "")
    assert split_source_rpm("broken.src.rpm") == ("", "")


def _read(reader: BlobReader, data: bytes) -> list[bytes]:
    return list(reader(io.BytesIO(data), len(data), "x", DEFAULT_LIMITS, print))


def _catalog(path: str, data: bytes) -> tuple[list[str], list[str]]:
    """The cataloger called directly: an exception it does not handle fails the test (catalog_filesystem
    would turn it into a warning)."""
    result = RpmCataloger().catalog(MemoryFilesystem(files={path: data}), None)
    return [p.name for p in result.packages], [f"rpm: {warning}" for warning in result.warnings]


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
    assert warnings == ["rpm: var/lib/rpm/Packages: not read: not a Berkeley DB hash or btree database "
                        "(magic mismatch)"]
    with pytest.raises(DatabaseFormatError):
        _read(bdb.read_values, b"short")


def test_bdb_big_endian_metadata_is_understood() -> None:
    with pytest.raises(DatabaseFormatError, match="page size"):
        _read(bdb.read_values, b"\0" * 12 + struct.pack(">II", bdb.HASH_MAGIC, 9) + struct.pack(">I", 3) + b"\0" * 600)


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
            _read(ndb.read_blobs, data)


def test_sqlite_refuses_other_files() -> None:
    with pytest.raises(DatabaseFormatError, match="magic"):
        sqlite.read_blobs(io.BytesIO(b"not sqlite"), "x", DEFAULT_LIMITS, print)
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
        sqlite.read_blobs(io.BytesIO(path.read_bytes()), "x", DEFAULT_LIMITS, print)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=20))
def test_random_damage_to_real_databases_never_crashes(damage: list[tuple[int, int]]) -> None:
    for path, source in (("var/lib/rpm/Packages", ELDK), ("usr/lib/sysimage/rpm/Packages.db", SLE),
                         ("var/lib/rpm/rpmdb.sqlite", MARINER), ("var/lib/rpm/Packages", POKY)):
        data = bytearray(source.read_bytes())
        for position, value in damage:
            data[position % len(data)] = value
        _catalog(path, bytes(data))


def test_purl_namespace_epoch_and_upstream() -> None:
    blob = make_header(_basic([(1003, INT32, struct.pack(">i", 2), 1), (1011, STRING, b"Rocky Enterprise\0", 1)]))
    data = MemoryFilesystem(files={"etc/os-release": b'ID="rocky"\nVERSION_ID="9.3"\n'})
    findings = Findings(DEFAULT_LIMITS)
    RpmCataloger()._packages(data, Distro("rocky", "9.3"), "var/lib/rpm/rpmdb.sqlite", iter([blob]), findings,
                             len(blob))
    (package,) = findings.packages
    assert package.version == "2:1.2.11-40.el9"
    assert package.ecosystem == "Rocky Linux:9"
    assert package.source_name == "" and package.source_version == ""
    assert package.purl == ("pkg:rpm/rocky/zlib@1.2.11-40.el9?arch=x86_64&distro=rocky-9.3&epoch=2"
                            "&upstream=zlib-1.2.11-40.el9.src.rpm")



def test_modularity_label_and_source_of_a_module_build() -> None:
    # RPMTAG_MODULARITYLABEL (5096): the module stream build the package belongs to; the matcher reads only
    # that stream's rows for it (scanner/match/releases.py).
    blob = make_header([(1000, STRING, b"nodejs\0", 1), (1001, STRING, b"18.18.2\0", 1),
                        (1002, STRING, b"1.module+el8.9.0+20000+76c0d6a0\0", 1), (1003, INT32, struct.pack(">i", 1), 1),
                        (1044, STRING, b"nodejs-18.18.2-1.module+el8.9.0+20000+76c0d6a0.src.rpm\0", 1),
                        (5096, STRING, b"nodejs:18:8090020231025135235:a75119d5\0", 1)])
    findings = Findings(DEFAULT_LIMITS)
    RpmCataloger()._packages(MemoryFilesystem(files={}), Distro("rhel", "8.9"), "var/lib/rpm/Packages", iter([blob]),
                             findings, len(blob))
    (package,) = findings.packages
    assert package.modularity_label == "nodejs:18:8090020231025135235:a75119d5"
    assert (package.version, package.source_name, package.ecosystem) == (
        "1:18.18.2-1.module+el8.9.0+20000+76c0d6a0", "", "Red Hat:enterprise_linux:8")
    # Without the tag, no label.
    plain = make_header(_basic())
    findings = Findings(DEFAULT_LIMITS)
    RpmCataloger()._packages(MemoryFilesystem(files={}), None, "var/lib/rpm/Packages", iter([plain]), findings,
                             len(plain))
    assert findings.packages[0].modularity_label == ""

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


def _sqlite_database(tmp_path: Path, schema: str, blobs: list[bytes]) -> bytes:
    path = tmp_path / "rpmdb.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute(schema)
        if blobs:
            connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(blob,) for blob in blobs])
        connection.commit()
    return path.read_bytes()


def test_sqlite_generated_columns_are_refused(tmp_path: Path) -> None:
    # A generated column computes its value on every read: a few bytes of schema, a gigabyte per row.
    data = _sqlite_database(tmp_path, "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, seed BLOB, "
                                      "blob BLOB GENERATED ALWAYS AS (zeroblob(1000000000)) VIRTUAL)", [])
    with contextlib.closing(sqlite3.connect(tmp_path / "rpmdb.sqlite")) as connection:
        connection.execute("INSERT INTO Packages (seed) VALUES (1)")
        connection.commit()
    data = (tmp_path / "rpmdb.sqlite").read_bytes()
    with pytest.raises(DatabaseFormatError, match="generated columns"):
        sqlite.read_blobs(io.BytesIO(data), "x", DEFAULT_LIMITS, print)


def test_sqlite_blob_over_the_header_cap_is_skipped_unread(tmp_path: Path) -> None:
    schema = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
    data = _sqlite_database(tmp_path, schema, [b"\0" * 5000, make_header(_basic())])
    limits = CatalogLimits(max_rpm_header_size=4096)
    result = RpmCataloger(limits).catalog(MemoryFilesystem(files={"var/lib/rpm/rpmdb.sqlite": data}), None)
    assert [p.name for p in result.packages] == ["zlib"]
    assert result.warnings == ("var/lib/rpm/rpmdb.sqlite: header 1 skipped: a blob of 5000 bytes is over 4096 "
                               "(cap max_rpm_header_size)",)


def test_ndb_slots_sharing_one_blob_stop_at_the_database_size() -> None:
    header = make_header(_basic())
    blocks = (16 + len(header) + 15) // 16
    slots = b"".join(struct.pack("<4sIII", b"Slot", 1, 4096 // 16, blocks) for _ in range(254))
    blob = struct.pack("<4sIII", b"BlbS", 1, 0, len(header)) + header
    data = struct.pack("<4sIII", b"RpmP", 0, 0, 1) + bytes(16) + slots + blob.ljust(blocks * 16, b"\0")
    assert len(data) < 254 * len(header)
    result = RpmCataloger().catalog(MemoryFilesystem(files={"var/lib/rpm/Packages.db": data}), None)
    assert 1 <= len(result.packages) < 254
    assert result.warnings[-1] == (f"var/lib/rpm/Packages.db: headers add up to more than the database's {len(data)} "
                                   "bytes (entries overlap); the rest is not read")


def test_file_list_caps_per_header_and_per_database() -> None:
    files = [(1118, STRING_ARRAY, b"/usr/\0", 1), (1117, STRING_ARRAY, b"a\0b\0c\0", 3),
             (1116, INT32, struct.pack(">3i", 0, 0, 0), 3)]
    refused = parse_header(make_header(_basic(files)), CatalogLimits(max_package_files=2))
    assert refused.files == () and refused.files_refused.endswith("(cap max_package_files)")
    assert parse_header(make_header(_basic(files)), CatalogLimits(max_file_list_bytes=20)).files_refused.endswith(
        "(cap max_file_list_bytes)")
    findings = Findings(CatalogLimits(max_owned_paths=2))
    RpmCataloger(findings.limits)._packages(MemoryFilesystem(), None, "db", iter([make_header(_basic(files))]),
                                            findings, 10**6)
    assert findings.owned == {"usr/a": "zlib", "usr/b": "zlib"}
    assert findings.warnings() == ("db: header 1 (zlib): more than 2 file list entries (cap max_owned_paths); "
                                   "files of zlib and later packages are not recorded as owned",)


STRING_PIECES = st.sampled_from([b"\0", b"a", b"usr/lib/", b"x" * 40, "\u00e9".encode(), b"\xe2\x82", b"\xff", b"\xc3"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(STRING_PIECES, max_size=30).map(b"".join), st.integers(0, 12), st.integers(0, 12))
def test_string_arrays_are_each_string_up_to_its_nul(data: bytes, offset: int, count: int) -> None:
    # The definition: from `offset`, `count` times the bytes up to the next NUL, each decoded on its own.
    expected: list[str] | str = []
    position = offset
    for _ in range(count):
        end = data.find(b"\0", position)
        if end < 0:
            expected = f"unterminated string at data offset {position}"
            break
        assert isinstance(expected, list)
        expected.append(data[position:end].decode("utf-8", "replace"))
        position = end + 1
    if count > len(data) - offset:
        expected = f"string count {count} does not fit the data"
    try:
        found: list[str] | str = _strings(data, offset, count)
    except HeaderError as error:
        found = str(error)
    assert found == expected
