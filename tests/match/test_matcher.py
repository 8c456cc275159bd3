from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.db.store import VulnStore
from scanner.errors import DatabaseError
from scanner.match.matcher import Matcher
from scanner.match.remediation import remediations
from scanner.model import FixState, Package, Severity
from tests.match.dbfixture import Rows, compact, db_from_records, write_db


def pypi(name: str, version: str, **extra: Any) -> Package:
    return Package(name=name, version=version, type="pypi", ecosystem="PyPI",
                   purl=f"pkg:pypi/{name.lower()}@{version}", **extra)


def deb(name: str, version: str, release: str = "Debian:11", source: str = "", source_version: str = "") -> Package:
    return Package(name=name, version=version, type="deb", ecosystem=release,
                   purl=f"pkg:deb/debian/{name}@{version}", source_name=source, source_version=source_version)


def record(record_id: str, ecosystem: str, name: str, events: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name},
                                "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    if "versions" in fields:
        affected["versions"] = fields.pop("versions")
    return {"id": record_id, "affected": [affected], **fields}


PILLOW_GHSA = record("GHSA-8vj2-vxx3-667w", "PyPI", "Pillow", [{"introduced": "0"}, {"fixed": "9.0.0"}],
                     aliases=["CVE-2022-22817"], summary="Arbitrary expression injection in Pillow",
                     database_specific={"severity": "CRITICAL", "cwe_ids": ["CWE-74"]},
                     references=[{"url": "https://example.org/advisory"}])
