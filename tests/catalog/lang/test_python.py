from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog.python import PythonCataloger, _record_file_count, parse_headers
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Package
from tests.catalog.lang.conftest import tree_filesystem

SITE = "usr/local/lib/python3.11/site-packages/"


def packages(fs: MemoryFilesystem) -> tuple[dict[str, Package], tuple[str, ...]]:
    result = PythonCataloger().catalog(fs, None)
    return {p.name: p for p in result.packages}, result.warnings


def test_real_wheels_installed_in_site_packages(wheels_site: Path) -> None:
    found, warnings = packages(tree_filesystem(wheels_site, SITE))
    assert warnings == ()
    assert set(found) == {"urllib3", "six"}
    urllib3 = found["urllib3"]
    assert (urllib3.version, urllib3.type, urllib3.ecosystem) == ("1.24.1", "pypi", "PyPI")
    assert urllib3.purl == "pkg:pypi/urllib3@1.24.1"
    assert urllib3.locations == (SITE + "urllib3-1.24.1.dist-info/METADATA", SITE + "urllib3-1.24.1.dist-info/RECORD")
    assert urllib3.licenses == ("MIT",)
    assert int(dict(urllib3.metadata)["record_files"]) > 20
    assert found["six"].version == "1.10.0" and found["six"].layer_digest.startswith("sha256:")


def test_declared_name_kept_purl_normalised_and_egg_info_forms() -> None:
    fs = MemoryFilesystem(files={
        "usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA":
            b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\nLicense: MIT\n\nlong description\nName: nope\n",
        "usr/lib/python3/dist-packages/Zope.Interface-5.0.egg-info/PKG-INFO":
            b"Metadata-Version: 1.1\nName: Zope.Interface\nVersion: 5.0\nLicense: UNKNOWN\n"
            b"Classifier: License :: OSI Approved :: Zope Public License\n",
        "usr/lib/python3/dist-packages/distro_info-1.0.egg-info":
            b"Metadata-Version: 1.0\nName: distro-info\nVersion: 1.0\nLicense-Expression: ISC\n",
        "opt/app/lib/python3.11/site-packages/foo.egg/EGG-INFO/PKG-INFO": b"Name: foo\nVersion: 0.1\n",
    }, layer_of={"usr/lib/python3/dist-packages/distro_info-1.0.egg-info": (2, "sha256:" + "2" * 64)})
    found, warnings = packages(fs)
    assert warnings == ()
    assert found["PyYAML"].purl == "pkg:pypi/pyyaml@6.0" and found["PyYAML"].licenses == ("MIT",)
    assert found["Zope.Interface"].purl == "pkg:pypi/zope-interface@5.0"
    assert found["Zope.Interface"].licenses == ("Zope Public License",)
    egg_file = found["distro-info"]
    assert egg_file.locations == ("usr/lib/python3/dist-packages/distro_info-1.0.egg-info",)
    assert (egg_file.layer_index, egg_file.licenses) == (2, ("ISC",))
    assert found["foo"].version == "0.1"


def test_symlinked_copy_is_one_package_at_the_real_path() -> None:
    real = "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"
    fs = MemoryFilesystem(files={real: b"Name: six\nVersion: 1.16.0\n"},
                          symlinks={"usr/lib/python3.11/dist-packages": "../python3/dist-packages"})
    found, _ = packages(fs)
    assert found["six"].locations[0] == real


def test_hostile_metadata() -> None:
    fs = MemoryFilesystem(files={
        "a/x.dist-info/METADATA": b"Name: nameless-version\n",
        "a/y.dist-info/METADATA": b"\xff\xfe\x00garbage\x00\nVersion: 1\n",
        "a/z.dist-info/METADATA": b"Name: " + b"n" * 1_000_000 + b"\nVersion: 1.0\nLicense: L\n" + b"  more\n" * 1000,
        "a/z.dist-info/RECORD": b'"unterminated,\n' + b"\0" * 100,
        "a/w.dist-info/METADATA": b"",
        "a/v.dist-info/METADATA": b"Name: good\nVersion: 2\nLicense: L\n" + b"  more\n" * 1000,
        "a/v.dist-info/RECORD": b'"unterminated,\n' + b"\0" * 100,
    })
    found, warnings = packages(fs)
    assert set(found) == {"good"}
    assert found["good"].licenses == ()
    assert len(warnings) == 4 and sum("without Name or Version" in w for w in warnings) == 3
    assert "a/z.dist-info/METADATA: a name of 1000000 characters is over 4096 (cap max_field_length); skipped" in warnings


def test_header_block_rules() -> None:
    headers = parse_headers("name: lower\nVERSION: 1\nLicense: first\n  second\nno colon here\nClassifier: a\n"
                            "Classifier: b\n\nName: in the description\n")
    assert headers == {"name": ["lower"], "version": ["1"], "license": ["first\nsecond"], "classifier": ["a", "b"]}


def csv_row_count(data: bytes) -> int:
    """What csv reads from a RECORD: the rows whose first field is not empty, up to a damaged row."""
    count = 0
    try:
        for row in csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace", newline="")):
            count += bool(row and row[0])
    except csv.Error:
        pass
    return count


RECORD_PIECES = st.sampled_from(["a/b.py", ",", "sha256=x", "12", "\n", "\r", "\r\n", '"', '"a,b"', " ", "\0",
                                 "\u00e9", "\u2028", "\x85"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(RECORD_PIECES, max_size=16).map("".join).map(str.encode))
def test_record_rows_are_counted_as_csv_counts_them(data: bytes) -> None:
    assert _record_file_count(io.BytesIO(data)) == csv_row_count(data)


def test_a_record_over_csvs_field_limit_is_read_by_csv() -> None:
    data = b"x" * (csv.field_size_limit() + 10) + b"\nb,c\n"
    assert _record_file_count(io.BytesIO(data)) == csv_row_count(data) == 0
