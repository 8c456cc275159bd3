"""The cataloger interface and its registry.

A cataloger is one module under scanner/catalog/ that defines a class satisfying `Cataloger`
and registers an instance with `register`. `scanner.catalog.catalog_filesystem` runs them all.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package


@dataclass(frozen=True)
class CatalogResult:
    packages: tuple[Package, ...] = ()
    # image path -> name of the OS package that installed it (dpkg .list, rpm file list, apk F:/R:)
    owned_paths: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class Cataloger(Protocol):
    name: str  # short and stable: "dpkg", "apk", "rpm", "python", "java" ...

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        """The files this cataloger needs the content of."""
        ...

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult: ...


class LimitedCataloger:
    """What every cataloger holds: the limits it reads within."""

    def __init__(self, limits: CatalogLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits


class Findings:
    """What one cataloger run found, held within its limits.

    At most `max_packages` packages and `max_owned_paths` file list entries are kept, and
    `max_warnings` warnings verbatim (each cut to `max_warning_length`); going past a cap is itself
    a warning, given once.
    """

    def __init__(self, limits: CatalogLimits) -> None:
        self.limits = limits
        self.packages: list[Package] = []
        self.owned: dict[str, str] = {}
        self._warnings: list[str] = []
        self._unshown = 0
        self._owned_entries = 0
        self._packages_capped = False
        self._owned_capped = False

    def warn(self, message: str) -> None:
        if len(self._warnings) >= self.limits.max_warnings:
            self._unshown += 1
            return
        if len(message) > self.limits.max_warning_length:
            message = message[:self.limits.max_warning_length] + "... (cut)"
        self._warnings.append(message)

    @property
    def full(self) -> bool:
        """No further package can be kept: the caller may stop reading."""
        return len(self.packages) >= self.limits.max_packages

    def add(self, package: Package, where: str) -> bool:
        """Keep `package` (found at `where`); False, with a warning the first time, once the cap is reached.

        Every record stays small: a name, version or source over `max_field_length` skips the package
        with a warning; licences and metadata values over it, or licences past `max_licenses`, are dropped.
        """
        if self.full:
            if not self._packages_capped:
                self._packages_capped = True
                self.warn(f"{where}: more than {self.limits.max_packages} packages (cap max_packages); "
                          "this and every later package are not reported")
            return False
        cap = self.limits.max_field_length
        # No generator over the values (this runs for every package of an image): the one over its cap is
        # looked for only once there is one.
        if max(len(package.name), len(package.version), len(package.source_name), len(package.source_version)) > cap:
            identity = (("name", package.name), ("version", package.version),
                        ("source name", package.source_name), ("source version", package.source_version))
            label, value = next((label, value) for label, value in identity if len(value) > cap)
            self.warn(f"{where}: a {label} of {len(value)} characters is over {cap} (cap max_field_length); skipped")
            return True
        longest = max(max(map(len, package.licenses), default=0),
                      max(map(len, map(operator.itemgetter(1), package.metadata)), default=0))
        if longest > cap or len(package.licenses) > self.limits.max_licenses:
            licenses = tuple(value for value in package.licenses if len(value) <= cap)[:self.limits.max_licenses]
            metadata = tuple((key, value) for key, value in package.metadata if len(value) <= cap)
            self.warn(f"{where}: {len(package.licenses) - len(licenses)} licences and "
                      f"{len(package.metadata) - len(metadata)} metadata values over the caps dropped "
                      "(max_field_length, max_licenses)")
            package = dataclasses.replace(package, licenses=licenses, metadata=metadata)
        self.packages.append(package)
        return True

    @property
    def owned_room(self) -> int:
        """How many more file list entries `own` takes."""
        return self.limits.max_owned_paths - self._owned_entries

    def own(self, paths: Sequence[str], owner: str, where: str) -> None:
        """Record that package `owner` installed `paths`. Every entry offered counts against
        `max_owned_paths` (repeats too: the cap bounds the work as well as the table)."""
        room = self.owned_room
        if len(paths) > room:
            if not self._owned_capped:
                self._owned_capped = True
                self.warn(f"{where}: more than {self.limits.max_owned_paths} file list entries (cap max_owned_paths); "
                          f"files of {owner} and later packages are not recorded as owned")
            paths = paths[:max(room, 0)]
        self._owned_entries += len(paths)
        self.owned.update(zip(paths, itertools.repeat(owner)))  # one insertion per path, no dict in between

    def record(self, where: str) -> _Record:
        """Skip one bad record with a warning naming it: a value from the image that a PURL, a name
        or a version cannot take raises ValueError (UnicodeError included), which ends that record only."""
        return _Record(self, where)

    def warnings(self) -> tuple[str, ...]:
        if not self._unshown:
            return tuple(self._warnings)
        return (*self._warnings, f"{self._unshown} more warnings not shown (cap max_warnings)")

    def result(self) -> CatalogResult:
        return CatalogResult(tuple(self.packages), self.owned, self.warnings())


class _Record:
    """`Findings.record`'s context: a class rather than a generator (contextlib), as it wraps each package of an
    image and costs a fraction of one."""

    __slots__ = ("_findings", "_where")

    def __init__(self, findings: Findings, where: str) -> None:
        self._findings = findings
        self._where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        if isinstance(error, ValueError):
            self._findings.warn(f"{self._where}: skipped: {error}")
            return True
        return False


_REGISTRY: dict[str, Cataloger] = {}


def read_captured(fs: Filesystem, path: str) -> bytes | None:
    """A captured file's bytes; None when it was not captured."""
    try:
        return fs.read_bytes(path)
    except KeyError:
        return None


def read_text(fs: Filesystem, path: str) -> str | None:
    """A captured file as text (undecodable bytes replaced); None when it was not captured."""
    data = read_captured(fs, path)
    return None if data is None else data.decode("utf-8", "replace")


def register(cataloger: Cataloger) -> Cataloger:
    if cataloger.name in _REGISTRY:
        raise ValueError(f"cataloger {cataloger.name!r} registered twice")
    _REGISTRY[cataloger.name] = cataloger
    return cataloger


def registered() -> tuple[Cataloger, ...]:
    """Every registered cataloger, in name order (deterministic output)."""
    return tuple(_REGISTRY[name] for name in sorted(_REGISTRY))
