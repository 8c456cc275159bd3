from __future__ import annotations

import pytest

from scanner.catalog.langpkg import ParseError, json_values, load_json
from scanner.catalog.limits import CatalogLimits


def test_json_values_are_counted_outside_strings_only() -> None:
    assert json_values(b'{"a,b:[{\\"": [1, 2], "c": {}}') == 8  # 2 braces, 1 bracket, 2 colons, 2 commas, plus one
    assert json_values(b'"only, a: string"') == 1


def test_load_json_refuses_more_values_than_the_cap() -> None:
    limits = CatalogLimits(max_json_values=10)
    assert load_json(b"[1, 2, 3]", limits) == [1, 2, 3]
    with pytest.raises(ParseError, match=r"holds about 12 JSON values, over 10 \(cap max_json_values\)"):
        load_json(b"[" + b"0," * 10 + b"0]", limits)
    with pytest.raises(ParseError, match="nested too deeply"):
        load_json(b"[" * 100_000, CatalogLimits())
