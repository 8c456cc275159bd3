"""`scanner.report.dumps` writes exactly what `json.dumps(indent=2, ensure_ascii=False)` writes, and fails where it fails."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.report import dumps


def reference(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 4


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.just(-0.0), st.just(math.inf),
    st.just(-math.inf), st.just(math.nan), st.just(Colour.RED), st.just(Level.HIGH), st.just(10**40),
)
KEYS = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none(), st.just(Colour.RED))
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=5), st.lists(children, max_size=5).map(tuple),
                               st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(DOCUMENTS)
def test_the_same_bytes_as_json_dumps(document: Any) -> None:
    assert dumps(document) == reference(document)


def test_escapes_control_characters_quotes_and_lone_surrogates_as_json_does() -> None:
    document = {"a\"\\\x00\x1b\n\u2028": ["\udcff", "é", "", {}, [], {"k": ()}], "": None}
    assert dumps(document) == reference(document)
    assert b'"\\udcff"' in dumps(document)


@pytest.mark.parametrize("document", [
    {"key": object()},  # not JSON: TypeError
    {(1, 2): "tuple key"},  # TypeError naming the key type
    [1, {"nested": {1, 2}}],  # a set
])
def test_what_json_refuses_fails_with_the_json_error(document: Any) -> None:
    with pytest.raises(TypeError) as expected:
        reference(document)
    with pytest.raises(TypeError) as got:
        dumps(document)
    assert str(got.value) == str(expected.value)


def test_a_cycle_is_refused_as_json_refuses_it() -> None:
    looped: list[Any] = [1]
    looped.append({"back": looped})
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps(looped)
