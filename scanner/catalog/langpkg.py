"""Helpers shared by the language package catalogers: package records, bounded parsing, ELF access.

Language catalogers read files that applications ship, so every parser here treats its input as
hostile: sizes are capped before reading, a JSON document's values are counted before it is parsed
(`max_json_values`) and its nesting is bounded by the interpreter's own recursion guard (caught), and
ELF sections are read through seeks, never by loading a whole binary.
"""

from __future__ import annotations

import json
import operator
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Generic, NamedTuple, TypeVar

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger
from scanner.catalog.elf import ET_DYN, ET_EXEC, ElfFile
from scanner.catalog.limits import CatalogLimits
from scanner.catalog.purl import purl_type
from scanner.image.filesystem import EntryKind, FileEntry, FileRequest, Filesystem
from scanner.model import Distro, Package


def elf_executables(limits: CatalogLimits) -> FileRequest:
    """What Go and Rust read build data from; the image reader spools large files to disk."""
    return FileRequest(("**",), max_size=limits.max_executable_size, magic=b"\x7fELF", executable_only=True)


Found = TypeVar("Found")


class ExecutableCataloger(LimitedCataloger, ABC, Generic[Found]):
    """A cataloger of what ELF executables record about their build (Go, Rust).

    It says which executables it passes over (`skips`), what it reads from one (`read`) and which packages
    that makes (`packages_of`); `ExecutablePass` opens each executable and parses its headers once for all
    the executable catalogers of one `catalog_filesystem` call.
    """

    name: str

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (elf_executables(self.limits),)

    def skips(self, fs: Filesystem, path: str) -> bool:
        """Whether the executable at `path` is passed over unread."""
        return False

    @abstractmethod
    def read(self, elf: ElfFile) -> Found | None:
        """The build data `elf` holds; None when it holds none, ValueError (ElfError, ParseError) when it is malformed."""

    @abstractmethod
    def packages_of(self, executable: CapturedFile, found: Found, findings: Findings) -> None:
        """Add to `findings` the packages of what `read` found in `executable`."""

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        return ExecutablePass(fs, (self,)).result(self)


class ParseError(ValueError):
    """A file a cataloger asked for is not in the format it claims; the cataloger warns and goes on."""


# A JSON string, escapes included (unrolled: no per-character alternation on long strings).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def json_values(data: bytes) -> int:
    """An upper bound of the values a JSON text parses into: separators and containers outside strings."""
    structure = _JSON_STRING.sub(b"", data)
    return 1 + sum(structure.count(token) for token in (b",", b":", b"[", b"{"))


def load_json(data: bytes, limits: CatalogLimits) -> Any:
    """Parsed JSON, or ParseError for anything that is not (bad UTF-8, bad syntax, absurd nesting) or
    that holds more than `max_json_values` values (parsed, each costs tens of bytes: a memory bomb)."""
    # Every token counted, strings' too, bounds `json_values` from above at a fraction of its cost.
    if 1 + data.count(b",") + data.count(b":") + data.count(b"[") + data.count(b"{") > limits.max_json_values:
        values = json_values(data)
        if values > limits.max_json_values:
            raise ParseError(f"holds about {values} JSON values, over {limits.max_json_values} (cap max_json_values)")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except RecursionError as error:
        raise ParseError("JSON nested too deeply") from error
    except UnicodeDecodeError as error:
        raise ParseError("not UTF-8") from error
    except ValueError as error:
        raise ParseError(f"invalid JSON ({error})") from error


def read_json(fs: Filesystem, path: str, findings: Findings, read: Callable[[Any], Found]) -> Found | None:
    """What `read` makes of the JSON document at `path`; None, and a warning naming the file, when the document
    or what `read` expects of it is malformed (ParseError)."""
    try:
        return read(load_json(fs.read_bytes(path), findings.limits))
    except ParseError as error:
        findings.warn(f"{path}: {error}")
        return None


def text_field(mapping: Any, key: str) -> str:
    """`mapping[key]` when mapping is a JSON object and the value is a string, else ""."""
    if isinstance(mapping, dict):
        value = mapping.get(key)
        if isinstance(value, str):
            return value.strip()
    return ""


