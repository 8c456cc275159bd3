"""Go code compiled into an executable an OS package installed is matched by default; the distro's own
Python packages are not (scanner.match.matcher, `Package.compiled_into`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.catalog.lang.elfbuild import build_elf, go_inline_buildinfo
from tests.image.builders import ImageSpec, docker_archive, file
from tests.match.dbfixture import Rows, osv_rows
from tests.scanner_cli import Run, TrustedBundle, runner, trusted_bundle

RESTIC_MODINFO = "path\tgithub.com/restic/restic/cmd/restic\nmod\tgithub.com/restic/restic\tv0.15.2\t\n"
DPKG_STATUS = (b"Package: restic\nStatus: install ok installed\nVersion: 0.15.2+ds-1\nArchitecture: amd64\n\n"
               b"Package: python3-yaml\nStatus: install ok installed\nVersion: 5.3.1-1\nArchitecture: amd64\n"
               b"Source: pyyaml\n\n")
PYYAML = "usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/"


def _record(record_id: str, ecosystem: str, name: str, fixed: str) -> Rows:
    return osv_rows({"id": record_id, "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    restic = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.19.8", RESTIC_MODINFO))])
    layer = [
        file("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        file("var/lib/dpkg/status", DPKG_STATUS),
        file("var/lib/dpkg/info/restic.list", b"/usr/bin/restic\n"),
        file("var/lib/dpkg/info/python3-yaml.list", f"/{PYYAML}METADATA\n".encode()),
        file("usr/bin/restic", restic, 0o755),
        file(PYYAML + "METADATA", b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.3.1\n"),
    ]
    return docker_archive(tmp_path_factory.mktemp("image") / "restic.tar", ImageSpec(layers=[layer]))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> TrustedBundle:
    rows = Rows()
    for record in (_record("GO-2023-1840", "Go", "stdlib", "1.19.10"), _record("PYSEC-2021-142", "PyPI", "PyYAML", "5.4")):
        rows.add(record)
    return trusted_bundle(tmp_path_factory.mktemp("db"), rows)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return runner(capsys, monkeypatch)


def _findings(run: Run, database: TrustedBundle, image: Path, *options: str) -> tuple[dict[str, dict[str, object]], int]:
    code, out, err = run(*database.scanner_args("scan", str(image), "-o", "json", *options))
    assert code == 0, err
    document = json.loads(out)
    found = {f["package"]["name"]: f["package"] for f in document["findings"]}
    return found, document["summary"]["skipped_os_owned"]


def test_go_stdlib_in_a_dpkg_owned_executable_is_reported_by_default(run: Run, database: TrustedBundle,
                                                                     image: Path) -> None:
    found, skipped = _findings(run, database, image)
    assert set(found) == {"stdlib"}
    assert (found["stdlib"]["owned_by"], found["stdlib"]["compiled_into"]) == ("restic", "restic")
    assert found["stdlib"]["locations"] == ["usr/bin/restic"]
    assert skipped == 1  # PyYAML, which Debian's python3-yaml installed and Debian's advisories cover

    found, skipped = _findings(run, database, image, "--include-os-owned")
    assert set(found) == {"stdlib", "PyYAML"} and skipped == 0
    assert (found["PyYAML"]["owned_by"], found["PyYAML"]["compiled_into"]) == ("python3-yaml", None)


def test_the_table_names_the_os_package_an_executable_came_from(run: Run, database: TrustedBundle,
                                                                image: Path) -> None:
    code, out, err = run(*database.scanner_args("scan", str(image)))
    assert code == 0, err
    assert "stdlib (in restic)" in out and "(in P): compiled into an executable that OS package P installed" in out
