"""The scanner's state directory: trust store, installed database, rollback record, policy, audit log.

Location: the `--state-dir` option, else $SCANNER_STATE_DIR, else $XDG_DATA_HOME/airgap-scanner, else
~/.local/share/airgap-scanner. Layout:

    trust.json         trusted keys and the signature threshold (scanner.db.trust)
    root.json          the pinned root of trust, when one is (scanner.db.trust, scanner.db.root)
    freshness.json     local maximum data age, global and per provider
    rollback.json      per channel: the highest bundle_version accepted and its manifest sha256; and the
                       installed database's channel, version and built_at
    installed.json     pointer to the installed database directory under db/ (replaced atomically)
    db/<name>/         vulns.sqlite, manifest.json, signatures.json, origin.json
    cache/<sha256>/    the same, for bundles used directly by `scan --db FILE.bundle`
    audit.log          hash-chained record of imports, refusals, overrides, scans (scanner.db.audit)
    .lock              serialises writers (imports, trust and policy changes)

Whoever can write this directory decides which keys are trusted and which bundle versions were seen; and
what the scanner writes or removes in it must stay in it. So it is opened once, without following a
symbolic link (O_DIRECTORY|O_NOFOLLOW), and checked on that descriptor, whole, before anything in it is
read, written or removed: the directory and every entry in it, down to the files of each database
directory, must belong to this user (or root), must not be writable by other users, and must not be a
symbolic link. Every later operation is relative to that descriptor (openat with O_NOFOLLOW, renameat,
unlinkat, shutil.rmtree with dir_fd), so a directory or entry swapped for a symbolic link afterwards
redirects nothing. Every record file is written to a temporary file in the same directory, fsynced,
then renamed over the old one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from scanner.db.errors import ManifestError, PolicyError, StateError
from scanner.db.verify import (
    ChannelRecord,
    FreshnessPolicy,
    InstalledRecord,
    RollbackRecord,
    format_time,
    parse_time,
)
from scanner.fileio import TEMPORARY_SUFFIX
from scanner.jsonstrict import expect, loads_strict, member, optional_member

STATE_DIR_ENV = "SCANNER_STATE_DIR"
APP_NAME = "airgap-scanner"

TRUST_FILE = "trust.json"
ROOT_FILE = "root.json"
FRESHNESS_FILE = "freshness.json"
ROLLBACK_FILE = "rollback.json"
INSTALLED_FILE = "installed.json"
DATABASES_DIR = "db"
CACHE_DIR = "cache"
AUDIT_LOG = "audit.log"
LOCK_FILE = ".lock"

# Caps on what the scanner reads from and writes into its state directory.
# Record files are small; anything larger is not ours and is not read whole.
MAX_RECORD_BYTES = 1024 * 1024
# One audit log line as written; a record that would be longer keeps only its event, time and chain link.
MAX_AUDIT_LINE_BYTES = 64 * 1024
# A text field of an audit record (a path, a message, a key name) is cut to this many characters.
MAX_AUDIT_FIELD_CHARS = 4096

_FILE = "regular file"
_DIRECTORY = "directory"
_ENTRY_KINDS = {TRUST_FILE: _FILE, ROOT_FILE: _FILE, FRESHNESS_FILE: _FILE, ROLLBACK_FILE: _FILE, INSTALLED_FILE: _FILE,
                AUDIT_LOG: _FILE, LOCK_FILE: _FILE, DATABASES_DIR: _DIRECTORY, CACHE_DIR: _DIRECTORY}
_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO under a record's name must not block the open (fstat then refuses it).
_OPEN_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_SYMLINK = ("is a symbolic link; the scanner follows none in its state directory: replace it with the real "
            "file or directory, or use a state directory of your own (--state-dir)")


def resolve_state_dir(option: Path | None = None) -> Path:
    if option is not None:
        return option
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    data_home = os.environ.get("XDG_DATA_HOME")
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / APP_NAME


def _unsafe(path: Path, problem: str) -> StateError:
    return StateError(f"unsafe state directory: {path} {problem}")


def _check_status(status: os.stat_result, path: Path, kind: str | None) -> None:
    """Refuse what another user could write or redirect: a symbolic link, another owner, group or world write."""
    mode = status.st_mode
    if stat.S_ISLNK(mode):
        raise _unsafe(path, _SYMLINK)
    if (kind == _DIRECTORY and not stat.S_ISDIR(mode)) or (kind == _FILE and not stat.S_ISREG(mode)):
        raise _unsafe(path, f"is not a {kind}")
    if status.st_uid not in (os.geteuid(), 0):
        raise _unsafe(path, f"belongs to user id {status.st_uid}, not to this user (id {os.geteuid()}): use a "
                            "state directory of your own (--state-dir)")
    if mode & 0o022:
        raise _unsafe(path, f"is writable by other users (mode {stat.filemode(mode)}): run `chmod go-w {path}`")


def _failure(path: Path, action: str, error: OSError) -> StateError:
    if error.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a symbolic link
        return _unsafe(path, _SYMLINK)
    return StateError(f"cannot {action} {path}: {error.strerror or error}")


class Directory:
    """A directory of the state tree open on a descriptor it was checked on; everything in it is reached
    relative to that descriptor and never through a symbolic link. `path` is for messages only."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def _open(cls, name: str | Path, path: Path, parent: int | None) -> Directory | None:
        try:
            fd = os.open(name, _OPEN_DIRECTORY, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ENOTDIR:  # also what O_DIRECTORY|O_NOFOLLOW answers for a symbolic link
                with contextlib.suppress(OSError):
                    _check_status(os.stat(name, dir_fd=parent, follow_symlinks=False), path, _DIRECTORY)
            raise _failure(path, "open", error) from None
        directory = cls(fd, path)
        try:
            _check_status(os.fstat(fd), path, _DIRECTORY)
        except BaseException:
            directory.close()
            raise
        return directory

    @classmethod
    def open_root(cls, path: Path, *, create: bool) -> Directory | None:
        """The state directory itself; None when it does not exist and `create` is false."""
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.mkdir(path, 0o700)
            except FileExistsError:  # mkdir never follows a symbolic link: the open below refuses one
                pass
            except OSError as error:
                raise StateError(f"cannot create state directory {path}: {error.strerror}") from None
        return cls._open(path, path, None)

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def subdirectory(self, name: str) -> Directory | None:
        """The directory `name` in this one, opened and checked; None when there is none."""
        return Directory._open(name, self.path / name, self.fd)

    def make_subdirectory(self, name: str) -> Directory:
        """The directory `name` in this one, created (mode 0700) unless it exists, opened and checked."""
        try:
            os.mkdir(name, 0o700, dir_fd=self.fd)
        except FileExistsError:  # mkdir never follows a symbolic link: the open below refuses one
            pass
        except OSError as error:
            raise _failure(self.path / name, "create", error) from None
        directory = self.subdirectory(name)
        if directory is None:
            raise StateError(f"cannot open {self.path / name}: it was removed while in use")
        return directory

    def make_temporary_directory(self, prefix: str) -> str:
        name = prefix + secrets.token_hex(8)
        try:
            os.mkdir(name, 0o700, dir_fd=self.fd)
        except OSError as error:
            raise _failure(self.path / name, "create", error) from None
        return name

    def check(self) -> None:
        """Check this directory's own status on its descriptor."""
        _check_status(os.fstat(self.fd), self.path, _DIRECTORY)

    def entries(self) -> list[tuple[str, os.stat_result]]:
        """Every entry's name and its own status (a symbolic link is not followed); entries removed while
        listing are left out."""
        found = []
        try:
            with os.scandir(self.fd) as listing:
                for entry in listing:
                    with contextlib.suppress(FileNotFoundError):
                        found.append((entry.name, entry.stat(follow_symlinks=False)))
        except OSError as error:
            raise _failure(self.path, "list", error) from None
        return found

    def contains(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise _failure(self.path / name, "read", error) from None
        return True

    def _open_file(self, name: str, flags: int, mode: int) -> int | None:
        path = self.path / name
        try:
            fd = os.open(name, flags | _OPEN_FILE, mode, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _failure(path, "open", error) from None
        try:
            _check_status(os.fstat(fd), path, _FILE)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_file(self, name: str, flags: int, mode: int = 0o600) -> int:
        """A descriptor on the regular file `name` (checked), opened with `flags` (O_CREAT to create it)."""
        fd = self._open_file(name, flags, mode)
        if fd is None:
            raise StateError(f"cannot open {self.path / name}: it does not exist")
        return fd

    def reader(self, name: str) -> BinaryIO | None:
        """The regular file `name` open for reading (checked); None when there is none."""
        fd = self._open_file(name, os.O_RDONLY, 0)
        return None if fd is None else os.fdopen(fd, "rb")

    def read(self, name: str, limit: int) -> bytes | None:
        """At most `limit` + 1 bytes of `name` (more than `limit`: too large for the caller); None when missing."""
        handle = self.reader(name)
        if handle is None:
            return None
        with handle:
            try:
                return handle.read(limit + 1)
            except OSError as error:
                raise _failure(self.path / name, "read", error) from None

    def read_json(self, name: str) -> Any | None:
        """The JSON record `name`, or None when there is none; StateError when unreadable or corrupt."""
        data = self.read(name, MAX_RECORD_BYTES)
        if data is None:
            return None
        if len(data) > MAX_RECORD_BYTES:
            raise StateError(f"{self.path / name} is larger than {MAX_RECORD_BYTES} bytes: not a state record")
        # Strict, as signed documents are: a record with a key twice (which copy wins?) is corrupt too.
        return loads_strict(data, f"{self.path / name} is corrupt (restore it from a backup or remove it)",
                            StateError)

    def create(self, name: str, mode: int) -> BinaryIO:
        """A new file `name` (it must not exist), open for writing."""
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FILE, mode, dir_fd=self.fd)
        except OSError as error:
            raise _failure(self.path / name, "create", error) from None
        return os.fdopen(fd, "wb")

    def write_atomic(self, name: str, data: bytes) -> None:
        """Replace `name` by `data` (mode 0600) so that a crash leaves either the old or the new content."""
        temporary = f".{name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
        try:
            with self.create(temporary, 0o600) as output:
                try:
                    output.write(data)
                    output.flush()
                    os.fsync(output.fileno())
                    os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(temporary, dir_fd=self.fd)
                    raise
            os.fsync(self.fd)
        except OSError as error:
            raise _failure(self.path / name, "write", error) from None

    def write_json(self, name: str, document: object) -> None:
        self.write_atomic(name, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())

    def rename(self, old: str, new: str) -> None:
        try:
            os.rename(old, new, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as error:
            raise _failure(self.path / old, "rename", error) from None

    def remove(self, name: str) -> None:
        """Remove the entry `name`, a directory with everything in it; a symbolic link is removed, never
        followed (shutil.rmtree with dir_fd opens every level with O_NOFOLLOW and re-checks it)."""
        try:
            status = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            if stat.S_ISDIR(status.st_mode):
                shutil.rmtree(name, dir_fd=self.fd)
            else:
                os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise _failure(self.path / name, "remove", error) from None

    def touch(self, name: str) -> None:
        with contextlib.suppress(OSError):
            os.utime(name, dir_fd=self.fd, follow_symlinks=False)

    def sync(self) -> None:
        """Make the entries' names durable (after a create, rename or remove)."""
        try:
            os.fsync(self.fd)
        except OSError as error:
            raise _failure(self.path, "sync", error) from None


def _check_tree(root: Directory) -> None:
    """Check the state directory and everything the scanner may use in it, down to each database's files."""
    root.check()
    for name, status in root.entries():
        _check_status(status, root.path / name, _ENTRY_KINDS.get(name))
        if name not in (DATABASES_DIR, CACHE_DIR):
            continue
        container = root.subdirectory(name)
        if container is None:
            continue
        with container:
            for database_name, database_status in container.entries():
                _check_status(database_status, container.path / database_name, _DIRECTORY)
                database = container.subdirectory(database_name)
                if database is None:
                    continue
                with database:
                    for file_name, file_status in database.entries():
                        _check_status(file_status, database.path / file_name, _FILE)


class StateDir:
    """The state directory. Nothing in it is used before it was opened and checked whole (`directory`);
    every use goes through that one descriptor. Close it (or use it as a context manager) when done."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._directory: Directory | None = None

    @classmethod
    def resolve(cls, option: Path | None = None) -> StateDir:
        # Absolute, so the database path handed to the scan stays valid whatever the working directory.
        return cls(resolve_state_dir(option).absolute())

    def __enter__(self) -> StateDir:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None

    # Paths, for messages: operations go through `directory`.
    @property
    def trust_file(self) -> Path:
        return self.root / TRUST_FILE

    @property
    def root_file(self) -> Path:
        return self.root / ROOT_FILE

    @property
    def freshness_file(self) -> Path:
        return self.root / FRESHNESS_FILE

    @property
    def rollback_file(self) -> Path:
        return self.root / ROLLBACK_FILE

    @property
    def installed_pointer(self) -> Path:
        return self.root / INSTALLED_FILE

    @property
    def databases(self) -> Path:
        return self.root / DATABASES_DIR

    @property
    def cache(self) -> Path:
        return self.root / CACHE_DIR

    @property
    def audit_log(self) -> Path:
        return self.root / AUDIT_LOG

    def _opened(self, directory: Directory | None) -> Directory | None:
        if directory is not None:
            try:
                _check_tree(directory)
            except BaseException:
                directory.close()
                raise
            self._directory = directory
        return directory

    def directory(self) -> Directory | None:
        """The state directory, opened and checked whole at the first use; None while it does not exist."""
        if self._directory is not None:
            return self._directory
        return self._opened(Directory.open_root(self.root, create=False))

    def ensure(self) -> Directory:
        """The state directory, created (mode 0700) if it does not exist; opened and checked whole."""
        directory = self._directory or self._opened(Directory.open_root(self.root, create=True))
        if directory is None:
            raise StateError(f"cannot open state directory {self.root}: it was removed while in use")
        return directory

    def check(self) -> None:
        """Check the whole directory again now (the trust store is checked at every use)."""
        if self._directory is None:
            self.directory()
        else:
            _check_tree(self._directory)

    def read_json(self, name: str) -> Any | None:
        directory = self.directory()
        return None if directory is None else directory.read_json(name)

    def write_json(self, name: str, document: object) -> None:
        self.ensure().write_json(name, document)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock for writers; readers never take it (every record is replaced atomically)."""
        fd = self.ensure().open_file(LOCK_FILE, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def remove_stray_temporaries(directory: Directory) -> None:
    """Remove temporary files a killed write_atomic left behind; call it holding the state lock."""
    for name, _ in directory.entries():
        if name.startswith(".") and name.endswith(TEMPORARY_SUFFIX):
            with contextlib.suppress(StateError):
                directory.remove(name)


# --- rollback record -----------------------------------------------------------------------------


def load_rollback(state: StateDir) -> RollbackRecord:
    document = state.read_json(ROLLBACK_FILE)
    if document is None:
        return RollbackRecord()
    where = f"{state.rollback_file} is corrupt (restore it from a backup)"
    record = expect(document, dict, where, StateError)
    channels: dict[str, ChannelRecord] = {}
    for channel, value in member(record, "channels", dict, where, StateError).items():
        at = f"{where}: channel {channel[:64]!r}"
        entry = expect(value, dict, at, StateError)
        channels[channel] = ChannelRecord(member(entry, "bundle_version", int, at, StateError),
                                          member(entry, "manifest_sha256", str, at, StateError))
    last = optional_member(record, "installed", dict, where, StateError)
    try:
        installed = None if last is None else InstalledRecord(
            member(last, "channel", str, f"{where}: installed", StateError),
            member(last, "bundle_version", int, f"{where}: installed", StateError),
            parse_time(last.get("built_at"), "installed built_at"))
    except ManifestError as error:
        raise StateError(f"{where}: {error.message}") from None
    return RollbackRecord(channels, installed)


def save_rollback(state: StateDir, record: RollbackRecord) -> None:
    installed = record.installed
    state.write_json(ROLLBACK_FILE, {
        "channels": {
            channel: {"bundle_version": entry.bundle_version, "manifest_sha256": entry.manifest_sha256}
            for channel, entry in sorted(record.channels.items())
        },
        "installed": None if installed is None else {
            "channel": installed.channel, "bundle_version": installed.bundle_version,
            "built_at": format_time(installed.built_at)},
    })


# --- freshness policy ----------------------------------------------------------------------------


def days(value: object, where: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100_000:
        raise PolicyError(f"{where}: maximum age must be a positive number of days, not {value!r}")
    return timedelta(days=value)


def load_freshness(state: StateDir) -> FreshnessPolicy:
    """The policy in freshness.json, or the default (warn beyond 7 days) when there is none."""
    document = state.read_json(FRESHNESS_FILE)
    if document is None:
        return FreshnessPolicy()
    where = str(state.freshness_file)
    document = expect(document, dict, where, PolicyError)
    max_age = document.get("max_age_days")
    providers = member(document, "provider_max_age_days", dict, where, PolicyError, default={})
    on_stale = document.get("on_stale", "warn")
    if on_stale not in ("warn", "fail"):
        raise PolicyError(f"{where}: on_stale must be warn or fail")
    return FreshnessPolicy(
        max_age=None if max_age is None else days(max_age, where),
        provider_max_age={name: days(value, f"{where} provider {name}") for name, value in providers.items()},
        fail=on_stale == "fail",
    )


def freshness_document(policy: FreshnessPolicy) -> dict[str, object]:
    """The policy as freshness.json holds it (and as the audit log records a change)."""
    def in_days(age: timedelta) -> float:
        return age.total_seconds() / 86400

    return {
        "max_age_days": None if policy.max_age is None else in_days(policy.max_age),
        "provider_max_age_days": {name: in_days(age) for name, age in sorted(policy.provider_max_age.items())},
        "on_stale": "fail" if policy.fail else "warn",
    }


def save_freshness(state: StateDir, policy: FreshnessPolicy) -> None:
    state.write_json(FRESHNESS_FILE, freshness_document(policy))
