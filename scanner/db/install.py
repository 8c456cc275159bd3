"""Database lifecycle: atomic import of a verified bundle, and loading a verified database for a scan.

Import, in this order (each step is durable before the next starts):
1. verify the bundle (scanner.db.archive.verify_bundle) while decompressing into a staging directory
   db/.staging-* in the state directory; fsync the database and its signed manifest and signatures;
2. rename the staging directory to db/<version>-<manifest sha256 prefix>-<random>;
3. raise the rollback record for the channel (before the switch: a record ahead of the installed
   database after a crash is harmless, since that bundle was fully verified; a record behind it
   would not be);
4. replace installed.json, the pointer to the installed directory (os.replace: the switch);
5. append the audit record, remove the previous directory.
A kill at any point leaves installed.json naming a complete, verified directory: the old or the new.
Stray staging or unreferenced directories are removed by the next import.

Loading re-verifies the installed manifest's signatures against the CURRENT trust store (a removed
key stops its bundles), re-checks expiry and age, and re-hashes the database against the signed
digest before returning its path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from scanner.db import audit, bundle_format
from scanner.db.archive import VerifiedBundleFile, verify_bundle
from scanner.db.errors import BundleArchiveError, InstalledDatabaseError, StateError
from scanner.db.state import (
    StateDir,
    fsync_directory,
    load_freshness,
    load_rollback,
    read_json,
    remove_stray_temporaries,
    save_rollback,
    write_json_atomic,
)
from scanner.db.trust import load_trust
from scanner.db.verify import (
    CLOCK_SKEW,
    ChannelRecord,
    DataAge,
    FreshnessPolicy,
    Manifest,
    VerifiedManifest,
    check_installed_digest,
    format_age,
    format_time,
    parse_manifest,
    parse_time,
    verify_manifest,
)
from scanner.errors import BundleError, DatabaseError
from scanner.fileio import open_regular_file

DATABASE_FILE = "vulns.sqlite"
ORIGIN_FILE = "origin.json"
STAGING_PREFIX = ".staging-"
# Bundles used directly by `scan --db FILE.bundle` stay decompressed in the cache; the oldest beyond
# this many are removed when a new one is added.
CACHE_ENTRIES = 2
NO_DATABASE = "no vulnerability database installed; import one with `scanner db import FILE.bundle`"


@dataclass(frozen=True)
class VerifiedDatabase:
    """A database whose signatures, freshness and digest were checked just now."""

    path: Path  # the SQLite file; open it read-only (mode=ro&immutable=1)
    manifest: Manifest
    manifest_sha256: str
    bundle_sha256: str  # sha256 of the bundle file as imported
    key_ids: tuple[str, ...]  # trusted keys whose signatures verified
    age: DataAge
    warnings: tuple[str, ...]  # age-policy and override warnings, one line each
    overrides: tuple[str, ...]  # "expired", "stale", "downgrade" in effect for this database
    imported_at: datetime


@dataclass(frozen=True)
class ImportResult:
    database: VerifiedDatabase
    previous: Manifest | None  # the manifest of the database this import replaced


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.utcoffset() is None:  # comparing it with the manifest's aware times would raise TypeError
        raise ValueError(f"now={now.isoformat()} has no time zone; pass an aware datetime")
    return now


def bundle_digest(path: Path) -> str:
    try:
        with open_regular_file(path) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise BundleArchiveError(f"cannot read bundle {path}: {exc.strerror}") from None


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _unpack_verified(
    state: StateDir,
    bundle: Path,
    parent: Path,
    *,
    now: datetime,
    freshness: FreshnessPolicy,
    rollback: Mapping[str, ChannelRecord],
    allow_expired: bool,
    allow_downgrade: bool,
) -> tuple[Path, VerifiedManifest, str]:
    """Verify `bundle` into a complete, fsynced staging directory under `parent`.

    Returns (staging directory, verdict, bundle sha256). On any failure the staging directory is removed.
    """
    trust = load_trust(state)
    try:
        handle = open_regular_file(bundle)
    except OSError as exc:
        raise BundleArchiveError(f"cannot open bundle {bundle}: {exc.strerror}") from None
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    except OSError as exc:
        handle.close()
        raise StateError(f"cannot create a staging directory in {parent}: {exc.strerror}") from None
    try:
        with handle:
            try:
                with open(staging / DATABASE_FILE, "wb") as sink:
                    contents, verified = verify_bundle(
                        handle, trust=trust, now=now, freshness=freshness, rollback=rollback,
                        allow_expired=allow_expired, allow_stale=allow_expired, allow_downgrade=allow_downgrade,
                        sink=sink, spool_dir=staging)
                    sink.flush()
                    os.fsync(sink.fileno())
                _store_documents(staging, contents, verified.overrides, now, bundle)
            except OSError as exc:
                raise StateError(f"cannot write the database into {parent}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, verified, contents.sha256


def _store_documents(
    directory: Path, contents: VerifiedBundleFile, overrides: tuple[str, ...], now: datetime, source: Path
) -> None:
    """Keep the signed documents byte for byte beside the database, so it can be re-verified later."""
    _write_file(directory / bundle_format.MANIFEST_NAME, contents.manifest_bytes)
    _write_file(directory / bundle_format.SIGNATURES_NAME, contents.signatures_bytes)
    origin = {"bundle_sha256": contents.sha256, "imported_at": format_time(now), "source": str(source),
              "overrides": list(overrides)}
    _write_file(directory / ORIGIN_FILE, (json.dumps(origin, indent=2, sort_keys=True) + "\n").encode())
    os.chmod(directory / DATABASE_FILE, 0o444)
    fsync_directory(directory)


def installed_directory(state: StateDir) -> Path | None:
    pointer = read_json(state.installed_pointer)
    if pointer is None:
        return None
    name = pointer.get("directory") if isinstance(pointer, dict) else None
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise StateError(f"{state.installed_pointer} is corrupt; re-import a bundle")
    return state.databases / name


def _remove_strays(parent: Path, keep: Path | None) -> None:
    """Remove staging directories and database directories nothing points to (left by a crash)."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if entry != keep and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _record_refusal(state: StateDir, operation: str, source: Path, error: BundleError) -> None:
    """Audit a refusal. The file is named by path and size only: hashing a hostile file of any size
    just to refuse it would undo the caps (digests are in the import records)."""
    size: int | None = None
    with contextlib.suppress(OSError):
        size = source.stat().st_size
    with contextlib.suppress(StateError):
        audit.append(state, "refusal", {"operation": operation, "source": str(source), "size": size,
                                        "error": type(error).__name__, "exit_code": error.exit_code,
                                        "message": error.message})


