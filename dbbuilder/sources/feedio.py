"""Feed input files: which files a reader gets, their digest, and bounded, typed reading of each.

Every failure on one file is a RecordError (counted in the skip log); a missing input root or a file that is
not regular is a FeedError for the whole build.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from scanner.errors import FeedError
from scanner.fileio import FileReadError, read_regular_file

from .records import RecordError


def input_files(paths: Iterable[Path], accepts: Callable[[Path], bool]) -> list[tuple[str, Path]]:
    """Every file a reader will read under `paths`, as (name relative to its root, path), sorted by name.

    Hidden files and directories are left out. A file given directly is named by its base name. The
    same name under two roots is kept twice, the earlier root first.
    """
    found: list[tuple[str, int, Path]] = []
    for index, root in enumerate(paths):
        if root.is_file():
            found.append((root.name, index, root))
            continue
        if not root.is_dir():
            raise FeedError(f"feed input not found: {root}")
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            for name in names:
                path = Path(directory, name)
                if not name.startswith(".") and accepts(path):
                    if path.exists() and not path.is_file():  # a FIFO or a device would block the build
                        raise FeedError(f"feed input {path}: not a regular file")
                    found.append((path.relative_to(root).as_posix(), index, path))
    return [(name, path) for name, _, path in sorted(found)]


def inputs_sha256(files: Sequence[tuple[str, Path]]) -> str:
    """sha256 over `sha256sum`-style lines ("<hex>  <name>\\n") of the files in name order.

    Names are relative to the given roots, so the digest does not depend on where the feeds are stored.
    """
    outer = hashlib.sha256()
    for name, path in files:
        inner = hashlib.sha256()
        try:
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    inner.update(block)
        except OSError as error:
            raise FeedError(f"cannot read feed file {path}: {error.strerror}") from error
        outer.update(f"{inner.hexdigest()}  {name}\n".encode())
    return outer.hexdigest()


def parse_document(data: bytes, name: str) -> Any:
    """JSON, or YAML when `name` ends in .yaml/.yml; RecordError("invalid JSON"/"invalid YAML") otherwise."""
    if name.endswith((".yaml", ".yml")):
        try:
            return yaml.safe_load(data)
        except (yaml.YAMLError, RecursionError) as error:
            raise RecordError("invalid YAML", (str(error).splitlines() or [""])[0]) from error
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise RecordError("invalid JSON", str(error)) from error


def read_capped(path: Path, limit: int) -> bytes:
    """The file's bytes; RecordError("file too large") beyond `limit`, ("unreadable file") otherwise."""
    try:
        return read_regular_file(path, limit)
    except FileReadError as error:
        if error.reason == "too large":
            raise RecordError("file too large", f"over {limit} bytes") from error
        raise RecordError("unreadable file", error.detail or error.reason) from error


_JSON = json.JSONDecoder()


_SPACE = frozenset(" \t\n\r")


def iter_json_object(text: str) -> Iterator[tuple[str, Any]]:
    """The members of the JSON object `text`, one at a time.

    Only one member's value is parsed into Python objects at a time: a 70 MB tracker export would take
    ten times that as one parsed document. RecordError("invalid JSON") where the text stops being JSON,
    after the members before that point.
    """
    position = _skip_space(text, 0)
    if not text.startswith("{", position):
        raise RecordError("not a JSON object")
    position = _skip_space(text, position + 1)
    if text.startswith("}", position):
        return
    while True:
        try:
            key, position = _JSON.raw_decode(text, position)
            position = _skip_space(text, position)
            if not isinstance(key, str) or not text.startswith(":", position):
                raise ValueError(f"expected a member name and ':' at offset {position}")
            value, position = _JSON.raw_decode(text, _skip_space(text, position + 1))
        except (ValueError, RecursionError) as error:
            raise RecordError("invalid JSON", str(error)) from error
        yield key, value
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif text.startswith("}", position) and not text[position + 1:].strip():
            return
        else:
            raise RecordError("invalid JSON", f"expected ',' or the end at offset {position}")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position

