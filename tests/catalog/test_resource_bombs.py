"""Small inputs that used to exhaust memory or time: each runs in a child process whose peak RSS and
wall time must stay under generous bounds, the cap that stopped it must be named in a warning, and
the good packages beside the bomb must still be reported.

Bombs are written to disk and read through `DiskFilesystem`, so the child holds only what the
cataloger itself keeps (a `MemoryFilesystem` would hold the whole bomb).
"""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.lang.test_java import make_zip, pom
from tests.catalog.test_rpm import INT32, STRING, STRING_ARRAY, _basic, make_header

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
MAX_RSS_MIB = 300
MAX_SECONDS = 30

_CHILD = """
import json, sys, time
from pathlib import Path
from tests.catalog.diskfs import DiskFilesystem
from scanner.catalog import load_catalogers
from tests.peak_memory import peak_rss_kib
spec = json.loads(sys.argv[1])
cataloger = {c.name: c for c in load_catalogers()}[spec["cataloger"]]
fs = DiskFilesystem({image: Path(host) for image, host in spec["files"].items()}, spec["executable"])
started = time.monotonic()
result = cataloger.catalog(fs, None)
seconds = time.monotonic() - started
names = sorted({package.name for package in result.packages})
print(json.dumps({"seconds": seconds, "rss_mib": peak_rss_kib() / 1024,
                  "packages": len(result.packages), "names": names[:20], "warnings": list(result.warnings)}))
"""


def catalog_in_child(cataloger: str, files: dict[str, Path], executable: bool = False) -> dict[str, Any]:
    spec = json.dumps({"cataloger": cataloger, "files": {k: str(v) for k, v in files.items()}, "executable": executable})
    done = subprocess.run([sys.executable, "-c", _CHILD, spec], cwd=ROOT, capture_output=True, text=True,
                          timeout=10 * MAX_SECONDS, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome: dict[str, Any] = json.loads(done.stdout)
    assert outcome["rss_mib"] < MAX_RSS_MIB, outcome
    assert outcome["seconds"] < MAX_SECONDS, outcome
    return outcome


def write(path: Path, parts: Iterable[bytes]) -> Path:
    with path.open("wb") as out:
        for part in parts:
            out.write(part)
    return path


def repeated(unit: bytes, total: int) -> Iterable[bytes]:
    block = unit * (MIB // len(unit))
    for _ in range(total // len(block)):
        yield block


def test_dpkg_status_of_tiny_lines(tmp_path: Path) -> None:
    # 250 MiB: a 100 MiB stanza of two-byte lines, 100 MiB of blank lines, then tiny comment-only stanzas.
    status = write(tmp_path / "status", [
        b"Package: first\nVersion: 1\n\n", *repeated(b"a\n", 100 * MIB), b"\n",
        *repeated(b"\n", 100 * MIB), b"Package: last\nVersion: 2\n\n", *repeated(b"#\n\n", 50 * MIB),
    ])
    outcome = catalog_in_child("dpkg", {"var/lib/dpkg/status": status})
    assert outcome["names"] == ["first", "last"]
    assert outcome["warnings"] == [
        "var/lib/dpkg/status: stanza 2 is larger than 16777216 bytes (cap max_stanza_size); skipped",
        "var/lib/dpkg/status: more than 200000 stanzas (cap max_records); the rest is not read",
    ]


def test_dpkg_300k_packages(tmp_path: Path) -> None:
    status = write(tmp_path / "status", (
        f"Package: pkg{index:06d}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-{index}\n"
        f"Maintainer: Someone <someone@example.org>\nDescription: package {index}\n long text\n\n".encode()
        for index in range(300_000)))
    outcome = catalog_in_child("dpkg", {"var/lib/dpkg/status": status})
    assert outcome["packages"] == 50_000 and outcome["names"][0] == "pkg000000"
    assert outcome["warnings"] == ["var/lib/dpkg/status: stanza 50001: more than 50000 packages (cap max_packages); "
                                   "this and every later package are not reported"]


def test_rpm_header_with_a_long_directory_shared_by_thousands_of_files(tmp_path: Path) -> None:
    # 1 MiB directory name, 5,000 base names: 5 GiB of joined paths from a 1 MiB header.
    bomb = make_header([(1000, STRING, b"bomb\0", 1), (1001, STRING, b"1\0", 1),
                        (1118, STRING_ARRAY, b"/" + b"d" * MIB + b"/\0", 1),
                        (1117, STRING_ARRAY, b"".join(b"f%d\0" % n for n in range(5000)), 5000),
                        (1116, INT32, struct.pack(">5000i", *([0] * 5000)), 5000)])
    database = tmp_path / "rpmdb.sqlite"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(bomb,), (make_header(_basic()),)])
    connection.commit()
    connection.close()
    outcome = catalog_in_child("rpm", {"var/lib/rpm/rpmdb.sqlite": database})
    assert outcome["names"] == ["bomb", "zlib"]
    assert outcome["warnings"] == [
        "var/lib/rpm/rpmdb.sqlite: header 1 (bomb): its file list of 5242918890 bytes is over 16777216 "
        "(cap max_file_list_bytes); its files are not recorded"]


def _raw_zip(entries: list[tuple[bytes, int, bytes, int, int]], shared_offset: bool = False) -> bytes:
    """A zip from (name, method, stored bytes, crc, size); with `shared_offset`, every central directory
    entry points at the first local header (the overlapping-entries bomb)."""
    body = bytearray()
    central = bytearray()
    for name, method, stored, crc, size in entries:
        offset = 0 if shared_offset else len(body)
        if not shared_offset or not body:
            body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(stored), size, len(name), 0)
            body += name + stored
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(stored), size,
                               len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(body), 0)
    return bytes(body + central + end)