PILLOW_PYSEC = record("PYSEC-2022-10", "PyPI", "pillow", [{"introduced": "0"}, {"fixed": "9.0.1"}],
                      aliases=["CVE-2022-22817"],
                      severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
PILLOW_OTHER = record("GHSA-xxxx-1111-2222", "PyPI", "pillow", [{"introduced": "8.2.0"}, {"fixed": "8.4.1"}],
                      database_specific={"severity": "MODERATE"})
WITHDRAWN = record("PYSEC-2099-1", "PyPI", "pillow", [{"introduced": "0"}], withdrawn="2023-01-01T00:00:00Z")
OPENSSL_DSA = record("DSA-5103-1", "Debian:11", "openssl", [{"introduced": "0"}, {"fixed": "1.1.1n-0+deb11u1"}],
                     aliases=["CVE-2022-0778"])
UBUNTU = record("UBUNTU-CVE-2022-0778", "Ubuntu:22.04:LTS", "openssl", [{"introduced": "0"}, {"fixed": "3.0.2-0ubuntu1.1"}],
                upstream=["CVE-2022-0778"], severity=[{"type": "Ubuntu", "score": "high"}])
UBUNTU_PRO = record("UBUNTU-CVE-2021-1111", "Ubuntu:Pro:22.04:LTS", "openssl", [{"introduced": "0"}],
                    upstream=["CVE-2021-1111"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VulnStore]:
    extra = Rows()
    # A Debian <unfixed> entry without ranges, a not-affected entry, a per-package distro rating.
    extra.vulnerabilities += [("CVE-2023-0001", "debian", "CVE-2023-0001", None, None, None, None, "unfixed bug"),
                              ("CVE-2023-0002", "debian", "CVE-2023-0002", None, None, None, None, "not affected")]
    extra.affected += [("CVE-2023-0001", "Debian:11", "openssl", None, None, "not-fixed", None, "low"),
                       ("CVE-2023-0002", "Debian:11", "openssl", None, None, "not-affected", None, None),
                       ("DSA-5103-1", "Debian:11", "zlib", compact([{"type": "ECOSYSTEM", "events": [
                           {"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-2+deb11u1"}]}]), None, "fixed",
                        compact(["1:1.2.11.dfsg-2+deb11u1"]), "high")]
    extra.severities += [("CVE-2022-0778", "nvd", "CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5)]
    extra.cpes += [("CVE-2021-44228", "apache", "log4j", "cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*",
                    "2.0.1", None, None, "2.15.0")]
    extra.vulnerabilities += [("CVE-2021-44228", "nvd", "CVE-2021-44228", None, None, None, None, "Log4Shell")]
    path = db_from_records(tmp_path / "v.sqlite",
                           [PILLOW_GHSA, PILLOW_PYSEC, PILLOW_OTHER, WITHDRAWN, OPENSSL_DSA, UBUNTU, UBUNTU_PRO],
                           extra)
    with VulnStore(path) as opened:
        yield opened


def test_alias_group_gives_one_finding_with_cve_first(store: VulnStore) -> None:
    result = Matcher(store).match([pypi("Pillow", "8.4.0")])
    by_id = {f.vulnerability.id: f for f in result.findings}
    assert set(by_id) == {"CVE-2022-22817", "GHSA-xxxx-1111-2222"}
    finding = by_id["CVE-2022-22817"]
    assert finding.vulnerability.aliases == ("GHSA-8vj2-vxx3-667w", "PYSEC-2022-10")
    assert finding.fix.state is FixState.FIXED
    assert finding.fix.versions == ("9.0.0", "9.0.1")
    # Best CVSS wins over the GHSA text rating; the vector and source are kept.
    assert finding.vulnerability.severity is Severity.CRITICAL
    assert finding.vulnerability.severity_source == "cvss:osv"
    assert finding.vulnerability.cvss[0].vector.startswith("CVSS:3.1/")
    assert finding.vulnerability.summary == "Arbitrary expression injection in Pillow"
    assert finding.vulnerability.cwes == ("CWE-74",)
    # No CVSS: the record's own rating.
    assert by_id["GHSA-xxxx-1111-2222"].vulnerability.severity is Severity.MEDIUM


def test_withdrawn_never_matches_and_outside_range_is_clean(store: VulnStore) -> None:
    result = Matcher(store).match([pypi("pillow", "9.0.1")])
    assert result.findings == ()
    assert result.unevaluated == ()


def test_os_package_matches_by_source_with_distro_order(store: VulnStore) -> None:
    packages = [deb("libssl1.1", "1.1.1k-1+deb11u1", source="openssl"),
                deb("zlib1g", "1:1.2.11.dfsg-2", source="zlib")]
    result = Matcher(store).match(packages)
    found = {(f.package.name, f.vulnerability.id): f for f in result.findings}
    assert set(found) == {("libssl1.1", "CVE-2022-0778"), ("libssl1.1", "CVE-2023-0001"), ("zlib1g", "CVE-2022-0778")}
    dsa = found[("libssl1.1", "CVE-2022-0778")]
    assert dsa.advisory_id == "DSA-5103-1" and dsa.fix.versions == ("1.1.1n-0+deb11u1",)
    unfixed = found[("libssl1.1", "CVE-2023-0001")]
    assert unfixed.fix.state is FixState.NOT_FIXED
    # The distro's per-package rating wins for OS packages.
    assert unfixed.vulnerability.severity is Severity.LOW and unfixed.vulnerability.severity_source == "debian"
    assert found[("zlib1g", "CVE-2022-0778")].vulnerability.severity is Severity.HIGH


def test_other_release_and_fixed_versions_do_not_match(store: VulnStore) -> None:
    result = Matcher(store).match([deb("libssl1.1", "1.1.1n-0+deb11u1", source="openssl"),
                                   deb("libssl1.1", "1.1.1k-1", release="Debian:10", source="openssl")])
    assert {(f.package.ecosystem, f.vulnerability.id) for f in result.findings} == {("Debian:11", "CVE-2023-0001")}


def test_ubuntu_release_spellings_are_all_queried(store: VulnStore) -> None:
    package = Package(name="libssl3", version="3.0.2-0ubuntu1", type="deb", ecosystem="Ubuntu:22.04",
                      purl="pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1", source_name="openssl")
    result = Matcher(store).match([package])
    by_id = {f.vulnerability.id: f for f in result.findings}
    assert set(by_id) == {"CVE-2022-0778", "CVE-2021-1111"}
    assert "UBUNTU-CVE-2022-0778" in by_id["CVE-2022-0778"].vulnerability.aliases
    assert by_id["CVE-2022-0778"].advisory_id == "UBUNTU-CVE-2022-0778"


def test_unparsable_version_is_reported_not_skipped(store: VulnStore) -> None:
    result = Matcher(store).match([pypi("pillow", "not a version!")])
    assert result.findings == ()
    assert {u.advisory_id for u in result.unevaluated} == {"GHSA-8vj2-vxx3-667w", "PYSEC-2022-10",
                                                           "GHSA-xxxx-1111-2222"}
    assert all("version" in u.reason for u in result.unevaluated)


def test_os_package_without_release_is_reported(store: VulnStore) -> None:
    package = Package(name="foo", version="1.0", type="deb", ecosystem="", purl="pkg:deb/foo@1.0")
    result = Matcher(store).match([package])
    assert result.findings == () and len(result.unevaluated) == 1


def test_os_owned_language_packages_are_skipped_unless_asked(store: VulnStore) -> None:
    owned = pypi("Pillow", "8.4.0", owned_by="python3-pil")
    assert Matcher(store).match([owned]).findings == ()
    assert Matcher(store).match([owned]).skipped_os_owned == (owned,)
    assert len(Matcher(store, include_os_owned=True).match([owned]).findings) == 2


def test_cpe_matching_is_opt_in_and_marked(store: VulnStore) -> None:
    jar = Package(name="org.apache.logging.log4j:log4j", version="2.14.1", type="maven", ecosystem="Maven",
                  purl="pkg:maven/org.apache.logging.log4j/log4j@2.14.1")
    assert Matcher(store).match([jar]).findings == ()
    findings = Matcher(store, cpe_match=True).match([jar]).findings
    assert [(f.vulnerability.id, f.matched_by, f.fix.versions) for f in findings] == [
        ("CVE-2021-44228", "cpe", ("2.15.0",))]


def test_remediation_lowest_version_fixing_everything(store: VulnStore) -> None:
    result = Matcher(store).match([pypi("Pillow", "8.4.0")])
    [item] = remediations(result.findings, result.evidence)
    assert (item.fixed_version, item.fixes, item.findings, item.unfixed) == ("9.0.1", 2, 2, ())


def test_remediation_with_unfixed_findings(store: VulnStore) -> None:
    result = Matcher(store).match([deb("libssl1.1", "1.1.1k-1+deb11u1", source="openssl")])
    [item] = remediations(result.findings, result.evidence)
    assert item.fixed_version == "1.1.1n-0+deb11u1" and item.fixes == 1 and item.unfixed == ("CVE-2023-0001",)


def test_store_refuses_unknown_schema_model(tmp_path: Path) -> None:
    path = write_db(tmp_path / "future.sqlite", Rows(), meta={"schema_version": "2.0.0"})
    with pytest.raises(DatabaseError, match="model 2"):
        VulnStore(path)


def test_store_refuses_garbage_and_missing_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError):
        VulnStore(garbage)
    with pytest.raises(DatabaseError, match="no such file"):
        VulnStore(tmp_path / "absent.sqlite")


def test_store_is_read_only(store: VulnStore) -> None:
    import sqlite3

    with pytest.raises(sqlite3.OperationalError):
        store._db.execute("DELETE FROM affected")


def test_maven_artifact_without_group_is_reported_not_guessed(store: VulnStore) -> None:
    jar = Package(name="log4j", version="1.2.17", type="maven", ecosystem="Maven", purl="pkg:maven/log4j@1.2.17")
    result = Matcher(store, cpe_match=False).match([jar])
    assert result.findings == ()
    [item] = result.unevaluated
    assert "group id" in item.reason


def test_os_findings_say_distro(store: VulnStore) -> None:
    result = Matcher(store).match([deb("libssl1.1", "1.1.1k-1+deb11u1", source="openssl"), pypi("Pillow", "8.4.0")])
    assert {(f.package.type, f.matched_by) for f in result.findings} == {("deb", "distro"), ("pypi", "ecosystem")}


def test_copies_of_a_package_in_other_places_match_as_each_would_alone(store: VulnStore) -> None:
    """Copies (the same package in another layer or path, like the Go standard library in each Go binary)
    are matched once; each still has its own findings, evidence, unevaluated entries and remediation."""
    pillows = [pypi("Pillow", "8.4.0", layer_index=layer, locations=(f"app{layer}/PIL",),
                    metadata=(("installer", f"pip{layer}"),)) for layer in (2, 0, 1)]
    broken = [pypi("pillow", "not a version!", locations=(f"lib{n}/PIL",)) for n in (1, 0)]
    jars = [Package(name="org.apache.logging.log4j:log4j", version="2.14.1", type="maven", ecosystem="Maven",
                    purl="pkg:maven/org.apache.logging.log4j/log4j@2.14.1", locations=(jar,)) for jar in ("b", "a")]
    # Alike but for the source package: not copies, and judged apart.
    debs = [deb("libssl1.1", "1.1.1k-1+deb11u1", source=source) for source in ("openssl", "zlib")]
    debs.append(dataclasses.replace(debs[0], layer_index=3, layer_digest="sha256:" + "3" * 64))
    packages = [*pillows, *broken, *jars, *debs]
    matcher = Matcher(store, cpe_match=True)
    together = matcher.match(packages)
    alone = {package: matcher.match([package]) for package in packages}
    assert together.findings == tuple(f for package in sorted(packages) for f in alone[package].findings)
    assert len(together.findings) == 13
    assert together.unevaluated == tuple(sorted({u for result in alone.values() for u in result.unevaluated},
                                                key=lambda u: (u.package, u.advisory_id, u.reason)))
    assert {u.package for u in together.unevaluated} == set(broken)
    assert together.evidence == {key: found for result in alone.values() for key, found in result.evidence.items()}
    assert remediations(together.findings, together.evidence) == tuple(
        item for package in sorted(packages) for item in remediations(alone[package].findings, alone[package].evidence))
