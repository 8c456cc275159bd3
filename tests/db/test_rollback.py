"""Rollback protection across channels: one installed database, so a bundle of another channel, or built
before the installed one, needs its own override, on `db import` and on `scan --db` alike, and the audit
log records the override."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from scanner.db import errors
from scanner.db.install import import_bundle, load_database
from scanner.db.state import StateDir, load_rollback
from scanner.db.verify import (
    ChannelRecord,
    InstalledRecord,
    Override,
    RollbackRecord,
    check_rollback,
    parse_manifest,
)
from tests.db.bundles import NOW, Signer, make_parts, sqlite_database, write_bundle
from tests.db.conftest import scanner_runner, snapshot

BUILT = NOW - timedelta(hours=2)
Run = Callable[..., tuple[int, str, str]]
DAYS_EARLIER = BUILT - timedelta(days=3)


def records(state: StateDir) -> list[dict[str, object]]:
    return [json.loads(line) for line in state.audit_log.read_text().splitlines()]


@pytest.fixture
def stable_v9(state: StateDir, signer: Signer, tmp_path: Path) -> StateDir:
    import_bundle(write_bundle(tmp_path / "stable-9.bundle", signer, version=9), state_dir=state.root, now=NOW)
    return state


@pytest.fixture
def testing_v1(signer: Signer, tmp_path: Path) -> Path:
    """The reproduction: a testing bundle built days before the installed stable one."""
    return write_bundle(tmp_path / "testing-1.bundle", signer, version=1, channel="testing", built=DAYS_EARLIER,
                        raw=sqlite_database(3, "testing"))


def test_another_channel_built_earlier_is_refused_naming_both_overrides(
        stable_v9: StateDir, testing_v1: Path) -> None:
    before = snapshot(stable_v9)
    with pytest.raises(errors.ChannelSwitchError) as refused:
        import_bundle(testing_v1, state_dir=stable_v9.root, now=NOW)
    message = str(refused.value)
    assert "bundle channel testing is not the installed database's (stable v9)" in message
    assert "built 2026-11-26T10:00:00Z, before the installed database (stable v9, built 2026-11-29T10:00:00Z)" in message
    assert message.endswith("pass --allow-channel-switch --allow-older-data (recorded in the audit log)")
    assert snapshot(stable_v9) == before
    last = records(stable_v9)[-1]
    assert last["event"] == "refusal" and last["error"] == "ChannelSwitchError" and last["exit_code"] == 42
    with pytest.raises(errors.OlderDataError, match="pass --allow-older-data "):
        import_bundle(testing_v1, state_dir=stable_v9.root, now=NOW, allow_channel_switch=True)
    assert snapshot(stable_v9) == before


def test_the_overrides_install_it_and_are_audited(stable_v9: StateDir, testing_v1: Path) -> None:
    result = import_bundle(testing_v1, state_dir=stable_v9.root, now=NOW, allow_channel_switch=True,
                           allow_older_data=True)
    assert result.database.overrides == ("channel-switch", "older-data")
    last = records(stable_v9)[-1]
    assert last["event"] == "import" and last["overrides"] == ["channel-switch", "older-data"]
    record = load_rollback(stable_v9)
    assert {channel: entry.bundle_version for channel, entry in record.channels.items()} == {"stable": 9, "testing": 1}
    assert record.installed == InstalledRecord("testing", 1, DAYS_EARLIER)


def test_switching_back_needs_the_override_again(stable_v9: StateDir, testing_v1: Path, tmp_path: Path) -> None:
    import_bundle(testing_v1, state_dir=stable_v9.root, now=NOW, allow_channel_switch=True, allow_older_data=True)
    with pytest.raises(errors.ChannelSwitchError, match=r"channel stable is not the installed database's \(testing v1\)"):
        import_bundle(tmp_path / "stable-9.bundle", state_dir=stable_v9.root, now=NOW)
    result = import_bundle(tmp_path / "stable-9.bundle", state_dir=stable_v9.root, now=NOW, allow_channel_switch=True)
    assert result.database.overrides == ("channel-switch",)


def test_older_data_on_the_same_channel_needs_its_override(stable_v9: StateDir, signer: Signer,
                                                           tmp_path: Path) -> None:
    """A higher version built before the installed one: the version check alone would let it through."""
    rebuilt = write_bundle(tmp_path / "stable-10.bundle", signer, version=10, built=BUILT - timedelta(hours=1))
    with pytest.raises(errors.OlderDataError, match="pass --allow-older-data"):
        import_bundle(rebuilt, state_dir=stable_v9.root, now=NOW)
    result = import_bundle(rebuilt, state_dir=stable_v9.root, now=NOW, allow_older_data=True)
    assert result.database.overrides == ("older-data",)


def test_newer_data_on_the_installed_channel_needs_nothing(stable_v9: StateDir, signer: Signer,
                                                           tmp_path: Path) -> None:
    newer = write_bundle(tmp_path / "stable-10.bundle", signer, version=10, built=BUILT + timedelta(hours=1))
    assert import_bundle(newer, state_dir=stable_v9.root, now=NOW).database.overrides == ()
    assert import_bundle(newer, state_dir=stable_v9.root, now=NOW).database.overrides == ()  # a re-import


def test_a_bundle_used_directly_is_held_to_the_same_rule(stable_v9: StateDir, testing_v1: Path) -> None:
    before = snapshot(stable_v9)
    with pytest.raises(errors.ChannelSwitchError, match="--allow-channel-switch --allow-older-data"):
        load_database(state_dir=stable_v9.root, bundle=testing_v1, now=NOW)
    last = records(stable_v9)[-1]
    assert last["event"] == "refusal" and last["operation"] == "load" and last["exit_code"] == 42
    database = load_database(state_dir=stable_v9.root, bundle=testing_v1, now=NOW, allow_channel_switch=True,
                             allow_older_data=True)
    assert database.overrides == ("channel-switch", "older-data")
    last = records(stable_v9)[-1]
    assert last["event"] == "override" and last["overrides"] == ["channel-switch", "older-data"]
    # The cached copy is held to it at every use; neither use moved the records.
    with pytest.raises(errors.ChannelSwitchError):
        load_database(state_dir=stable_v9.root, bundle=testing_v1, now=NOW)
    assert snapshot(stable_v9) == before


def test_check_rollback_names_every_missing_override(signer: Signer) -> None:
    manifest = parse_manifest(make_parts(signer, version=3, channel="testing", built=DAYS_EARLIER).manifest)
    installed = InstalledRecord("stable", 9, BUILT)
    with pytest.raises(errors.RollbackError) as refused:
        check_rollback(manifest, "a" * 64, RollbackRecord({"testing": ChannelRecord(4, "b" * 64)}, installed),
                       frozenset())
    assert str(refused.value).endswith(
        "pass --allow-downgrade --allow-channel-switch --allow-older-data (recorded in the audit log)")
    assert check_rollback(manifest, "a" * 64, RollbackRecord({"testing": ChannelRecord(4, "b" * 64)}, installed),
                          frozenset(Override)) == (Override.DOWNGRADE, Override.CHANNEL_SWITCH, Override.OLDER_DATA)
    assert check_rollback(manifest, "a" * 64, RollbackRecord({}, InstalledRecord("testing", 2, DAYS_EARLIER)),
                          frozenset()) == ()


# --- through the command line: every flag a refusal names exists on the command that refused --------


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stable_v9: StateDir) -> Run:
    return scanner_runner(monkeypatch, capsys, stable_v9.root)


def fresh(path: Path, signer: Signer, **options: object) -> Path:
    """A bundle that is not expired by the real clock the command line reads."""
    return write_bundle(path, signer, expires=NOW + timedelta(days=3650), **options)


@pytest.mark.parametrize("command", [("db", "import"), ("scan", "--db"), ("diff", "--db")])
def test_each_command_names_flags_it_has(run: Run, command: tuple[str, ...], stable_v9: StateDir, signer: Signer,
                                         tmp_path: Path) -> None:
    bundle = fresh(tmp_path / "t.bundle", signer, version=1, channel="testing", built=DAYS_EARLIER)
    targets = {"db": (), "scan": (str(tmp_path / "missing.tar"),),
               "diff": (str(tmp_path / "old.tar"), str(tmp_path / "new.tar"))}[command[0]]
    code, _, err = run(*command, str(bundle), *targets)
    assert code == 42 and err.count("\n") == 1
    flags = re.findall(r"--allow-[a-z-]+", err)
    assert flags == ["--allow-channel-switch", "--allow-older-data"]
    code, _, err = run(*command, str(bundle), *flags, *targets)
    assert code not in (2, 42, 43), err  # accepted: the bundle passes, a missing image fails later
    operation = "import" if command[0] == "db" else "load"
    audited = [r for r in records(stable_v9) if r["event"] in ("import", "override") and r.get("channel") == "testing"]
    assert [(r.get("operation", "import"), r["overrides"]) for r in audited] == [
        (operation, ["channel-switch", "older-data"])]


def test_the_rollback_flags_need_a_bundle(run: Run, tmp_path: Path) -> None:
    code, _, err = run("scan", "--allow-channel-switch", str(tmp_path / "image.tar"))
    assert code == 2 and "apply to a bundle given with --db" in err


@pytest.mark.parametrize("command", [("db", "import"), ("scan", "--db"), ("diff", "--db")])
def test_an_expired_bundle_names_a_flag_the_command_has(run: Run, command: tuple[str, ...], signer: Signer,
                                                        tmp_path: Path) -> None:
    expired = write_bundle(tmp_path / "expired.bundle", signer, version=10, expires=NOW - timedelta(days=1),
                           built=BUILT)
    targets = {"db": (), "scan": (str(tmp_path / "missing.tar"),),
               "diff": (str(tmp_path / "old.tar"), str(tmp_path / "new.tar"))}[command[0]]
    code, _, err = run(*command, str(expired), *targets)
    assert code == errors.ExpiredError.exit_code and err.count("\n") == 1, err
    flags = re.findall(r"--allow-[a-z-]+", err)
    assert flags == ["--allow-expired"]
    code, _, err = run(*command, str(expired), *flags, *targets)
    assert code not in (2, errors.ExpiredError.exit_code), err


def test_db_status_says_the_override_first(run: Run, signer: Signer, tmp_path: Path) -> None:
    expired = write_bundle(tmp_path / "expired.bundle", signer, version=10, expires=NOW - timedelta(days=1),
                           built=BUILT)
    assert run("db", "import", str(expired), "--allow-expired")[0] == 0
    code, out, _ = run("db", "status")
    assert code == 0
    assert out.splitlines()[0].startswith("OVERRIDE IN EFFECT: expired")
    assert "verification: ok only under the override (expired)" in out
    assert "verification: ok (signatures" not in out
