"""PyPI names are looked up as pip and PyPI normalise them: scanner.names' PEP 503 reading is pypa/packaging's.

dbbuilder stores advisories under the normalised name and the matcher looks packages up under it, so a
name the two normalise differently is a finding silently missed.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from scanner.names import normalize_package_name

# Separators, runs of them, and letters whose lower case differs in length or script.
_NAME_CHARACTERS = st.sampled_from([*"aZz09-_.", "--", "._-", "İ", "ß", "Σ", "K", "ǅ", " "])


@pytest.mark.parametrize("name", ["Django", "oslo.concurrency", "zope.interface", "Foo__Bar-.baz", "a-_-.b",
                                  "-leading", "trailing.", "MarkupSafe", "ruamel.yaml.clib", "İstanbul", ""])
def test_known_names_normalise_as_packaging_does(name: str) -> None:
    assert str(normalize_package_name("PyPI", name)) == str(canonicalize_name(name))


@settings(max_examples=300, deadline=None)
@given(st.lists(_NAME_CHARACTERS, max_size=12).map("".join))
def test_any_name_normalises_as_packaging_does(name: str) -> None:
    assert str(normalize_package_name("PyPI", name)) == str(canonicalize_name(name.strip()))
