"""The scanner's state directory: trust store, installed database, rollback record, policy, audit log.

Location: the `--state-dir` option, else $SCANNER_STATE_DIR, else $XDG_DATA_HOME/airgap-scanner, else
~/.local/share/airgap-scanner. Layout:

    trust.json         trusted keys and the signature threshold (scanner.db.trust)
    freshness.json     local maximum data age, global and per provider
    rollback.json      per channel: the highest bundle_version accepted and its manifest sha256
    installed.json     pointer to the installed database directory under db/ (replaced atomically)
    db/<name>/         vulns.sqlite, manifest.json, signatures.json, origin.json
    cache/<sha256>/    the same, for bundles used directly by `scan --db FILE.bundle`
    audit.log          hash-chained record of imports, refusals, overrides, scans (scanner.db.audit)
    .lock              serialises writers (imports, trust and policy changes)

Every record file is written to a temporary file in the same directory, fsynced, then os.replace'd.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from scanner.db.errors import PolicyError, StateError
from scanner.db.verify import ChannelRecord, FreshnessPolicy
from scanner.fileio import TEMPORARY_SUFFIX, write_atomically

STATE_DIR_ENV = "SCANNER_STATE_DIR"
APP_NAME = "airgap-scanner"
# Record files are small; anything larger is not ours and is not read whole.
MAX_RECORD_BYTES = 1024 * 1024


def resolve_state_dir(option: Path | None = None) -> Path:
    if option is not None:
        return option
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    data_home = os.environ.get("XDG_DATA_HOME")
    base = Path(data_home) if data_home and os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / APP_NAME


@dataclass(frozen=True)
class StateDir:
    root: Path

    @classmethod
    def resolve(cls, option: Path | None = None) -> StateDir:
        # Absolute, so the database path handed to the scan stays valid whatever the working directory.
        return cls(resolve_state_dir(option).absolute())

    @property
    def trust_file(self) -> Path:
        return self.root / "trust.json"

    @property
    def freshness_file(self) -> Path:
        return self.root / "freshness.json"

    @property
    def rollback_file(self) -> Path:
        return self.root / "rollback.json"

    @property
    def installed_pointer(self) -> Path:
        return self.root / "installed.json"

    @property
    def databases(self) -> Path:
        return self.root / "db"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    def check_private(self, *files: Path) -> None:
        """Refuse a state directory, or one of `files` in it, that another user could write: whoever can
        write it decides which keys are trusted and which bundle versions were seen."""
        for path in (self.root, *files):
            try:
                status = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StateError(f"cannot read {path}: {exc.strerror}") from None
            if status.st_uid not in (os.geteuid(), 0):
                raise StateError(f"{path} belongs to user id {status.st_uid}, not to this user: use a state "
                                 "directory of your own (--state-dir)")
            if status.st_mode & 0o022:
                raise StateError(f"{path} is writable by other users (mode {stat.filemode(status.st_mode)}): "
                                 f"run `chmod go-w {path}`")

    def ensure(self) -> None:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create state directory {self.root}: {exc.strerror}") from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock for writers; readers never take it (every record is replaced atomically)."""
        self.ensure()
        try:
            handle = open(self.root / ".lock", "a+b")  # noqa: SIM115 - held for the with-block below
        except OSError as exc:
            raise StateError(f"cannot lock state directory {self.root}: {exc.strerror}") from None
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old or the new content."""
    try:
        write_atomically(path, data, mode=0o600)
        fsync_directory(path.parent)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


def remove_stray_temporaries(directory: Path) -> None:
    """Remove temporary files a killed write_atomic left behind; call it holding the state lock."""
    for stray in directory.glob(f".*{TEMPORARY_SUFFIX}"):
        with contextlib.suppress(OSError):
            stray.unlink()


def write_json_atomic(path: Path, document: object) -> None:
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any | None:
    """The JSON document at `path`, or None when the file does not exist; StateError when unreadable."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_RECORD_BYTES:
        raise StateError(f"{path} is larger than {MAX_RECORD_BYTES} bytes: not a state record")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise StateError(f"{path} is corrupt (not JSON); restore it from a backup or remove it") from None


# --- rollback record -----------------------------------------------------------------------------


def load_rollback(state: StateDir) -> dict[str, ChannelRecord]:
    document = read_json(state.rollback_file)
    if document is None:
        return {}
    try:
        return {
            channel: ChannelRecord(int(entry["bundle_version"]), str(entry["manifest_sha256"]))
            for channel, entry in document["channels"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise StateError(f"{state.rollback_file} is corrupt; restore it from a backup") from None


def save_rollback(state: StateDir, records: Mapping[str, ChannelRecord]) -> None:
    write_json_atomic(state.rollback_file, {"channels": {
        channel: {"bundle_version": record.bundle_version, "manifest_sha256": record.manifest_sha256}
        for channel, record in sorted(records.items())
    }})


# --- freshness policy ----------------------------------------------------------------------------


def days(value: object, where: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100_000:
        raise PolicyError(f"{where}: maximum age must be a positive number of days, not {value!r}")
    return timedelta(days=value)


def load_freshness(state: StateDir) -> FreshnessPolicy:
    """The policy in freshness.json, or the default (warn beyond 7 days) when there is none."""
    document = read_json(state.freshness_file)
    if document is None:
        return FreshnessPolicy()
    where = str(state.freshness_file)
    if not isinstance(document, dict):
        raise PolicyError(f"{where}: not a JSON object")
    max_age = document.get("max_age_days")
    providers = document.get("provider_max_age_days", {})
    on_stale = document.get("on_stale", "warn")
    if on_stale not in ("warn", "fail") or not isinstance(providers, dict):
        raise PolicyError(f"{where}: on_stale must be warn or fail, provider_max_age_days an object")
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
    write_json_atomic(state.freshness_file, freshness_document(policy))
