"""What the database says about alias groups, turned into `Vulnerability` values.

Severity comes from any record of the finding's alias group, not only the one that matched: for OS
packages the distro's own rating (the per-package one first), else the best CVSS score of any id of the
group, else the records' own text rating (`severity.choose_severity`). An expanded advisory's rating is
for all of its CVEs together and never rates one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.clock import normalized_time
from scanner.db.store import DetailRow, SeverityRow, VulnRecord
from scanner.match.lookup import Hit
from scanner.match.severity import Rating, choose_severity, cvss_scores
from scanner.model import Severity, Vulnerability


@dataclass
class GroupFacts:
    """What the database says about alias groups, turned into `Vulnerability` values (memoised)."""

    members: Mapping[str, tuple[str, ...]]
    severities: Mapping[str, list[SeverityRow]]
    records: Mapping[str, VulnRecord]
    details: Mapping[str, DetailRow]
    fixing_advisories: Mapping[str, tuple[str, ...]]  # CVE group -> distro advisories naming it (related)
    made: dict[tuple[Any, ...], Vulnerability] = field(default_factory=dict)

    def vulnerability(self, group: str, hit: Hit, *, os_package: bool) -> Vulnerability:
        matched_ids = tuple(sorted({row.vuln_id for row, _ in hit.rows}))
        advisory_ids = tuple(sorted({row.vuln_id for row, _ in hit.advisory_rows}
                                    | set(self.fixing_advisories.get(group, ()))))
        # An expanded advisory's rating is for all of its CVEs together: only the group's own records rate it.
        distro_ratings: tuple[Rating, ...] = ()
        if os_package:
            # The per-package rating (Debian urgency, Ubuntu priority for this package) is the more
            # specific one; the record's own rating counts only when no per-package one is known.
            per_package = tuple((record.provider, record.id, row.severity) for row, record in hit.rows
                                if row.severity)
            if not any(Severity.parse(text) is not Severity.UNKNOWN for _, _, text in per_package):
                per_package = tuple((record.provider, record.id, record.severity) for _, record in hit.rows
                                    if record.severity)
            distro_ratings = tuple(sorted(set(per_package)))
        key = (group, matched_ids, advisory_ids, distro_ratings)
        if key not in self.made:
            self.made[key] = self._build(group, matched_ids, advisory_ids, distro_ratings)
        return self.made[key]

    def _build(self, group: str, matched_ids: tuple[str, ...], advisory_ids: tuple[str, ...],
               distro_ratings: tuple[Rating, ...]) -> Vulnerability:
        ids = {group, *self.members.get(group, ()), *matched_ids}
        scores = cvss_scores(s for vuln_id in sorted(ids) for s in self.severities.get(vuln_id, ()))
        ordered_records = sorted((self.records[i] for i in ids if i in self.records),
                                 key=lambda r: (r.id != group, r.id))
        record_ratings = [(r.provider, r.id, r.severity) for r in ordered_records if r.severity]
        severity, origin = choose_severity(distro_ratings, scores, record_ratings)
        summary = next((r.summary for r in ordered_records if r.summary), "")
        detail_rows = [self.details[i] for i in (group, *matched_ids, *advisory_ids) if i in self.details]
        if not summary:
            summary = next((d.details.strip().splitlines()[0] for d in detail_rows if d.details.strip()), "")
        if not summary:
            summary = next((self.records[i].summary or "" for i in advisory_ids
                            if i in self.records and self.records[i].summary), "")
        return Vulnerability(
            id=group,
            aliases=tuple(sorted((ids | set(advisory_ids)) - {group})),
            summary=summary,
            severity=severity,
            severity_origin=origin,
            cvss=scores,
            # The group's own record first; a record whose date is a placeholder (Go's year 1) has none.
            published=next((t for r in ordered_records if (t := normalized_time(r.published))), ""),
            modified=next((t for r in ordered_records if (t := normalized_time(r.modified))), ""),
            references=tuple(sorted({ref for d in detail_rows for ref in d.references})),
            cwes=tuple(sorted({cwe for d in detail_rows for cwe in d.cwes})),
        )
