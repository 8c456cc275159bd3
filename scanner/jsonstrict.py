"""JSON read strictly: one reading of the bytes, or a refusal naming why.

Python's `json.loads` keeps the last of duplicate keys (other parsers keep the first, or refuse), and
accepts `NaN` and `Infinity`, which are not JSON: a document another tool reads differently is refused
here instead. Used for the signed bundle documents and for SBOMs given as scan targets.
"""

from __future__ import annotations

import json
from typing import Any

from scanner.errors import ScannerError


def loads_strict(data: bytes, what: str, error: type[ScannerError]) -> Any:
    """The JSON document in `data` (UTF-8); `error` naming `what` when it is not valid strict JSON."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise error(f"{what}: duplicate key in a JSON object")
        return dict(pairs)

    def no_constants(name: str) -> None:
        raise error(f"{what}: {name} is not valid JSON")

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except UnicodeDecodeError as exc:
        raise error(f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise error(f"{what}: invalid JSON: {exc}") from None
    except RecursionError:
        raise error(f"{what}: JSON nested too deeply") from None
