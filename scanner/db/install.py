"""Database lifecycle: atomic import of a verified bundle, and loading a verified database for a scan.

Import, in this order (each step is durable before the next starts):
1. verify the bundle (scanner.db.archive.verify_bundle) while decompressing into a staging directory
   db/.staging-* in the state directory; fsync the database and its signed manifest and signatures;
2. rename the staging directory to db/<version>-<manifest sha256 prefix>-<random>;
3. raise the rollback record for the channel and record the installed database's channel, version and
   built_at (before the switch: a record ahead of the installed database after a crash is harmless,
   since that bundle was fully verified; a record behind it would not be);
4. replace installed.json, the pointer to the installed directory (renameat: the switch);
5. append the audit record, remove the previous directory.
A kill at any point leaves installed.json naming a complete, verified directory: the old or the new.
Stray staging or unreferenced directories are removed by the next import.

Every step works through the state directory's checked descriptor (scanner.db.state), which is opened
and checked whole before the first of them: an unsafe state directory is refused before anything in it
is read, written or removed, and its refusal is not written into it.

Loading re-verifies the installed manifest's signatures against the CURRENT trust store (a removed
key stops its bundles; under a pinned root, the newest root's bundle keys), re-checks expiry and age, and
re-hashes the database against the signed digest before returning its path.

When a root of trust is pinned, the chain a bundle carries is walked during verification; an import
pins the newest root it reached (root.json, replaced atomically) together with the rollback record,
before the switch. A refused bundle leaves the pinned root as it was; a bundle used directly
(`scan --db`) is verified with the root its chain reaches but pins nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.clock import SYSTEM_CLOCK
from scanner.db import audit, bundle_format
from scanner.db.errors import BundleArchiveError, InstalledDatabaseError, StateError
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.root import TrustedRoots
from scanner.db.state import (
    CACHE_DIR,
    DATABASES_DIR,
    INSTALLED_FILE,
    Directory,
    StateDir,
    load_freshness,
    load_rollback,
    remove_stray_temporaries,
    save_rollback,
)
from scanner.db.trust import load_verification_trust, save_roots
from scanner.db.verify import (
    CLOCK_SKEW,
    ChannelRecord,
    DataAge,
    FreshnessPolicy,
    InstalledRecord,
    Manifest,
    Override,
    RollbackRecord,
    VerificationContext,
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

if TYPE_CHECKING:
    from scanner.db.archive import VerifiedBundleFile

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
    overrides: tuple[Override, ...]  # in effect for this database
    imported_at: datetime
    root_version: int | None = None  # the root of trust its signatures were checked with (None: flat list)


@dataclass(frozen=True)
class ImportResult:
    database: VerifiedDatabase
    previous: Manifest | None  # the manifest of the database this import replaced


def allowed_overrides(*, allow_expired: bool = False, allow_downgrade: bool = False,
                      allow_channel_switch: bool = False, allow_older_data: bool = False) -> frozenset[Override]:
    """The checks the operator waived (the --allow-* flags; --allow-expired also waives the maximum age).
    A waiver that was needed is in the verdict's overrides, and so in the audit log."""
    flags = {(Override.EXPIRED, Override.STALE): allow_expired, (Override.DOWNGRADE,): allow_downgrade,
             (Override.CHANNEL_SWITCH,): allow_channel_switch, (Override.OLDER_DATA,): allow_older_data}
    return frozenset(override for overrides, given in flags.items() if given for override in overrides)


def bundle_digest(path: Path) -> str:
    try:
        with open_regular_file(path) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise BundleArchiveError(f"cannot read bundle {path}: {exc.strerror}") from None


