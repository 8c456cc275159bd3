"""Database build benchmark: time, peak memory and size of `compile_database`.

    .venv/bin/python -m benchmarks.dbbuild              # shared feeds + full-scale synthetic corpus
    .venv/bin/python -m benchmarks.dbbuild --scale 0.1  # a tenth of the synthetic corpus, for a smoke run
    .venv/bin/python -m benchmarks.dbbuild --corpus DIR # keep the generated corpus in DIR and reuse it

The synthetic corpus is generated (seeded, so every run builds the same one) in a temporary directory:
about 250,000 OSV records in per-ecosystem `all.zip` archives, as osv.dev publishes them, and 300,000 NVD
CVE API 2.0 records in pages of 2,000. Shapes follow the real feeds: aliases, several ranges and events,
explicit version lists, CVSS v2/v3.1/v4 vectors, references, CWE ids, CPE configurations, a few withdrawn
records. Each build runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own. The page-size
comparison re-VACUUMs a copy of the built database at 65,536-byte pages and compresses both with zstd.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import zstandard

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"
OSV_RECORDS = 250_000
NVD_RECORDS = 300_000
NVD_PAGE = 2_000

# Share of OSV records per ecosystem, roughly osv.dev's (distro ecosystems included).
ECOSYSTEMS = {"PyPI": 0.07, "npm": 0.10, "Maven": 0.04, "Go": 0.02, "crates.io": 0.01, "RubyGems": 0.01,
              "Packagist": 0.02, "NuGet": 0.01, "Debian:11": 0.12, "Debian:12": 0.12, "Ubuntu:22.04:LTS": 0.14,
              "Ubuntu:20.04:LTS": 0.12, "Alpine:v3.19": 0.05, "AlmaLinux:9": 0.04, "Rocky Linux:9": 0.03,
              "Wolfi": 0.05, "Linux": 0.05}
_WORDS = [
    "allows", "remote", "attackers", "to", "execute", "arbitrary", "code", "via", "crafted", "request",
    "buffer", "overflow", "in", "the", "function", "when", "parsing", "input", "denial", "of",
    "service", "memory", "corruption", "use", "after", "free", "integer", "overflow", "cross", "site",
    "scripting", "sql", "injection", "authentication", "bypass", "privilege", "escalation", "improper",
    "validation", "of", "certificate", "path", "traversal", "heap", "out", "of", "bounds", "read",
    "write", "null", "pointer", "dereference", "kernel", "driver", "network", "packet", "header",
    "library", "version", "before", "through", "affected", "component", "user", "supplied", "data",
]


class _Text:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        made_up = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(4000)]
        self.words = _WORDS + made_up
        weights = [40.0] * len(_WORDS) + [1.0 / (1 + i / 50) for i in range(len(made_up))]
        self.cumulative = list(itertools.accumulate(weights))

    def sentence(self, words: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=words)).capitalize() + "."

    def paragraph(self, words: int) -> str:
        parts, left = [], words
        while left > 0:
            take = min(left, self.rng.randint(8, 25))
            parts.append(self.sentence(take))
            left -= take
        return " ".join(parts)


def _cvss3(rng: random.Random) -> str:
    pick = rng.choice
    return (f"CVSS:3.1/AV:{pick('NALP')}/AC:{pick('LH')}/PR:{pick('NLH')}/UI:{pick('NR')}/S:{pick('UC')}"
            f"/C:{pick('NLH')}/I:{pick('NLH')}/A:{pick('NLH')}")


def _cvss2(rng: random.Random) -> str:
    pick = rng.choice
    return f"AV:{pick('LAN')}/AC:{pick('HML')}/Au:{pick('MSN')}/C:{pick('NPC')}/I:{pick('NPC')}/A:{pick('NPC')}"


def _cvss4(rng: random.Random) -> str:
    pick = rng.choice
    return (f"CVSS:4.0/AV:{pick('NALP')}/AC:{pick('LH')}/AT:{pick('NP')}/PR:{pick('NLH')}/UI:{pick('NPA')}"
            f"/VC:{pick('HLN')}/VI:{pick('HLN')}/VA:{pick('HLN')}/SC:{pick('HLN')}/SI:{pick('HLN')}/SA:{pick('HLN')}")


def _version(rng: random.Random, ecosystem: str) -> str:
    base = f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
    if ecosystem.startswith(("Debian", "Ubuntu")):
        return f"{base}-{rng.randint(1, 9)}+deb{rng.randint(10, 12)}u{rng.randint(1, 5)}"
    if ecosystem.startswith(("Alpine", "Wolfi")):
        return f"{base}-r{rng.randint(0, 9)}"
    if ecosystem.startswith(("AlmaLinux", "Rocky")):
        return f"{base}-{rng.randint(1, 30)}.el9_{rng.randint(0, 4)}"
    return base


def range_type(ecosystem: str) -> str:
    return "SEMVER" if ecosystem in ("Go", "npm", "crates.io") else "ECOSYSTEM"


def range_events(rng: random.Random, ecosystem: str,
                 version: Callable[[random.Random, str], str] = _version) -> list[dict[str, str]]:
    """Introduced at 0 (60%) or at a version, fixed (85%) at another: the events of one synthetic range."""
    events = [{"introduced": "0" if rng.random() < 0.6 else version(rng, ecosystem)}]
    if rng.random() < 0.85:
        events.append({"fixed": version(rng, ecosystem)})
    return events


def _osv_record(rng: random.Random, text: _Text, index: int, ecosystem: str) -> dict[str, Any]:
    year = rng.randint(2015, 2026)
    cve = f"CVE-{year}-{rng.randint(1000, 60000)}"
    prefix = {"PyPI": "PYSEC", "Go": "GO", "crates.io": "RUSTSEC", "Debian:11": "DEBIAN", "Debian:12": "DEBIAN",
              "Ubuntu:22.04:LTS": "UBUNTU", "Ubuntu:20.04:LTS": "UBUNTU", "Alpine:v3.19": "ALPINE",
              "AlmaLinux:9": "ALSA", "Rocky Linux:9": "RLSA", "Wolfi": "CGA", "Linux": "OSV"}.get(ecosystem, "GHSA")
    vuln_id = f"{prefix}-{year}-{index:07d}"
    package = f"pkg-{rng.randint(0, 40000)}" if ecosystem != "Maven" else f"org.example:lib-{rng.randint(0, 9000)}"
    affected = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        entry: dict[str, Any] = {
            "package": {"ecosystem": ecosystem, "name": package, "purl": f"pkg:generic/{package}"},
            "ranges": [{"type": range_type(ecosystem), "events": range_events(rng, ecosystem)}],
            "database_specific": {"source": f"https://example.org/{vuln_id}.json"},
        }
        if ecosystem in ("PyPI", "Debian:11", "Ubuntu:22.04:LTS") and rng.random() < 0.7:
            entry["versions"] = sorted({_version(rng, ecosystem) for _ in range(rng.randint(1, 60))})
        if rng.random() < 0.1:
            entry["ranges"].append({"type": "GIT", "repo": f"https://github.com/example/{package}",
                                    "events": [{"introduced": "0"}, {"fixed": f"{rng.getrandbits(160):040x}"}]})
        affected.append(entry)
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": vuln_id,
        "modified": f"{rng.randint(year, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00Z",
        "published": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:00:00Z",
        "aliases": [cve] + ([f"GHSA-{rng.getrandbits(48):012x}"] if rng.random() < 0.3 else []),
        "summary": text.sentence(rng.randint(5, 12)),
        "details": text.paragraph(rng.randint(40, 250)),
        "affected": affected,
        "references": [{"type": "WEB", "url": f"https://example.org/{package}/advisory/{rng.getrandbits(32):x}"}
                       for _ in range(rng.randint(1, 8))],
    }
    if ecosystem.startswith("Ubuntu"):
        record["upstream"] = record.pop("aliases")
        record["severity"] = [{"type": "Ubuntu", "score": rng.choice(("low", "medium", "high"))}]
    elif rng.random() < 0.6:
        record["severity"] = [{"type": "CVSS_V3", "score": _cvss3(rng)}]
        record["database_specific"] = {"severity": rng.choice(("LOW", "MODERATE", "HIGH", "CRITICAL")),
                                       "cwe_ids": [f"CWE-{rng.randint(20, 1000)}"]}
    if rng.random() < 0.005:
        record["withdrawn"] = record["modified"]
    return record


def _nvd_cve(rng: random.Random, text: _Text, index: int) -> dict[str, Any]:
    year = 1999 + index * 27 // NVD_RECORDS
    cve_id = f"CVE-{year}-{index:06d}"
    metrics: dict[str, Any] = {}
    if rng.random() < 0.8:
        metrics["cvssMetricV31"] = [{"source": "nvd@nist.gov", "type": "Primary",
                                     "cvssData": {"version": "3.1", "vectorString": _cvss3(rng)}}]
    if rng.random() < 0.5:
        metrics["cvssMetricV2"] = [{"source": "nvd@nist.gov", "type": "Primary",
                                    "cvssData": {"version": "2.0", "vectorString": _cvss2(rng)}}]
    if rng.random() < 0.05:
        metrics["cvssMetricV40"] = [{"source": "cna@example.org", "type": "Secondary",
                                     "cvssData": {"version": "4.0", "vectorString": _cvss4(rng)}}]
    vendor = f"vendor{rng.randint(0, 20000)}"
    matches = [{"vulnerable": True, "criteria": f"cpe:2.3:a:{vendor}:product{rng.randint(0, 9)}:*:*:*:*:*:*:*:*",
                "versionEndExcluding": f"{rng.randint(0, 9)}.{rng.randint(0, 30)}",
                "matchCriteriaId": f"{rng.getrandbits(128):032X}"} for _ in range(rng.randint(1, 8))]
    return {
        "id": cve_id,
        "sourceIdentifier": "cve@mitre.org",
        "published": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T17:15:08.513",
        "lastModified": f"{rng.randint(year, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T06:39:22.163",
        "vulnStatus": "Rejected" if rng.random() < 0.03 else "Analyzed",
        "descriptions": [{"lang": "en", "value": text.paragraph(rng.randint(20, 90))}],
        "metrics": metrics,
        "weaknesses": [{"source": "nvd@nist.gov", "type": "Primary",
                        "description": [{"lang": "en", "value": f"CWE-{rng.randint(20, 1000)}"}]}],
        "configurations": [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": matches}]}],
        "references": [{"url": f"https://example.org/{vendor}/{rng.getrandbits(40):x}", "source": "cve@mitre.org"}
                       for _ in range(rng.randint(2, 12))],
    }


def generate(root: Path, scale: float, seed: int = 2026) -> tuple[Path, Path]:
    rng = random.Random(seed)
    text = _Text(rng)
    osv_dir, nvd_dir = root / "osv", root / "nvd"
    index = 0
    for ecosystem, share in ECOSYSTEMS.items():
        folder = osv_dir / ecosystem.replace(":", "_")
        folder.mkdir(parents=True)
        with zipfile.ZipFile(folder / "all.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for _ in range(int(OSV_RECORDS * scale * share)):
                record = _osv_record(rng, text, index, ecosystem)
                archive.writestr(f"{record['id']}.json", json.dumps(record, indent=2))
                index += 1
    nvd_dir.mkdir()
    total = int(NVD_RECORDS * scale)
    for start in range(0, total, NVD_PAGE):
        items = [{"cve": _nvd_cve(rng, text, i)} for i in range(start, min(total, start + NVD_PAGE))]
        page = {"resultsPerPage": len(items), "startIndex": start, "totalResults": total, "format": "NVD_CVE",
                "version": "2.0", "timestamp": "2026-11-28T00:00:00.000", "vulnerabilities": items}
        (nvd_dir / f"page-{start // NVD_PAGE:04d}.json").write_text(json.dumps(page))
    return osv_dir, nvd_dir


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from dbbuilder.compile import compile_database
args = json.loads(sys.argv[1])
started, cpu = time.perf_counter(), time.process_time()
summary = compile_database(Path(args["out"]), {k: [Path(p) for p in v] for k, v in args["inputs"].items()})
print(json.dumps({"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "records": {p.name: p.records for p in summary.providers},
                  "vulnerabilities": summary.vulnerabilities, "affected_rows": summary.affected_rows,
                  "size": summary.database_size}))
"""


