"""`dbbuilder fetch --redhat-oval`: Red Hat's OVAL v2 files from RHEL<major>/ to what `build --redhat` reads."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from dbbuilder.fetch import SOURCES
from tests.dbbuilder.fetch.conftest import FakeTime, FeedServer, no_distro_sources
from tests.dbbuilder.fetch.test_sources import fetch
from tests.dbbuilder.test_cli import run

FIXTURE = Path(__file__).resolve().parents[1] / "sources" / "fixtures" / "rhel-8.oval.xml"


def test_release_files_come_from_their_release_directory(tmp_path: Path, feed_server: FeedServer,
                                                         fake_time: FakeTime) -> None:
    feed_server.scenario.files["/oval/RHEL8/rhel-8.oval.xml.bz2"] = bz2.compress(FIXTURE.read_bytes())
    feed_server.scenario.files["/oval/RHEL8/rhel-8.6-eus.oval.xml.bz2"] = bz2.compress(FIXTURE.read_bytes())
    assert fetch("redhat-oval", feed_server, tmp_path, fake_time, "rhel-8.oval.xml.bz2", "rhel-8.6-eus.oval.xml.bz2",
                 path="/oval") == ["redhat/oval/rhel-8.oval.xml", "redhat/oval/rhel-8.6-eus.oval.xml"]
    assert (tmp_path / "redhat" / "oval" / "rhel-8.oval.xml").read_bytes() == FIXTURE.read_bytes()
    assert SOURCES["redhat-oval"].build_path == "redhat/oval"
    assert fetch("redhat-oval", feed_server, tmp_path, fake_time, "rhel-8.oval.xml.bz2", path="/oval") == []


def test_fetched_files_build_and_names_that_are_no_release_file_are_refused(
        tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    feed_server.scenario.files["/oval/RHEL8/rhel-8.oval.xml.bz2"] = bz2.compress(FIXTURE.read_bytes())
    dest = tmp_path / "feeds"
    base = ["fetch", "--dest", str(dest), "--no-osv", "--no-nvd", "--no-debian", "--no-alpine",
            *no_distro_sources(), "--redhat-oval", "--redhat-oval-base-url", f"{feed_server.url}/oval"]
    code, out, err = run(monkeypatch, capsys, *base, "--redhat-oval-file", "rhel-8.oval.xml.bz2")
    assert code == 0, err
    assert run(monkeypatch, capsys, "keygen", "--out", str(tmp_path))[0] == 0
    code, out, err = run(monkeypatch, capsys, "build", "--redhat", str(dest / "redhat" / "oval"), "--key",
                         str(tmp_path / "bundle-key.pem"), "--channel", "c", "--bundle-version", "1",
                         "--out", str(tmp_path / "x.bundle"), "--level", "3")
    assert code == 0, err
    assert "Red Hat:enterprise_linux:8" in out
    code, out, err = run(monkeypatch, capsys, *base, "--redhat-oval-file", "com.redhat.rhsa-all.xml.bz2")
    assert code == 2 and err.count("\n") == 1 and "expected a Red Hat OVAL v2 file name" in err
