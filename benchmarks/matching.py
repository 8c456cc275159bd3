"""Matching benchmark: 2,000 packages against a full-scale synthetic database, and whole scans of images.

    .venv/bin/python -m benchmarks.matching                      # everything (a few minutes the first time)
    .venv/bin/python -m benchmarks.matching --scale 0.1          # a tenth of the synthetic database
    .venv/bin/python -m benchmarks.matching --image A.tar B.tar  # end-to-end on these images (default: demo)

Part 1 writes a synthetic database straight into the schema (seeded: every run builds the same one,
kept in --workdir and reused): 250,000 OSV-shaped records over the ecosystems osv.dev carries, about
400,000 `affected` rows (a few hot packages with hundreds of records, as the kernel or chromium have),
CVSS rows, alias groups, details, and 300,000 CPE rows. It then matches 2,000 packages (OS packages by
source name, language packages; about half of them have records) and times the matcher alone, the
matcher with --cpe-match, and the whole library path (match, filters, remediation, JSON rendering).

Part 2 compiles ../shared/data/feeds into a bundle with dbbuilder, imports it, and runs, each in a fresh
child process (wall time and peak RSS from wait4): `scanner sbom` (catalog only) and `scanner scan`
for each image.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.dbbuild import ECOSYSTEMS as CORPUS_ECOSYSTEMS
from benchmarks.dbbuild import _cvss3, range_events, range_type
from benchmarks.dbbuild import _version as corpus_version
from scanner.db.schema import DDL, SCHEMA_VERSION
from scanner.db.store import VulnStore
from scanner.match.matcher import Matcher
from scanner.match.scan import ScanOptions, run_scan
from scanner.model import FixState, Package
from scanner.names import normalize_package_name
from scanner.report.base import FINDINGS, get_format
from scanner.targets import ScanInput, TargetInfo

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT.parent / "shared" / "data" / "feeds"
RECORDS = 250_000
CPE_ROWS = 300_000
PACKAGES = 2_000
_PURL_TYPES = {"PyPI": "pypi", "npm": "npm", "Maven": "maven", "Go": "golang", "crates.io": "cargo",
               "RubyGems": "gem", "Packagist": "composer", "NuGet": "nuget", "Debian:11": "deb", "Debian:12": "deb",
               "Ubuntu:22.04:LTS": "deb", "Ubuntu:20.04:LTS": "deb", "Alpine:v3.19": "apk", "AlmaLinux:9": "rpm",
               "Rocky Linux:9": "rpm", "Wolfi": "apk"}
# The database build benchmark's share of records per ecosystem, with the PURL type of its packages
# (ecosystems without one, such as Linux, are left out).
ECOSYSTEMS = {ecosystem: (share, _PURL_TYPES[ecosystem])
              for ecosystem, share in CORPUS_ECOSYSTEMS.items() if ecosystem in _PURL_TYPES}
NAMES_PER_ECOSYSTEM = 20_000
HOT_NAMES = 40  # per ecosystem: packages with hundreds of records


def _version(rng: random.Random, ecosystem: str) -> str:
    """The database build benchmark's version shapes, with Go's "v" prefix."""
    version = corpus_version(rng, ecosystem)
    return "v" + version if ecosystem == "Go" else version


def _name(rng: random.Random, ecosystem: str) -> str:
    index = rng.randint(0, HOT_NAMES - 1) if rng.random() < 0.15 else rng.randint(0, NAMES_PER_ECOSYSTEM - 1)
    if ecosystem == "Maven":
        return f"org.example{index % 97}:lib-{index}"
    if ecosystem == "Go":
        return f"github.com/example{index % 97}/mod-{index}"
    return f"pkg-{index}"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def build_database(path: Path, scale: float, seed: int = 2026) -> None:
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + DDL)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", SCHEMA_VERSION)])
    index = 0
    for ecosystem, (share, _) in ECOSYSTEMS.items():
        vulns, aliases, affected, severities, details = [], [], [], [], []
        for _ in range(int(RECORDS * scale * share)):
            year = rng.randint(2015, 2026)
            vuln_id = f"OSV-{year}-{index:07d}"
            cve = f"CVE-{year}-{index:07d}"
            index += 1
            vulns.append((vuln_id, "osv", cve, "2024-01-01T00:00:00Z" if rng.random() < 0.005 else None,
                          f"{year}-01-01T00:00:00Z", f"{year}-06-01T00:00:00Z",
                          rng.choice((None, "low", "medium", "high", "critical")), f"synthetic issue {index}"))
            aliases += [(cve, vuln_id), (cve, cve)]
            if rng.random() < 0.6:
                severities.append((vuln_id, "osv", "CVSS_V3", _cvss3(rng), round(rng.uniform(2, 10), 1)))
            details.append((vuln_id, "details " * rng.randint(20, 120), _compact([f"https://example.org/{index}"]),
                            _compact([f"CWE-{rng.randint(20, 1000)}"])))
            name = normalize_package_name(ecosystem, _name(rng, ecosystem))
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                events = range_events(rng, ecosystem, _version)
                fixed = "fixed" in events[-1]
                kind = range_type(ecosystem)
                listed = (sorted({_version(rng, ecosystem) for _ in range(rng.randint(1, 40))})
                          if ecosystem == "PyPI" and rng.random() < 0.7 else None)
                affected.append((vuln_id, ecosystem, name, _compact([{"type": kind, "events": events}]),
                                 _compact(listed) if listed else None,
                                 (FixState.FIXED if fixed else FixState.NOT_FIXED).value,
                                 _compact([events[-1]["fixed"]]) if fixed else None,
                                 rng.choice((None, "low", "medium", "high")) if ":" in ecosystem else None))
        db.executemany("INSERT INTO vulnerabilities VALUES (?,?,?,?,?,?,?,?)", vulns)
        db.executemany("INSERT OR IGNORE INTO aliases VALUES (?,?)", aliases)
        db.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?,?,?)", affected)
        db.executemany("INSERT INTO severities VALUES (?,?,?,?,?)", severities)
        db.executemany("INSERT INTO details (vuln_id, details, refs, cwes) VALUES (?,?,?,?)", details)
    cpes, nvd = [], []
    for number in range(int(CPE_ROWS * scale)):
        product = f"pkg-{rng.randint(0, NAMES_PER_ECOSYSTEM - 1)}"
        nvd.append((f"CVE-2020-{number:07d}", "nvd", f"CVE-2020-{number:07d}", None, None, None, None, None))
        cpes.append((f"CVE-2020-{number:07d}", f"vendor{number % 5000}", product,
                     f"cpe:2.3:a:vendor{number % 5000}:{product}:*:*:*:*:*:*:*:*", None, None, None,
                     f"{rng.randint(0, 9)}.{rng.randint(0, 30)}"))
    db.executemany("INSERT INTO vulnerabilities VALUES (?,?,?,?,?,?,?,?)", nvd)
    db.executemany("INSERT INTO cpes VALUES (?,?,?,?,?,?,?,?)", cpes)
    db.commit()
    db.execute("VACUUM")
    db.close()
    os.replace(partial, path)


def sample_packages(path: Path, count: int, seed: int = 7) -> list[Package]:
    """`count` packages: about half named like packages that have records, the rest unknown names."""
    rng = random.Random(seed)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        known = db.execute("SELECT DISTINCT ecosystem, package FROM affected ORDER BY random() LIMIT ?",
                           (count // 2,)).fetchall()
    packages: list[Package] = []
    for number in range(count):
        if number < len(known):
            ecosystem, name = known[number]
        else:
            ecosystem = rng.choice(list(ECOSYSTEMS))
            name = f"absent-{number}"
        purl_type = ECOSYSTEMS[ecosystem][1]
        version = _version(rng, ecosystem)
        own_ecosystem = ecosystem.replace(":LTS", "")  # images say "Ubuntu:22.04"; the matcher finds the variants
        if purl_type in ("deb", "apk", "rpm"):
            packages.append(Package(name=f"lib{name}-bin", version=version, type=purl_type, ecosystem=own_ecosystem,
                                    purl=f"pkg:{purl_type}/lib{name}-bin@{version}", source_name=name))
        else:
            packages.append(Package(name=name, version=version, type=purl_type, ecosystem=ecosystem,
                                    purl=f"pkg:{purl_type}/{name}@{version}"))
    return packages


def timed(function: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    seconds: list[float] = []
    result: object = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return min(seconds), statistics.median(seconds), result


def matching(workdir: Path, scale: float, repeat: int) -> None:
    database = workdir / f"synthetic-{scale:g}.sqlite"
    if not database.exists():
        started = time.perf_counter()
        build_database(database, scale)
        print(f"built {database} in {time.perf_counter() - started:.0f} s")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT (SELECT count(*) FROM vulnerabilities), (SELECT count(*) FROM affected), "
                          "(SELECT count(*) FROM cpes)").fetchone()
    print(f"database: {database.stat().st_size / 2**20:.0f} MiB, {rows[0]:,} records, {rows[1]:,} affected rows, "
          f"{rows[2]:,} CPE rows")
    packages = sample_packages(database, PACKAGES)
    target = TargetInfo(kind="sbom", name="synthetic", format="cyclonedx-json", digest="sha256:" + "0" * 64)
    from tests.match.dbfixture import DATABASE_INFO  # a fixed provenance block: no bundle here

    def match(cpe: bool) -> Callable[[], object]:
        def run() -> object:
            with VulnStore(database) as store:
                return Matcher(store, cpe_match=cpe).match(packages)
        return run

    def full() -> object:
        report = run_scan(ScanInput(target, tuple(packages), ()), database_path=database, database=DATABASE_INFO,
                          options=ScanOptions())
        return get_format(FINDINGS, "json").render(report)

    print(f"\n| step ({PACKAGES:,} packages) | best | median of {repeat} | result |")
    print("|---|---|---|---|")
    best, median, result = timed(match(False), repeat)
    findings = len(result.findings)  # type: ignore[attr-defined]
    print(f"| matcher | {best:.3f} s | {median:.3f} s | {findings:,} findings |")
    best, median, result = timed(match(True), repeat)
    print(f"| matcher with --cpe-match | {best:.3f} s | {median:.3f} s | "
          f"{len(result.findings):,} findings |")  # type: ignore[attr-defined]
    best, median, result = timed(full, repeat)
    print(f"| match + filters + remediation + JSON | {best:.3f} s | {median:.3f} s | "
          f"{len(result) / 2**20:.1f} MiB JSON |")  # type: ignore[arg-type]


def _child(args: Sequence[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def install_shared_feeds(workdir: Path) -> dict[str, str]:
    """Compile ../shared/data/feeds into a bundle and import it (once, kept in `workdir`): the environment
    in which `scanner scan` uses it."""
    bundle = workdir / "shared-feeds.bundle"
    state = workdir / "state"
    env = {**os.environ, "SCANNER_STATE_DIR": str(state)}
    if not bundle.exists():
        keys = workdir / "keys"
        if not (keys / "bench-key.pem").exists():
            subprocess.run([str(ROOT / ".venv/bin/dbbuilder"), "keygen", "--out", str(keys), "--name", "bench-key"],
                           check=True, capture_output=True)
        subprocess.run([str(ROOT / ".venv/bin/dbbuilder"), "build", "--out", str(bundle), "--key",
                        str(keys / "bench-key.pem"), "--channel", "bench", "--bundle-version", "1",
                        "--osv", str(FEEDS / "osv"), "--nvd", str(FEEDS / "nvd"), "--debian", str(FEEDS / "debian"),
                        "--alpine", str(FEEDS / "alpine")], check=True, capture_output=True)
        subprocess.run([str(ROOT / ".venv/bin/scanner"), "trust", "add", str(keys / "bench-key.pub.pem")],
                       env=env, check=True, capture_output=True)
        subprocess.run([str(ROOT / ".venv/bin/scanner"), "db", "import", "--allow-expired", str(bundle)],
                       env=env, check=True, capture_output=True)
    return env


def end_to_end(workdir: Path, images: Sequence[Path]) -> None:
    env = install_shared_feeds(workdir)
    scanner = str(ROOT / ".venv/bin/scanner")
    print("\n| image | size | catalog only (`scanner sbom`) | full scan (`scanner scan -o json`) | findings |")
    print("|---|---|---|---|---|")
    for image in images:
        out = workdir / f"{image.stem}.json"
        sbom_time, sbom_rss, _ = _child([scanner, "sbom", str(image), "-o", "json", "--file", str(out)], env)
        scan_time, scan_rss, code = _child([scanner, "scan", str(image), "-o", "json", "--file", str(out)], env)
        findings = len(json.loads(out.read_text())["findings"]) if code in (0, 1) else f"exit {code}"
        size = image.stat().st_size
        shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"
        print(f"| {image.name} | {shown} | {sbom_time:.2f} s, {sbom_rss:.0f} MiB | "
              f"{scan_time:.2f} s, {scan_rss:.0f} MiB | {findings} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full-scale synthetic database")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/airgap-bench-match"))
    parser.add_argument("--image", type=Path, nargs="*", default=[ROOT / "bundles" / "demo-image.tar"])
    parser.add_argument("--skip-images", action="store_true")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    matching(options.workdir, options.scale, options.repeat)
    if not options.skip_images:
        end_to_end(options.workdir, options.image)


if __name__ == "__main__":
    main()
