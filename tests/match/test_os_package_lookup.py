"""Which names and releases OS packages are looked up under.

rpm distros' OSV records list binary rpms (sometimes the source name too); an Alpine edge image also
reads the secdb's edge branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.db.store import VulnStore
from scanner.match.lookup import lookup_names
from scanner.match.matcher import Matcher
from scanner.model import FixState, Package
from tests.match.dbfixture import db_from_records
from tests.match.test_matcher import deb


def advisory(record_id: str, ecosystem: str, fixes: dict[str, str], related: list[str]) -> dict[str, Any]:
    """An ALSA/RLSA-shaped record: one affected entry per rpm name, `introduced 0` then `fixed`."""
    return {"id": record_id, "related": related, "summary": f"{record_id} update", "affected": [
        {"package": {"ecosystem": ecosystem, "name": name},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}
        for name, fixed in fixes.items()]}


# Binary and source name both listed (openssl), binary names only (python3.9's binaries are python3*),
# a source name only (older Rocky records), and an older fix the installed packages already have.
OPENSSL = advisory("ALSA-2030:0001", "AlmaLinux:9", {"openssl": "1:3.0.7-25.el9_3", "openssl-libs": "1:3.0.7-25.el9_3"},
                   ["CVE-2030-0001"])
OPENSSL_OLD = advisory("ALSA-2030:0002", "AlmaLinux:9", {"openssl": "1:3.0.7-16.el9_2",
                                                         "openssl-libs": "1:3.0.7-16.el9_2"}, ["CVE-2030-0002"])
PYTHON = advisory("ALSA-2030:0003", "AlmaLinux:9", {"python3": "3.9.18-1.el9_3.1", "python3-libs": "3.9.18-1.el9_3.1"},
                  ["CVE-2030-0003", "CVE-2030-0004"])
JAVA = advisory("RLSA-2030:0005", "Rocky Linux:9", {"java-11-openjdk": "1:11.0.21.0.9-2.el9"}, ["CVE-2030-0005"])
# The binary's row says fixed at its version; the source-name row (about the rpm named like the source) does not.
SPLIT = advisory("ALSA-2030:0006", "AlmaLinux:9", {"perl": "4:5.32.1-481.el9", "perl-Errno": "1.30-480.el9"},
                 ["CVE-2030-0006"])


def rpm(name: str, version: str, source_rpm: str, ecosystem: str = "AlmaLinux:9") -> Package:
    """As the rpm cataloger makes it: the source version carries the binary's epoch."""
    stem = source_rpm.removesuffix(".src.rpm")
    source_name, source_version, source_release = stem.rsplit("-", 2)
    epoch = version.split(":", 1)[0] + ":" if ":" in version else ""
    source_evr = f"{epoch}{source_version}-{source_release}"
    return Package(name=name, version=version, type="rpm", ecosystem=ecosystem,
                   purl=f"pkg:rpm/almalinux/{name}@{version.split(':')[-1]}",
                   source_name="" if source_name == name else source_name,
                   source_version="" if source_evr == version else source_evr)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VulnStore]:
    path = db_from_records(tmp_path / "v.sqlite", [OPENSSL, OPENSSL_OLD, PYTHON, JAVA, SPLIT])
    with VulnStore(path) as opened:
        yield opened


def by_id(store: VulnStore, *packages: Package) -> dict[tuple[str, str], Any]:
    return {(f.package.name, f.vulnerability.id): f for f in Matcher(store).match(list(packages)).findings}


def test_binary_rpm_names_are_looked_up_with_the_source_name() -> None:
    libs = rpm("openssl-libs", "1:3.0.7-24.el9", "openssl-3.0.7-24.el9.src.rpm")
    assert lookup_names(libs) == (("openssl-libs", "1:3.0.7-24.el9"), ("openssl", "1:3.0.7-24.el9"))
    assert lookup_names(rpm("openssl", "1:3.0.7-24.el9", "openssl-3.0.7-24.el9.src.rpm")) == (
        ("openssl", "1:3.0.7-24.el9"),)
    # Debian and Alpine advisories name source packages: only the source is looked up.
    assert lookup_names(deb("libssl1.1", "1.1.1k-1", source="openssl")) == (("openssl", "1.1.1k-1"),)


