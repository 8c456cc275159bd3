"""Choosing one severity for a finding: the distro's rating for OS packages, else the best CVSS score."""

from __future__ import annotations

from collections.abc import Iterable

from cvss import CVSS2, CVSS3, CVSS4

from scanner.db.store import SeverityRow
from scanner.model import CvssScore, Severity, SeverityOrigin

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
    """Every distinct usable score, best first: newest CVSS version, then NVD's, then the highest score.

    A score several records of the group carry (GHSA and PYSEC with one vector) is listed once, under
    the smallest record id.
    """
    records: dict[tuple[str, str, float, str], str] = {}
    for row in rows:
        version = _cvss_version(row)
        score = row.score if row.score is not None else _base_score(version, row.vector)
        if score is None:
            continue
        key = (version, row.vector, float(score), row.source)
        records[key] = min(records.get(key, row.vuln_id), row.vuln_id)
    scores = (CvssScore(version=version, vector=vector, score=score, source=source, record=record)
              for (version, vector, score, source), record in records.items())
    return tuple(sorted(scores, key=lambda s: (_TYPE_RANK.get(s.version, 9), s.source != "nvd", -s.score,
                                                s.source, s.vector, s.record)))


Rating = tuple[str, str, str]  # (who rated: provider or source, record id, the rating text)


def _best_rating(ratings: Iterable[Rating], kind: str) -> tuple[Severity, SeverityOrigin] | None:
    """The highest rating that parses (ties: by source, then record), with where it is."""
    parsed = [(Severity.parse(text), source, record, text) for source, record, text in ratings]
    known = [item for item in parsed if item[0] is not Severity.UNKNOWN]
    if not known:
        return None
    severity, source, record, text = max(known, key=lambda item: (item[0], item[1], item[2]))
    return severity, SeverityOrigin(kind=kind, source=source, record=record, rating=text)


def choose_severity(
    distro_ratings: Iterable[Rating],
    scores: tuple[CvssScore, ...],
    record_ratings: Iterable[Rating],
) -> tuple[Severity, SeverityOrigin | None]:
    """(severity, where it came from); (UNKNOWN, None) when no record of the group rates it.

    `distro_ratings` are the distro's own ratings and win when one parses (the highest, when rows of
    several releases' spellings disagree); then the first of `scores`; then the records' own text
    ratings (GitHub's `database_specific.severity`, for instance).
    """
    distro = _best_rating(distro_ratings, "distro")
    if distro is not None:
        return distro
    if scores:
        best = scores[0]
        return Severity.from_cvss_score(best.score), SeverityOrigin(kind="cvss", source=best.source,
                                                                    record=best.record, cvss=best)
    rated = _best_rating(record_ratings, "rating")
    return rated if rated is not None else (Severity.UNKNOWN, None)


def gate_severity(severity: Severity, unknown_as: Severity | None) -> Severity:
    """The severity a finding is gated at (`--fail-on`, SARIF levels).

    Its own when known. An unknown one ranks where `--unknown-as` puts it, and without that at the top:
    a finding nobody rated may be critical, so it trips every threshold (fail closed).
    """
    if severity is not Severity.UNKNOWN:
        return severity
    return unknown_as if unknown_as is not None and unknown_as is not Severity.UNKNOWN else Severity.CRITICAL