def _write_new(directory: Directory, name: str, data: bytes, mode: int = 0o600) -> None:
    with directory.create(name, mode) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _unpack_verified(
    bundle: Path, parent: Directory, context: VerificationContext
) -> tuple[str, VerifiedManifest, str]:
    """Verify `bundle` into a complete, fsynced staging directory in `parent`.

    Returns (staging directory name, verdict, bundle sha256). On any failure the staging directory is removed.
    """
    # Imported here: only an import or `scan --db` reads a bundle file; a scan of the installed database
    # re-verifies the documents kept beside it (_verify_directory) without the bundle reader or zstd.
    from scanner.db.archive import verify_bundle

    try:
        handle = open_regular_file(bundle)
    except OSError as exc:
        raise BundleArchiveError(f"cannot open bundle {bundle}: {exc.strerror}") from None
    with handle:
        name = parent.make_temporary_directory(STAGING_PREFIX)
        try:
            with parent.make_subdirectory(name) as staging:
                try:
                    with staging.create(DATABASE_FILE, 0o444) as sink:
                        contents, verified = verify_bundle(handle, context, sink=sink, spool_dir=staging.path)
                        sink.flush()
                        os.fsync(sink.fileno())
                    _store_documents(staging, contents, verified.overrides, context.now, bundle)
                except OSError as exc:
                    raise StateError(f"cannot write the database into {parent.path}: {exc.strerror}") from None
        except BaseException:
            with contextlib.suppress(StateError):
                parent.remove(name)
            raise
    return name, verified, contents.sha256


def _store_documents(
    directory: Directory, contents: VerifiedBundleFile, overrides: tuple[Override, ...], now: datetime,
    source: Path
) -> None:
    """Keep the signed documents (and the carried root chain) byte for byte beside the database, so it can
    be re-verified later."""
    _write_new(directory, bundle_format.MANIFEST_NAME, contents.manifest_bytes)
    _write_new(directory, bundle_format.SIGNATURES_NAME, contents.signatures_bytes)
    for name, data in contents.roots:
        _write_new(directory, name, data)
    origin = {"bundle_sha256": contents.sha256, "imported_at": format_time(now), "source": str(source),
              "overrides": list(overrides)}
    _write_new(directory, ORIGIN_FILE, (json.dumps(origin, indent=2, sort_keys=True) + "\n").encode())
    directory.sync()


def installed_directory(state: StateDir) -> str | None:
    """The name of the installed database's directory under db/, or None when nothing is installed."""
    pointer = state.read_json(INSTALLED_FILE)
    if pointer is None:
        return None
    name = pointer.get("directory") if isinstance(pointer, dict) else None
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or name.startswith("."):
        raise StateError(f"{state.installed_pointer} is corrupt; re-import a bundle")
    return name


def _database_directory(state: StateDir, name: str) -> Directory:
    """The installed database's directory db/`name`, opened; InstalledDatabaseError when it is gone."""
    root = state.directory()
    databases = None if root is None else root.subdirectory(DATABASES_DIR)
    directory = None
    if databases is not None:
        with databases:
            directory = databases.subdirectory(name)
    if directory is None:
        raise InstalledDatabaseError(f"{state.databases / name} is missing: the state directory was altered; "
                                     "re-import the bundle")
    return directory


def _remove_strays(parent: Directory, keep: str | None) -> None:
    """Remove staging directories and database directories nothing points to (left by a crash)."""
    for name, _ in parent.entries():
        if name != keep:
            with contextlib.suppress(StateError):
                parent.remove(name)


def _record_refusal(state: StateDir, operation: str, bundle: Path | None, error: BundleError) -> None:
    """Audit a refusal. A bundle is named by path and size only: hashing a hostile file of any size just
    to refuse it would undo the caps (digests are in the import records)."""
    size: int | None = None
    if bundle is not None:
        with contextlib.suppress(OSError):
            size = bundle.stat().st_size
    audit.record_refusal(state, operation, "installed database" if bundle is None else str(bundle), error, size)


def _record_overrides(state: StateDir, operation: str, database: VerifiedDatabase) -> None:
    if database.overrides:
        audit.append(state, "override", {
            "operation": operation, "overrides": list(database.overrides), "bundle_sha256": database.bundle_sha256,
            "channel": database.manifest.channel, "bundle_version": database.manifest.bundle_version})


