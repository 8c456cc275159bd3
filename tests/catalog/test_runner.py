from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.catalog import all_requests, catalog_filesystem, load_catalogers
from scanner.catalog.base import CatalogResult
from scanner.catalog.distro import DISTRO_REQUESTS
from scanner.catalog.dpkg import DpkgCataloger
from scanner.image.filesystem import FileRequest, Filesystem, MemoryFilesystem
from scanner.model import Distro, Package

STATUS = (b"Package: python3-yaml\nStatus: install ok installed\nArchitecture: amd64\nSource: pyyaml\n"
          b"Version: 6.0-3\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n")
METADATA_PATH = "usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA"


@dataclass
class FixedCataloger:
    """Reports what it is given: stands in for a language cataloger."""

    name: str
    found: tuple[Package, ...]
    fail: bool = False
    owned: tuple[tuple[str, str], ...] = ()

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(("nothing",)),)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        if self.fail:
            raise RuntimeError("boom")
        return CatalogResult(self.found, dict(self.owned))


def _pypi(location: str) -> Package:
    return Package("PyYAML", "6.0", "pypi", "PyPI", "pkg:pypi/pyyaml@6.0", cataloger="fake-python",
                   locations=(location,))


def test_every_cataloger_module_is_loaded() -> None:
    names = {cataloger.name for cataloger in load_catalogers()}
    assert {"dpkg", "apk", "rpm"} <= names
    requests = all_requests()
    assert requests[:len(DISTRO_REQUESTS)] == DISTRO_REQUESTS
    assert any(request.matches_path("var/lib/rpm/rpmdb.sqlite") for request in requests)


def test_language_packages_owned_by_an_os_package_are_marked_even_through_symlinked_dirs() -> None:
    fs = MemoryFilesystem(
        files={"var/lib/dpkg/status": STATUS, METADATA_PATH: b"Name: PyYAML\n",
               # merged /usr: dpkg recorded the path under the /lib symlink
               "var/lib/dpkg/info/python3-yaml.list": f"/{METADATA_PATH.removeprefix('usr/')}\n".encode(),
               "usr/local/lib/python3/dist-packages/other/METADATA": b""},
        symlinks={"lib": "usr/lib"},
    )
    owned = _pypi(METADATA_PATH)
    free = _pypi("usr/local/lib/python3/dist-packages/other/METADATA")
    catalog = catalog_filesystem(fs, [DpkgCataloger(), FixedCataloger("fake-python", (owned, free))])
    by_location = {p.locations[0]: p for p in catalog.packages if p.type == "pypi"}
    assert by_location[METADATA_PATH].owned_by == "python3-yaml"
    assert by_location[free.locations[0]].owned_by == ""
    assert all(p.owned_by == "" for p in catalog.packages if p.type == "deb")
    assert catalog.warnings == ()


def test_output_is_sorted_and_deduplicated() -> None:
    fs = MemoryFilesystem(files={"var/lib/dpkg/status": STATUS})
    twice = _pypi("a/METADATA")
    catalog = catalog_filesystem(fs, [FixedCataloger("fake-python", (twice, twice)), DpkgCataloger()])
    assert list(catalog.packages) == sorted(catalog.packages)
    assert len([p for p in catalog.packages if p.type == "pypi"]) == 1


def test_a_failing_cataloger_becomes_a_warning_and_the_rest_still_runs() -> None:
    fs = MemoryFilesystem(files={"var/lib/dpkg/status": STATUS})
    catalog = catalog_filesystem(fs, [FixedCataloger("broken", (), fail=True), DpkgCataloger()])
    assert [p.name for p in catalog.packages] == ["libc6", "python3-yaml"]
    assert catalog.warnings == ("broken: cataloger failed, its packages are missing: RuntimeError: boom",)


def test_packages_of_a_package_database_are_never_marked_owned() -> None:
    fs = MemoryFilesystem(files={"var/lib/dpkg/status": STATUS,
                                 "var/lib/dpkg/info/libc6.list": b"/var/lib/rpm/rpmdb.sqlite\n"})
    rpm_package = Package("bash", "5.1-1", "rpm", "", "pkg:rpm/bash@5.1-1", cataloger="fake-rpm",
                          locations=("var/lib/rpm/rpmdb.sqlite",))
    fake_rpm = FixedCataloger("fake-rpm", (rpm_package,), owned=(("usr/bin/bash", "bash"),))
    catalog = catalog_filesystem(fs, [DpkgCataloger(), fake_rpm])
    assert next(p for p in catalog.packages if p.type == "rpm").owned_by == ""


PACKAGES = st.builds(
    Package, name=st.sampled_from(["a", "b"]), version=st.sampled_from(["1", "2"]), type=st.just("npm"),
    ecosystem=st.just("npm"), purl=st.sampled_from(["pkg:npm/a", "pkg:npm/b"]),
    licenses=st.sampled_from([(), ("MIT",)]), layer_index=st.sampled_from([None, 0, 1]),
    locations=st.sampled_from([(), ("x",), ("x", "y")]), metadata=st.sampled_from([(), (("k", "1"),), (("k", "2"),)]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(PACKAGES, max_size=12))
def test_the_catalog_holds_the_first_found_of_equal_packages_in_package_order(packages: list[Package]) -> None:
    found = catalog_filesystem(MemoryFilesystem(), [FixedCataloger("fixed", tuple(packages))]).packages
    expected = tuple(sorted(set(packages)))  # set keeps the first of equal packages; metadata is not compared
    assert found == expected
    assert [package.metadata for package in found] == [package.metadata for package in expected]
