"""Matching rules of GUIDE section 3 that the main matcher tests do not reach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.db.store import VulnStore
from scanner.match.matcher import Matcher
from scanner.match.remediation import remediations
from scanner.model import FixState, Package, Severity
from tests.match.dbfixture import Rows, compact, db_from_records
from tests.match.test_matcher import deb, pypi, record

# Fixed on the 1.x line only; the 2.x line has no fix.
TWO_LINES = {"id": "GHSA-line-line-line", "affected": [{
    "package": {"ecosystem": "PyPI", "name": "twolines"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}, {"introduced": "2.0"}]}]}]}
DISTRO_RATED = record("DEBIAN-CVE-2030-0100", "Debian:11", "curl", [{"introduced": "0"}, {"fixed": "7.74.0-1.3+deb11u9"}],
                      upstream=["CVE-2030-0100"], database_specific={"severity": "high"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VulnStore]:
    extra = Rows()
    # An OSV entry whose only range was a GIT range (dropped by the builder) and that lists no versions.
    extra.vulnerabilities.append(("OSV-2030-1", "osv", "OSV-2030-1", None, None, None, None, "commit-only"))
    extra.affected.append(("OSV-2030-1", "PyPI", "gitonly", None, None, "unknown", None, None))
    path = db_from_records(tmp_path / "v.sqlite", [TWO_LINES, DISTRO_RATED], extra)
    with VulnStore(path) as opened:
        yield opened


def test_commit_only_ranges_are_reported_unevaluated(store: VulnStore) -> None:
    result = Matcher(store).match([pypi("gitonly", "1.0")])
    assert result.findings == ()
    [item] = result.unevaluated
    assert item.advisory_id == "OSV-2030-1" and "GIT" in item.reason


def test_a_fix_below_the_installed_version_is_no_fix(store: VulnStore) -> None:
    result = Matcher(store).match([pypi("twolines", "2.1")])
    [finding] = result.findings
    assert finding.fix.state is FixState.NOT_FIXED and finding.fix.versions == ()
    [item] = remediations(result.findings, result.evidence)
    assert item.fixed_version == "" and item.unfixed == ("GHSA-line-line-line",)  # never a downgrade to 1.5
    [old_line] = Matcher(store).match([pypi("twolines", "1.0")]).findings
    assert old_line.fix.state is FixState.FIXED and old_line.fix.versions == ("1.5",)


def test_per_package_distro_rating_beats_the_record_rating(store: VulnStore, tmp_path: Path) -> None:
    curl = deb("curl", "7.74.0-1.3+deb11u1")
    [finding] = Matcher(store).match([curl]).findings
    assert (finding.vulnerability.severity, finding.vulnerability.severity_source) == (Severity.HIGH, "osv")
    rows = Rows()
    rows.vulnerabilities.append(("DEBIAN-CVE-2030-0200", "debian", "CVE-2030-0200", None, None, None, "high", None))
    rows.affected.append(("DEBIAN-CVE-2030-0200", "Debian:11", "curl", compact([{"type": "ECOSYSTEM", "events": [
        {"introduced": "0"}, {"fixed": "7.74.0-1.3+deb11u9"}]}]), None, "fixed", compact(["7.74.0-1.3+deb11u9"]), "low"))
    with VulnStore(db_from_records(tmp_path / "rated.sqlite", [], rows)) as rated:
        [finding] = Matcher(rated).match([curl]).findings
    # The record's "high" is for the CVE across packages; this package's urgency is "low".
    assert (finding.vulnerability.severity, finding.vulnerability.severity_source) == (Severity.LOW, "debian")


def test_a_release_the_database_has_no_data_for_is_not_evaluated(store: VulnStore) -> None:
    bookworm = Package(name="curl", version="7.88.1-10", type="deb", ecosystem="Debian:12",
                       purl="pkg:deb/debian/curl@7.88.1-10?distro=debian-12")
    result = Matcher(store).match([bookworm])
    assert result.findings == ()
    [item] = result.unevaluated
    assert "no advisories for Debian:12" in item.reason