def _import(state: StateDir, bundle: Path, now: datetime, overrides: frozenset[Override]) -> ImportResult:
    with state.lock():
        root = state.ensure()
        with root.make_subdirectory(DATABASES_DIR) as databases:
            current = installed_directory(state)
            _remove_strays(databases, current)
            remove_stray_temporaries(root)
            previous = _read_manifest(state, current) if current is not None else None
            rollback = load_rollback(state)
            trust = load_verification_trust(state)
            context = VerificationContext(trust=trust, now=now, freshness=load_freshness(state), rollback=rollback,
                                          overrides=overrides)
            staging, verified, digest = _unpack_verified(bundle, databases, context)
            manifest = verified.manifest
            target = f"{manifest.bundle_version}-{verified.manifest_sha256[:12]}-{secrets.token_hex(4)}"
            try:
                databases.rename(staging, target)
                databases.sync()
            except StateError:
                with contextlib.suppress(StateError):
                    databases.remove(staging)
                raise
            if isinstance(trust, TrustedRoots) and verified.roots is not None and verified.roots != trust:
                # Before the switch, as the rollback record: a crash leaves the root ahead, which is harmless
                # since that chain was verified.
                save_roots(state, verified.roots, now)
                audit.append(state, "trust-root-update", {
                    "previous_version": trust.root.version, "version": verified.roots.root.version,
                    "root_sha256": verified.roots.root.sha256, "source": str(bundle)}, now)
            save_rollback(state, RollbackRecord(
                channels={**rollback.channels,
                          manifest.channel: ChannelRecord(manifest.bundle_version, verified.manifest_sha256)},
                installed=InstalledRecord(manifest.channel, manifest.bundle_version, manifest.built_at)))
            state.write_json(INSTALLED_FILE, {"directory": target})
            database = _database(databases.path / target, verified, digest, now)
            audit.append(state, "import", {
                "bundle_sha256": digest, "manifest_sha256": verified.manifest_sha256, "channel": manifest.channel,
                "bundle_version": manifest.bundle_version, "key_ids": list(verified.key_ids),
                "root_version": database.root_version,
                "previous_version": previous.bundle_version if previous else None, "source": str(bundle),
                "overrides": list(verified.overrides)})
            _remove_strays(databases, target)
    return ImportResult(database=database, previous=previous)


def import_bundle(
    bundle: Path,
    *,
    state_dir: Path | None = None,
    now: datetime | None = None,
    allow_expired: bool = False,
    allow_downgrade: bool = False,
    allow_channel_switch: bool = False,
    allow_older_data: bool = False,
) -> ImportResult:
    """Verify and install `bundle`; the previous database stays in service until the new one is complete."""
    overrides = allowed_overrides(allow_expired=allow_expired, allow_downgrade=allow_downgrade,
                                  allow_channel_switch=allow_channel_switch, allow_older_data=allow_older_data)
    with StateDir.resolve(state_dir) as state:
        state.ensure()  # checked whole here, before the try: an unsafe directory's refusal is not written into it
        try:
            return _import(state, bundle, now or SYSTEM_CLOCK.now(), overrides)
        except BundleError as error:
            _record_refusal(state, "import", bundle, error)
            raise


def _database(directory: Path, verified: VerifiedManifest, digest: str, imported_at: datetime) -> VerifiedDatabase:
    return VerifiedDatabase(
        path=directory / DATABASE_FILE, manifest=verified.manifest, manifest_sha256=verified.manifest_sha256,
        bundle_sha256=digest, key_ids=verified.key_ids, age=verified.age, warnings=verified.warnings,
        overrides=verified.overrides, imported_at=imported_at,
        root_version=None if verified.roots is None else verified.roots.root.version)


def _read_document(directory: Directory, name: str, cap: int) -> bytes:
    """A signed document kept beside a database, read no further than the cap its bundle member had."""
    data = directory.read(name, cap)
    if data is None:
        raise InstalledDatabaseError(f"{directory.path / name} is missing: the database directory was altered; "
                                     "re-import the bundle")
    if len(data) > cap:
        raise InstalledDatabaseError(f"{directory.path / name} is larger than {cap} bytes: the database directory "
                                     "was altered; re-import the bundle")
    return data


def _read_manifest_bytes(directory: Directory) -> bytes:
    return _read_document(directory, bundle_format.MANIFEST_NAME, BUNDLE_LIMITS.max_manifest_bytes)