def inflate(data: bytes, limit: int) -> bytes:
    """zlib-decompress `data`, refusing output beyond `limit` bytes (a decompression bomb)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise ParseError(f"bad zlib data ({error})") from error
    if len(out) > limit:
        raise ParseError(f"decompresses to more than {limit} bytes")
    return out


class CapturedFile(NamedTuple):
    """A captured file once, however many captured paths lead to it.

    A named tuple, not a dataclass: one is built per captured file, thousands per image, in a fraction
    of the time.
    """

    path: str  # the real path: what an OS package list owns
    paths: tuple[str, ...]  # the real path first, then the symlinks to it
    layer_index: int | None  # the layer that holds the content
    layer_digest: str


def make_package(
    source: CapturedFile,
    *,
    name: str,
    version: str,
    purl: str,
    ecosystem: str,
    cataloger: str,
    locations: Sequence[str] = (),
    licenses: Iterable[str] = (),
    metadata: Iterable[tuple[str, str]] = (),
) -> Package:
    """A Package found in `source`; `locations` default to its paths (nested archives give their own)."""
    return Package(
        name=name,
        version=version,
        type=purl_type(purl),
        ecosystem=ecosystem,
        purl=purl,
        cataloger=cataloger,
        licenses=tuple(dict.fromkeys(filter(None, licenses))),
        layer_index=source.layer_index,
        layer_digest=source.layer_digest,
        locations=tuple(dict.fromkeys(locations or source.paths)),
        metadata=tuple(filter(operator.itemgetter(1), metadata)),
    )


def captured_files(fs: Filesystem, request: FileRequest) -> Iterator[CapturedFile]:
    """Each captured file once, in path order.

    Symlinked copies (pnpm stores, Debian's maven-repo links into /usr/share/java) would otherwise
    be reported twice.
    """
    plain: dict[str, FileEntry | None] = {}  # captured paths that are not symlinks
    links: dict[str, list[str]] = {}  # real path -> the captured symlinks that lead to it
    for path in fs.captured(request):
        entry = fs.entry(path)
        # Captured paths are index entries, so only a path that is itself a symlink leads elsewhere.
        if entry is not None and entry.kind is EntryKind.SYMLINK:
            links.setdefault(fs.resolve(path) or path, []).append(path)
        else:
            plain[path] = entry
    for real in sorted(plain.keys() | links.keys()):
        entry = plain.get(real) or fs.entry(real)
        found = links.get(real)
        paths = (real, *sorted(p for p in found if p != real)) if found else (real,)
        yield CapturedFile(real, paths, entry.layer_index if entry else None, entry.layer_digest if entry else "")


def read_capped(stream: IO[bytes], size: int) -> bytes:
    """Exactly the next `size` bytes, or ParseError when the file ends first (a truncated file)."""
    data = stream.read(size)
    if len(data) != size:
        raise ParseError("file truncated")
    return data


class _Reading:
    """One executable cataloger's part in an `ExecutablePass`: its findings, and whether its run has ended."""

    def __init__(self, cataloger: ExecutableCataloger[Any]) -> None:
        self.cataloger = cataloger
        self.findings = Findings(cataloger.limits)
        self.failure: Exception | None = None
        self.ended = False

    def takes(self, fs: Filesystem, path: str) -> bool:
        if self.ended:
            return False
        try:
            return not self.cataloger.skips(fs, path)
        except Exception as error:
            self.fail(error)
            return False

    def read(self, elf: ElfFile, path: str) -> Any:
        try:
            return self.cataloger.read(elf)
        except (ValueError, OSError) as error:  # ElfError and ParseError included
            self.findings.warn(f"{path}: {error}")
        except Exception as error:
            self.fail(error)
        return None

    def add(self, executable: CapturedFile, found: Any) -> None:
        try:
            self.cataloger.packages_of(executable, found, self.findings)
        except Exception as error:
            self.fail(error)
            return
        self.ended = self.findings.full

    def fail(self, error: Exception) -> None:
        """End this run on an unexpected error, which becomes its outcome: what the cataloger alone would raise."""
        if not self.ended:
            self.failure, self.ended = error, True

    def outcome(self) -> CatalogResult | Exception:
        return self.failure or self.findings.result()


class ExecutablePass:
    """The executable catalogers of one `catalog_filesystem` call, read in one pass over the executables.

    Catalogers with the same limits capture the same executables and parse them under the same caps, so each
    executable is opened and its ELF headers parsed once for all of them. Each cataloger still finds, warns
    and fails as it would alone: relocatable objects and core files are passed over, a file that is not
    readable ELF or whose data its `read` refuses becomes its warning, its run ends once its findings are
    full, and an unexpected exception ends its run only and is raised when its result is asked for. One
    executable is open at a time and nothing outlives the pass.
    """

    def __init__(self, fs: Filesystem, catalogers: Iterable[object]) -> None:
        self._fs = fs
        self._catalogers = [cataloger for cataloger in catalogers if isinstance(cataloger, ExecutableCataloger)]
        self._outcomes: dict[ExecutableCataloger[Any], CatalogResult | Exception] = {}

    def result(self, cataloger: ExecutableCataloger[Any]) -> CatalogResult:
        """What `cataloger` found; the first request for a cataloger reads for it and every other one of its limits."""
        if cataloger not in self._outcomes:
            others = (other for other in self._catalogers if other is not cataloger
                      and other not in self._outcomes and other.limits == cataloger.limits)
            self._read([_Reading(member) for member in (cataloger, *others)])
        outcome = self._outcomes[cataloger]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _read(self, readings: list[_Reading]) -> None:
        try:
            for executable in captured_files(self._fs, elf_executables(readings[0].cataloger.limits)):
                readers = [reading for reading in readings if reading.takes(self._fs, executable.path)]
                if readers:
                    self._read_one(executable, readers)
                if all(reading.ended for reading in readings):
                    break
        except Exception as error:  # listing the executables failed: so would every run still going
            for reading in readings:
                reading.fail(error)
        for reading in readings:
            self._outcomes[reading.cataloger] = reading.outcome()

    def _read_one(self, executable: CapturedFile, readers: list[_Reading]) -> None:
        found: list[tuple[_Reading, Any]] = []
        try:
            with self._fs.open(executable.path) as stream:
                elf = ElfFile(stream, readers[0].cataloger.limits)
                if elf.type in (ET_EXEC, ET_DYN):
                    found = [(reader, reader.read(elf, executable.path)) for reader in readers]
        except (ValueError, OSError) as error:  # ElfError included
            for reader in readers:
                reader.findings.warn(f"{executable.path}: {error}")
            return
        except Exception as error:
            for reader in readers:
                reader.fail(error)
            return
        for reader, data in found:
            if data is not None:
                reader.add(executable, data)