def test_binary_names_match_and_one_finding_per_group(store: VulnStore) -> None:
    found = by_id(store, rpm("openssl-libs", "1:3.0.7-24.el9", "openssl-3.0.7-24.el9.src.rpm"),
                  rpm("python3-libs", "3.9.18-1.el9_3", "python3.9-3.9.18-1.el9_3.src.rpm"))
    assert set(found) == {("openssl-libs", "CVE-2030-0001"), ("python3-libs", "CVE-2030-0003"),
                          ("python3-libs", "CVE-2030-0004")}
    openssl = found[("openssl-libs", "CVE-2030-0001")]
    assert openssl.advisory_id == "ALSA-2030:0001" and openssl.vulnerability.aliases == ("ALSA-2030:0001",)
    assert openssl.fix.state is FixState.FIXED and openssl.fix.versions == ("1:3.0.7-25.el9_3",)
    assert found[("python3-libs", "CVE-2030-0003")].fix.versions == ("3.9.18-1.el9_3.1",)
    assert all(f.matched_by == "distro" for f in found.values())


def test_epochs_compare_alike_on_both_sides(store: VulnStore) -> None:
    # 1:3.0.7-25 is the fix: the installed EVR with its epoch is not affected; a package without an
    # EPOCH tag has epoch 0, below every epoch-1 fix.
    assert by_id(store, rpm("openssl-libs", "1:3.0.7-25.el9_3", "openssl-3.0.7-25.el9_3.src.rpm")) == {}
    no_epoch = by_id(store, rpm("openssl-libs", "3.0.7-25.el9_3", "openssl-3.0.7-25.el9_3.src.rpm"))
    assert set(no_epoch) == {("openssl-libs", "CVE-2030-0001"), ("openssl-libs", "CVE-2030-0002")}


def test_source_name_rows_are_judged_at_the_source_version(store: VulnStore) -> None:
    headless = rpm("java-11-openjdk-headless", "1:11.0.20.0.8-3.el9", "java-11-openjdk-11.0.20.0.8-3.el9.src.rpm",
                   ecosystem="Rocky Linux:9")
    [finding] = Matcher(store).match([headless]).findings
    assert (finding.vulnerability.id, finding.advisory_id) == ("CVE-2030-0005", "RLSA-2030:0005")
    assert finding.fix.versions == ("1:11.0.21.0.9-2.el9",)


def test_an_advisory_naming_the_binary_is_judged_by_that_row_only(store: VulnStore) -> None:
    # perl-Errno 1.30-480.el9 is the fixed build; the "perl" row (4:5.32.1-481) is about the perl rpm.
    errno = rpm("perl-Errno", "1.30-480.el9", "perl-5.32.1-480.el9.src.rpm")
    assert by_id(store, errno) == {}
    older = rpm("perl-Errno", "1.30-479.el9", "perl-5.32.1-479.el9.src.rpm")
    [finding] = Matcher(store).match([older]).findings
    assert finding.fix.versions == ("1.30-480.el9",)  # the binary's own fixed version, not the perl rpm's


def test_an_alpine_edge_image_also_reads_the_edge_branch(tmp_path: Path) -> None:
    def apk(distro: str) -> Package:
        return Package(name="libcrypto3", version="3.1.2-r0", type="apk", ecosystem="Alpine:v3.19",
                       purl=f"pkg:apk/alpine/libcrypto3@3.1.2-r0?arch=x86_64&distro=alpine-{distro}",
                       source_name="openssl")

    edge_only = advisory("ALPINE-CVE-2030-0007", "Alpine:edge", {"openssl": "3.1.3-r0"}, [])
    edge_only["upstream"] = ["CVE-2030-0007"]
    with VulnStore(db_from_records(tmp_path / "edge.sqlite", [edge_only])) as edge_store:
        [finding] = Matcher(edge_store).match([apk("3.19_alpha20230901")]).findings
        assert (finding.vulnerability.id, finding.fix.versions) == ("CVE-2030-0007", ("3.1.3-r0",))
        # A released 3.19 is not edge: its own release has no rows here, so it is not evaluated.
        released = Matcher(edge_store).match([apk("3.19.0")])
        assert released.findings == () and "no advisories for Alpine:v3.19" in released.unevaluated[0].reason
