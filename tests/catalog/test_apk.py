from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog import catalog_filesystem
from scanner.catalog.apk import ApkCataloger, parse_installed
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Distro

INSTALLED = b"""C:Q1abc=
P:libcrypto3
V:3.1.4-r0
A:aarch64
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
F:lib
R:libcrypto.so.3
F:usr/lib/engines-3
R:afalg.so

P:musl
V:1.2.4-r2
A:aarch64
L:MIT
o:musl
F:lib
R:ld-musl-aarch64.so.1

P:nameless-version
"""


def test_fields_origin_and_file_ownership() -> None:
    fs = MemoryFilesystem(
        files={"lib/apk/db/installed": INSTALLED, "etc/os-release": b"ID=alpine\nVERSION_ID=3.19.0\n",
               "lib/libcrypto.so.3": b"\x7fELF", "lib/ld-musl-aarch64.so.1": b"\x7fELF"},
        layer_of={"lib/libcrypto.so.3": (3, "sha256:" + "d" * 64)},
    )
    catalog = catalog_filesystem(fs, [ApkCataloger()])
    crypto, musl = catalog.packages
    assert (crypto.name, crypto.version, crypto.arch, crypto.source_name) == ("libcrypto3", "3.1.4-r0", "aarch64",
                                                                              "openssl")
    assert crypto.ecosystem == "Alpine:v3.19"
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r0?arch=aarch64&distro=alpine-3.19.0&upstream=openssl"
    assert crypto.licenses == ("Apache-2.0",)
    assert crypto.layer_index == 3
    assert musl.source_name == "" and musl.match_source_name == "musl"
    assert musl.layer_index == 0
    assert catalog.warnings == ("apk: lib/apk/db/installed: stanza 3 (nameless-version): skipped, no V: field",)
    result = ApkCataloger().catalog(fs, None)
    assert result.owned_paths["usr/lib/engines-3/afalg.so"] == "libcrypto3"
    assert result.owned_paths["lib/ld-musl-aarch64.so.1"] == "musl"


def test_wolfi_namespace() -> None:
    fs = MemoryFilesystem(files={"lib/apk/db/installed": b"P:glibc\nV:2.38-r1\nA:x86_64\no:glibc\n"})
    (package,) = ApkCataloger().catalog(fs, Distro("wolfi", "20230201")).packages
    assert package.purl.startswith("pkg:apk/wolfi/glibc@2.38-r1?")
    assert package.ecosystem == "Wolfi"


# Random bytes almost never hold a "P:" line, so they reach the tokenizer only: stanzas made of the
# fields the cataloger reads, with odd values, reach the package records too.
_FIELDS = st.sampled_from(["P", "V", "A", "o", "L", "F", "R", "Z", "T"])
_VALUES = st.one_of(st.text(max_size=30), st.sampled_from(["x", "1.2.3-r0", "2.38-r1", "x86_64", "usr/bin", "..",
                                                            "/", "", "1.0_alpha-r"]))
_STANZAS = st.lists(st.lists(st.tuples(_FIELDS, _VALUES), max_size=10), max_size=6).map(
    lambda stanzas: "\n".join("".join(f"{key}:{value}\n" for key, value in fields) for fields in stanzas).encode())


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=2000), _STANZAS))
def test_hostile_database_never_crashes(data: bytes) -> None:
    # called directly: an exception the cataloger does not handle fails the test
    result = ApkCataloger().catalog(MemoryFilesystem(files={"lib/apk/db/installed": data}), None)
    assert all(package.name and package.version for package in result.packages)


def test_only_line_feeds_end_lines() -> None:
    text = "P:a\r\nV:1\r\nm:odd\u2028\u2028maintainer\r\nF:usr/bin\r\nR:a\r\n\r\nP:b\nV:2\n"
    assert list(parse_installed(io.BytesIO(text.encode()))) == [
        (1, {"P": "a", "V": "1", "m": "odd\u2028\u2028maintainer"}, ["usr/bin", "usr/bin/a"]),
        (2, {"P": "b", "V": "2"}, []),
    ]
