"""`scanner scan A B DIR/ ...`: many targets in one run (scanner/batch.py and the scan command)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from scanner.batch import (
    SummaryRow,
    check_output_dir,
    expand_targets,
    report_names,
    run_parallel,
    summary_table,
    worst_exit_code,
)
from scanner.errors import OperatorInputError, ReportError
from tests.image.builders import ImageSpec, docker_archive, file, oci_layout
from tests.match.dbfixture import osv_rows
from tests.scanner_cli import Run, TrustedBundle, runner, trusted_bundle

SITE = "usr/lib/python3/dist-packages"
RECORD = {"id": "GHSA-demo-0001", "aliases": ["CVE-2026-0001"], "database_specific": {"severity": "HIGH"},
          "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}


def image(path: Path, version: str, tag: str) -> Path:
    metadata = f"Metadata-Version: 2.1\nName: demo\nVersion: {version}\n".encode()
    return docker_archive(path, ImageSpec(layers=[[file(f"{SITE}/demo-{version}.dist-info/METADATA", metadata)]],
                                          tags=(tag,)))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> TrustedBundle:
    return trusted_bundle(tmp_path_factory.mktemp("db"), osv_rows(RECORD))


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    return runner(capsys, monkeypatch)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """A folder: a vulnerable image, a fixed one, an OCI archive, one that is not an image, one broken archive."""
    folder = tmp_path / "images"
    folder.mkdir()
    image(folder / "old.tar", "1.0", "demo/app:old")
    image(folder / "new.tar", "2.1", "demo/app:new")
    oci_layout(folder / "oci.tar", ImageSpec(layers=[[file("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n")]]))
    (folder / "README").write_text("not an image\n" * 100)
    broken = bytearray((folder / "old.tar").read_bytes())
    broken[600:700] = bytes(100)  # inside the first member's data: a layer or config no longer matches its digest
    (folder / "broken.tar").write_bytes(bytes(broken))
    return folder


def test_report_names_are_safe_unique_and_in_order() -> None:
    targets = [Path("a/app.tar"), Path("b/app.tar"), Path("b/APP.tar"), Path("..hidden.tar"), Path("x/\x1b[2Jbad name"),
               Path("layout")]
    assert report_names(targets, ".json") == ["app.json", "app-2.json", "APP-3.json", "hidden.json",
                                              "_2Jbad_name.json", "layout.json"]


def test_the_worst_exit_code_wins_errors_over_incomplete_over_gate() -> None:
    assert worst_exit_code([]) == 0
    assert worst_exit_code([0, 1, 0]) == 1
    assert worst_exit_code([1, 50, 1]) == 50
    assert worst_exit_code([50, 3, 4, 1]) == 3  # the first error of the run
    assert worst_exit_code([0, 4, 3]) == 4


def test_expand_targets(images: Path, tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "layout", ImageSpec(layers=[[file("a", b"a")]]), as_tar=False)
    expanded = expand_targets([images / "new.tar", images, layout])
    assert [p.name for p in expanded.targets] == ["new.tar", "broken.tar", "oci.tar", "old.tar", "layout"]
    assert [p.name for p in expanded.skipped] == ["README"]
    assert [p.name for p in expanded.repeated] == ["new.tar"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OperatorInputError, match="no image archive"):
        expand_targets([empty])


def test_an_output_dir_that_cannot_be_made_is_a_report_error(tmp_path: Path) -> None:
    """Reports that cannot be written are exit code 8, as with --file; a report already there is refused (2)."""
    (tmp_path / "file").write_text("")
    with pytest.raises(ReportError, match=r"--output-dir .*file/reports: cannot create it") as refused:
        check_output_dir(tmp_path / "file" / "reports", ["a.json"])
    assert refused.value.exit_code == 8
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "a.json").write_text("")
    with pytest.raises(OperatorInputError, match=r"a\.json exists") as exists:
        check_output_dir(tmp_path / "reports", ["a.json", "b.json"])
    assert exists.value.exit_code == 2


def test_summary_table_lists_errors_after_the_rows() -> None:
    text = summary_table([SummaryRow("a.tar", 1, 3, (0, 1, 0, 0, 0, 0), 1, "partial", "fail-on"),
                          SummaryRow("b\x1b.tar", 3, status="b.tar: layer 0: digest mismatch")])
    assert text.splitlines() == [
        "image      packages  critical  high  medium  low  negligible  unknown  fixable  coverage  exit",
        "a.tar             3         0     1       0    0           0        0        1  partial   1 fail-on",
        "b\\x1b.tar         -         -     -       -    -           -        -        -  -         3 error",
        "",
        "errors:",
        "b\\x1b.tar: b.tar: layer 0: digest mismatch",
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_folder_of_images_in_one_run(run: Run, database: TrustedBundle, images: Path, jobs: str) -> None:
    code, out, err = run(*database.scanner_args("scan", str(images), "--fail-on", "high", "--jobs", jobs))
    assert code == 3, err  # broken.tar could not be read: that beats old.tar's --fail-on
    summary = out.split("\n\n==> ")[0].splitlines()
    assert summary[0].split() == ["image", "packages", "critical", "high", "medium", "low", "negligible", "unknown",
                                  "fixable", "coverage", "exit"]
    rows = {line.split()[0]: line.split()[1:] for line in summary[1:5]}
    assert rows[str(images / "old.tar")] == ["1", "0", "1", "0", "0", "0", "0", "1", "partial", "1", "fail-on"]
    assert rows[str(images / "new.tar")] == ["1", "0", "0", "0", "0", "0", "0", "0", "partial", "0", "ok"]
    assert rows[str(images / "oci.tar")][-2:] == ["0", "ok"]
    assert rows[str(images / "broken.tar")][-2:] == ["3", "error"]
    assert f"{images / 'broken.tar'}: " in summary[-1]
    assert f"scanner: skipped {images / 'README'}: not an image archive" in err
    assert f"scanner: {images / 'old.tar'}: --fail-on high: 1 finding(s) at or above high" in err
    reports = out.split("\n\n==> ")[1:]
    assert [report.split(" <==")[0] for report in reports] == [str(images / n) for n in ("new.tar", "oci.tar",
                                                                                        "old.tar")]
    assert "GHSA-demo-0001" in reports[2] and "GHSA-demo-0001" not in reports[0]


def test_reports_in_an_output_dir_match_single_scans(run: Run, database: TrustedBundle, images: Path,
                                                     tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    code, out, err = run(*database.scanner_args("scan", str(images / "old.tar"), str(images / "new.tar"),
                                                "-o", "json", "--output-dir", str(reports)))
    assert code == 0, err
    assert sorted(p.name for p in reports.iterdir()) == ["new.json", "old.json"]
    assert out.count("\n") == 3 and "==>" not in out  # the summary only
    for name in ("old", "new"):
        single_code, single, _ = run(*database.scanner_args("scan", str(images / f"{name}.tar"), "-o", "json"))
        assert single_code == 0
        assert (reports / f"{name}.json").read_text() == single
    assert json.loads((reports / "old.json").read_text())["findings"][0]["vulnerability"]["id"] == "CVE-2026-0001"
    # a second run would replace them: refused before any scan
    code, out, err = run(*database.scanner_args("scan", str(images / "old.tar"), "--output-dir", str(reports),
                                                "-o", "json"))
    assert (code, out) == (2, "")
    assert "old.json exists" in err


@pytest.mark.parametrize(("extra", "message"), [
    (["--file", "x.json"], "--file writes one report"),
    (["--attest", "k.pem", "--attestation-out", "a.json"], "--attest signs the scan of one target"),
])
def test_options_for_one_target_are_refused_with_several(run: Run, database: TrustedBundle, images: Path,
                                                         extra: list[str], message: str) -> None:
    code, out, err = run(*database.scanner_args("scan", str(images / "old.tar"), str(images / "new.tar"), *extra))
    assert (code, out) == (2, "")
    assert message in err


def test_an_oci_layout_directory_is_still_one_image(run: Run, database: TrustedBundle, tmp_path: Path) -> None:
    layout = oci_layout(tmp_path / "layout", ImageSpec(layers=[[file("etc/os-release", b"ID=alpine\n")]]),
                        as_tar=False)
    code, out, _ = run(*database.scanner_args("scan", str(layout), "-o", "json"))
    assert code == 0
    assert json.loads(out)["image"]["format"] == "oci-dir"


def _dies_on_two(job: int) -> str:
    if job == 2:
        os._exit(3)  # a worker killed mid-scan (OOM killer, SIGKILL): no exception ever comes back
    return f"done {job}"


def test_a_worker_that_dies_costs_only_its_unfinished_images_never_a_hang() -> None:
    # Found in review: multiprocessing.Pool.imap waited forever for the result of a task whose worker died.
    outcomes = list(run_parallel(_dies_on_two, [1, 2], 2, lambda job, why: f"lost {job}: {why}"))
    assert outcomes[1] == "lost 2: its worker process died (killed, or out of memory)"
    assert outcomes[0] in ("done 1", "lost 1: its worker process died (killed, or out of memory)")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_unexpected_error_in_one_image_is_its_row_only(run: Run, database: TrustedBundle, images: Path,
                                                          monkeypatch: pytest.MonkeyPatch, jobs: str) -> None:
    import scanner.targets

    real = scanner.targets.read_target

    def flaky(target: Path, **options: Any) -> Any:
        if target.name == "new.tar":
            raise IndexError("a cataloger bug a hostile image hit")
        return real(target, **options)

    monkeypatch.setattr(scanner.targets, "read_target", flaky)
    code, out, err = run(*database.scanner_args("scan", str(images / "old.tar"), str(images / "new.tar"),
                                                "--jobs", jobs))
    assert code == 99, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:3]}
    assert rows[str(images / "old.tar")][-2:] == ["0", "ok"]
    assert rows[str(images / "new.tar")][-2:] == ["99", "error"]
    assert "internal error: IndexError: a cataloger bug a hostile image hit" in out
