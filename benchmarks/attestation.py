"""Attestation benchmark: what `scan --attest` adds to a scan, and what `scanner attest verify` costs.

    .venv/bin/python -m benchmarks.attestation                 # 10, 1,000 and 10,000 findings; 256 MiB archive
    .venv/bin/python -m benchmarks.attestation --findings 100 --archive-mib 64

For each size, a synthetic scan report with that many findings (each with aliases, CVSS, a fix, a KEV
entry on one in ten, an EPSS score) is signed and verified: the statement built and serialised, the
DSSE envelope signed (Ed25519), then parsed strictly, its signature checked and the statement read
back. Each step is timed as the median of several runs. The subject digest of an image archive is a
sha256 over the whole file, read once before the scan: that part is timed on a file of --archive-mib.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.attest import attest, hash_target, verify_attestation
from scanner.db.bundle_format import key_id
from scanner.db.verify import TrustedKey
from scanner.keyfiles import public_key_id
from scanner.match.scan import DatabaseInfo, ScanOptions, ScanReport
from scanner.model import (
    CvssScore,
    ExploitPrediction,
    Finding,
    Fix,
    FixState,
    KnownExploited,
    Package,
    Severity,
    SeverityOrigin,
    Vulnerability,
)
from scanner.targets import TargetInfo

DATABASE = DatabaseInfo(channel="stable", bundle_version=42, schema_version="1.2.0", built_at="2026-11-28T00:00:00Z",
                        expires_at="2026-12-28T00:00:00Z", bundle_sha256="ab" * 32, manifest_sha256="cd" * 32,
                        key_ids=("ef" * 32,), providers=(("osv", "2026-11-28T00:00:00Z"),))


def synthetic_report(findings: int) -> ScanReport:
    made = []
    for index in range(findings):
        cve = f"CVE-2026-{index:05d}"
        score = CvssScore("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "nvd", cve)
        package = Package(name=f"package-{index % 500}", version="1.2.3", type="pypi", ecosystem="PyPI",
                          purl=f"pkg:pypi/package-{index % 500}@1.2.3", layer_index=2, layer_digest="sha256:" + "1" * 64,
                          locations=(f"usr/lib/python3/site-packages/package_{index % 500}-1.2.3.dist-info/METADATA",))
        vulnerability = Vulnerability(
            id=cve, aliases=(f"GHSA-{index:04x}-aaaa-bbbb", f"PYSEC-2026-{index}"),
            summary="A vulnerability summary of about the usual length, as feeds write them.",
            severity=Severity.CRITICAL, severity_origin=SeverityOrigin("cvss", "nvd", cve, cvss=score), cvss=(score,),
            published="2026-01-01T00:00:00Z", references=(f"https://nvd.nist.gov/vuln/detail/{cve}",),
            kev=KnownExploited(cve, "2026-02-01", "2026-02-22", "Unknown", "Apply updates.") if index % 10 == 0
            else None, epss=ExploitPrediction(cve, 0.0123, 0.81, "2026-11-27"))
        made.append(Finding(package, vulnerability, Fix(FixState.FIXED, ("1.2.4",)), "ecosystem", cve))
    target = TargetInfo(kind="image", name="bench:latest", format="docker-archive", digest="sha256:" + "9" * 64)
    return ScanReport(scanner_version="bench", generated_at="2026-12-01T00:00:01Z", started_at="2026-12-01T00:00:00Z",
                      data_age_days=3, target=target, database=DATABASE, options=ScanOptions(),
                      packages=500, findings=tuple(made))


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=int, nargs="+", default=[10, 1_000, 10_000])
    parser.add_argument("--archive-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    trusted = [TrustedKey(key_id(raw), "bench", raw)]
    assert trusted[0].key_id == public_key_id(key.public_key())
    print(f"{'findings':>9} {'envelope':>12} {'sign':>10} {'verify':>10}")
    for count in arguments.findings:
        report = synthetic_report(count)
        envelope = attest(report, key, None)
        sign = median_seconds(functools.partial(attest, report, key, None), arguments.repeat)
        verify = median_seconds(functools.partial(verify_attestation, envelope, trusted, "bench"), arguments.repeat)
        print(f"{count:>9,} {len(envelope):>10,} B {sign * 1000:>8.1f} ms {verify * 1000:>8.1f} ms")
    with tempfile.TemporaryDirectory() as directory:
        archive = Path(directory) / "archive.tar"
        with archive.open("wb") as handle:
            block = os.urandom(1024 * 1024)
            for _ in range(arguments.archive_mib):
                handle.write(block)
        hashed = median_seconds(lambda: hash_target(archive), 3)
        assert (found := hash_target(archive)) is not None
        assert found.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    print(f"subject digest of a {arguments.archive_mib} MiB archive: {hashed:.2f} s "
          f"({arguments.archive_mib / hashed:.0f} MiB/s, page cache warm)")


if __name__ == "__main__":
    main()
