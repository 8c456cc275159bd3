"""Each real database in ../shared/data/osdb read exactly as its independent reference lists it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.catalog import catalog_filesystem
from scanner.catalog.apk import ApkCataloger
from scanner.catalog.dpkg import DpkgCataloger
from scanner.catalog.rpm import RpmCataloger, split_source_rpm

from .conftest import expected_rows, filesystem_from_directory

RPM_CASES = {
    "rpm-bdb/eldk-3.0": "var/lib/rpm/",
    "rpm-bdb/rhel8-libuuid": "var/lib/rpm/",
    "rpm-bdb/poky-1.7.1": "var/lib/rpm/",  # rpm5: a btree, not a hash
    "rpm-sqlite/cbl-mariner-2.0": "var/lib/rpm/",
    "rpm-ndb/sle15-bci": "usr/lib/sysimage/rpm/",
}


@pytest.mark.parametrize("case", sorted(RPM_CASES))
def test_rpm_databases_match_reference(osdb: Path, case: str) -> None:
    catalog = catalog_filesystem(filesystem_from_directory(osdb / case, RPM_CASES[case]), [RpmCataloger()])
    assert catalog.warnings == ()
    database = next(RPM_CASES[case] + path.name for path in (osdb / case).iterdir()
                    if path.name in ("Packages", "Packages.db", "rpmdb.sqlite"))
    found = set()
    for package in catalog.packages:
        source_name, _ = split_source_rpm(dict(package.metadata)["source_rpm"])
        epoch, _, evr = package.version.rpartition(":")
        version, _, release = evr.rpartition("-")
        found.add((package.name, epoch, version, release, package.arch, dict(package.metadata)["source_rpm"]))
        assert package.match_source_name == source_name
        assert package.locations == (database,)
    expected = {(row["name"], row["epoch"], row["version"], row["release"], row["arch"], row["sourcerpm"])
                for row in expected_rows(osdb / case)}
    assert found == expected
    assert len(catalog.packages) == len(expected_rows(osdb / case))


@pytest.mark.parametrize("case", ["apk/alpine-3.18-scalibr", "apk/alpine-3.4-trivy"])
def test_apk_databases_match_reference(osdb: Path, case: str) -> None:
    catalog = catalog_filesystem(filesystem_from_directory(osdb / case, ""), [ApkCataloger()])
    found = [(p.name, p.version, p.match_source_name, p.arch) for p in catalog.packages]
    expected = [(r["name"], r["version"], r["origin"], r["arch"]) for r in expected_rows(osdb / case)]
    assert sorted(found) == sorted(expected)
    if case.endswith("trivy"):
        assert catalog.warnings == ("apk: lib/apk/db/installed: stanza 2 (invalidPackageWithoutAVersion): "
                                    "skipped, no V: field",)
    else:
        assert catalog.warnings == ()


@pytest.mark.parametrize("case", ["dpkg-status/ubuntu-18.04-trivy", "dpkg-statusd/debian12-coreutils",
                                  "dpkg-statusd/distroless-debian11-arm64"])
def test_dpkg_databases_match_reference(osdb: Path, case: str) -> None:
    catalog = catalog_filesystem(filesystem_from_directory(osdb / case, "var/lib/dpkg/"), [DpkgCataloger()])
    assert catalog.warnings == ()
    found = sorted((p.name, p.version, p.arch, p.match_source_name, p.match_source_version)
                   for p in catalog.packages)
    installed = [r for r in expected_rows(osdb / case) if r["status"] in ("", "ii", "install ok installed")]
    expected = sorted((r["package"], r["version"], r["architecture"], r["source"], r["source_version"])
                      for r in installed)
    assert found == expected
