"""JSON read strictly: one reading of the bytes, or a refusal naming why; and the typed getters that
check a parsed document's shape.

Python's `json.loads` keeps the last of duplicate keys (other parsers keep the first, or refuse), and
accepts `NaN` and `Infinity`, which are not JSON: a document another tool reads differently is refused
here instead. Nesting is capped (`MAX_DEPTH`), so a hostile document is a named refusal, never a
RecursionError deep in a caller. Used for the signed bundle documents, attestations, state records, the
KEV catalog and SBOMs given as scan targets. Every refusal is the caller's error class (its boundary,
its exit code), naming `what` or `where`; the getters also take a function making one from the message,
for readers whose refusal is not a ScannerError (a feed record skipped and counted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from scanner.errors import ScannerError

T = TypeVar("T")
ErrorMaker = Callable[[str], Exception]  # an error class, or a function making the caller's error from a message

MAX_DEPTH = 128  # nested arrays and objects; real documents (SBOMs, manifests, statements) stay under 20
_JSON_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string", int: "an integer",
                                float: "a number", bool: "a boolean"}


def loads_strict(data: bytes, what: str, error: type[ScannerError], max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in `data` (UTF-8); `error` naming `what` when it is not valid strict JSON or
    nests deeper than `max_depth`."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise error(f"{what}: duplicate key in a JSON object")
        return dict(pairs)

    def no_constants(name: str) -> None:
        raise error(f"{what}: {name} is not valid JSON")

    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except UnicodeDecodeError as exc:
        raise error(f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise error(f"{what}: invalid JSON: {exc}") from None
    except RecursionError:
        raise error(f"{what}: JSON nested too deeply") from None
    if _depth_exceeds(document, max_depth):
        raise error(f"{what}: JSON nested more than {max_depth} levels deep")
    return document


def _depth_exceeds(document: Any, max_depth: int) -> bool:
    """Whether arrays and objects nest deeper than `max_depth` (only containers are visited)."""
    stack = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def is_json_type(value: object, kind: type) -> bool:
    """Whether a parsed JSON value is of `kind`; a boolean is not an integer (bool subclasses int in Python)."""
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


def _json_name(kind: type) -> str:
    return _JSON_NAMES.get(kind, kind.__name__)


def expect(value: object, kind: type[T], where: str, error: ErrorMaker) -> T:
    """`value` when it is a JSON `kind` (dict, list, str, int, float, bool); else `error`: "WHERE: expected
    a JSON object"."""
    if not is_json_type(value, kind):
        raise error(f"{where}: expected a JSON {_json_name(kind).split(' ', 1)[-1]}")
    return cast(T, value)


def member(document: Mapping[str, Any], key: str, kind: type[T], where: str, error: ErrorMaker,
           default: T | None = None) -> T:
    """`document[key]` when present (not null) and a JSON `kind`; `default`, when given, if the key is absent
    (null is still refused); else `error`: "WHERE: field 'key' missing or not an integer"."""
    if default is not None and key not in document:
        return default
    value = document.get(key)
    if value is None or not is_json_type(value, kind):
        raise error(f"{where}: field {key!r} missing or not {_json_name(kind)}")
    return cast(T, value)


def optional_member(document: Mapping[str, Any], key: str, kind: type[T], where: str, error: ErrorMaker) -> T | None:
    """`document[key]` when a JSON `kind`; None when absent or null (formats where null means "not given");
    else `error`: "WHERE: field 'key' is not a string"."""
    value = document.get(key)
    if value is not None and not is_json_type(value, kind):
        raise error(f"{where}: field {key!r} is not {_json_name(kind)}")
    return cast("T | None", value)


def list_of(value: object, kind: type[T], where: str, error: ErrorMaker) -> list[T]:
    """`value` when it is a JSON list whose every item is a JSON `kind`; else `error` naming the list
    ("WHERE: expected a JSON list") or the first wrong item ("WHERE[3]: expected a JSON string")."""
    items = expect(value, list, where, error)
    return [expect(item, kind, f"{where}[{index}]", error) for index, item in enumerate(items)]
