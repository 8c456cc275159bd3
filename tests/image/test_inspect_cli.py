"""`scanner inspect` through the real entry point: output, one-line errors, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.cli import _without_fraction, main
from scanner.image.limits import format_size
from tests.image.builders import ImageSpec, docker_archive, file

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "bundles" / "demo-image.tar")
GOLDEN = Path(__file__).with_name("golden") / "demo-inspect.json"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["scanner", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out = capsys.readouterr()
        return int(exited.value.code or 0), out.out, out.err

    return invoke


def test_inspect_json_matches_golden(run: Run) -> None:
    code, out, _ = run("inspect", DEMO, "-o", "json")
    assert code == 0
    document = json.loads(out)
    assert document == json.loads(GOLDEN.read_text())
    assert set(document) >= {"format", "tags", "config_digest", "os", "architecture", "layers"}
    assert set(document["layers"][0]) >= {"digest", "diff_id", "size", "uncompressed_size", "files"}


def test_inspect_table(run: Run) -> None:
    code, out, _ = run("inspect", DEMO)
    assert code == 0
    assert "airgap-demo/app:1.0" in out and "linux/amd64" in out
    assert "sha256:d3140b7479e3c1c3afcaf23717f780a501d19a7291c1343809cf159182a1e301" in out


def test_inspect_error_is_one_line_with_exit_code_3(run: Run, tmp_path: Path) -> None:
    first = ImageSpec([[file("a", b"")]], tags=("a:1",))
    second = ImageSpec([[file("b", b"")]], tags=("b:1",))
    path = docker_archive(tmp_path / "multi.tar", first, second)
    code, _, err = run("inspect", str(path))
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("scanner: error: ") and "choose one with --image" in err
    code, out, _ = run("inspect", str(path), "--image", "b:1", "-o", "json")
    assert code == 0 and json.loads(out)["tags"] == ["b:1"]


def test_inspect_size_cap_option(run: Run, tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "image.tar", ImageSpec([[file("zeros", bytes(100_000))]], compression="gzip"))
    code, _, err = run("inspect", str(path), "--max-uncompressed-size", "10k")
    assert code == 3 and "decompression bomb" in err
    code, _, err = run("inspect", str(path), "--max-uncompressed-size", "lots")
    assert code == 2 and "expected a size" in err


def test_inspect_missing_file(run: Run, tmp_path: Path) -> None:
    code, _, err = run("inspect", str(tmp_path / "nothing.tar"))
    assert code == 3 and "no such file" in err and err.count("\n") == 1


def test_inspect_table_sizes_in_human_units_and_time_without_fraction(run: Run, tmp_path: Path) -> None:
    spec = ImageSpec([[file("big", bytes(3 * 1024 * 1024 + 300_000))]],
                     config_extra={"created": "2024-05-01T12:34:56.123456789Z"})
    path = docker_archive(tmp_path / "image.tar", spec)
    code, out, _ = run("inspect", str(path))
    assert code == 0
    assert "created:   2024-05-01T12:34:56Z" in out and ".123456789" not in out
    assert "3.3 MiB" in out and str(3 * 1024 * 1024 + 300_000) not in out
    code, out, _ = run("inspect", str(path), "-o", "json")
    document = json.loads(out)
    assert document["created"] == "2024-05-01T12:34:56.123456789Z"
    assert document["layers"][0]["size"] > 3 * 1024 * 1024  # exact bytes in JSON


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 B"), (920, "920 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (2125, "2.1 KiB"),
    (124_160_000, "118.4 MiB"), (3 * 1024**3, "3.0 GiB"), (5 * 1024**5, "5120.0 TiB"),
])
def test_format_size(size: int, shown: str) -> None:
    assert format_size(size) == shown


@pytest.mark.parametrize(("created", "shown"), [
    ("2024-05-01T12:34:56.123456789Z", "2024-05-01T12:34:56Z"),
    ("2024-05-01T12:34:56.5+02:00", "2024-05-01T12:34:56+02:00"),
    ("2024-05-01T12:34:56Z", "2024-05-01T12:34:56Z"),
    ("yesterday.123Z", "yesterday.123Z"),  # not a time: shown as given
])
def test_created_without_fraction(created: str, shown: str) -> None:
    assert _without_fraction(created) == shown