def test_jar_holding_1500_large_pom_properties(tmp_path: Path) -> None:
    content = b"groupId=g\nartifactId=bomb\nversion=1\n#" + b"a" * (MIB - 100) + b"\n"  # just under the member cap
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = packer.compress(content) + packer.flush()
    crc = zlib.crc32(content)
    entries = [(b"META-INF/maven/g/a%04d/pom.properties" % n, 8, deflated, crc, len(content)) for n in range(1500)]
    jar = write(tmp_path / "bomb.jar", [_raw_zip(entries)])
    assert jar.stat().st_size < 4 * MIB
    good = write(tmp_path / "good.jar", [make_zip(pom("g", "good", "1"))])
    outcome = catalog_in_child("java", {"app/bomb.jar": jar, "app/good.jar": good})
    assert outcome["names"] == ["g:bomb", "g:good"]
    assert "(cap max_metadata_bytes), ignored" in outcome["warnings"][0]
    assert outcome["warnings"][-1].endswith("more warnings not shown (cap max_warnings)")


def test_jar_in_jar_fan_out_through_overlapping_entries(tmp_path: Path) -> None:
    # Each level: 64 central directory entries, all the same stored member: 64**5 archives to walk.
    level = make_zip(pom("g", "leaf", "1"))
    for _ in range(6):
        name = b"lib/inner.jar"
        level = _raw_zip([(name, 0, level, zlib.crc32(level), len(level))] * 64, shared_offset=True)
    jar = write(tmp_path / "fan.jar", [level])
    good = write(tmp_path / "good.jar", [make_zip(pom("g", "good", "1"))])
    outcome = catalog_in_child("java", {"app/fan.jar": jar, "app/good.jar": good})
    assert outcome["names"] == ["g:good"]
    assert outcome["warnings"] == ["app/fan.jar: members 'lib/inner.jar' and 'lib/inner.jar' overlap "
                                   "(a zip bomb technique); archive skipped"]


@pytest.mark.parametrize("values", [b"[" + b"{}," * (5 * MIB) + b"{}]", b"[" + b"0," * (5 * MIB) + b"0]"])
def test_lockfile_of_millions_of_tiny_json_values(tmp_path: Path, values: bytes) -> None:
    lock = write(tmp_path / "package-lock.json", [b'{"lockfileVersion": 3, "packages": ', values, b"}"])
    good = write(tmp_path / "package.json", [b'{"name": "lodash", "version": "4.17.15"}'])
    outcome = catalog_in_child("npm", {"app/package-lock.json": lock, "app/node_modules/lodash/package.json": good})
    assert outcome["names"] == ["lodash"]
    assert len(outcome["warnings"]) == 1
    assert outcome["warnings"][0].startswith("app/package-lock.json: holds about ")
    assert outcome["warnings"][0].endswith("JSON values, over 4000000 (cap max_json_values)")
