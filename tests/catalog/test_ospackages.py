from __future__ import annotations

from scanner.catalog.ospackages import os_purl, upstream_qualifier
from scanner.model import Distro


def test_os_purl_qualifiers_in_canonical_order_and_encoding() -> None:
    assert os_purl("rpm", "", "zlib", "1.2-3", arch="x86_64", epoch="1", upstream="zlib-1.2-3.src.rpm") == \
        "pkg:rpm/zlib@1.2-3?arch=x86_64&epoch=1&upstream=zlib-1.2-3.src.rpm"
    assert os_purl("deb", "debian", "libstdc++6", "12.2.0-14", distro=Distro("debian", "12"), arch="arm64") == \
        "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=arm64&distro=debian-12"
    assert os_purl("apk", "alpine", "musl", "") == "pkg:apk/alpine/musl"


def test_upstream_qualifier() -> None:
    assert upstream_qualifier("libc6", "2.36-9", "glibc", "") == "glibc"
    assert upstream_qualifier("bash", "5.2-2+b1", "", "5.2-2") == "bash@5.2-2"
    assert upstream_qualifier("zlib", "1", "", "") == ""
