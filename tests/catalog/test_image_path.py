"""`scanner.catalog.base.image_path` answers exactly as `normalize_path`, whose work it skips for plain names."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog.base import image_path
from scanner.image.filesystem import normalize_path

PIECES = st.sampled_from(["usr", "lib", "/", ".", "..", "\\", "a.b", ".x", "x.", "", " ", "é", "\x00"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=8).map("".join))
def test_the_same_path_as_normalize_path(name: str) -> None:
    assert image_path(name) == normalize_path(name)


def test_plain_names() -> None:
    assert image_path("/usr/bin/env") == "usr/bin/env"
    assert image_path("META-INF/MANIFEST.MF") == "META-INF/MANIFEST.MF"
    assert image_path("/usr/lib/../bin/./x") == "usr/bin/x"
    assert image_path("/../x") is None and image_path("/") is None
