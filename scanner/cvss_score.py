"""CVSS vectors read one way on both sides: which CVSS version a vector is, and its base score.

dbbuilder stores the score it computes here with each severity row; the scanner computes it here for
rows stored without one. Scores come from the `cvss` library (RedHatProductSecurity/cvss). A vector it
cannot score has no score (None), never an exception: a malformed vector in a feed or a bundle is a
fact about that record, not a failure of the build or the scan.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

CvssVersion = Literal["4.0", "3.1", "3.0", "2.0"]
_OSV_TYPES: dict[CvssVersion, str] = {"4.0": "CVSS_V4", "3.1": "CVSS_V3", "3.0": "CVSS_V3", "2.0": "CVSS_V2"}
# Besides the library's CVSSError for malformed vectors: what its parsing and its Decimal arithmetic could
# raise on input it does not anticipate (none seen when fuzzing it).
_UNSCORABLE = (ValueError, KeyError, IndexError, TypeError, ArithmeticError)


def cvss_version(vector: str, declared_type: str | None = None) -> CvssVersion:
    """The CVSS version of `vector`; `declared_type` is the OSV severity type stored with it, which
    wins for v4 and v2 (a v2 vector has no `CVSS:` prefix to tell)."""
    if declared_type == "CVSS_V4" or vector.startswith("CVSS:4"):
        return "4.0"
    if declared_type == "CVSS_V2" or not vector.startswith("CVSS:3"):
        return "2.0"
    return "3.0" if vector.startswith("CVSS:3.0/") else "3.1"


def osv_type(vector: str) -> str:
    """The OSV severity type of a vector: CVSS_V4, CVSS_V3 or CVSS_V2."""
    return _OSV_TYPES[cvss_version(vector)]


@lru_cache(maxsize=65536)
def base_score(vector: str, version: CvssVersion | None = None) -> float | None:
    """The base score of a CVSS v2, v3.x or v4.0 vector (`version` as `cvss_version` says, by default
    from the vector itself); None when the vector does not parse as that version."""
    # Imported here (~5 ms): a scan scores only rows stored without a score, and dbbuilder stores one for every
    # vector it can score.
    import cvss

    chosen = cvss_version(vector) if version is None else version
    try:
        if chosen == "4.0":
            return float(cvss.CVSS4(vector).base_score)
        if chosen == "2.0":
            return float(cvss.CVSS2(vector).base_score)
        return float(cvss.CVSS3(vector).base_score)
    except (cvss.CVSSError, *_UNSCORABLE):
        return None