def _read_manifest(state: StateDir, name: str) -> Manifest | None:
    """The installed manifest, parsed without verification (for messages only); None when unreadable."""
    with contextlib.suppress(BundleError), _database_directory(state, name) as directory:
        return parse_manifest(_read_manifest_bytes(directory))
    return None


@dataclass(frozen=True)
class Origin:
    """What the scanner recorded when it unpacked a bundle (origin.json, beside the database)."""

    bundle_sha256: str
    imported_at: datetime
    overrides: tuple[Override, ...]


def _read_origin(directory: Directory) -> Origin:
    document = directory.read_json(ORIGIN_FILE)
    try:
        if not isinstance(document, dict):
            raise TypeError(document)
        return Origin(str(document["bundle_sha256"]), parse_time(document["imported_at"], "imported_at"),
                      tuple(Override(item) for item in document["overrides"]))
    except (KeyError, TypeError, ValueError, BundleError):
        raise InstalledDatabaseError(
            f"{directory.path / ORIGIN_FILE} is missing or corrupt: re-import the bundle") from None


def _stored_roots(directory: Directory) -> tuple[tuple[str, bytes], ...]:
    """The root chain kept beside a database (the bundle's N.root.json members), by version."""
    names = sorted((int(match.group(1)), name) for name, _ in directory.entries()
                   if (match := bundle_format.ROOT_MEMBER.fullmatch(name)) is not None)
    if len(names) > BUNDLE_LIMITS.max_roots:
        raise InstalledDatabaseError(f"{directory.path} holds more than {BUNDLE_LIMITS.max_roots} root documents: "
                                     "the database directory was altered; re-import the bundle")
    return tuple((name, _read_document(directory, name, BUNDLE_LIMITS.max_root_bytes)) for _, name in names)


def _verify_directory(directory: Directory, context: VerificationContext) -> VerifiedDatabase:
    """Re-verify an unpacked database: signatures (current trust store or pinned root, walking the chain kept
    beside it), freshness, rollback, digest.

    `context.rollback` None skips the rollback checks (the installed database is what they compare with).
    A freshness override given at import stays in effect for that database (it is in origin.json and the
    audit log); expiry that happens after a normal import still stops it.
    """
    origin = _read_origin(directory)
    now = context.now
    clock: tuple[str, ...] = ()
    if now < origin.imported_at - CLOCK_SKEW:
        # A clock set back makes an expired bundle look valid again: say so at every use.
        clock = (f"the clock reads {format_time(now)}, before this database was imported "
                 f"({format_time(origin.imported_at)}): check the clock, expiry and age depend on it",)
    kept = frozenset(origin.overrides) & {Override.EXPIRED, Override.STALE}
    verified = verify_manifest(
        _read_manifest_bytes(directory),
        _read_document(directory, bundle_format.SIGNATURES_NAME, BUNDLE_LIMITS.max_signatures_bytes),
        replace(context, overrides=context.overrides | kept), _stored_roots(directory))
    entry = verified.payload(bundle_format.DATABASE_NAME)
    path = directory.path / DATABASE_FILE
    handle = directory.reader(DATABASE_FILE)
    problem: str | None = "the file is missing"
    if handle is not None:
        with handle:
            try:
                problem = check_installed_digest(handle, entry)
            except OSError as exc:
                raise StateError(f"cannot read {path}: {exc.strerror}") from None
    if problem is not None:
        raise InstalledDatabaseError(
            f"database {path} no longer matches its signed manifest ({problem}): it was altered after "
            "import; re-import the bundle")
    return _database(directory.path, replace(verified, warnings=(*clock, *verified.warnings)),
                     origin.bundle_sha256, origin.imported_at)


