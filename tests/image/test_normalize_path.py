"""`normalize_path` answers plain names without `clean_path`'s work, and every name exactly as the definition
it stands for: `clean_path` with "\\" a separator too, None where that refuses the name."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.image.filesystem import clean_path, normalize_path

PIECES = st.sampled_from(["usr", "lib", "/", ".", "..", "\\", "a.b", ".x", "x.", "", " ", "é", "\x00"])


def _defined(name: str) -> str | None:
    try:
        return clean_path(name.replace("\\", "/"))
    except ValueError:
        return None


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=8).map("".join))
def test_the_same_path_as_its_definition(name: str) -> None:
    assert normalize_path(name) == _defined(name)


def test_plain_names() -> None:
    assert normalize_path("/usr/bin/env") == "usr/bin/env"
    assert normalize_path("META-INF/MANIFEST.MF") == "META-INF/MANIFEST.MF"
    assert normalize_path("/usr/lib/../bin/./x") == "usr/bin/x"
    assert normalize_path("/../x") is None and normalize_path("/") is None
