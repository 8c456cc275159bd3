"""Helpers shared by the language package catalogers: package records, bounded parsing, ELF access.

Language catalogers read files that applications ship, so every parser here treats its input as
hostile: sizes are capped before reading, a JSON document's values are counted before it is parsed
(`max_json_values`) and its nesting is bounded by the interpreter's own recursion guard (caught), and
ELF sections are read through seeks, never by loading a whole binary.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger
from scanner.catalog.elf import ET_DYN, ET_EXEC, ElfFile
from scanner.catalog.limits import CatalogLimits
from scanner.catalog.purl import purl_type
from scanner.image.filesystem import EntryKind, FileEntry, FileRequest, Filesystem
from scanner.model import Package


def elf_executables(limits: CatalogLimits) -> FileRequest:
    """What Go and Rust read build data from; the image reader spools large files to disk."""
    return FileRequest(("**",), max_size=limits.max_executable_size, magic=b"\x7fELF", executable_only=True)


Found = TypeVar("Found")


class ExecutableCataloger(LimitedCataloger):
    """A cataloger of what ELF executables record about their build (Go, Rust)."""

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (elf_executables(self.limits),)


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


@dataclass(frozen=True)
class CapturedFile:
    """A captured file once, however many captured paths lead to it."""

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
        licenses=tuple(dict.fromkeys(lic for lic in licenses if lic)),
        layer_index=source.layer_index,
        layer_digest=source.layer_digest,
        locations=tuple(dict.fromkeys(locations or source.paths)),
        metadata=tuple((key, value) for key, value in metadata if value),
    )


def captured_files(fs: Filesystem, request: FileRequest) -> Iterator[CapturedFile]:
    """Each captured file once, in path order.

    Symlinked copies (pnpm stores, Debian's maven-repo links into /usr/share/java) would otherwise
    be reported twice.
    """
    aliases: dict[str, list[str]] = {}
    entries: dict[str, FileEntry] = {}
    for path in fs.captured(request):
        entry = fs.entry(path)
        # Captured paths are index entries, so only a path that is itself a symlink leads elsewhere.
        if entry is not None and entry.kind is EntryKind.SYMLINK:
            real = fs.resolve(path) or path
        else:
            real = path
            if entry is not None:
                entries[path] = entry
        aliases.setdefault(real, []).append(path)
    for real in sorted(aliases):
        entry = entries.get(real) or fs.entry(real)
        found = aliases[real]
        paths = (real,) if found == [real] else (real, *sorted(p for p in found if p != real))
        yield CapturedFile(real, paths, entry.layer_index if entry else None, entry.layer_digest if entry else "")


def read_capped(stream: IO[bytes], size: int) -> bytes:
    """Exactly the next `size` bytes, or ParseError when the file ends first (a truncated file)."""
    data = stream.read(size)
    if len(data) != size:
        raise ParseError("file truncated")
    return data


def read_executables(
    fs: Filesystem,
    limits: CatalogLimits,
    read: Callable[[ElfFile], Found | None],
    warn: Callable[[str], None],
    skip: Callable[[str], bool] = lambda path: False,
) -> Iterator[tuple[CapturedFile, Found]]:
    """(file, read(elf)) for each captured ELF executable or shared object that `read` finds data in.

    Relocatable objects and core files are not programs and are passed over; a file that is not
    readable ELF, or whose data `read` refuses (ParseError), becomes a warning.
    """
    for executable in captured_files(fs, elf_executables(limits)):
        if skip(executable.path):
            continue
        try:
            with fs.open(executable.path) as stream:
                elf = ElfFile(stream, limits)
                found = read(elf) if elf.type in (ET_EXEC, ET_DYN) else None
        except (ValueError, OSError) as error:  # ElfError and ParseError included
            warn(f"{executable.path}: {error}")
            continue
        if found is not None:
            yield executable, found


def catalog_executables(
    fs: Filesystem,
    limits: CatalogLimits,
    read: Callable[[ElfFile], Found | None],
    packages_of: Callable[[CapturedFile, Found, Findings], None],
    skip: Callable[[str], bool] = lambda path: False,
) -> CatalogResult:
    """The body of a cataloger of build data in executables (Go, Rust): `read_executables`, then
    `packages_of(file, found, findings)` for each executable with data, until `findings` is full."""
    findings = Findings(limits)
    for executable, found in read_executables(fs, limits, read, findings.warn, skip):
        packages_of(executable, found, findings)
        if findings.full:
            break
    return findings.result()
