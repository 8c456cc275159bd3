"""Coverage of the newer distros' releases: like Debian's and Alpine's, a release no provider has data
for is `none`, loose records are `partial`, a whole export is `complete` (scanner/match/coverage.py)."""

from __future__ import annotations

import pytest

from scanner.db.store import SourceCoverage
from scanner.match.coverage import CoverageStatus, target_coverage
from scanner.model import Package

RELEASES = [
    ("rpm", "Amazon Linux:2", "amazon"), ("rpm", "Amazon Linux:2022", "amazon"), ("rpm", "Amazon Linux:2023", "amazon"),
    ("rpm", "SUSE:Linux Enterprise Server 15 SP5", "suse"), ("rpm", "SUSE:Linux Enterprise Desktop 15 SP5", "suse"),
    ("rpm", "openSUSE:Leap 15.5", "suse"), ("rpm", "openSUSE:Tumbleweed", "suse"),
    ("rpm", "Oracle Linux:8", "oracle"), ("rpm", "CBL-Mariner:2.0", "azure-linux"),
    ("rpm", "Azure Linux:3.0", "azure-linux"), ("apk", "Wolfi", "wolfi"), ("apk", "Chainguard", "chainguard"),
    ("rpm", "Red Hat:enterprise_linux:9", "redhat"),
]


def package(kind: str, ecosystem: str, name: str = "openssl-libs", version: str = "1:3.0.7-1",
            modularity_label: str = "") -> Package:
    metadata = (("modularity_label", modularity_label),) if modularity_label else ()
    return Package(name=name, version=version, type=kind, ecosystem=ecosystem, purl=f"pkg:{kind}/x/{name}@{version}",
                   metadata=metadata)


def source(provider: str, ecosystem: str, complete: bool) -> SourceCoverage:
    return SourceCoverage(provider, ecosystem, 3, None, complete, "whole" if complete else "loose records")


def status(packages: list[Package], sources: list[SourceCoverage]) -> dict[str, tuple[CoverageStatus, tuple[str, ...]]]:
    return {entry.ecosystem: (entry.status, entry.providers) for entry in target_coverage(packages, sources)}


@pytest.mark.parametrize(("kind", "ecosystem", "provider"), RELEASES)
def test_each_release_is_none_partial_or_complete(kind: str, ecosystem: str, provider: str) -> None:
    packages = [package(kind, ecosystem)]
    # Another release of the same distro, or another distro, is not this release's data.
    others = [source(provider, "Amazon Linux:1", True), source("osv", "Debian:12", True)]
    assert status(packages, others) == {ecosystem: (CoverageStatus.NONE, ())}
    stream = f"{ecosystem}::baseos" if ecosystem.startswith("Red Hat:") else ecosystem
    assert status(packages, [*others, source(provider, stream, False)]) == {ecosystem: (CoverageStatus.PARTIAL,
                                                                                        (provider,))}
    assert status(packages, [*others, source(provider, stream, True)]) == {ecosystem: (CoverageStatus.COMPLETE,
                                                                                       (provider,))}


def test_similar_release_names_are_other_releases() -> None:
    # "Amazon Linux:2" is not a spelling of "Amazon Linux:2023", nor "... 15 SP5" of "... 15".
    packages = [package("rpm", "Amazon Linux:2"), package("rpm", "SUSE:Linux Enterprise Server 15")]
    sources = [source("amazon", "Amazon Linux:2023", True), source("suse", "SUSE:Linux Enterprise Server 15 SP5", True)]
    assert status(packages, sources) == {"Amazon Linux:2": (CoverageStatus.NONE, ()),
                                         "SUSE:Linux Enterprise Server 15": (CoverageStatus.NONE, ())}


def test_oracle_counts_its_ksplice_data_and_only_its_own() -> None:
    ksplice = package("rpm", "Oracle Linux:8", "glibc", "2:2.28-211.0.1.ksplice1.el8")
    assert status([ksplice], [source("oracle", "Oracle Linux:8:ksplice", False)]) == {
        "Oracle Linux:8": (CoverageStatus.PARTIAL, ("oracle",))}
    # A non-Ksplice package reads exactly "Oracle Linux:8": Ksplice data says nothing about it.
    assert status([package("rpm", "Oracle Linux:8")], [source("oracle", "Oracle Linux:8:ksplice", True)]) == {
        "Oracle Linux:8": (CoverageStatus.NONE, ())}


def test_red_hat_extended_support_data_never_completes_a_release_alone() -> None:
    eus = [package("rpm", "Red Hat:rhel_eus:8.6")]
    # The EUS streams carry only Critical and selected Important fixes: the rest is judged by the mainline.
    assert status(eus, [source("redhat", "Red Hat:rhel_eus:8.6::baseos", True)]) == {
        "Red Hat:rhel_eus:8.6": (CoverageStatus.PARTIAL, ("redhat",))}
    assert status(eus, [source("redhat", "Red Hat:rhel_eus:8.6::baseos", True),
                        source("redhat", "Red Hat:enterprise_linux:8::baseos", True)]) == {
        "Red Hat:rhel_eus:8.6": (CoverageStatus.COMPLETE, ("redhat",))}
    # A mainline image does not read EUS data.
    assert status([package("rpm", "Red Hat:enterprise_linux:8")], [source("redhat", "Red Hat:rhel_eus:8.6::baseos",
                                                                          True)]) == {
        "Red Hat:enterprise_linux:8": (CoverageStatus.NONE, ())}