def _record_overrides(state: StateDir, operation: str, database: VerifiedDatabase) -> None:
    if database.overrides:
        audit.append(state, "override", {
            "operation": operation, "overrides": list(database.overrides), "bundle_sha256": database.bundle_sha256,
            "channel": database.manifest.channel, "bundle_version": database.manifest.bundle_version})


def import_bundle(
    bundle: Path,
    *,
    state_dir: Path | None = None,
    now: datetime | None = None,
    allow_expired: bool = False,
    allow_downgrade: bool = False,
) -> ImportResult:
    """Verify and install `bundle`; the previous database stays in service until the new one is complete."""
    state = StateDir.resolve(state_dir)
    moment = _now(now)
    try:
        with state.lock():
            current = installed_directory(state)
            _remove_strays(state.databases, current)
            remove_stray_temporaries(state.root)
            previous = _read_manifest(current) if current is not None else None
            records = load_rollback(state)
            staging, verified, digest = _unpack_verified(
                state, bundle, state.databases, now=moment, freshness=load_freshness(state), rollback=records,
                allow_expired=allow_expired, allow_downgrade=allow_downgrade)
            manifest = verified.manifest
            target = state.databases / (
                f"{manifest.bundle_version}-{verified.manifest_sha256[:12]}-{secrets.token_hex(4)}")
            try:
                os.rename(staging, target)
                fsync_directory(state.databases)
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise StateError(f"cannot install into {state.databases}: {exc.strerror}") from None
            save_rollback(state, {**records, manifest.channel: ChannelRecord(
                manifest.bundle_version, verified.manifest_sha256)})
            write_json_atomic(state.installed_pointer, {"directory": target.name})
            database = _database(target, verified, digest, moment)
            audit.append(state, "import", {
                "bundle_sha256": digest, "manifest_sha256": verified.manifest_sha256, "channel": manifest.channel,
                "bundle_version": manifest.bundle_version, "key_ids": list(verified.key_ids),
                "previous_version": previous.bundle_version if previous else None, "source": str(bundle)})
            _record_overrides(state, "import", database)
            _remove_strays(state.databases, target)
    except BundleError as error:
        _record_refusal(state, "import", bundle, error)
        raise
    return ImportResult(database=database, previous=previous)


