from __future__ import annotations

import inspect
import re
from pathlib import Path

from scanner.db import errors
from scanner.errors import BundleError

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def refusal_classes() -> list[type[BundleError]]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, BundleError) and cls is not BundleError]


def test_one_distinct_code_per_reason_within_10_to_49() -> None:
    codes = [cls.exit_code for cls in refusal_classes()]
    assert len(codes) == len(set(codes))
    assert all(10 <= code <= 49 for code in codes)


def test_every_code_is_documented_with_its_class() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", DOC.read_text(), flags=re.MULTILINE))
    assert {int(code): name for code, name in rows.items()} == {
        cls.exit_code: cls.__name__ for cls in refusal_classes()}
