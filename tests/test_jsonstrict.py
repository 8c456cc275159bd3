"""JSON read one way or refused, and the typed getters that check a document's shape."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.errors import ScannerError
from scanner.jsonstrict import MAX_DEPTH, expect, list_of, loads_strict, member, optional_member


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


def test_member_with_a_default_reads_an_absent_key_as_the_default_but_refuses_null() -> None:
    document = {"arch": "amd64", "name": None, "count": "3"}
    assert member(document, "arch", str, "package", ShapeError, default="") == "amd64"
    assert member(document, "absent", str, "package", ShapeError, default="") == ""
    for key, kind in (("name", str), ("count", int)):
        with pytest.raises(ShapeError, match=f"^package: field '{key}' missing or not "):
            member(document, key, kind, "package", ShapeError, default=kind())


def test_optional_member_reads_absent_and_null_as_none_and_refuses_another_type() -> None:
    document: dict[str, object] = {"title": "text", "index": None, "flag": True, "refs": {}}
    assert optional_member(document, "title", str, "cna", ShapeError) == "text"
    assert optional_member(document, "index", int, "cna", ShapeError) is None
    assert optional_member(document, "absent", list, "cna", ShapeError) is None
    with pytest.raises(ShapeError, match=r"^cna: field 'flag' is not an integer$"):
        optional_member(document, "flag", int, "cna", ShapeError)
    with pytest.raises(ShapeError, match=r"^cna: field 'refs' is not a list$"):
        optional_member(document, "refs", list, "cna", ShapeError)


@pytest.mark.parametrize(("value", "message"), [
    ({"a": "b"}, "^tags: expected a JSON list$"),
    (None, "^tags: expected a JSON list$"),
    (["a", 1], r"^tags\[1\]: expected a JSON string$"),
    (["a", True, "c"], r"^tags\[1\]: expected a JSON string$"),
])
def test_list_of_names_the_list_or_the_first_wrong_item(value: object, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        list_of(value, str, "tags", ShapeError)


def test_list_of_returns_the_items_and_getters_take_an_error_maker() -> None:
    assert list_of(["a", "b"], str, "tags", ShapeError) == ["a", "b"]
    assert list_of([], dict, "tags", ShapeError) == []

    class Counted(Exception):
        def __init__(self, reason: str, detail: str) -> None:
            super().__init__(reason, detail)
            self.detail = detail

    def malformed(message: str) -> Counted:
        return Counted("malformed record", message)

    with pytest.raises(Counted) as raised:
        member({"id": 5}, "id", str, "record", malformed)
    assert raised.value.detail == "record: field 'id' missing or not a string"
