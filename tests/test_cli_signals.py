"""SIGTERM and SIGHUP in the middle of an image read: a clean exit, 128 + the signal, no spool left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.image.builders import ImageSpec, docker_archive, file

# The scanner's own entry point, with the image read paused once its spool directory exists (the marker
# file says so): the signal then certainly arrives mid-read, on any machine load.
_PAUSED_SCANNER = """
import sys, time
from pathlib import Path
import scanner.image.reader as reader

read_layers = reader._read_layers
marker = Path(sys.argv[1])

def paused(*args):
    marker.touch()
    time.sleep(120)
    return read_layers(*args)

reader._read_layers = paused
sys.argv = ["scanner", *sys.argv[2:]]
from scanner.cli import main
main()
"""


ROOT = Path(__file__).resolve().parents[1]


def _command(kind: str, image: Path, tmp_path: Path) -> list[str]:
    """`sbom` reads in this process; `scan` reads in a forked child while it verifies the bundle."""
    if kind == "sbom":
        return ["sbom", str(image)]
    state = tmp_path / "state"
    subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'scanner'; from scanner.cli import main; main()",
                    "--state-dir", str(state), "trust", "add", "--demo", str(ROOT / "bundles/demo-key.pub.pem")],
                   check=True, capture_output=True)
    return ["--state-dir", str(state), "scan", str(image), "--db", str(ROOT / "bundles/demo.bundle")]


@pytest.mark.parametrize("kind", ["sbom", "scan"])
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_read_removes_the_spool_and_exits_128_plus_signal(tmp_path: Path, number: int, kind: str) -> None:
    image = docker_archive(tmp_path / "image.tar", ImageSpec([[file("var/lib/dpkg/status", b"Package: a\n")]]))
    spool_parent = tmp_path / "tmp"
    spool_parent.mkdir()
    marker = tmp_path / "reading"
    child = subprocess.Popen([sys.executable, "-c", _PAUSED_SCANNER, str(marker), *_command(kind, image, tmp_path)],
                             env={**os.environ, "TMPDIR": str(spool_parent)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), child.communicate(timeout=10)
        assert [p.name[:15] for p in spool_parent.iterdir()] == ["airgap-scanner-"]
        child.send_signal(number)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 128 + number
    assert stderr == f"scanner: terminated ({signal.Signals(number).name})\n"
    assert list(spool_parent.iterdir()) == []
