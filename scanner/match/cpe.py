"""NVD CPE matching, run only when asked for (`--cpe-match`); its findings say `matched_by="cpe"`.

A package is looked up by the CPE product it would be listed under; a CPE row needs a version range or
an exact version to match (`*` alone never does). A package already matched through its ecosystem's
advisories for a vulnerability gets no CPE hit for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from scanner import versions
from scanner.db.store import AffectedRow, CpeRow, VulnStore
from scanner.match.lookup import Hit, HitKey, Unevaluated
from scanner.model import FixState, Package


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


def match_cpes(store: VulnStore, packages: Sequence[Package], hits: dict[HitKey, Hit],
               unevaluated: list[Unevaluated]) -> None:
    """Add a CPE hit, in place, for each (package, group) a CPE row matches and nothing else did."""
    by_product: dict[str, list[int]] = defaultdict(list)
    for index, package in enumerate(packages):
        by_product[cpe_product(package)].append(index)
    rows = store.cpes(by_product)
    records = store.vulnerabilities(row.vuln_id for product_rows in rows.values() for row in product_rows)
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
                    hits[(index, record.group_id)] = Hit([(synthetic, record)], matched_by="cpe")
