"""Report formats: one module per format, plugged into the registry in `scanner.report.base`.

This module holds what every format and its caller need: the one JSON serialisation and writing
the finished document atomically. It imports nothing from the formats, so using one format never
loads the others (docs/performance.md, start-up).
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path
from typing import Any

from scanner.errors import ReportError
from scanner.fileio import write_atomically


def dumps(document: Any) -> bytes:
    """UTF-8 JSON, two-space indent, key order as built, trailing newline: byte-stable.

    Values are exact: control characters are JSON escapes (`\\u001b`). A lone surrogate (a non-UTF-8
    byte 0xNN of a name, decoded with surrogateescape, or a `\\udcNN` escape in JSON the image held) has
    no UTF-8 encoding: it is written as the JSON escape `\\udcNN`, so the document stays UTF-8 and
    reads back to the same string (docs/report-json.md).

    The text is exactly `json.dumps(document, indent=2, ensure_ascii=False)`'s. The json module encodes an
    indented document in pure Python, one generator per container level (most of the time of rendering
    a large SBOM), so `_indented` writes the same text in one pass; what it does not handle (a value
    json cannot encode either, a cycle) is left to json.dumps, which raises its own error.
    """
    try:
        text = _indented(document)
    except (_NotPlainJson, RecursionError):
        text = json.dumps(document, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8", "backslashreplace")


class _NotPlainJson(Exception):
    """A value or key json.dumps would refuse (or hand to a `default` hook): it says why, not `_indented`."""


_ARRAYS = (list, tuple)
_CONTAINERS = (dict, *_ARRAYS)
# json.dumps with ensure_ascii=False: the C string encoder (escapes quotes, backslashes, control characters).
_encode_string = json.encoder.encode_basestring


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return float.__repr__(value)


def _scalar_text(value: Any) -> str:
    """A leaf as json writes it, the type tests in json's order (a str or int subclass is written as its base)."""
    if isinstance(value, str):
        return _encode_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_text(value)
    raise _NotPlainJson


def _key_text(key: Any) -> str:
    """A dict key as json turns it into a string before quoting it: a string as it is, any other scalar as
    its JSON text (json tests floats before booleans there, which no value is both of)."""
    return key if isinstance(key, str) else _scalar_text(key)


def _indented(document: Any) -> str:
    """`json.dumps(document, indent=2, ensure_ascii=False)`, or _NotPlainJson where that would not write JSON."""
    parts: list[str] = []
    append = parts.append
    encode = _encode_string

    def write(value: Any, newline: str) -> None:
        # `newline` ends a line and indents the next to `value`'s level; strings, the usual leaf, skip the call.
        if isinstance(value, dict):
            if not value:
                append("{}")
                return
            inner = newline + "  "
            separator, following = "{" + inner, "," + inner
            for key, item in value.items():
                name = encode(key if type(key) is str else _key_text(key))
                if type(item) is str:
                    append(f"{separator}{name}: {encode(item)}")
                elif isinstance(item, _CONTAINERS):
                    append(f"{separator}{name}: ")
                    write(item, inner)
                else:
                    append(f"{separator}{name}: {_scalar_text(item)}")
                separator = following
            append(newline + "}")
        elif isinstance(value, _ARRAYS):
            if not value:
                append("[]")
                return
            inner = newline + "  "
            separator, following = "[" + inner, "," + inner
            for item in value:
                if type(item) is str:
                    append(separator + encode(item))
                elif isinstance(item, _CONTAINERS):
                    append(separator)
                    write(item, inner)
                else:
                    append(separator + _scalar_text(item))
                separator = following
            append(newline + "]")
        else:
            append(_scalar_text(value))

    write(document, "\n")
    return "".join(parts)


def write_output(data: bytes, path: Path | None) -> None:
    """`data` to `path` atomically (a temporary file beside it, then rename), or to stdout when None.

    A path that names a device or a pipe (`/dev/null`, `/dev/stdout`, a FIFO) is written to as it is:
    renaming a file over it would replace the device itself (as root, `--file /dev/null` would leave
    a regular file where the null device was).
    """
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error
    try:
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            with open(path, "wb") as output:
                output.write(data)
        else:
            write_atomically(path, data)
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from error
