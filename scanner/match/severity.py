"""Choosing one severity for a finding: the distro's rating for OS packages, else the best CVSS score."""

from __future__ import annotations

from collections.abc import Iterable

from scanner.cvss_score import base_score, cvss_version
from scanner.db.store import SeverityRow
from scanner.model import CvssScore, Severity, SeverityOrigin

_TYPE_RANK = {"4.0": 0, "3.1": 1, "3.0": 2, "2.0": 3}


def cvss_scores(rows: Iterable[SeverityRow]) -> tuple[CvssScore, ...]:
    """Every distinct usable score, best first: newest CVSS version, then NVD's, then the highest score.

    A score several records of the group carry (GHSA and PYSEC with one vector) is listed once, under
    the smallest record id.
    """
    records: dict[tuple[str, str, float, str], str] = {}
    for row in rows:
        version = cvss_version(row.vector, row.type)
        score = row.score if row.score is not None else base_score(row.vector, version)  # stored without one
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
