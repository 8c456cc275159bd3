"""The state directory is checked whole before anything in it is read, written or removed, and nothing in
it is followed: a symbolic link, another owner or a mode others can write is refused by every command with
the same line and exit code 36, and what a link points to is never touched, not even by a refusal record."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.cli import main
from scanner.db import install
from scanner.db.install import import_bundle, installed_directory, load_database
from scanner.db.state import Directory, StateDir, save_freshness
from scanner.db.verify import FreshnessPolicy
from tests.db.bundles import NOW, Signer, write_bundle

FOREIGN_UID = 12345
Fingerprint = dict[str, tuple[int, int, int, str]]
Run = Callable[[Path, tuple[str, ...]], tuple[int, str]]
Commands = list[tuple[str, ...]]
Swap = Callable[[Callable[[], None]], None]


def fingerprint(top: Path) -> Fingerprint:
    """Everything under `top` (links not followed): type and mode, mtime, size, content digest."""
    found: Fingerprint = {}
    for path in [top, *sorted(top.rglob("*"))]:
        status = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
        found[str(path.relative_to(top))] = (status.st_mode, status.st_mtime_ns, status.st_size, digest)
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """What a planted link points to: a directory with subdirectories and files the scanner must never touch."""
    top = tmp_path / "outside"
    for sub in ("keep-a", "keep-b/nested"):
        (top / sub).mkdir(parents=True)
        (top / sub / "file").write_text(f"sentinel {sub}\n")
    (top / "file.txt").write_text("sentinel file\n")
    return top


@pytest.fixture
def full(state: StateDir, signer: Signer, tmp_path: Path) -> StateDir:
    """A state directory holding every entry: trust, policy, rollback record, pointer, database, cache,
    audit log, lock."""
    import_bundle(write_bundle(tmp_path / "v1.bundle", signer, version=1), state_dir=state.root, now=NOW)
    load_database(state_dir=state.root, bundle=write_bundle(tmp_path / "v2.bundle", signer, version=2), now=NOW)
    save_freshness(state, FreshnessPolicy())
    assert {p.name for p in state.root.iterdir()} == {
        "trust.json", "freshness.json", "rollback.json", "installed.json", "db", "cache", "audit.log", ".lock"}
    return state


def entry(state: StateDir, name: str) -> Path:
    """`name` with {installed} and {cached} standing for the database and cache directories."""
    cached = next(state.cache.iterdir()).name
    return state.root / name.format(installed=installed_directory(state), cached=cached)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.delenv("SCANNER_STATE_DIR", raising=False)

    def invoke(root: Path, args: tuple[str, ...]) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["scanner", "--state-dir", str(root), *args])
        with pytest.raises(SystemExit) as exited:
            main()
        return int(exited.value.code or 0), capsys.readouterr().err

    return invoke


@pytest.fixture
def commands(signer: Signer, tmp_path: Path) -> Commands:
    """Every command that uses the state directory."""
    pem = tmp_path / "key.pem"
    pem.write_bytes(signer.public_pem)
    bundle = write_bundle(tmp_path / "v3.bundle", signer, version=3)
    image = str(tmp_path / "image.tar")
    return [("db", "import", str(bundle)), ("db", "status"), ("db", "verify"), ("db", "policy"),
            ("db", "policy", "--max-age", "3"), ("trust", "list"), ("trust", "add", str(pem)),
            ("trust", "remove", signer.key_id), ("trust", "policy", "--threshold", "1"), ("audit", "verify"),
            ("scan", image), ("scan", "--db", str(bundle), image), ("diff", image, image)]


def assert_all_refused(run: Run, root: Path, commands: Commands, expected: str) -> None:
    errors = set()
    for command in commands:
        code, err = run(root, command)
        assert code == 36, (command, err)
        errors.add(err)
    (line,) = errors  # every command says the same, in one line
    assert line.count("\n") == 1 and f"unsafe state directory: {expected}" in line, line


SYMLINKED = ["", "trust.json", "freshness.json", "rollback.json", "installed.json", "audit.log", ".lock", "db",
             "cache", "db/{installed}", "db/{installed}/vulns.sqlite", "db/{installed}/manifest.json",
             "db/{installed}/origin.json", "cache/{cached}", "cache/{cached}/signatures.json"]


@pytest.mark.parametrize("name", SYMLINKED)
def test_a_symbolic_link_anywhere_is_refused_and_never_followed(
        name: str, full: StateDir, outside: Path, tmp_path: Path, run: Run, commands: Commands) -> None:
    path = entry(full, name) if name else full.root
    moved = tmp_path / "moved"
    path.rename(moved)
    path.symlink_to(outside if moved.is_dir() else outside / "file.txt")
    log = {"": moved / "audit.log", "audit.log": moved}.get(name, full.audit_log)
    logged = log.read_bytes()
    before = fingerprint(outside)
    assert_all_refused(run, full.root, commands, f"{path} is a symbolic link")
    assert fingerprint(outside) == before
    assert path.is_symlink()
    assert log.read_bytes() == logged  # not a word of it in the audit log either


@pytest.mark.parametrize("name", ["", "trust.json", "audit.log", "db", "db/{installed}",
                                  "db/{installed}/vulns.sqlite", "cache/{cached}"])
def test_an_entry_others_can_write_is_refused(name: str, full: StateDir, run: Run, commands: Commands) -> None:
    path = entry(full, name) if name else full.root
    path.chmod(path.stat().st_mode | 0o002)
    log = full.audit_log.read_bytes()
    assert_all_refused(run, full.root, commands, f"{path} is writable by other users")
    assert full.audit_log.read_bytes() == log


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("name", ["", "rollback.json", ".lock", "db", "db/{installed}/origin.json", "cache"])
def test_an_entry_of_another_user_is_refused(name: str, full: StateDir, run: Run, commands: Commands) -> None:
    path = entry(full, name) if name else full.root
    os.chown(path, FOREIGN_UID, FOREIGN_UID, follow_symlinks=False)
    log = full.audit_log.read_bytes()
    assert_all_refused(run, full.root, commands, f"{path} belongs to user id {FOREIGN_UID}, not to this user")
    assert full.audit_log.read_bytes() == log


def test_the_reported_attack_deletes_nothing(full: StateDir, outside: Path, run: Run, commands: Commands) -> None:
    """World-writable, db/ a link to a directory with subdirectories, audit.log and .lock links too."""
    shutil.rmtree(full.databases)
    full.databases.symlink_to(outside)
    for name in ("audit.log", ".lock"):
        (full.root / name).unlink()
        (full.root / name).symlink_to(outside / "file.txt")
    full.root.chmod(0o777)
    before = fingerprint(outside)
    assert_all_refused(run, full.root, commands, f"{full.root} is writable by other users")
    full.root.chmod(0o700)
    assert_all_refused(run, full.root, commands, f"{full.root / '.lock'} is a symbolic link")
    assert fingerprint(outside) == before


def test_an_entry_swapped_between_commands_is_refused(full: StateDir, outside: Path, run: Run, commands: Commands) -> None:
    assert run(full.root, ("db", "verify"))[0] == 0
    real = full.root / "db-real"
    full.databases.rename(real)
    full.databases.symlink_to(outside)
    before = fingerprint(outside)
    assert_all_refused(run, full.root, commands, f"{full.databases} is a symbolic link")
    assert fingerprint(outside) == before
    full.databases.unlink()
    real.rename(full.databases)
    assert run(full.root, ("db", "verify"))[0] == 0


@pytest.fixture
def swap_during_import(monkeypatch: pytest.MonkeyPatch) -> Iterator[Swap]:
    """Run `swap` inside an import, once the bundle is verified: what follows (the signed documents, the
    rename, the records, the pointer switch, the audit record, the removal of the old database) goes
    through the descriptors opened and checked before the swap."""
    def arm(swap: Callable[[], None]) -> None:
        original = install._store_documents

        def swap_then_store(*args: Any, **kwargs: Any) -> None:
            swap()
            original(*args, **kwargs)

        monkeypatch.setattr(install, "_store_documents", swap_then_store)
    yield arm


def test_the_state_directory_swapped_mid_import_redirects_nothing(
        full: StateDir, outside: Path, signer: Signer, tmp_path: Path, swap_during_import: Swap) -> None:
    moved = tmp_path / "state-moved"

    def swap() -> None:
        full.root.rename(moved)
        full.root.symlink_to(outside)

    swap_during_import(swap)
    before = fingerprint(outside)
    result = import_bundle(write_bundle(tmp_path / "v3.bundle", signer, version=3), state_dir=full.root, now=NOW)
    assert fingerprint(outside) == before
    # Every write went to the directory that was checked, wherever it is now.
    assert result.database.manifest.bundle_version == 3
    assert load_database(state_dir=moved, now=NOW).manifest.bundle_version == 3


def test_db_swapped_mid_import_redirects_nothing(
        full: StateDir, outside: Path, signer: Signer, tmp_path: Path, swap_during_import: Swap) -> None:
    moved = full.root / "db-moved"

    def swap() -> None:
        full.databases.rename(moved)
        full.databases.symlink_to(outside)

    swap_during_import(swap)
    before = fingerprint(outside)
    import_bundle(write_bundle(tmp_path / "v3.bundle", signer, version=3), state_dir=full.root, now=NOW)
    assert fingerprint(outside) == before
    assert [p.name for p in moved.iterdir()] == [installed_directory(full)]  # staged, renamed, old one removed


def test_removing_a_tree_never_follows_a_link(outside: Path, tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "victim" / "sub").mkdir(parents=True)
    (top / "victim" / "link").symlink_to(outside)
    (top / "victim" / "sub" / "file-link").symlink_to(outside / "file.txt")
    (top / "link").symlink_to(outside)
    before = fingerprint(outside)
    directory = Directory.open_root(top, create=False)
    assert directory is not None
    with directory:
        directory.remove("victim")
        directory.remove("link")
    assert list(top.iterdir()) == []
    assert fingerprint(outside) == before


def test_what_the_scanner_creates_passes_its_own_check_under_a_group_umask(
        state: StateDir, signer: Signer, tmp_path: Path) -> None:
    previous = os.umask(0o002)
    try:
        import_bundle(write_bundle(tmp_path / "b.bundle", signer), state_dir=state.root, now=NOW)
        load_database(state_dir=state.root, bundle=write_bundle(tmp_path / "c.bundle", signer, version=2), now=NOW)
        with StateDir(state.root) as fresh:
            fresh.check()
    finally:
        os.umask(previous)
