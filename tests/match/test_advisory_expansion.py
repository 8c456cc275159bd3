"""Advisories that cover several CVEs (a DSA, a USN) give one finding per CVE, merged with the CVE's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.db.store import VulnStore
from scanner.match.matcher import Matcher
from scanner.match.remediation import remediations
from scanner.model import Finding, FixState, Severity
from tests.match.dbfixture import Rows, compact, db_from_records
from tests.match.test_matcher import deb, pypi, record

FIXED_BY_DSA = "1.1.1n-0+deb11u5"
# An OSV-style DSA naming three CVEs in its aliases: the builder keeps it in a group of its own.
DSA = record("DSA-9000-1", "Debian:11", "openssl", [{"introduced": "0"}, {"fixed": FIXED_BY_DSA}],
             aliases=["CVE-2030-0001", "CVE-2030-0002", "CVE-2030-0003"], summary="openssl - security update",
             database_specific={"severity": "high"})
# The tracker's per-CVE record for the first CVE says "unfixed": the DSA's fix stands.
PER_CVE_UNFIXED = record("DEBIAN-CVE-2030-0001", "Debian:11", "openssl", [{"introduced": "0"}],
                         upstream=["CVE-2030-0001"])
# For the second CVE the per-CVE record names an earlier fix, which the installed version has.
PER_CVE_FIXED_EARLIER = record("DEBIAN-CVE-2030-0002", "Debian:11", "openssl",
                               [{"introduced": "0"}, {"fixed": "1.1.1k-1"}], upstream=["CVE-2030-0002"])
# Shared-feed style: the tracker's per-CVE record has the rows and names the DSA in `related`; the DSA has
# no rows of its own and its CVEs as upstream.
PER_CVE_WITH_RELATED = record("DEBIAN-CVE-2030-0010", "Debian:11", "zlib",
                              [{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2+deb11u2"}],
                              upstream=["CVE-2030-0010"], related=["DSA-9001-1", "CVE-2030-0099"])
DSA_WITHOUT_ROWS = {"id": "DSA-9001-1", "upstream": ["CVE-2030-0010", "CVE-2030-0011"], "affected": []}
# A language advisory whose `related` names a CVE: a different vulnerability, never expanded.
GHSA_RELATED = record("GHSA-rrrr-rrrr-rrrr", "PyPI", "requests", [{"introduced": "0"}, {"fixed": "2.0"}],
                      related=["CVE-2030-0020"])
# An OSV record aliasing two CVEs of a language package: expanded as well.
PYSEC_TWO = record("PYSEC-2030-1", "PyPI", "requests", [{"introduced": "0"}, {"fixed": "3.0"}],
                   aliases=["CVE-2030-0021", "CVE-2030-0022"])
OPENSSL = deb("libssl1.1", "1.1.1k-1+deb11u1", source="openssl")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VulnStore]:
    extra = Rows()
    extra.vulnerabilities += [
        ("CVE-2030-0001", "nvd", "CVE-2030-0001", None, "2030-01-01T00:00:00Z", None, None, "first bug"),
        ("CVE-2030-0003", "nvd", "CVE-2030-0003", None, None, None, None, "third bug"),
    ]
    extra.severities += [("CVE-2030-0001", "nvd", "CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
                         ("CVE-2030-0003", "nvd", "CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)]
    # A distro rating for the third CVE, on a per-CVE row of another release (it must not leak here).
    extra.affected += [("CVE-2030-0003", "Debian:10", "openssl", None, None, "not-fixed", None, "low")]
    extra.vulnerabilities += [("DSA-9002-1", "debian", "DSA-9002-1", None, None, None, None, "zlib regression")]
    extra.affected += [("DSA-9002-1", "Debian:11", "zlib", compact([{"type": "ECOSYSTEM", "events": [
        {"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2+deb11u9"}]}]), None, "fixed",
        compact(["1:1.2.11.dfsg-2+deb11u9"]), None)]
    path = db_from_records(tmp_path / "v.sqlite", [DSA, PER_CVE_UNFIXED, PER_CVE_FIXED_EARLIER, PER_CVE_WITH_RELATED,
                                                   DSA_WITHOUT_ROWS, GHSA_RELATED, PYSEC_TWO], extra)
    with VulnStore(path) as opened:
        yield opened


def by_id(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.vulnerability.id: f for f in findings}


def test_multi_cve_advisory_becomes_one_finding_per_cve(store: VulnStore) -> None:
    found = by_id(Matcher(store).match([OPENSSL]).findings)
    # No stand-alone DSA finding; the second CVE's own record says 1.1.1k-1 fixed it: not reported.
    assert set(found) == {"CVE-2030-0001", "CVE-2030-0003"}
    first = found["CVE-2030-0001"]
    assert first.vulnerability.aliases == ("DEBIAN-CVE-2030-0001", "DSA-9000-1")
    # The per-CVE record has no fix: the DSA's fix for the release is the finding's, and the advisory that gave it.
    assert first.fix.state is FixState.FIXED and first.fix.versions == (FIXED_BY_DSA,)
    assert first.advisory_id == "DSA-9000-1"
    # Severity from the CVE's own data, not the DSA's rating for all of its CVEs together.
    assert (first.vulnerability.severity, first.vulnerability.severity_source) == (Severity.HIGH, "cvss:nvd")
    assert first.vulnerability.summary == "first bug"
    third = found["CVE-2030-0003"]
    assert third.vulnerability.aliases == ("DSA-9000-1",)
    assert third.vulnerability.severity is Severity.CRITICAL and third.fix.versions == (FIXED_BY_DSA,)
    [item] = remediations(Matcher(store).match([OPENSSL]).findings, Matcher(store).match([OPENSSL]).evidence)
    assert (item.fixed_version, item.fixes, item.findings) == (FIXED_BY_DSA, 2, 2)


def test_at_the_advisory_fix_only_the_per_cve_records_speak(store: VulnStore) -> None:
    [finding] = Matcher(store).match([deb("libssl1.1", FIXED_BY_DSA, source="openssl")]).findings
    assert (finding.vulnerability.id, finding.fix.state) == ("CVE-2030-0001", FixState.NOT_FIXED)
    assert finding.vulnerability.aliases == ("DEBIAN-CVE-2030-0001",)


def test_per_cve_fix_wins_over_the_advisory_fix(store: VulnStore) -> None:
    zlib = deb("zlib1g", "1:1.2.11.dfsg-2", source="zlib")
    found = by_id(Matcher(store).match([zlib]).findings)
    assert set(found) == {"CVE-2030-0010", "DSA-9002-1"}  # a DSA naming no CVE stays on its own
    finding = found["CVE-2030-0010"]
    # The DSA the per-CVE record names in `related` covers this CVE: listed as an alias; CVE-2030-0099 does not.
    assert finding.vulnerability.aliases == ("DEBIAN-CVE-2030-0010", "DSA-9001-1")
    assert finding.fix.versions == ("1:1.2.11.dfsg-2+deb11u2",)


def test_language_advisories_expand_aliases_but_not_related(store: VulnStore) -> None:
    found = by_id(Matcher(store).match([pypi("requests", "1.0")]).findings)
    assert set(found) == {"GHSA-rrrr-rrrr-rrrr", "CVE-2030-0021", "CVE-2030-0022"}
    assert found["CVE-2030-0021"].vulnerability.aliases == ("PYSEC-2030-1",)
    assert found["CVE-2030-0022"].fix.versions == ("3.0",)
