"""`scanner.catalog.purl.purl` writes what packageurl writes, and refuses what packageurl refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from scanner.catalog.purl import purl, purl_type

TYPES = st.sampled_from(["apk", "cargo", "composer", "deb", "gem", "golang", "maven", "npm", "nuget", "pypi", "rpm",
                         "generic", "Pypi", "oci"])
# Mostly what real names and versions hold, with what packageurl strips, encodes or lower-cases mixed in.
PLAIN = st.sampled_from(["a", "Z", "0", ".", "-", "_", "~", ":", "+", "@", "%", "%3A", "!", "1.2", "Foo_Bar", "#",
                         "?", "&", "="])
ODD = st.sampled_from(["/", " ", "\t", "\x1c", "é", "İ", "\u2028", ""])
TEXT = st.one_of(st.lists(PLAIN, max_size=6).map("".join), st.lists(st.one_of(PLAIN, ODD), max_size=6).map("".join),
                 st.text(max_size=8))
QUALIFIERS = st.dictionaries(st.sampled_from(["arch", "distro", "epoch", "upstream", "Arch", "1x", "a b", ""]), TEXT,
                             max_size=3)


def reference(purl_type: str, name: str, version: str, namespace: str, qualifiers: dict[str, str]) -> str:
    return str(PackageURL(type=purl_type, namespace=namespace or None, name=name, version=version or None,
                          qualifiers=qualifiers or None).to_string())


def assert_like_packageurl(kind: str, name: str, version: str, namespace: str, qualifiers: dict[str, str]) -> None:
    try:
        expected = reference(kind, name, version, namespace, qualifiers)
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            purl(kind, name, version, namespace=namespace, qualifiers=qualifiers)
        assert str(raised.value) == str(error)
        return
    except TypeError:  # packageurl normalised the name away: a ValueError here, which skips one record
        with pytest.raises(ValueError, match="only blanks and slashes"):
            purl(kind, name, version, namespace=namespace, qualifiers=qualifiers)
        return
    assert purl(kind, name, version, namespace=namespace, qualifiers=qualifiers) == expected


@settings(max_examples=3000, deadline=None)
@given(TYPES, TEXT, TEXT, TEXT, QUALIFIERS)
def test_the_same_string_or_the_same_error_as_packageurl(kind: str, name: str, version: str, namespace: str,
                                                          qualifiers: dict[str, str]) -> None:
    assert_like_packageurl(kind, name, version, namespace, qualifiers)


PLAIN_TEXT = st.lists(PLAIN, max_size=6).map("".join)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(["apk", "cargo", "composer", "deb", "gem", "golang", "maven", "npm", "nuget", "pypi", "rpm"]),
       PLAIN_TEXT, PLAIN_TEXT, PLAIN_TEXT,
       st.dictionaries(st.sampled_from(["arch", "distro", "epoch", "upstream"]), PLAIN_TEXT, max_size=3))
def test_the_same_string_as_packageurl_for_what_catalogers_write(kind: str, name: str, version: str,
                                                                 namespace: str, qualifiers: dict[str, str]) -> None:
    assert_like_packageurl(kind, name, version, namespace, qualifiers)


@pytest.mark.parametrize(("arguments", "expected"), [
    (("pypi", "Foo_Bar", "1.0"), "pkg:pypi/foo-bar@1.0"),
    (("npm", "C++", "1.0.0+build"), "pkg:npm/c%2b%2b@1.0.0%2Bbuild"),  # packageurl lower-cases the escape too
    (("deb", "libstdc++6", "1:12.2.0-14"), "pkg:deb/libstdc%2B%2B6@1:12.2.0-14"),
    (("golang", "v2", "v2.0.0+incompatible"), "pkg:golang/v2@v2.0.0%2Bincompatible"),
])
def test_known_strings(arguments: tuple[str, str, str], expected: str) -> None:
    assert purl(*arguments) == expected == reference(*arguments, "", {})


def test_namespaces_and_qualifiers() -> None:
    assert purl("npm", "node", "20.1.0", namespace="@Types") == "pkg:npm/%40Types/node@20.1.0"
    assert purl("golang", "net", "v0.1.0", namespace="golang.org/x") == "pkg:golang/golang.org/x/net@v0.1.0"
    assert purl("apk", "musl", "1.2", namespace="Alpine", qualifiers={"distro": "alpine-3.18", "arch": ""}) == \
        "pkg:apk/alpine/musl@1.2?distro=alpine-3.18"


def test_the_type_of_a_purl() -> None:
    assert purl_type(purl("golang", "net", "v1", namespace="golang.org/x")) == "golang"


@pytest.mark.parametrize("name", ["\t", " / ", "\x1c"])
def test_a_name_packageurl_normalises_away_is_a_value_error(name: str) -> None:
    # packageurl itself fails with a TypeError, which would end the whole cataloger instead of one record
    with pytest.raises(TypeError):
        reference("apk", name, "1", "alpine", {})
    with pytest.raises(ValueError, match="only blanks and slashes"):
        purl("apk", name, "1", namespace="alpine")
