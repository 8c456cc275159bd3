from __future__ import annotations

import dataclasses

from scanner.model import Package


def _package(**changes: object) -> Package:
    return dataclasses.replace(Package("a", "1", "npm", "npm", "pkg:npm/a@1"), **changes)  # type: ignore[arg-type]


def test_package_order_is_total_with_and_without_a_layer() -> None:
    with_layer, without_layer = _package(layer_index=0), _package(layer_index=None)
    assert sorted([with_layer, without_layer, _package(layer_index=2)]) == [without_layer, with_layer,
                                                                          _package(layer_index=2)]
    assert without_layer < with_layer and not with_layer < without_layer and with_layer != without_layer


def test_package_order_follows_the_fields_in_declaration_order() -> None:
    compared = [field for field in dataclasses.fields(Package) if field.compare]
    assert len(_package()._order_key()) == len(compared)  # a new field must join the order key
    assert _package(name="a", version="2") < _package(name="b", version="1")
    assert _package(version="1", purl="z") < _package(version="2", purl="a")
    assert _package(locations=("a",)) < _package(locations=("b",))
    assert _package(metadata=(("k", "v"),)) == _package()  # metadata stays out of equality and order
