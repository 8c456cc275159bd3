from __future__ import annotations

import inspect
import re
from pathlib import Path

from scanner.db import errors
from scanner.errors import BundleError, LocalStateError, ScannerError

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"
BASES = (BundleError, LocalStateError)


def error_classes() -> list[type[ScannerError]]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, BASES) and cls not in BASES]


def test_one_distinct_code_per_reason_within_10_to_49_and_51() -> None:
    codes = [cls.exit_code for cls in error_classes()]
    assert len(codes) == len(set(codes))
    assert all(10 <= code <= 49 or code == 51 for code in codes)


def test_every_code_is_documented_with_its_class() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", DOC.read_text(), flags=re.MULTILINE))
    assert {int(code): name for code, name in rows.items()} == {
        cls.exit_code: cls.__name__ for cls in error_classes()}


def test_each_class_derives_from_its_boundary_only() -> None:
    # No class borrows another's code by inheriting from it; local-state failures are never refusals.
    for cls in error_classes():
        assert cls.__bases__ in ((BundleError,), (LocalStateError,)), cls
    local = {cls.__name__ for cls in error_classes() if issubclass(cls, LocalStateError)}
    assert local == {"StateError", "TrustStoreError", "AuditLogError", "PolicyError"}
    assert not any(issubclass(cls, BundleError) for cls in error_classes() if cls.__name__ in local)
