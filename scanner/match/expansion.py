"""Advisories that cover several CVEs (a DSA, DLA or USN naming more than one), reported per CVE.

Such an advisory is in no CVE's alias group (docs/database.md, rule 4); the CVEs it covers are the ids
its `upstream` names (the builder keeps a multi-CVE record's `aliases` there too) and, for distro
advisories, its `related` ids. An id counts when its alias group is a CVE's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from scanner.db.store import AffectedRow, DetailRow, VulnRecord, VulnStore
from scanner.match.lookup import Hit, HitKey, is_cve
from scanner.model import Package


def expand_advisories(store: VulnStore, packages: Sequence[Package], hits: dict[HitKey, Hit],
                      decided: set[HitKey]) -> None:
    """Turn a hit on an advisory that covers CVEs into one hit per CVE group, in place.

    When records of the CVE's own group have rows for the package but did not match (`decided`), they
    decide: the advisory adds nothing for that CVE (the per-CVE data says this version is not affected).
    """
    candidates = {record.id for (_, group), hit in hits.items() if not is_cve(group)
                  for _, record in hit.rows if record.group_id == group}
    if not candidates:
        return
    details = store.details(candidates)
    groups = store.group_ids(vuln_id for detail in details.values()
                             for vuln_id in (*detail.upstream, *detail.related))

    def covered(record: VulnRecord, distro: bool) -> set[str]:
        detail = details.get(record.id)
        if detail is None:
            return set()
        linked = (*detail.upstream, *detail.related) if distro else detail.upstream
        return {groups[vuln_id] for vuln_id in linked if is_cve(groups[vuln_id])}

    for group_key in sorted(key for key in hits if not is_cve(key[1])):
        index, hit = group_key[0], hits[group_key]
        kept: list[tuple[AffectedRow, VulnRecord]] = []
        for row, record in hit.rows:
            cve_groups = covered(record, distro=hit.matched_by == "distro")
            if not cve_groups:
                kept.append((row, record))
                continue
            for cve_group in sorted(cve_groups):
                target = (index, cve_group)
                if target in decided and target not in hits:
                    continue
                hits.setdefault(target, Hit(matched_by=hit.matched_by)).advisory_rows.append((row, record))
        if kept:
            hit.rows = kept
        else:
            del hits[group_key]


def fixing_advisories(store: VulnStore, hits: Mapping[HitKey, Hit], members: Mapping[str, tuple[str, ...]],
                      details: Mapping[str, DetailRow]) -> dict[str, tuple[str, ...]]:
    """Per CVE group, the distro advisories (DSA, USN ...) a matched per-CVE record names in `related`
    that cover the CVE themselves (name one of the group's ids in their `upstream` or `related`)."""
    candidates: dict[str, set[str]] = defaultdict(set)
    for (_, group), hit in hits.items():
        if hit.matched_by != "distro" or not is_cve(group):
            continue
        for row, _ in hit.rows:
            detail = details.get(row.vuln_id)
            if detail is not None:
                candidates[group].update(i for i in detail.related if not is_cve(i))
    if not candidates:
        return {}
    advisories = store.details(set().union(*candidates.values()))
    found: dict[str, tuple[str, ...]] = {}
    for group, ids in candidates.items():
        names = {group, *members.get(group, ())}
        found[group] = tuple(sorted(i for i in ids if i in advisories
                                    and names & {*advisories[i].upstream, *advisories[i].related}))
    return found
