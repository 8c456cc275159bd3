"""JSON read one way or refused, and the typed getters that check a document's shape."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.errors import ScannerError
from scanner.jsonstrict import MAX_DEPTH, expect, loads_strict, member


class ShapeError(ScannerError):
    exit_code = 99


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"a": 1, "a": 2}', "duplicate key"),
    (b'[NaN]', "NaN is not valid JSON"),
    (b'{"a": Infinity}', "Infinity is not valid JSON"),
    (b'\xff', "not UTF-8"),
    (b'{"a": }', "invalid JSON at line 1 column 7"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels"),
    (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"),  # beyond the interpreter's recursion limit too
])
def test_hostile_documents_are_refused_as_the_callers_error(data: bytes, reason: str) -> None:
    with pytest.raises(ShapeError, match=f"^doc.json: .*{reason}"):
        loads_strict(data, "doc.json", ShapeError)


def test_nesting_up_to_the_cap_is_read() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads_strict(deep, "doc.json", ShapeError) is not None
    assert loads_strict(b'"text"', "doc.json", ShapeError) == "text"


@pytest.mark.parametrize(("value", "kind", "ok"), [
    ({}, dict, True), ([], list, True), ("x", str, True), (1, int, True), (1.5, float, True), (True, bool, True),
    (True, int, False),  # bool subclasses int in Python; `true` is not a number in JSON
    (1, float, False), ([], dict, False), (None, str, False),
])
def test_expect_checks_the_json_type(value: Any, kind: type, ok: bool) -> None:
    if ok:
        assert expect(value, kind, "here", ShapeError) == value
    else:
        with pytest.raises(ShapeError, match=r"^here: expected a JSON "):
            expect(value, kind, "here", ShapeError)


def test_member_names_the_field_and_the_type() -> None:
    document = {"version": 3, "flag": True, "name": None}
    assert member(document, "version", int, "manifest", ShapeError) == 3
    for key in ("flag", "name", "absent"):
        with pytest.raises(ShapeError, match=f"^manifest: field '{key}' missing or not an integer$"):
            member(document, key, int, "manifest", ShapeError)
