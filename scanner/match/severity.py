"""Choosing one severity for a finding: the distro's rating for OS packages, else the best CVSS score."""

from __future__ import annotations

from collections.abc import Iterable

from cvss import CVSS2, CVSS3, CVSS4

from scanner.db.store import SeverityRow
from scanner.model import CvssScore, Severity

_TYPE_RANK = {"4.0": 0, "3.1": 1, "3.0": 2, "2.0": 3}


def _cvss_version(row: SeverityRow) -> str:
    if row.type == "CVSS_V4" or row.vector.startswith("CVSS:4.0/"):
        return "4.0"
    if row.type == "CVSS_V2" or not row.vector.startswith("CVSS:3"):
        return "2.0"
    return "3.0" if row.vector.startswith("CVSS:3.0/") else "3.1"


def _base_score(version: str, vector: str) -> float | None:
    """The base score computed from the vector, for rows the builder stored without one."""
    try:
        if version == "4.0":
            return float(CVSS4(vector).base_score)
        if version == "2.0":
            return float(CVSS2(vector).base_score)
        return float(CVSS3(vector).base_score)
    except Exception:  # the cvss library raises several unrelated types for malformed vectors
        return None


def cvss_scores(rows: Iterable[SeverityRow]) -> tuple[CvssScore, ...]:
    """Every distinct usable score, best first: newest CVSS version, then NVD's, then the highest score."""
    scores: set[CvssScore] = set()
    for row in rows:
        version = _cvss_version(row)
        score = row.score if row.score is not None else _base_score(version, row.vector)
        if score is None:
            continue
        scores.add(CvssScore(version=version, vector=row.vector, score=float(score), source=row.source))
    return tuple(sorted(scores, key=lambda s: (_TYPE_RANK.get(s.version, 9), s.source != "nvd", -s.score,
                                                s.source, s.vector)))


def choose_severity(
    distro_ratings: Iterable[tuple[str, str]],
    scores: tuple[CvssScore, ...],
    record_ratings: Iterable[tuple[str, str]],
) -> tuple[Severity, str]:
    """(severity, where it came from).

    `distro_ratings` are (source, text) pairs from the distro's own data and win when one parses (the
    highest, when rows of several releases' spellings disagree); then the first of `scores`; then the
    records' own text ratings (GitHub's, for instance).
    """
    rated = [(Severity.parse(text), source) for source, text in distro_ratings]
    known_distro = [item for item in rated if item[0] is not Severity.UNKNOWN]
    if known_distro:
        return max(known_distro)
    if scores:
        best = scores[0]
        return Severity.from_cvss_score(best.score), f"cvss:{best.source}"
    parsed = [(Severity.parse(text), source) for source, text in record_ratings]
    known = [item for item in parsed if item[0] is not Severity.UNKNOWN]
    if known:
        return max(known, key=lambda item: (item[0], item[1]))
    return Severity.UNKNOWN, ""