def _database(directory: Path, verified: VerifiedManifest, digest: str, imported_at: datetime) -> VerifiedDatabase:
    return VerifiedDatabase(
        path=directory / DATABASE_FILE, manifest=verified.manifest, manifest_sha256=verified.manifest_sha256,
        bundle_sha256=digest, key_ids=verified.key_ids, age=verified.age, warnings=verified.warnings,
        overrides=verified.overrides, imported_at=imported_at)


def _read_document(path: Path, cap: int) -> bytes:
    """A signed document kept beside a database, read no further than the cap its bundle member had."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(cap + 1)
    except FileNotFoundError:
        raise InstalledDatabaseError(f"{path} is missing: the database directory was altered; "
                                     "re-import the bundle") from None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > cap:
        raise InstalledDatabaseError(f"{path} is larger than {cap} bytes: the database directory was altered; "
                                     "re-import the bundle")
    return data


def _read_manifest_bytes(directory: Path) -> bytes:
    return _read_document(directory / bundle_format.MANIFEST_NAME, bundle_format.MAX_MANIFEST_BYTES)


def _read_manifest(directory: Path) -> Manifest | None:
    """The installed manifest, parsed without verification (for messages only); None when unreadable."""
    with contextlib.suppress(BundleError):
        return parse_manifest(_read_manifest_bytes(directory))
    return None


@dataclass(frozen=True)
class Origin:
    """What the scanner recorded when it unpacked a bundle (origin.json, beside the database)."""

    bundle_sha256: str
    imported_at: datetime
    overrides: tuple[str, ...]


def _read_origin(directory: Path) -> Origin:
    document = read_json(directory / ORIGIN_FILE)
    try:
        if not isinstance(document, dict):
            raise TypeError(document)
        return Origin(str(document["bundle_sha256"]), parse_time(document["imported_at"], "imported_at"),
                      tuple(str(item) for item in document["overrides"]))
    except (KeyError, TypeError, BundleError):
        raise InstalledDatabaseError(
            f"{directory / ORIGIN_FILE} is missing or corrupt: re-import the bundle") from None


def _verify_directory(
    state: StateDir,
    directory: Path,
    *,
    now: datetime,
    freshness: FreshnessPolicy,
    rollback: Mapping[str, ChannelRecord],
    allow_expired: bool,
) -> VerifiedDatabase:
    """Re-verify an unpacked database: signatures (current trust store), freshness, rollback, digest.

    A freshness override given at import stays in effect for that database (it is in origin.json and
    the audit log); expiry that happens after a normal import still stops it.
    """
    origin = _read_origin(directory)
    clock: tuple[str, ...] = ()
    if now < origin.imported_at - CLOCK_SKEW:
        # A clock set back makes an expired bundle look valid again: say so at every use.
        clock = (f"the clock reads {format_time(now)}, before this database was imported "
                 f"({format_time(origin.imported_at)}): check the clock, expiry and age depend on it",)
    verified = verify_manifest(
        _read_manifest_bytes(directory),
        _read_document(directory / bundle_format.SIGNATURES_NAME, bundle_format.MAX_SIGNATURES_BYTES),
        trust=load_trust(state), now=now, freshness=freshness, rollback=rollback,
        allow_expired=allow_expired or "expired" in origin.overrides,
        allow_stale=allow_expired or "stale" in origin.overrides)
    entry = verified.manifest.file(bundle_format.DATABASE_NAME)
    path = directory / DATABASE_FILE
    try:
        with open(path, "rb") as handle:
            problem = check_installed_digest(handle, entry)
    except FileNotFoundError:
        problem = "the file is missing"
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    if problem is not None:
        raise InstalledDatabaseError(
            f"database {path} no longer matches its signed manifest ({problem}): it was altered after "
            "import; re-import the bundle")
    return _database(directory, replace(verified, warnings=(*clock, *verified.warnings)), origin.bundle_sha256,
                     origin.imported_at)


def _load_bundle(
    state: StateDir, bundle: Path, *, now: datetime, freshness: FreshnessPolicy, allow_expired: bool
) -> VerifiedDatabase:
    """A bundle used directly: verified like an import (rollback checked, record NOT raised: only an
    import moves a channel forward), then kept decompressed in cache/<bundle sha256>."""
    rollback = load_rollback(state)
    cached = state.cache / bundle_digest(bundle)
    if (cached / ORIGIN_FILE).is_file():
        database = _verify_directory(
            state, cached, now=now, freshness=freshness, rollback=rollback, allow_expired=allow_expired)
        with contextlib.suppress(OSError):
            os.utime(cached)  # most recently used: evicted last
        return database
    with state.lock():
        staging, verified, digest = _unpack_verified(
            state, bundle, state.cache, now=now, freshness=freshness, rollback=rollback,
            allow_expired=allow_expired, allow_downgrade=False)
        target = state.cache / digest
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise StateError(f"cannot write the bundle cache {state.cache}: {exc.strerror}") from None
        entries = sorted((e for e in state.cache.iterdir() if e != target),
                         key=lambda e: e.stat().st_mtime, reverse=True)
        for stale_entry in entries[CACHE_ENTRIES - 1:]:
            shutil.rmtree(stale_entry, ignore_errors=True)
    return _database(target, verified, digest, now)


def _load_installed(
    state: StateDir, *, now: datetime, freshness: FreshnessPolicy, allow_expired: bool
) -> VerifiedDatabase:
    directory = installed_directory(state)
    if directory is None:
        raise DatabaseError(NO_DATABASE)
    try:
        return _verify_directory(state, directory, now=now, freshness=freshness, rollback={},
                                 allow_expired=allow_expired)
    except InstalledDatabaseError:
        # A concurrent import may have switched to a new directory and removed this one mid-read.
        current = installed_directory(state)
        if current is None or current == directory:
            raise
        return _verify_directory(state, current, now=now, freshness=freshness, rollback={},
                                 allow_expired=allow_expired)


def load_database(
    *,
    state_dir: Path | None = None,
    bundle: Path | None = None,
    policy: FreshnessPolicy | None = None,
    audit: bool = True,
    allow_expired: bool = False,
    now: datetime | None = None,
) -> VerifiedDatabase:
    """The verified database for a scan: the installed one, or `bundle` verified and cached.

    `policy` overrides the state directory's freshness.json; `allow_expired` lets an expired or stale
    database through (with a warning and an audit record). Raises DatabaseError when nothing is
    installed, a scanner.db.errors refusal otherwise; never returns an unverified database.
    """
    state = StateDir.resolve(state_dir)
    moment = _now(now)
    try:
        freshness = policy if policy is not None else load_freshness(state)
        if bundle is not None:
            database = _load_bundle(state, bundle, now=moment, freshness=freshness, allow_expired=allow_expired)
        else:
            database = _load_installed(state, now=moment, freshness=freshness, allow_expired=allow_expired)
    except BundleError as error:
        if audit:
            _record_refusal(state, "load", bundle or state.installed_pointer, error)
        raise
    if audit:
        _record_overrides(state, "load", database)
    return database


@dataclass(frozen=True)
class InstalledInfo:
    """What is installed, read WITHOUT verification (for `db status`, which verifies separately)."""

    directory: Path
    manifest: Manifest | None  # None when the manifest is unreadable
    origin: Origin | None


def installed_info(state_dir: Path | None = None) -> InstalledInfo | None:
    state = StateDir.resolve(state_dir)
    directory = installed_directory(state)
    if directory is None:
        return None
    origin = None
    with contextlib.suppress(BundleError):
        origin = _read_origin(directory)
    return InstalledInfo(directory=directory, manifest=_read_manifest(directory), origin=origin)


def freshness_summary(database: VerifiedDatabase) -> str:
    """One line for every scan and status: how old the data is, overall and per provider."""
    manifest = database.manifest
    providers = ", ".join(f"{name} {format_age(age)}" for name, age in sorted(database.age.providers.items()))
    return (f"database {manifest.channel} v{manifest.bundle_version}: built {format_time(manifest.built_at)} "
            f"({format_age(database.age.bundle)} ago), expires {format_time(manifest.expires_at)}"
            + (f"; data age per provider: {providers}" if providers else ""))
