"""Alias groups: the ids (GHSA, PYSEC, GO-, RUSTSEC-, DSA-, DEBIAN-CVE-, CVE ...) that name one vulnerability.

Records link to other ids through OSV `aliases` and `upstream` (`related` is a different vulnerability
and never links). A CVE id anchors a group, and two CVEs are never put in one group, however records
link them, because a record that names several CVEs (a DSA, a USN, an advisory covering a batch of
issues) is about several vulnerabilities. The rule, deterministic for the same links:

1. Withdrawn records contribute no links.
2. Pass 1, in id order: every record that names exactly one CVE (itself included) is joined with each id
   it links to, unless the join would put two different CVEs into one group (that link is dropped).
3. Pass 2, in id order: every record that names no CVE (a USN, a PYSEC aliasing only a GHSA) is joined
   with the ids it links to when those ids reach at most one CVE between them; otherwise it stays alone.
4. Records that name two or more CVEs join no group through them.
5. A group's id is its CVE when it has one, else its smallest id (in code point order).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

CVE_PREFIX = "CVE-"


def is_cve(vuln_id: str) -> bool:
    return vuln_id.startswith(CVE_PREFIX)


class _Groups:
    """Union-find over ids; each root knows the one CVE of its component, if any."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.cve: dict[str, str] = {}

    def find(self, item: str) -> str:
        if item not in self.parent:
            self.parent[item] = item
            if is_cve(item):
                self.cve[item] = item
            return item
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression, iteratively: chains can be long
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, left: str, right: str) -> bool:
        """Join the two components unless that puts two CVEs together; whether they are now one."""
        a, b = self.find(left), self.find(right)
        if a == b:
            return True
        cve_a, cve_b = self.cve.get(a), self.cve.get(b)
        if cve_a is not None and cve_b is not None and cve_a != cve_b:
            return False
        if b < a:
            a, b = b, a
        self.parent[b] = a
        if cve_a or cve_b:
            self.cve[a] = cve_a or cve_b or ""
        return True

    def component_cve(self, item: str) -> str | None:
        return self.cve.get(self.find(item))


def alias_groups(links: Mapping[str, Iterable[str]], withdrawn: Collection[str]) -> dict[str, str]:
    """Map every id that shares a group with at least one other id to its group id.

    `links` maps a record id to the ids its `aliases` and `upstream` name. Ids absent from the result
    form a group of their own, whose id is themselves.
    """
    groups = _Groups()
    single_cve: list[tuple[str, list[str]]] = []
    no_cve: list[tuple[str, list[str]]] = []
    for record_id in sorted(links):
        if record_id in withdrawn:
            continue
        targets = sorted(set(links[record_id]) - {record_id})
        if not targets:
            continue
        named = {vuln_id for vuln_id in (record_id, *targets) if is_cve(vuln_id)}
        if len(named) == 1:
            single_cve.append((record_id, targets))
        elif not named:
            no_cve.append((record_id, targets))
    for record_id, targets in single_cve:
        for target in targets:
            groups.join(record_id, target)
    for record_id, targets in no_cve:
        reached = {cve for cve in (groups.component_cve(t) for t in targets) if cve is not None}
        if len(reached) <= 1:
            for target in targets:
                groups.join(record_id, target)
    members: dict[str, list[str]] = {}
    for item in groups.parent:
        members.setdefault(groups.find(item), []).append(item)
    result: dict[str, str] = {}
    for root, items in members.items():
        if len(items) < 2:
            continue
        group_id = groups.cve.get(root) or min(items)
        for item in items:
            result[item] = group_id
    return result
