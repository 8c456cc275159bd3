"""The boundary errors of scanner/errors.py: each its own exit code, none borrowing another's by inheritance,
and the exit code 2 ones named in docs/exit-codes.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from scanner import errors
from scanner.errors import MissingExtraError, OperatorInputError, ScannerError, UsageError

DOC = Path(__file__).resolve().parents[1] / "docs" / "exit-codes.md"


def boundary_classes() -> list[type[ScannerError]]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, ScannerError) and cls is not ScannerError]


def test_each_class_derives_from_scanner_error_only_and_sets_its_own_code() -> None:
    for cls in boundary_classes():
        assert cls.__bases__ == (ScannerError,), cls
        assert "exit_code" in vars(cls), cls


def test_the_library_errors_of_exit_code_2_are_documented() -> None:
    row = re.search(r"^\| 2 \| (.*)$", DOC.read_text(), flags=re.MULTILINE)
    assert row is not None
    named = set(re.findall(r"`(\w+Error)`", row[1]))
    assert {cls.__name__ for cls in boundary_classes() if cls.exit_code == 2} >= {
        UsageError.__name__, OperatorInputError.__name__, MissingExtraError.__name__}
    assert {cls.__name__ for cls in boundary_classes() if cls.exit_code == 2} <= named
