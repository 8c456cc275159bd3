"""Version comparison and OSV range evaluation throughput.

    .venv/bin/python -m benchmarks.versions [--data ../shared/data] [--repeat 3]

Per scheme, every (a, b) pair of the conformance vectors (real version strings from each
ecosystem's advisories) is compared with `scanner.versions.compare`: once with an empty cache
(every distinct string parsed once, parsing included) and again with the cache warm. For PyPI,
`packaging.version.Version` doing the same work is timed as a reference point. Then 10,000
(version, affected entry) pairs drawn from real OSV records (PyPI, Go, crates.io, AlmaLinux: every
range bound of each entry and up to two of its listed versions, so that about half the pairs are
not affected and take the full path) are evaluated with `is_affected`, cold and warm. The best of --repeat runs is reported.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.version import Version

from scanner import versions

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VECTOR_FILES = ("dpkg", "apk", "rpm", "pep440", "semver", "maven", "rubygems", "nuget", "composer")
RANGE_FEEDS = (("PyPI", "PyPI"), ("Go", "Go"), ("crates.io", "crates.io"), ("AlmaLinux", "AlmaLinux:9"))
RANGE_PAIRS = 10_000


def _best(repeat: int, run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _pairs(data: Path, name: str) -> tuple[str, list[tuple[str, str]]]:
    ecosystem, pairs = "", []
    with (data / "versions" / f"{name}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            vector = json.loads(line)
            ecosystem = vector["ecosystem"]
            if versions.is_valid(ecosystem, vector["a"]) and versions.is_valid(ecosystem, vector["b"]):
                pairs.append((vector["a"], vector["b"]))
    return ecosystem, pairs


def _compare_all(ecosystem: str, pairs: list[tuple[str, str]]) -> Callable[[], None]:
    def run() -> None:
        compare = versions.compare
        for a, b in pairs:
            compare(ecosystem, a, b)
    return run


def _cold(run: Callable[[], None]) -> Callable[[], None]:
    def cold_run() -> None:
        versions.clear_cache()
        run()
    return cold_run


def _packaging_all(pairs: list[tuple[str, str]]) -> Callable[[], None]:
    def run() -> None:
        for a, b in pairs:
            left, right = Version(a), Version(b)
            _ = (left > right) - (left < right)
    return run


def _range_pairs(data: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(ecosystem, version, affected) from real records: bounds, listed versions and neighbours."""
    candidates: list[tuple[str, str, dict[str, Any]]] = []
    for folder, ecosystem in RANGE_FEEDS:
        for path in sorted((data / "feeds" / "osv" / folder).glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            for entry in record.get("affected", []):
                entry_ecosystem = entry.get("package", {}).get("ecosystem", ecosystem)
                seen = list(entry.get("versions", [])[:2])
                for range_ in entry.get("ranges", []):
                    for event in range_["events"]:
                        seen.extend(value for value in event.values() if value != "0")
                for version in seen:
                    if versions.is_valid(entry_ecosystem, version):
                        candidates.append((entry_ecosystem, version, entry))
    random.Random(20261129).shuffle(candidates)
    return candidates[:RANGE_PAIRS]


def _evaluate_all(pairs: list[tuple[str, str, dict[str, Any]]]) -> Callable[[], None]:
    def run() -> None:
        for ecosystem, version, entry in pairs:
            versions.is_affected(ecosystem, version, entry)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print("| scheme (ecosystem) | pairs | distinct strings | cold: comparisons/s | warm: comparisons/s |")
    print("|---|---:|---:|---:|---:|")
    for name in VECTOR_FILES:
        ecosystem, pairs = _pairs(args.data, name)
        distinct = len({version for pair in pairs for version in pair})
        run = _compare_all(ecosystem, pairs)
        cold = _best(args.repeat, _cold(run))
        warm = _best(args.repeat, run)
        print(f"| {name} ({ecosystem}) | {len(pairs):,} | {distinct:,} | {len(pairs) / cold:,.0f} "
              f"| {len(pairs) / warm:,.0f} |")
        if name == "pep440":
            reference = _best(args.repeat, _packaging_all(pairs))
            print(f"| reference: packaging.version.Version, no cache | {len(pairs):,} | {distinct:,} "
                  f"| {len(pairs) / reference:,.0f} | - |")

    entries = _range_pairs(args.data)
    by_ecosystem: dict[str, int] = {}
    for ecosystem, _, _ in entries:
        family = ecosystem.split(":")[0]
        by_ecosystem[family] = by_ecosystem.get(family, 0) + 1
    affected_share = sum(versions.is_affected(*entry) for entry in entries) / len(entries)
    run = _evaluate_all(entries)
    cold = _best(args.repeat, _cold(run))
    warm = _best(args.repeat, run)
    mix = ", ".join(f"{family} {count:,}" for family, count in sorted(by_ecosystem.items()))
    print()
    print("| range evaluation | pairs | cold: pairs/s | warm: pairs/s | cold total | warm total |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| is_affected on real OSV entries ({mix}; {affected_share:.0%} affected) | {len(entries):,} | {len(entries) / cold:,.0f} "
          f"| {len(entries) / warm:,.0f} | {cold * 1000:.0f} ms | {warm * 1000:.0f} ms |")
    stats = versions.cache_info()
    print(f"\nparsed-key cache: {stats.size:,} of {stats.capacity:,} entries after the run")


if __name__ == "__main__":
    main()
