from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from dbbuilder.cli import main

FEEDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "feeds"
EPOCH = "1795910400"  # 2026-11-29T00:00:00Z


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["dbbuilder", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, _ = run(monkeypatch, capsys, "keygen", "--out", str(tmp_path / "keys"), "--name", "release")
    assert code == 0
    assert re.fullmatch(r"[0-9a-f]{64}\n", out)
    return tmp_path / "keys"


def build_args(keys: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--osv", str(FEEDS / "osv" / "npm"), "--osv", str(FEEDS / "osv" / "Maven"),
            "--nvd", str(FEEDS / "nvd"), "--key", str(keys / "release.pem"), "--channel", "test",
            "--bundle-version", "3", "--expires-in", "3650d", "--out", str(out), "--level", "3", *extra]


def test_keygen_with_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("hunter2\n")
    code, _, _ = run(monkeypatch, capsys, "keygen", "--out", str(tmp_path), "--passphrase-file", str(passphrase))
    assert code == 0
    assert b"ENCRYPTED" in (tmp_path / "bundle-key.pem").read_bytes()
    code, _, err = run(monkeypatch, capsys, "keygen", "--out", str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1
    assert "already exists" in err


def test_build_inspect_verify(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "feeds.bundle"
    code, stdout, err = run(monkeypatch, capsys, *build_args(keys, out))
    assert code == 0, err
    assert "Maven" in stdout
    assert "npm" in stdout
    assert "database (zstd)" in stdout
    code, stdout, _ = run(monkeypatch, capsys, "inspect", str(out))
    assert code == 0
    assert "UNVERIFIED" in stdout
    assert "channel:  test" in stdout
    assert "vulns.sqlite.zst" in stdout
    code, stdout, _ = run(monkeypatch, capsys, "verify", str(out), "--trust", str(keys / "release.pub.pem"))
    assert code == 0
    assert "verified: channel test, version 3" in stdout

    captured = tmp_path / "captured.bundle"
    code, _, err = run(monkeypatch, capsys, *build_args(keys, captured, "--captured-at", "nvd=2026-11-28T06:00:00Z"))
    assert code == 0, err
    code, stdout, _ = run(monkeypatch, capsys, "inspect", str(captured))
    assert re.search(r"nvd\s+.*2026-11-28T06:00:00Z", stdout)

    again = tmp_path / "again.bundle"
    assert run(monkeypatch, capsys, *build_args(keys, again))[0] == 0
    assert again.read_bytes() == out.read_bytes()


def test_verify_refusals(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.bundle"
    assert run(monkeypatch, capsys, *build_args(keys, out, "--strict"))[0] == 0
    assert run(monkeypatch, capsys, "keygen", "--out", str(tmp_path / "other"))[0] == 0
    code, _, err = run(monkeypatch, capsys, "verify", str(out), "--trust", str(tmp_path / "other" / "bundle-key.pub.pem"))
    assert code == 21
    assert err.startswith("dbbuilder: error: ")
    code, _, err = run(monkeypatch, capsys, "verify", str(out), "--trust", str(keys / "release.pem"))
    assert code == 35  # a private key is not a trusted public key
    data = bytearray(out.read_bytes())
    data[-20000] ^= 1  # inside the compressed database
    (tmp_path / "bad.bundle").write_bytes(bytes(data))
    code, _, err = run(monkeypatch, capsys, "verify", str(tmp_path / "bad.bundle"), "--trust",
                       str(keys / "release.pub.pem"))
    assert code == 31
    (tmp_path / "short.bundle").write_bytes(out.read_bytes()[:3000])
    for command in ("inspect", "verify"):
        extra = ["--trust", str(keys / "release.pub.pem")] if command == "verify" else []
        code, _, err = run(monkeypatch, capsys, command, str(tmp_path / "short.bundle"), *extra)
        assert code == 11, err
        assert err.count("\n") == 1


def test_build_usage_errors(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.bundle"
    for args, message in (
        (build_args(keys, out, "--expires-in", "soon"), "duration"),
        (["build", "--key", str(keys / "release.pem"), "--channel", "c", "--bundle-version", "1",
          "--out", str(out)], "no feed"),
        ([*build_args(keys, out)[:-2], "--key", str(tmp_path / "absent.pem")], "absent.pem"),
        (build_args(keys, tmp_path / "absent" / "x.bundle"), "does not exist"),
        (build_args(keys, out, "--captured-at", "ghsa=2026-01-01T00:00:00Z"), "PROVIDER=TIME"),
        (build_args(keys, out, "--captured-at", "osv"), "PROVIDER=TIME"),
    ):
        code, _, err = run(monkeypatch, capsys, *args)
        assert code == 2, err
        assert message in err
        assert err.count("\n") == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]


def test_missing_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(monkeypatch, capsys, "inspect", str(tmp_path / "none.bundle"))
    assert code == 10
    assert "none.bundle" in err


def test_a_provider_that_kept_nothing_is_not_signed(tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "GHSA-x.json").write_text('{"id": ')
    out = tmp_path / "empty.bundle"
    args = ["build", "--osv", str(broken), "--nvd", str(FEEDS / "nvd"), "--key", str(keys / "release.pem"),
            "--channel", "test", "--bundle-version", "1", "--out", str(out), "--level", "3"]
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 9
    assert err.count("\n") == 1
    assert "provider osv kept no records: 1 skipped (invalid JSON: 1)" in err
    assert not out.exists()
    code, _, err = run(monkeypatch, capsys, *args, "--allow-empty")
    assert code == 0, err
    assert out.exists()
