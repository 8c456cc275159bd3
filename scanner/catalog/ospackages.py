"""What the OS package catalogers (dpkg, apk, rpm) share: PURLs, ecosystems and the introducing layer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from scanner.catalog.distro import osv_ecosystem
from scanner.catalog.limits import CatalogLimits
from scanner.catalog.purl import purl
from scanner.image.filesystem import EntryKind, Filesystem
from scanner.model import Distro

# A package's layer is the earliest layer holding one of its files in the final filesystem; looking
# at a bounded number of its files keeps the cost flat for packages with thousands of files.
_LAYER_PROBE_LIMIT = 256


def os_purl(
    purl_type: str,
    namespace: str,
    name: str,
    version: str,
    *,
    arch: str = "",
    distro: Distro | None = None,
    upstream: str = "",
    epoch: str = "",
) -> str:
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if epoch:
        qualifiers["epoch"] = epoch
    if distro is not None:
        qualifiers["distro"] = distro.purl_distro
    if upstream:
        qualifiers["upstream"] = upstream
    if name != name.strip("/"):
        # packageurl strips a name's outer slashes ("x/" becomes another package, "x") and fails with a
        # TypeError on a name of slashes only: ValueError is what skips one bad record (Findings.record).
        raise ValueError(f"name {name!r} starts or ends with '/', which a PURL name cannot")
    return purl(purl_type, name, version, namespace=namespace, qualifiers=qualifiers)


def upstream_qualifier(name: str, version: str, source_name: str, source_version: str) -> str:
    """`upstream=` value: the source name, with `@version` when the source version differs."""
    if not source_name and not source_version:
        return ""
    upstream = source_name or name
    if source_version and source_version != version:
        upstream += f"@{source_version}"
    return upstream


# Stanzas are separated by blank lines; a line of blanks (CRLF files: "\r") counts as blank. Only LF
# ends a line: U+2028, NEL and form feeds inside free-text fields must not split a stanza. Both
# expressions are single scans (a nested repetition over a run of blank lines is many times slower).
_SEPARATOR = re.compile(rb"\n[ \t\r\f\v]*\n")
_NOT_BLANK = re.compile(rb"[^ \t\r\f\v\n]")
_CHUNK = 1024 * 1024


def _skip_blank_lines(data: bytes, position: int) -> int:
    """The start of the first line at or after `position` that is not blank; the start of the last,
    unfinished line when every complete line is blank (more of it may follow in the next chunk)."""
    found = _NOT_BLANK.search(data, position)
    end = found.start() if found else len(data)
    line_start = data.rfind(b"\n", position, end)
    return line_start + 1 if line_start >= 0 else position


def read_stanzas(stream: BinaryIO, path: str, limits: CatalogLimits,
                 warn: Callable[[str], None]) -> Iterator[tuple[int, bytes]]:
    """(1-based number, bytes) of each stanza of a dpkg or apk database, read in chunks.

    Memory stays within `max_stanza_size` plus one chunk whatever the file holds: a stanza over that
    size or over `max_stanza_lines` lines is skipped with a warning (its number still counts), runs
    of blank lines are skipped by regular expressions, not line by line, and reading stops after
    `max_records` stanzas.
    """
    pending = b""
    number = 0
    skipping = False  # inside an oversized stanza: discard up to the next blank line
    while True:
        chunk = stream.read(_CHUNK)
        data = pending + chunk if pending else chunk
        position = 0
        while True:
            if not skipping:
                position = _skip_blank_lines(data, position)
            separator = _SEPARATOR.search(data, position)
            if separator is None:
                break
            stanza, position = data[position:separator.start()], separator.end()
            if skipping:
                skipping = False
                continue
            number += 1
            if number > limits.max_records:
                warn(f"{path}: more than {limits.max_records} stanzas (cap max_records); the rest is not read")
                return
            if _stanza_fits(stanza, number, path, limits, warn):
                yield number, stanza
        rest = data[position:]
        if not chunk:
            if rest.strip() and not skipping and number < limits.max_records:
                number += 1
                if _stanza_fits(rest, number, path, limits, warn):
                    yield number, rest
            return
        if not skipping and len(rest) > limits.max_stanza_size:
            number += 1
            _stanza_fits(rest, number, path, limits, warn)  # says it is too large
            skipping = True
        if skipping:
            # Only the start of a blank line can be needed from what is discarded: a line end followed by blanks.
            last_line_end = rest.rfind(b"\n")
            rest = b"\n" if last_line_end >= 0 and not rest[last_line_end + 1:].strip() else b""
        pending = rest


def _stanza_fits(stanza: bytes, number: int, path: str, limits: CatalogLimits, warn: Callable[[str], None]) -> bool:
    if len(stanza) > limits.max_stanza_size:
        warn(f"{path}: stanza {number} is larger than {limits.max_stanza_size} bytes (cap max_stanza_size); skipped")
        return False
    if stanza.count(b"\n") >= limits.max_stanza_lines:
        warn(f"{path}: stanza {number} has more than {limits.max_stanza_lines} lines (cap max_stanza_lines); skipped")
        return False
    return True


def ecosystem_of(distro: Distro | None) -> str:
    """The OSV ecosystem for OS packages; "" when no advisory source covers the distro."""
    return osv_ecosystem(distro) or ""


def _earliest_layer(fs: Filesystem, paths: Iterable[str]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for probed, path in enumerate(paths):
        if probed >= _LAYER_PROBE_LIMIT:
            break
        entry = fs.entry(path)
        if entry is None or entry.kind is not EntryKind.FILE:
            continue
        if best is None or entry.layer_index < best[0]:
            best = (entry.layer_index, entry.layer_digest)
            if not entry.layer_index:
                break  # no layer comes before the first: the other files cannot change the answer
    return best


def package_layer(fs: Filesystem, evidence: Iterable[str], database: str) -> tuple[int | None, str]:
    """The layer that introduced a package: the earliest layer among the regular files in `evidence`
    (its own files, most telling first) still present in the final filesystem, else its database file's."""
    found = _earliest_layer(fs, evidence) or _earliest_layer(fs, (database,))
    return found if found is not None else (None, "")