def _load_bundle(state: StateDir, bundle: Path, context: VerificationContext) -> VerifiedDatabase:
    """A bundle used directly: verified like an import against the same records (rollback, installed
    channel and age) and root of trust, which it does NOT move: only an import does. Kept decompressed in
    cache/<sha256>."""
    context = replace(context, rollback=load_rollback(state))
    with state.ensure().make_subdirectory(CACHE_DIR) as cache:
        digest = bundle_digest(bundle)
        cached = cache.subdirectory(digest)
        if cached is not None:
            with cached:
                if cached.contains(ORIGIN_FILE):
                    database = _verify_directory(cached, context)
                    cache.touch(digest)  # most recently used: evicted last
                    return database
        with state.lock():
            staging, verified, digest = _unpack_verified(bundle, cache, context)
            cache.remove(digest)
            try:
                cache.rename(staging, digest)
            except StateError:
                with contextlib.suppress(StateError):
                    cache.remove(staging)
                raise
            others = sorted((entry for entry in cache.entries() if entry[0] != digest),
                            key=lambda entry: entry[1].st_mtime, reverse=True)
            for name, _ in others[CACHE_ENTRIES - 1:]:
                with contextlib.suppress(StateError):
                    cache.remove(name)
        return _database(cache.path / digest, verified, digest, context.now)


def _verify_installed(state: StateDir, name: str, context: VerificationContext) -> VerifiedDatabase:
    with _database_directory(state, name) as directory:
        return _verify_directory(directory, context)


def _load_installed(state: StateDir, context: VerificationContext) -> VerifiedDatabase:
    name = installed_directory(state)
    if name is None:
        raise DatabaseError(NO_DATABASE)
    try:
        return _verify_installed(state, name, context)
    except InstalledDatabaseError:
        # A concurrent import may have switched to a new directory and removed this one mid-read.
        current = installed_directory(state)
        if current is None or current == name:
            raise
        return _verify_installed(state, current, context)


def load_database(
    *,
    state_dir: Path | None = None,
    bundle: Path | None = None,
    policy: FreshnessPolicy | None = None,
    audit: bool = True,
    allow_expired: bool = False,
    allow_downgrade: bool = False,
    allow_channel_switch: bool = False,
    allow_older_data: bool = False,
    now: datetime | None = None,
) -> VerifiedDatabase:
    """The verified database for a scan: the installed one, or `bundle` verified and cached.

    `policy` overrides the state directory's freshness.json; `allow_expired` lets an expired or stale
    database through (with a warning and an audit record); the other `allow_*` waive the rollback checks
    of a `bundle` (as `import_bundle`'s). Raises DatabaseError when nothing is installed, a
    scanner.db.errors refusal otherwise; never returns an unverified database.
    """
    overrides = allowed_overrides(allow_expired=allow_expired, allow_downgrade=allow_downgrade,
                                  allow_channel_switch=allow_channel_switch, allow_older_data=allow_older_data)
    with StateDir.resolve(state_dir) as state:
        # Checked whole here, before the try: an unsafe directory's refusal is not written into it.
        if bundle is not None:
            state.ensure()
        else:
            state.directory()
        try:
            context = VerificationContext(
                trust=load_verification_trust(state), now=now or SYSTEM_CLOCK.now(),
                freshness=policy if policy is not None else load_freshness(state), overrides=overrides)
            if bundle is not None:
                database = _load_bundle(state, bundle, context)
            else:
                database = _load_installed(state, context)
        except BundleError as error:
            if audit:
                _record_refusal(state, "load", bundle, error)
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
    with StateDir.resolve(state_dir) as state:
        name = installed_directory(state)
        if name is None:
            return None
        manifest = _read_manifest(state, name)
        origin = None
        with contextlib.suppress(BundleError), _database_directory(state, name) as directory:
            origin = _read_origin(directory)
        return InstalledInfo(directory=state.databases / name, manifest=manifest, origin=origin)


def freshness_summary(database: VerifiedDatabase) -> str:
    """One line for every scan and status: how old the data is, overall and per provider."""
    manifest = database.manifest
    providers = ", ".join(f"{name} {format_age(age)}" for name, age in sorted(database.age.providers.items()))
    return (f"database {manifest.channel} v{manifest.bundle_version}: built {format_time(manifest.built_at)} "
            f"({format_age(database.age.bundle)} ago), expires {format_time(manifest.expires_at)}"
            + (f"; data age per provider: {providers}" if providers else ""))
