"""CVSS vectors read one way by dbbuilder (stored scores) and the scanner (rows stored without one)."""

from __future__ import annotations

import pytest

from scanner.cvss_score import base_score, cvss_version, osv_type

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V30 = "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"
V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"
V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(("vector", "version", "kind", "score"), [
    (V31, "3.1", "CVSS_V3", 9.8), (V30, "3.0", "CVSS_V3", 9.1), (V2, "2.0", "CVSS_V2", 7.5),
    (V4, "4.0", "CVSS_V4", 9.3),
])
def test_version_type_and_score_of_each_cvss_version(vector: str, version: str, kind: str, score: float) -> None:
    assert (cvss_version(vector), osv_type(vector), base_score(vector)) == (version, kind, score)


def test_a_declared_type_wins_for_v4_and_v2() -> None:
    assert cvss_version("AV:N/AC:L/AT:N", "CVSS_V4") == "4.0"
    assert cvss_version(V31, "CVSS_V2") == "2.0"
    assert base_score(V31, "2.0") is None  # a v3 vector does not parse as v2


@pytest.mark.parametrize("vector", ["", "CVSS:3.1/", "CVSS:3.1/AV:N/AV:N", "CVSS:4.0/AV:N", "AV:Q/AC:L", "\0",
                                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/" * 50])
def test_a_malformed_vector_has_no_score_instead_of_an_error(vector: str) -> None:
    assert base_score(vector) is None
