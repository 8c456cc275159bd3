"""Matching packages against the vulnerability database.

- OS packages (deb, apk, rpm) match only their own distro release's advisories, with the distro's
  version order. Every spelling of the release the database holds is queried ("Ubuntu:22.04" finds
  "Ubuntu:22.04:LTS" and "Ubuntu:Pro:22.04:LTS"). deb and apk packages are looked up by SOURCE package
  (the name Debian, Ubuntu and Alpine advisories use); rpm packages by binary AND source name, because
  the rpm distros' OSV records list binary rpms ("openssl-libs", "python3-libs"), sometimes beside
  the source name. An advisory naming the binary rpm is judged by that row only.
- Language packages match their ecosystem by normalised name; those whose files an OS package owns
  are skipped unless asked for (the distro patches them; their upstream advisories mislead). Go modules
  and Rust crates compiled into an OS package's executable are matched all the same
  (`Package.compiled_into`): a distro issues no advisories for the Go standard library in its restic.
- Withdrawn records never match; a record whose fix state is "not affected" never matches.
- One finding per (package, alias group); its id is the group id (the CVE when there is one).
- A version or range that cannot be evaluated gives an `Unevaluated` entry, never a silent answer.
- NVD CPE matching runs only when asked for, and its findings say `matched_by="cpe"`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner import versions
from scanner.clock import normalized_time
from scanner.db.store import AffectedRow, CpeRow, DetailRow, SeverityRow, VulnRecord, VulnStore
from scanner.match.severity import Rating, choose_severity, cvss_scores
from scanner.model import Finding, Fix, FixState, Package, Severity, Vulnerability
from scanner.names import normalize_package_name

OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})
# An Alpine edge image's VERSION_ID is the next release's pre-release ("3.19_alpha20230901"); the apk
# cataloger and SBOM tools carry it in the PURL's distro qualifier.
_ALPINE_EDGE_DISTRO = re.compile(r"[?&]distro=alpine-[0-9.]+_alpha", re.IGNORECASE)

# Fix states of rows that carry no range: the distro says every version is affected.
_UNRANGED_AFFECTED = frozenset({FixState.NOT_FIXED, FixState.WONT_FIX, FixState.END_OF_LIFE,
                                FixState.UNDER_INVESTIGATION})
# When records of one group disagree, the most actionable state wins.
_STATE_ORDER = (FixState.FIXED, FixState.WONT_FIX, FixState.END_OF_LIFE, FixState.NOT_FIXED,
                FixState.UNDER_INVESTIGATION, FixState.UNKNOWN)


@dataclass(frozen=True)
class Unevaluated:
    """A package (and advisory, when known) the matcher could not decide about, and why."""

    package: Package
    advisory_id: str
    reason: str


@dataclass(frozen=True)
class Evidence:
    """The affected entries behind one finding, kept to compute remediations after filtering."""

    ecosystem: str
    affected: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class MatchResult:
    findings: tuple[Finding, ...]
    unevaluated: tuple[Unevaluated, ...] = ()
    skipped_os_owned: tuple[Package, ...] = ()
    evidence: Mapping[tuple[Package, str], Evidence] = field(default_factory=dict)


def is_os_package(package: Package) -> bool:
    return package.type in OS_PACKAGE_TYPES


def is_cve(vuln_id: str) -> bool:
    return vuln_id.startswith("CVE-")


def is_alpine_edge(package: Package) -> bool:
    return package.ecosystem.startswith("Alpine:") and _ALPINE_EDGE_DISTRO.search(package.purl) is not None


def release_prefixes(ecosystem: str, *, alpine_edge: bool = False) -> tuple[str, ...]:
    """The ecosystem spellings that mean this release: each prefix, and each prefix + ":" + suffix.

    Ubuntu 22.04 is "Ubuntu:22.04", "Ubuntu:22.04:LTS" and "Ubuntu:Pro:22.04:LTS". An Alpine edge image
    ("Alpine:v3.19" from VERSION_ID 3.19_alpha…) also reads the secdb's edge branch ("Alpine:edge").
    """
    family, _, release = ecosystem.partition(":")
    if family == "Ubuntu" and release and not release.startswith("Pro:"):
        plain = release.removesuffix(":LTS")
        return f"Ubuntu:{plain}", f"Ubuntu:Pro:{plain}"
    return (ecosystem, "Alpine:edge") if alpine_edge else (ecosystem,)


def is_spelling(candidate: str, prefix: str) -> bool:
    return candidate == prefix or candidate.startswith(prefix + ":")


def _release_variants(store: VulnStore, ecosystem: str, *, alpine_edge: bool = False) -> tuple[str, ...]:
    """Every ecosystem spelling in the database that means this release (`release_prefixes`)."""
    found: set[str] = set()
    for prefix in release_prefixes(ecosystem, alpine_edge=alpine_edge):
        found.update(e for e in store.ecosystems_like(prefix) if is_spelling(e, prefix))
    return tuple(sorted(found))


@dataclass
class _Hit:
    rows: list[tuple[AffectedRow, VulnRecord]] = field(default_factory=list)  # records of the group itself
    matched_by: str = "ecosystem"
    # Rows of an advisory covering several CVEs (a DSA, a USN), expanded into this CVE's group.
    advisory_rows: list[tuple[AffectedRow, VulnRecord]] = field(default_factory=list)


# Internal maps key packages by their position in the sorted, de-duplicated input: hashing and
# comparing whole Package records dominated the cost on inputs with tens of thousands of packages.
_HitKey = tuple[int, str]  # (package index, alias group)


def lookup_key(package: Package) -> tuple[str, str, str]:
    """(ecosystem, name, version) the database is searched with first (`lookup_names` gives them all)."""
    if is_os_package(package) and package.type != "rpm":
        return package.ecosystem, package.match_source_name, package.match_source_version
    return package.ecosystem, package.name, package.version


def lookup_names(package: Package) -> tuple[tuple[str, str], ...]:
    """Every (normalised name, version) the database is searched with, the most specific first.

    An rpm is searched by its binary name with its own version, then by its source rpm's name with the
    source version (a subpackage can carry a version of its own: perl-Carp from perl). Both are EVRs with
    the epoch as the rpm header has it; an absent epoch is 0 on both sides of the comparison.
    """
    ecosystem, name, version = lookup_key(package)
    first = (normalize_package_name(ecosystem, name), version)
    if package.type != "rpm" or not package.source_name:
        return (first,)
    source = (normalize_package_name(ecosystem, package.source_name), package.match_source_version)
    return (first,) if source[0] == first[0] else (first, source)


def _rows_for(rows_by_key: Mapping[tuple[str, str], list[AffectedRow]], ecosystems: Sequence[str],
              names: Sequence[tuple[str, str]]) -> Iterator[tuple[AffectedRow, str]]:
    """The rows a package is judged by, each with the installed version to judge it at.

    An advisory with a row for a name listed earlier (an rpm's binary name) is judged by those rows
    only: its row for the source name is about the binary rpm of that name, not this one.
    """
    claimed: set[str] = set()
    for key_name, version in names:
        found = [row for eco in ecosystems for row in rows_by_key.get((eco, key_name), ())]
        for row in found:
            if row.vuln_id not in claimed:
                yield row, version
        claimed.update(row.vuln_id for row in found)


class _NoEvaluableRange(ValueError):
    """A row with neither a range nor a version list, and no distro state saying every version is affected."""


def _row_affects(row: AffectedRow, version: str) -> bool:
    affected = row.osv_affected
    if not affected:
        if row.fix_state in _UNRANGED_AFFECTED:
            return True
        # An OSV entry whose only range is a commit (GIT) range, without the versions it covers: the
        # builder drops GIT ranges, and nothing is left that an installed version can be checked against.
        raise _NoEvaluableRange("only commit (GIT) ranges and no affected versions listed; cannot be evaluated")
    return versions.is_affected(row.ecosystem, version, affected)


def sort_versions(ecosystem: str, items: Iterable[str]) -> list[str]:
    def key_of(value: str) -> tuple[int, Any]:
        try:
            return 0, versions.sort_key(ecosystem, value)
        except (versions.InvalidVersion, versions.UnknownEcosystem):
            return 1, value
    return sorted(set(items), key=key_of)


def _newer_than(ecosystem: str, installed: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """Candidates above the installed version, in version order; all of them when they cannot be compared.

    Empty when every candidate is at or below the installed version: the fixes named are for older
    lines (`introduced 0, fixed 1.0` beside `introduced 2.0` with no fix), none for the installed one.
    """
    ordered = sort_versions(ecosystem, candidates)
    newer: list[str] = []
    for candidate in ordered:
        try:
            if versions.compare(ecosystem, candidate, installed) > 0:
                newer.append(candidate)
        except (versions.InvalidVersion, versions.UnknownEcosystem):
            return tuple(ordered)
    return tuple(newer)


class Matcher:
    def __init__(self, store: VulnStore, *, include_os_owned: bool = False, cpe_match: bool = False) -> None:
        self.store = store
        self.include_os_owned = include_os_owned
        self.cpe_match = cpe_match

    def match(self, packages: Sequence[Package]) -> MatchResult:
        selected: list[Package] = []
        skipped: list[Package] = []
        for package in sorted(set(packages)):
            if package.owned_by and not is_os_package(package) and not package.compiled_into \
                    and not self.include_os_owned:
                skipped.append(package)
            else:
                selected.append(package)
        unevaluated: list[Unevaluated] = []
        hits = self._match_advisories(selected, unevaluated)
        if self.cpe_match:
            self._match_cpes(selected, hits, unevaluated)
        findings, evidence = self._findings(selected, hits)
        return MatchResult(findings=findings, unevaluated=tuple(sorted(set(unevaluated), key=_unevaluated_key)),
                           skipped_os_owned=tuple(skipped), evidence=evidence)

    def _match_advisories(self, packages: list[Package], unevaluated: list[Unevaluated]) -> dict[_HitKey, _Hit]:
        # ecosystem as stored -> normalised names to fetch, and per package where to look
        wanted: dict[str, set[str]] = defaultdict(set)
        plan: list[tuple[int, tuple[str, ...], tuple[tuple[str, str], ...]]] = []
        variants_cache: dict[tuple[str, bool], tuple[str, ...]] = {}
        for index, package in enumerate(packages):
            ecosystem, name, version = lookup_key(package)
            if is_os_package(package):
                if not ecosystem:
                    unevaluated.append(Unevaluated(package, "", "no advisory source known for this OS release; "
                                                                "distro advisories not checked"))
                    continue
                release = (ecosystem, is_alpine_edge(package))
                if release not in variants_cache:
                    variants_cache[release] = _release_variants(self.store, ecosystem, alpine_edge=release[1])
                ecosystems = variants_cache[release]
                if not ecosystems:
                    # A known distro whose release the database has no data for (a bookworm image, a
                    # bundle built without Debian 12): no rows is not "no vulnerabilities".
                    unevaluated.append(Unevaluated(package, "", f"the database holds no advisories for {ecosystem}; "
                                                                "distro advisories not checked"))
                    continue
            elif ecosystem == "Maven" and ":" not in name:
                # Advisories name group:artifact; guessing a group from the artifact alone is how peers
                # matched any "core.jar" to unrelated products, so say so instead of guessing.
                unevaluated.append(Unevaluated(package, "", "Maven artifact without a group id; "
                                                            "advisories name group:artifact, not checked"))
                continue
            else:
                ecosystems = (ecosystem,)
            names = lookup_names(package)
            for eco in ecosystems:
                wanted[eco].update(key_name for key_name, _ in names)
            plan.append((index, ecosystems, names))

        rows_by_key: dict[tuple[str, str], list[AffectedRow]] = {}
        for eco in sorted(wanted):
            for name, rows in self.store.affected(eco, wanted[eco]).items():
                rows_by_key[(eco, name)] = rows
        records = self.store.vulnerabilities(row.vuln_id for rows in rows_by_key.values() for row in rows)

        matched_by = ["distro" if is_os_package(package) else "ecosystem" for package in packages]
        hits: dict[_HitKey, _Hit] = {}
        decided: set[_HitKey] = set()  # (package, group) pairs some record of the group itself speaks about
        for index, ecosystems, names in plan:
            for row, version in _rows_for(rows_by_key, ecosystems, names):
                record = records.get(row.vuln_id)
                if record is None or record.withdrawn:
                    continue
                decided.add((index, record.group_id))
                if row.fix_state is FixState.NOT_AFFECTED:
                    continue
                try:
                    affected = _row_affects(row, version)
                except versions.InvalidVersion as error:
                    unevaluated.append(Unevaluated(packages[index], row.vuln_id,
                                                   f"version not understood: {error}"))
                    continue
                except versions.UnknownEcosystem as error:
                    unevaluated.append(Unevaluated(packages[index], row.vuln_id,
                                                   f"ecosystem not understood: {error}"))
                    continue
                except _NoEvaluableRange as error:
                    unevaluated.append(Unevaluated(packages[index], row.vuln_id, str(error)))
                    continue
                except (ValueError, TypeError) as error:  # a malformed range in the database
                    unevaluated.append(Unevaluated(packages[index], row.vuln_id,
                                                   f"range not understood: {error}"))
                    continue
                if affected:
                    hit = hits.setdefault((index, record.group_id), _Hit(matched_by=matched_by[index]))
                    hit.rows.append((row, record))
        self._expand_advisories(packages, hits, decided)
        return hits

    def _expand_advisories(self, packages: list[Package], hits: dict[_HitKey, _Hit], decided: set[_HitKey]) -> None:
        """Turn a hit on an advisory that covers CVEs (a DSA or USN naming several) into one hit per CVE group.

        Such an advisory is in no CVE's alias group (docs/database.md, rule 4); the CVEs it covers are the
        ids its `upstream` names (the builder keeps a multi-CVE record's `aliases` there too) and, for
        distro advisories, its `related` ids. An id counts when its alias group is a CVE's. When records of
        the CVE's own group have rows for the package but did not match, they decide: the advisory adds
        nothing for that CVE (the per-CVE data says this version is not affected).
        """
        candidates = {record.id for (_, group), hit in hits.items() if not is_cve(group)
                      for _, record in hit.rows if record.group_id == group}
        if not candidates:
            return
        details = self.store.details(candidates)
        groups = self.store.group_ids(vuln_id for detail in details.values()
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
                    hits.setdefault(target, _Hit(matched_by=hit.matched_by)).advisory_rows.append((row, record))
            if kept:
                hit.rows = kept
            else:
                del hits[group_key]

    def _match_cpes(self, packages: list[Package], hits: dict[_HitKey, _Hit],
                    unevaluated: list[Unevaluated]) -> None:
        by_product: dict[str, list[int]] = defaultdict(list)
        for index, package in enumerate(packages):
            by_product[cpe_product(package)].append(index)
        rows = self.store.cpes(by_product)
        records = self.store.vulnerabilities(row.vuln_id for product_rows in rows.values() for row in product_rows)
        for product, product_rows in rows.items():
            for index in by_product[product]:
                package = packages[index]
                for row in product_rows:
                    record = records.get(row.vuln_id)
                    if record is None or record.withdrawn or (index, record.group_id) in hits:
                        continue
                    try:
                        matched = cpe_version_matches(package, row)
                    except (versions.InvalidVersion, versions.UnknownEcosystem) as error:
                        unevaluated.append(Unevaluated(package, row.vuln_id, f"CPE range not evaluated: {error}"))
                        continue
                    if matched:
                        fixed = (row.version_end_excluding,) if row.version_end_excluding else ()
                        synthetic = AffectedRow(row.vuln_id, package.ecosystem, product, None, None,
                                                FixState.FIXED if fixed else FixState.UNKNOWN, fixed, None)
                        hits[(index, record.group_id)] = _Hit([(synthetic, record)], matched_by="cpe")

    def _findings(self, packages: list[Package], hits: Mapping[_HitKey, _Hit]) -> tuple[
            tuple[Finding, ...], dict[tuple[Package, str], Evidence]]:
        groups = {group for _, group in hits}
        members = self.store.group_members(groups)
        all_ids = set(groups)
        for group in groups:
            all_ids.update(members.get(group, ()))
        matched_ids_all = {row.vuln_id for hit in hits.values() for row, _ in (*hit.rows, *hit.advisory_rows)}
        all_ids |= matched_ids_all
        details = self.store.details(matched_ids_all | groups)
        facts = _GroupFacts(members, self.store.severities(all_ids), self.store.vulnerabilities(all_ids), details,
                            self._fixing_advisories(hits, members, details))
        entries: dict[int, Mapping[str, Any]] = {}  # id(row) -> entry: rows are shared by many findings
        findings: list[Finding] = []
        evidence: dict[tuple[Package, str], Evidence] = {}
        for (index, group), hit in sorted(hits.items(), key=lambda item: item[0]):
            package = packages[index]
            rows = _fix_rows(hit)
            ecosystem, _, installed = lookup_key(package)
            installed_by_name = dict(lookup_names(package))
            judged = [(row, installed_by_name.get(row.package, installed)) for row in rows]
            vulnerability = facts.vulnerability(group, hit, os_package=is_os_package(package))
            findings.append(Finding(package=package, vulnerability=vulnerability,
                                    fix=_merge_fix(package, ecosystem, judged), matched_by=hit.matched_by,
                                    advisory_id=min(row.vuln_id for row in rows)))
            for row in rows:
                if id(row) not in entries:
                    entries[id(row)] = _evidence_entry(row)
            evidence[(package, group)] = Evidence(ecosystem=rows[0].ecosystem,
                                                  affected=tuple(entries[id(row)] for row in rows))
        return tuple(findings), evidence

    def _fixing_advisories(self, hits: Mapping[_HitKey, _Hit], members: Mapping[str, tuple[str, ...]],
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
        advisories = self.store.details(set().union(*candidates.values()))
        found: dict[str, tuple[str, ...]] = {}
        for group, ids in candidates.items():
            names = {group, *members.get(group, ())}
            found[group] = tuple(sorted(i for i in ids if i in advisories
                                        and names & {*advisories[i].upstream, *advisories[i].related}))
        return found


def _fix_rows(hit: _Hit) -> list[AffectedRow]:
    """The rows a finding's fix and remediation come from.

    The group's own (per-CVE) records when one of them names a fixed version, or when no advisory was
    expanded into the group; else an expanded advisory's rows (the advisory's fix for the release stands
    when the per-CVE record has none); else all rows, so that the most actionable state is kept.
    """
    own = [row for row, _ in hit.rows]
    advisory = [row for row, _ in hit.advisory_rows]
    if not advisory or any(row.fix_state is FixState.FIXED for row in own):
        return own
    if not own or any(row.fix_state is FixState.FIXED for row in advisory):
        return advisory
    return own + advisory


@dataclass
class _GroupFacts:
    """What the database says about alias groups, turned into `Vulnerability` values (memoised)."""

    members: Mapping[str, tuple[str, ...]]
    severities: Mapping[str, list[SeverityRow]]
    records: Mapping[str, VulnRecord]
    details: Mapping[str, DetailRow]
    fixing_advisories: Mapping[str, tuple[str, ...]]  # CVE group -> distro advisories naming it (related)
    made: dict[tuple[Any, ...], Vulnerability] = field(default_factory=dict)

    def vulnerability(self, group: str, hit: _Hit, *, os_package: bool) -> Vulnerability:
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


def _evidence_entry(row: AffectedRow) -> Mapping[str, Any]:
    entry = row.osv_affected
    if entry:
        return entry
    # Rows without a range: CPE rows carry an end bound only; distro rows without a fix affect every version.
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if row.fixed:
        events.append({"fixed": row.fixed[0]})
    return {"ranges": [{"type": "ECOSYSTEM", "events": events}]}


_EPOCH = re.compile(r"^([0-9]+):(.*)$", re.DOTALL)
_BINNMU = re.compile(r"\+b[0-9]+$")  # a Debian binary-only rebuild: "2.36.1-8+b1" of source "2.36.1-8"


def _split_epoch(version: str) -> tuple[str, str]:
    """("1", "2.36.1-8") for "1:2.36.1-8"; ("", version) without an epoch."""
    found = _EPOCH.match(version)
    return (found.group(1), found.group(2)) if found else ("", version)


def installable_version(package: Package, ecosystem: str, judged_at: str, fixed: str) -> str:
    """The version of `package` built from `fixed`, a fixed version of what it was judged as at `judged_at`.

    Judged as itself, that is `fixed`. Judged as its source package, the binary's version is the
    source's with the binary's own epoch (bsdutils 1:2.36.1-8 from util-linux 2.36.1-8: the fix
    util-linux 2.36.1-8+deb11u1 is installed as bsdutils 1:2.36.1-8+deb11u1); a binNMU (`+b1`) of the
    installed source names the source's fix, the lowest binary that has it. "" when the binary carries a
    version of its own (libdevmapper1.02.1 2:1.02.175 from lvm2 2.03.11) or the fix changes the source's
    epoch: no version of this binary can be named, only the source's. "" also when the version would not
    sort above the installed one: a fix is never offered below what is installed.
    """
    if judged_at == package.version:
        return fixed if _above(ecosystem, package.version, fixed) else ""
    binary_epoch, binary_rest = _split_epoch(package.version)
    source_epoch, source_rest = _split_epoch(judged_at)
    fixed_epoch, fixed_rest = _split_epoch(fixed)
    if package.type == "deb":
        binary_rest = _BINNMU.sub("", binary_rest)
    if int(fixed_epoch or 0) != int(source_epoch or 0) or binary_rest != source_rest:
        return ""
    binary = f"{binary_epoch}:{fixed_rest}" if binary_epoch else fixed_rest
    return binary if _above(ecosystem, package.version, binary) else ""


def _above(ecosystem: str, installed: str, candidate: str) -> bool:
    """Whether `candidate` sorts above `installed`; True when they cannot be compared (the candidate is kept)."""
    try:
        return versions.compare(ecosystem, candidate, installed) > 0
    except (versions.InvalidVersion, versions.UnknownEcosystem):
        return True


def _merge_fix(package: Package, ecosystem: str, rows: Sequence[tuple[AffectedRow, str]]) -> Fix:
    """The fix of a finding from its rows, each with the installed version it was judged at.

    A row judged as the package itself (its own name and version) gives versions to install directly;
    one judged as its source package gives the source's fixed versions, and the binary versions built
    from them (`installable_version`). Every version offered sorts above what is installed.
    """
    states = {row.fix_state for row, _ in rows}
    state = next((s for s in _STATE_ORDER if s in states), FixState.UNKNOWN)
    if state is not FixState.FIXED:
        return Fix(state=state)
    own_name = normalize_package_name(ecosystem, package.name)
    named_any = False
    binary: set[str] = set()
    source: set[str] = set()
    for row, installed in rows:
        if row.fix_state is not FixState.FIXED:
            continue
        named_any = named_any or bool(row.fixed)
        newer = _newer_than(ecosystem, installed, row.fixed)
        if row.package == own_name and installed == package.version:
            binary.update(newer)
            continue
        source.update(newer)
        built = (installable_version(package, ecosystem, installed, fixed) for fixed in newer)
        binary.update(version for version in built if version)
    if named_any and not binary and not source:
        # The installed version is affected and no named fix is above it: not fixed for this version
        # (reporting "fixed in" an older version would send the user to a downgrade).
        return Fix(state=FixState.NOT_FIXED)
    return Fix(state=state, versions=tuple(sort_versions(ecosystem, binary)),
               source=package.match_source_name if source else "",
               source_versions=tuple(sort_versions(ecosystem, source)))


def _unevaluated_key(item: Unevaluated) -> tuple[Package, str, str]:
    return item.package, item.advisory_id, item.reason


def cpe_product(package: Package) -> str:
    """The CPE product a package would be listed under: its name without group or scope, lower case."""
    name = package.name
    for separator in (":", "/"):
        name = name.rsplit(separator, 1)[-1]
    return name.lower()


def cpe_version_matches(package: Package, row: CpeRow) -> bool:
    """Whether the package version falls in the row's bounds (or equals the version the criteria names)."""
    eco = package.ecosystem
    version = package.version
    bounds = (row.version_start_including, row.version_start_excluding,
              row.version_end_including, row.version_end_excluding)
    if not any(bounds):
        fields = row.criteria.split(":")
        named = fields[5] if len(fields) > 5 else "*"
        if named in ("*", "-", ""):
            return False  # no version information at all: too broad to claim a match
        return versions.compare(eco, version, named.replace("\\", "")) == 0
    if row.version_start_including and versions.compare(eco, version, row.version_start_including) < 0:
        return False
    if row.version_start_excluding and versions.compare(eco, version, row.version_start_excluding) <= 0:
        return False
    if row.version_end_including and versions.compare(eco, version, row.version_end_including) > 0:
        return False
    return not (row.version_end_excluding and versions.compare(eco, version, row.version_end_excluding) >= 0)

