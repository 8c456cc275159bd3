"""Import and load: the happy paths, upgrades, overrides, the bundle cache, re-verification at load."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from scanner.db import errors, install, trust
from scanner.db.audit import verify_log
from scanner.db.install import (
    freshness_summary,
    import_bundle,
    installed_directory,
    installed_info,
    load_database,
)
from scanner.db.state import STATE_DIR_ENV, StateDir, load_freshness, load_rollback, resolve_state_dir
from scanner.db.verify import ChannelRecord, FreshnessPolicy, InstalledRecord, RollbackRecord
from scanner.errors import BundleError, DatabaseError
from tests.db.bundles import NOW, Signer, make_parts, sqlite_database, write_bundle
from tests.db.conftest import snapshot
from tests.db.test_tamper import CASES, INSTALLED_VERSION


def events(state: StateDir) -> list[str]:
    return [json.loads(line)["event"] for line in state.audit_log.read_text().splitlines()]


def test_import_installs_a_readable_database_and_records_everything(
        state: StateDir, signer: Signer, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "v1.bundle", signer, raw=sqlite_database(25), version=1)
    result = import_bundle(bundle, state_dir=state.root, now=NOW)
    database = result.database
    assert result.previous is None
    assert database.key_ids == (signer.key_id,)
    assert database.manifest.bundle_version == 1 and database.age.bundle == timedelta(hours=2)
    assert database.age.providers == {"osv": timedelta(hours=3)}
    connection = sqlite3.connect(f"file:{database.path}?mode=ro&immutable=1", uri=True)
    assert connection.execute("SELECT count(*) FROM vulnerabilities").fetchone() == (25,)
    connection.close()
    assert load_rollback(state) == RollbackRecord(channels={"stable": ChannelRecord(1, database.manifest_sha256)},
                                                  installed=InstalledRecord("stable", 1, NOW - timedelta(hours=2)))
    assert events(state) == ["trust-add", "import"]
    assert json.loads(state.audit_log.read_text().splitlines()[-1])["overrides"] == []
    assert [p.name for p in state.databases.iterdir()] == [database.path.parent.name]
    assert "stable v1" in freshness_summary(database) and "osv 3 hours 0 minutes" in freshness_summary(database)


def test_upgrade_replaces_and_removes_the_previous_database(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "v1.bundle", signer, version=1), state_dir=state.root, now=NOW)
    old_directory = state.databases / str(installed_directory(state))
    result = import_bundle(write_bundle(tmp_path / "v2.bundle", signer, version=2, raw=sqlite_database(3)),
                           state_dir=state.root, now=NOW)
    assert result.previous is not None and result.previous.bundle_version == 1
    assert state.databases / str(installed_directory(state)) == result.database.path.parent != old_directory
    assert not old_directory.exists()
    assert load_rollback(state).channels["stable"].bundle_version == 2


def test_reimporting_the_same_bundle_is_accepted(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "v1.bundle", signer, version=1)
    first = import_bundle(bundle, state_dir=state.root, now=NOW)
    second = import_bundle(bundle, state_dir=state.root, now=NOW)
    assert first.database.manifest_sha256 == second.database.manifest_sha256


def test_channels_keep_their_own_records(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "a.bundle", signer, version=9), state_dir=state.root, now=NOW)
    import_bundle(write_bundle(tmp_path / "b.bundle", signer, version=1, channel="testing"),
                  state_dir=state.root, now=NOW, allow_channel_switch=True)
    assert {c: r.bundle_version for c, r in load_rollback(state).channels.items()} == {"stable": 9, "testing": 1}


def test_downgrade_override_is_audited_and_moves_the_record(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "v5.bundle", signer, version=5), state_dir=state.root, now=NOW)
    result = import_bundle(write_bundle(tmp_path / "v4.bundle", signer, version=4), state_dir=state.root, now=NOW,
                           allow_downgrade=True)
    assert result.database.overrides == ("downgrade",)
    assert load_rollback(state).channels["stable"].bundle_version == 4
    assert events(state)[-1] == "import"
    assert json.loads(state.audit_log.read_text().splitlines()[-1])["overrides"] == ["downgrade"]


def test_expired_override_persists_for_that_database_only(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    expired = write_bundle(tmp_path / "old.bundle", signer, expires=NOW - timedelta(days=1))
    with pytest.raises(errors.ExpiredError, match="expired on 2026-11-28T12:00:00Z; carry in a newer one"):
        import_bundle(expired, state_dir=state.root, now=NOW)
    result = import_bundle(expired, state_dir=state.root, now=NOW, allow_expired=True)
    assert result.database.overrides == ("expired",)
    database = load_database(state_dir=state.root, now=NOW)
    assert any("expired" in warning for warning in database.warnings)
    assert events(state)[-2:] == ["import", "override"]
    # A database imported fresh that expires later is stopped at load.
    fresh = write_bundle(tmp_path / "new.bundle", signer, version=2, expires=NOW + timedelta(days=1))
    import_bundle(fresh, state_dir=state.root, now=NOW)
    with pytest.raises(errors.ExpiredError):
        load_database(state_dir=state.root, now=NOW + timedelta(days=2))
    assert load_database(state_dir=state.root, now=NOW + timedelta(days=2), allow_expired=True).overrides == (
        "expired",)


def test_age_policy_warns_by_default_and_per_provider(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)
    assert load_database(state_dir=state.root, now=NOW).warnings == ()
    later = NOW + timedelta(days=8)
    warnings = load_database(state_dir=state.root, now=later).warnings
    assert len(warnings) == 2 and all("stale data" in w for w in warnings)
    policy = FreshnessPolicy(max_age=None, provider_max_age={"osv": timedelta(hours=1)})
    (warning,) = load_database(state_dir=state.root, now=NOW, policy=policy).warnings
    assert "provider osv data captured 3 hours 0 minutes ago (maximum 1 hour 0 minutes)" in warning
    with pytest.raises(errors.StaleDataError):
        load_database(state_dir=state.root, now=NOW, policy=FreshnessPolicy(
            max_age=timedelta(hours=1), fail=True))


def test_load_follows_an_import_that_switched_mid_read(
        state: StateDir, signer: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_bundle(write_bundle(tmp_path / "v1.bundle", signer, version=1), state_dir=state.root, now=NOW)
    removed = installed_directory(state)
    assert removed is not None
    import_bundle(write_bundle(tmp_path / "v2.bundle", signer, version=2), state_dir=state.root, now=NOW)
    pointers = iter([removed, installed_directory(state)])
    monkeypatch.setattr(install, "installed_directory", lambda _: next(pointers))
    assert load_database(state_dir=state.root, now=NOW).manifest.bundle_version == 2


def test_no_database_is_a_loud_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no vulnerability database installed; import one with"):
        load_database(state_dir=tmp_path / "nothing")
    assert installed_info(tmp_path / "nothing") is None


def test_database_altered_after_import_is_refused(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    database = import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW).database
    os.chmod(database.path, 0o644)
    with open(database.path, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff")
    with pytest.raises(errors.InstalledDatabaseError, match="altered after import"):
        load_database(state_dir=state.root, now=NOW)
    assert events(state)[-1] == "refusal"


def test_a_clock_set_back_before_the_import_is_reported(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)
    assert not load_database(state_dir=state.root, now=NOW + timedelta(hours=1)).warnings
    warning = load_database(state_dir=state.root, now=NOW - timedelta(hours=25)).warnings[0]
    assert warning.startswith("the clock reads 2026-11-28T11:00:00Z, before this database was imported")


def test_an_oversized_installed_manifest_is_not_read_whole(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    database = import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW).database
    manifest = database.path.parent / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b" " * (2 * 1024 * 1024))
    with pytest.raises(errors.InstalledDatabaseError, match="larger than 1048576 bytes"):
        load_database(state_dir=state.root, now=NOW)


def test_a_naive_now_is_refused_up_front(state: StateDir) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        load_database(state_dir=state.root, now=NOW.replace(tzinfo=None))


def test_removing_the_signing_key_stops_the_installed_database(
        state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)
    trust.remove_key(state, signer.key_id[:8], NOW)
    with pytest.raises(errors.NoTrustedKeysError):
        load_database(state_dir=state.root, now=NOW)


def test_bundle_used_directly_is_verified_and_cached_without_moving_the_record(
        state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "v3.bundle", signer, version=3), state_dir=state.root, now=NOW)
    before = snapshot(state)
    newer = write_bundle(tmp_path / "v4.bundle", signer, version=4)
    first = load_database(state_dir=state.root, bundle=newer, now=NOW)
    assert first.path.parent == state.cache / first.bundle_sha256
    second = load_database(state_dir=state.root, bundle=newer, now=NOW)
    assert second == first
    assert snapshot(state) == before  # the installed database and the rollback record did not move
    older = write_bundle(tmp_path / "v2.bundle", signer, version=2)
    with pytest.raises(errors.RollbackError):
        load_database(state_dir=state.root, bundle=older, now=NOW)
    for version in (5, 6):
        load_database(state_dir=state.root, bundle=write_bundle(tmp_path / f"v{version}.bundle", signer,
                                                                version=version), now=NOW)
    assert len(list(state.cache.iterdir())) == 2


def test_tampered_cache_entry_is_refused(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b.bundle", signer)
    database = load_database(state_dir=state.root, bundle=bundle, now=NOW)
    os.chmod(database.path, 0o644)
    database.path.write_bytes(sqlite_database(2))
    with pytest.raises(errors.InstalledDatabaseError):
        load_database(state_dir=state.root, bundle=bundle, now=NOW)


def test_stray_staging_directories_do_not_break_imports(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    (state.databases / ".staging-crashed").mkdir(parents=True)
    (state.databases / ".staging-crashed" / "vulns.sqlite").write_bytes(b"partial")
    (state.databases / "7-orphan").mkdir()
    import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)
    assert len(list(state.databases.iterdir())) == 1


def test_state_directory_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_state_dir() == tmp_path / "xdg" / "airgap-scanner"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_state_dir() == tmp_path / "home" / ".local" / "share" / "airgap-scanner"
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "env"))
    assert resolve_state_dir() == tmp_path / "env"
    assert resolve_state_dir(tmp_path / "option") == tmp_path / "option"


def test_corrupt_rollback_record_is_refused_not_reset(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    state.rollback_file.write_text("{not json")
    with pytest.raises(errors.StateError, match=r"rollback\.json is corrupt"):
        import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)


@pytest.mark.parametrize(("record", "problem"), [
    ("[]", "expected a JSON object"),
    ('{"channels": []}', "field 'channels' missing or not an object"),
    ('{"channels": {"stable": 5}}', "channel 'stable': expected a JSON object"),
    ('{"channels": {"stable": {"bundle_version": true, "manifest_sha256": "x"}}}',
     "channel 'stable': field 'bundle_version' missing or not an integer"),
    ('{"channels": {}, "installed": []}', "field 'installed' is not an object"),
    ('{"channels": {}, "installed": {"channel": "stable", "bundle_version": 1}}', "installed built_at"),
])
def test_a_rollback_record_of_another_shape_is_corrupt(state: StateDir, record: str, problem: str) -> None:
    state.rollback_file.write_text(record)
    with pytest.raises(errors.StateError, match=r"rollback\.json is corrupt \(restore it from a backup\): .*" + problem):
        load_rollback(state)


@pytest.mark.parametrize(("record", "problem"), [
    ('["warn"]', "expected a JSON object"),
    ('{"provider_max_age_days": [1]}', "field 'provider_max_age_days' missing or not an object"),
    ('{"provider_max_age_days": null}', "field 'provider_max_age_days' missing or not an object"),
    ('{"on_stale": "ignore"}', "on_stale must be warn or fail"),
    ('{"max_age_days": true}', "maximum age must be a positive number of days"),
])
def test_a_freshness_policy_of_another_shape_is_refused(state: StateDir, record: str, problem: str) -> None:
    state.freshness_file.write_text(record)
    with pytest.raises(errors.PolicyError, match=r"freshness\.json: " + problem):
        load_freshness(state)
    state.freshness_file.write_text('{"provider_max_age_days": {"osv": 2}}')
    assert load_freshness(state) == FreshnessPolicy(max_age=None, provider_max_age={"osv": timedelta(days=2)})


def test_audit_chain_stays_valid_across_the_lifecycle(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)
    load_database(state_dir=state.root, now=NOW + timedelta(days=40), allow_expired=True)
    assert verify_log(state).records == 3


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_refusal_of_a_bundle_used_directly_is_audited(
        case: str, state: StateDir, signer: Signer, other_signer: Signer, tmp_path: Path) -> None:
    """As every refused import is (tests/db/test_tamper.py): each error class reaches the audit log."""
    import_bundle(write_bundle(tmp_path / "installed.bundle", signer, version=INSTALLED_VERSION),
                  state_dir=state.root, now=NOW)
    build, expected = CASES[case]
    bundle = tmp_path / "tampered.bundle"
    bundle.write_bytes(build(make_parts(signer, version=INSTALLED_VERSION + 1), signer, other_signer))
    with pytest.raises(expected):
        load_database(state_dir=state.root, bundle=bundle, now=NOW)
    last = json.loads(state.audit_log.read_text().splitlines()[-1])
    assert (last["event"], last["operation"], last["error"], last["exit_code"]) == (
        "refusal", "load", expected.__name__, expected.exit_code)
    assert last["source"] == str(bundle) and last["size"] == bundle.stat().st_size


def test_a_state_record_with_a_key_twice_is_corrupt(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    state.rollback_file.write_text('{"channels": {}, "channels": {"stable": {}}}')
    with pytest.raises(errors.StateError, match=r"rollback\.json is corrupt .*duplicate key"):
        import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)


def test_a_local_state_failure_is_not_audited_as_a_refusal(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    (state.root / "freshness.json").write_text('{"max_age_days": -1}')
    bundle = write_bundle(tmp_path / "v1.bundle", signer, version=1)
    with pytest.raises(errors.PolicyError) as failed:
        import_bundle(bundle, state_dir=state.root, now=NOW)
    assert not isinstance(failed.value, BundleError)
    assert events(state) == ["trust-add"]