def build(out: Path, inputs: dict[str, list[str]]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps({"out": str(out), "inputs": inputs})],
                          check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def zstd_size(path: Path, level: int) -> int:
    params = zstandard.ZstdCompressionParameters.from_level(level, window_log=27, enable_ldm=True, threads=2)
    compressor = zstandard.ZstdCompressor(compression_params=params)
    size = 0
    with path.open("rb") as source:
        for chunk in compressor.read_to_iter(source, read_size=1 << 20, write_size=1 << 20):
            size += len(chunk)
    return size


def table_sizes(path: Path) -> Iterator[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        yield from db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full-scale synthetic corpus")
    parser.add_argument("--corpus", type=Path, help="generate the corpus here, or reuse it if already there")
    parser.add_argument("--levels", type=int, nargs="*", default=[3, 12], help="zstd levels for the page sizes")
    options = parser.parse_args()
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="dbbuild-bench-") as scratch:
        root = Path(scratch)
        shared = build(root / "shared.sqlite", {
            "osv": [str(FEEDS / "osv"), str(FEEDS / "osv-samples")], "nvd": [str(FEEDS / "nvd")],
            "debian": [str(FEEDS / "debian")], "alpine": [str(FEEDS / "alpine")]})
        print(f"shared feeds: {shared['seconds']:.1f} s ({shared['cpu_seconds']:.1f} s CPU), peak RSS {shared['peak_rss_mib']:.0f} MiB, "
              f"{shared['size'] / mib:.1f} MiB, {shared['vulnerabilities']} vulnerabilities")
        corpus = options.corpus or root / "corpus"
        started = time.perf_counter()
        if (corpus / "nvd").is_dir():
            osv_dir, nvd_dir = corpus / "osv", corpus / "nvd"
        else:
            osv_dir, nvd_dir = generate(corpus, options.scale)
        input_bytes = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
        print(f"synthetic corpus ready in {time.perf_counter() - started:.0f} s, "
              f"{input_bytes / mib:.0f} MiB of input files")
        full = build(root / "full.sqlite", {"osv": [str(osv_dir)], "nvd": [str(nvd_dir)]})
        print(f"synthetic: {full['records']}, {full['seconds']:.1f} s ({full['cpu_seconds']:.1f} s CPU), peak RSS {full['peak_rss_mib']:.0f} MiB, "
              f"{full['size'] / mib:.1f} MiB, {full['affected_rows']} affected rows")
        for name, size in table_sizes(root / "full.sqlite"):
            print(f"  {name}: {size / mib:.1f} MiB")
        large = root / "full-64k.sqlite"
        shutil.copyfile(root / "full.sqlite", large)
        with sqlite3.connect(large) as db:
            db.execute("PRAGMA page_size=65536")
            db.execute("VACUUM")
        for path, page in ((root / "full.sqlite", 4096), (large, 65536)):
            for level in options.levels:
                started = time.perf_counter()
                compressed = zstd_size(path, level)
                print(f"page {page}: {path.stat().st_size / mib:.1f} MiB -> zstd {level} (long, 2 threads) "
                      f"{compressed / mib:.1f} MiB in {time.perf_counter() - started:.0f} s")
        print(f"max RSS of this process (generator): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
