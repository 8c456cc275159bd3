"""Rotation scenarios end to end (issue 17): a host pinned at root version 1 imports bundles that carry
versions 2 and 3; refusals leave the pinned root and the installed database untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scanner.db import errors, trust
from scanner.db.install import import_bundle, load_database
from scanner.db.state import StateDir
from tests.db.bundles import NOW, Signer, make_parts, write_bundle
from tests.db.conftest import Snapshot, scanner_runner, snapshot
from tests.db.roots import Rotation, make_root


def pinned_host(tmp_path: Path, rotation: Rotation) -> StateDir:
    state = StateDir(tmp_path / "state")
    trust.init_root(state, rotation.v1()[1], "1.root.json", NOW)
    return state


def last_record(state: StateDir) -> dict[str, object]:
    record: dict[str, object] = json.loads(state.audit_log.read_text().splitlines()[-1])
    return record


def untouched(state: StateDir) -> tuple[Snapshot, bytes]:
    return snapshot(state), state.root_file.read_bytes()


def test_pinned_at_1_imports_a_bundle_carrying_2_and_3_then_refuses_the_revoked_key(tmp_path: Path) -> None:
    rotation = Rotation()
    state = pinned_host(tmp_path, rotation)
    bundle = write_bundle(tmp_path / "v1.bundle", rotation.b2, version=1, roots=rotation.chain())
    database = import_bundle(bundle, state_dir=state.root, now=NOW).database
    assert database.root_version == 3 and database.key_ids == (rotation.b2.key_id,)
    roots = trust.load_roots(state)
    assert roots is not None and roots.root.version == 3
    assert roots.retired[rotation.b1.key_id].removed_in == 2
    events = [json.loads(line)["event"] for line in state.audit_log.read_text().splitlines()]
    assert events == ["trust-root-init", "trust-root-update", "import"]
    assert last_record(state)["root_version"] == 3
    assert sorted(p.name for p in database.path.parent.iterdir() if p.name.endswith(".root.json")) == [
        "1.root.json", "2.root.json", "3.root.json"]
    assert load_database(state_dir=state.root, now=NOW).root_version == 3  # re-verified at every use
    before = untouched(state)
    for carried in (rotation.chain(), ()):  # with or without the chain: B1 was removed at version 2
        revoked = write_bundle(tmp_path / "revoked.bundle", rotation.b1, version=2, roots=carried)
        with pytest.raises(errors.RevokedKeyError, match=r"removed from the bundle role in root version 2"):
            import_bundle(revoked, state_dir=state.root, now=NOW)
        assert (last_record(state)["event"], last_record(state)["exit_code"]) == ("refusal", 48)
        assert untouched(state) == before


def test_a_bundle_signed_by_a_key_its_own_chain_revokes_pins_nothing(tmp_path: Path) -> None:
    rotation = Rotation()
    state = pinned_host(tmp_path, rotation)
    before = state.root_file.read_bytes()
    with pytest.raises(errors.RevokedKeyError):
        import_bundle(write_bundle(tmp_path / "b1.bundle", rotation.b1, roots=rotation.chain()),
                      state_dir=state.root, now=NOW)
    assert state.root_file.read_bytes() == before  # the chain was valid, the bundle not: nothing moves
    assert import_bundle(write_bundle(tmp_path / "ok.bundle", rotation.b1), state_dir=state.root,
                         now=NOW).database.root_version == 1


@pytest.mark.parametrize(("chain", "error"), [
    (lambda r: (r.v1(), r.v3()), errors.RootVersionError),
    (lambda r: (r.v2(), r.v3(signers=[r.r2])), errors.RootPreviousThresholdError),
    (lambda r: (r.v2(), r.v3(signers=[r.r1])), errors.RootOwnThresholdError),
    (lambda r: (r.v2(), r.v3(expires=NOW)), errors.RootExpiredError),
    (lambda r: (make_root(1, [r.r1], [Signer()], [r.r1]), r.v2(), r.v3()), errors.RootForkError),
])
def test_each_chain_refusal_has_its_code_and_record_and_changes_nothing(
        tmp_path: Path, chain: Callable[[Rotation], tuple[tuple[str, bytes], ...]], error: type[Exception]) -> None:
    rotation = Rotation()
    state = pinned_host(tmp_path, rotation)
    import_bundle(write_bundle(tmp_path / "v1.bundle", rotation.b1, version=1), state_dir=state.root, now=NOW)
    before = untouched(state)
    bundle = write_bundle(tmp_path / "v2.bundle", rotation.b2, version=2, roots=chain(rotation))
    with pytest.raises(error) as refused:
        import_bundle(bundle, state_dir=state.root, now=NOW)
    record = last_record(state)
    assert (record["event"], record["error"], record["exit_code"]) == (
        "refusal", error.__name__, refused.value.exit_code)  # type: ignore[attr-defined]
    assert untouched(state) == before
    with pytest.raises(error):  # a bundle used directly is verified the same way
        load_database(state_dir=state.root, bundle=bundle, now=NOW)
    assert untouched(state) == before


def test_an_expired_pinned_root_stops_imports_and_scans(tmp_path: Path) -> None:
    rotation = Rotation()
    state = pinned_host(tmp_path, rotation)
    import_bundle(write_bundle(tmp_path / "v1.bundle", rotation.b1), state_dir=state.root, now=NOW)
    later = datetime(2027, 12, 1, tzinfo=UTC)
    with pytest.raises(errors.RootExpiredError, match="root version 1 expired"):
        load_database(state_dir=state.root, now=later, allow_expired=True)


def test_a_root_is_pinned_once_and_the_flat_list_is_frozen_beside_it(tmp_path: Path) -> None:
    rotation = Rotation()
    state = pinned_host(tmp_path, rotation)
    with pytest.raises(errors.TrustStoreError, match="already pinned"):
        trust.init_root(state, rotation.v1()[1], "1.root.json", NOW)
    with pytest.raises(errors.TrustStoreError, match="root version 1 is pinned"):
        trust.add_key(state, Signer().public_pem, "x", "x.pem", NOW)
    with pytest.raises(errors.RootOwnThresholdError):
        trust.init_root(StateDir(tmp_path / "other"), rotation.v3(signers=[rotation.r1])[1], "3.root.json", NOW)


def test_emergency_re_pin_after_a_root_key_compromise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The thief holds R2 (version 3's root key) and signs a version 4 that makes their own key the bundle key;
    # a host that imports it trusts the thief. The publisher makes a new root with fresh keys, and the operator
    # re-pins it by hand after comparing its sha256 out of band.
    run = scanner_runner(monkeypatch, capsys, tmp_path / "state")
    rotation, thief = Rotation(), Signer()
    now = datetime.now(UTC)
    roots = tmp_path / "roots"
    roots.mkdir()
    chain = (*rotation.chain(), make_root(4, [rotation.r2], [thief], [rotation.r2]))
    for name, data in chain:
        (roots / name).write_bytes(data)

    def fresh(name: str, signer: Signer, version: int, carried: tuple[tuple[str, bytes], ...]) -> str:
        return str(write_bundle(tmp_path / name, signer, version=version, roots=carried,
                                built=now - timedelta(hours=1), expires=now + timedelta(days=10)))

    assert run("trust", "init", str(roots / "1.root.json"))[0] == 0
    assert run("db", "import", fresh("evil.bundle", thief, 1, chain))[0] == 0  # the compromise works
    code, out, _ = run("trust", "status")
    assert code == 0 and "root version: 4" in out and thief.key_id in out
    new_root_key, new_bundle_key = Signer(), Signer()
    name, document = make_root(1, [new_root_key], [new_bundle_key], [new_root_key])  # a new chain
    (roots / "new.root.json").write_bytes(document)
    code, _, err = run("trust", "init", str(roots / "new.root.json"))
    assert code == errors.TrustStoreError.exit_code and "--replace" in err
    code, out, _ = run("trust", "init", "--replace", str(roots / "new.root.json"))
    assert code == 0 and "pinned root version 1" in out and "replacing version 4" in out
    code, _, err = run("db", "import", fresh("evil2.bundle", thief, 2, chain))
    assert code == errors.RootForkError.exit_code, err  # its version 1 is not the one now pinned
    code, _, err = run("db", "import", fresh("evil3.bundle", thief, 2, ()))
    assert code == errors.UnknownKeyError.exit_code, err  # the thief's key is no longer trusted
    code, _, err = run("db", "import", fresh("good.bundle", new_bundle_key, 3, ((name, document),)))
    assert code == 0, err
    code, out, _ = run("trust", "status")
    assert "root version: 1" in out and "role bundle: threshold 1 of 1" in out and new_bundle_key.key_id in out
    assert '"event":"trust-root-replace"' in (tmp_path / "state" / "audit.log").read_text()


def test_a_flat_trust_list_ignores_a_carried_chain(state: StateDir, signer: Signer, tmp_path: Path) -> None:
    rotation = Rotation()
    bundle = tmp_path / "b.bundle"
    bundle.write_bytes(make_parts(signer, roots=rotation.chain()).bundle())
    assert import_bundle(bundle, state_dir=state.root, now=NOW).database.root_version is None


def test_a_corrupt_pinned_root_is_recovered_the_way_its_error_says(tmp_path: Path) -> None:
    # Found in review: load_roots names `trust init --replace` as the remedy, but init_root loaded the corrupt
    # record first and failed the same way.
    from scanner.db.errors import StateError
    from scanner.db.trust import init_root, load_roots

    rotation = Rotation()
    with StateDir.resolve(tmp_path / "state") as state:
        state.ensure()
        init_root(state, rotation.v1()[1], "1.root.json", NOW)
        record = tmp_path / "state" / "root.json"
        document = json.loads(record.read_text())
        document["digests"] = {"1": "0" * 64}
        record.write_text(json.dumps(document))
        with pytest.raises(StateError, match="trust init --replace"):
            load_roots(state)
        with pytest.raises(StateError):
            init_root(state, rotation.v1()[1], "1.root.json", NOW)  # not without --replace
        roots, previous = init_root(state, rotation.v1()[1], "1.root.json", NOW, replace_pinned=True)
        assert previous is None and roots.root.version == 1
        assert load_roots(state) is not None
