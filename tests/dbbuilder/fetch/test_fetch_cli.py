"""`dbbuilder fetch` against the local server, then `dbbuilder build` from what it fetched."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.dbbuilder.fetch.conftest import FeedServer, no_distro_sources
from tests.dbbuilder.test_cli import run

SAMPLE_FEEDS = Path(__file__).resolve().parents[3] / "bundles" / "feeds"


def sample_zip(ecosystem: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in sorted((SAMPLE_FEEDS / "osv" / ecosystem).glob("*.json")):
            archive.writestr(record.name, record.read_bytes())
    return buffer.getvalue()


def test_fetch_then_build(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    scenario = feed_server.scenario
    scenario.files["/PyPI/all.zip"] = sample_zip("PyPI")
    scenario.files["/Maven/all.zip"] = sample_zip("Maven")
    scenario.nvd_items = json.loads((SAMPLE_FEEDS / "nvd" / "nvdcve-2.0-page-0.json").read_text())["vulnerabilities"]
    dest = tmp_path / "feeds"
    code, out, err = run(monkeypatch, capsys, "fetch", "--dest", str(dest), "--ecosystems", "PyPI,Maven",
                         "--osv-base-url", feed_server.url, "--nvd-base-url", f"{feed_server.url}/nvd",
                         "--nvd-api-key", "test-key", "--no-debian", "--no-alpine", *no_distro_sources())
    assert code == 0, err
    assert "osv PyPI:" in out
    assert "nvd: 1 pages" in out
    assert (dest / "osv" / "Maven" / "all.zip").exists()
    code, out, _ = run(monkeypatch, capsys, "fetch", "--dest", str(dest), "--ecosystems", "PyPI", "--no-nvd",
                       "--no-debian", "--no-alpine", "--osv-base-url", feed_server.url, *no_distro_sources())
    assert code == 0
    assert "unchanged" in out

    assert run(monkeypatch, capsys, "keygen", "--out", str(tmp_path))[0] == 0
    code, out, err = run(monkeypatch, capsys, "build", "--osv", str(dest / "osv"), "--nvd", str(dest / "nvd"),
                         "--key", str(tmp_path / "bundle-key.pem"), "--channel", "c", "--bundle-version", "1",
                         "--out", str(tmp_path / "x.bundle"), "--level", "3")
    assert code == 0, err
    assert "Maven" in out
    assert "PyPI" in out


def test_fetch_errors_are_one_line(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(monkeypatch, capsys, "fetch", "--dest", str(tmp_path), "--ecosystems", "Missing", "--no-nvd",
                       "--no-debian", "--no-alpine", "--osv-base-url", feed_server.url, *no_distro_sources())
    assert code == 9
    assert err.count("\n") == 1
    assert "HTTP 404" in err
    code, _, err = run(monkeypatch, capsys, "fetch", "--dest", str(tmp_path), "--no-osv", "--since", "yesterday",
                       "--no-debian", "--no-alpine")
    assert code == 2
    assert "--since" in err
    code, _, err = run(monkeypatch, capsys, "fetch", "--dest", str(tmp_path), "--no-osv", "--since", "last",
                       "--no-debian", "--no-alpine")
    assert code == 2
    assert "no completed NVD fetch" in err
