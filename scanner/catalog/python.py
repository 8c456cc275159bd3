"""Python packages installed in an image: wheel `*.dist-info` and setuptools `*.egg-info` metadata.

The declared name is kept for display; `scanner.names` normalises it (PEP 503) for matching, and the
PURL carries the normalised form as the PURL spec asks. Locations are the metadata file (or the
`.egg-info` file itself) and RECORD, which are the paths an OS package list (python3-yaml's
dpkg .list) contains, so the runner can tell distro-owned copies apart.
"""

from __future__ import annotations

import csv
import io
import posixpath
from typing import IO

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, register
from scanner.catalog.langpkg import CapturedFile, captured_files, make_package
from scanner.catalog.purl import purl
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package
from scanner.names import normalize_package_name

METADATA_PATTERNS = ("**/*.dist-info/METADATA", "**/*.egg-info/PKG-INFO", "**/*.egg-info", "**/EGG-INFO/PKG-INFO")
RECORD_PATTERNS = ("**/*.dist-info/RECORD",)

_CLASSIFIER_LICENSE_PREFIX = "License :: "


def parse_headers(text: str) -> dict[str, list[str]]:
    """The RFC 822 style header block of core metadata (it ends at the first blank line, the description).

    Field names are case-insensitive (stored in lower case); a field may repeat (Classifier); a line
    starting with white space continues the previous field. Lines are read one at a time and stop at
    the header block's end, so a long description costs nothing.
    """
    parts: dict[str, list[list[str]]] = {}  # joined at the end: repeated concatenation is quadratic
    last: list[str] | None = None
    for raw in io.StringIO(text):
        line = raw.rstrip("\r\n")
        if not line.strip():
            break
        if line[0] in " \t":
            if last:
                last.append(line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            last = None
            continue
        last = [value.strip()]
        parts.setdefault(key.strip().lower(), []).append(last)
    return {key: ["\n".join(value) for value in values] for key, values in parts.items()}


def _field(headers: dict[str, list[str]], key: str) -> str:
    values = headers.get(key.lower())
    return values[0] if values else ""


def _licenses(headers: dict[str, list[str]]) -> list[str]:
    expression = _field(headers, "License-Expression")
    if expression:
        return [expression]
    declared = _field(headers, "License")
    # The License field is free text and often holds the whole licence; only a short one-liner names it.
    if declared and "\n" not in declared and len(declared) <= 100 and declared.upper() != "UNKNOWN":
        return [declared]
    classifiers = headers.get("classifier", [])
    return [c.rsplit(" :: ", 1)[-1] for c in classifiers if c.startswith(_CLASSIFIER_LICENSE_PREFIX)]


def _record_file_count(stream: IO[bytes]) -> int:
    """How many files RECORD says the distribution installed (read as a stream).

    A RECORD under csv's field size limit without quotes, carriage returns or NULs has one row per line:
    its rows are counted from the bytes, as csv would count them; any other is read by csv.
    """
    limit = csv.field_size_limit()
    head = stream.read(limit)
    if len(head) < limit and b'"' not in head and b"\r" not in head and b"\0" not in head:
        lines = head.split(b"\n")
        # a row counts when its first field is not empty: not an empty line, not one starting with ","
        return len(lines) - lines.count(b"") - head.count(b"\n,") - head.startswith(b",")
    stream.seek(0)
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=""))
    count = 0
    try:
        for row in reader:
            count += bool(row and row[0])
    except csv.Error:
        pass  # a damaged RECORD still tells how many rows were readable
    return count


class PythonCataloger(LimitedCataloger):
    name = "python"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(METADATA_PATTERNS, max_size=self.limits.max_python_metadata_size),
                FileRequest(RECORD_PATTERNS, max_size=self.limits.max_python_record_size))

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        findings = Findings(self.limits)
        metadata_files, record_files = self.requests
        records = {posixpath.dirname(record.path) for record in captured_files(fs, record_files)}
        for found in captured_files(fs, metadata_files):
            with findings.record(found.path):
                package = self._package(fs, found, records, findings)
                if package is not None and not findings.add(package, found.path):
                    break
        return findings.result()

    def _package(self, fs: Filesystem, found: CapturedFile, records: set[str], findings: Findings) -> Package | None:
        real = found.path
        headers = parse_headers(fs.read_bytes(real).decode("utf-8", "replace"))
        name, version = _field(headers, "Name"), _field(headers, "Version")
        if not name or not version:
            findings.warn(f"{real}: metadata without Name or Version, skipped")
            return None
        meta_dir = posixpath.dirname(real)
        locations = list(found.paths)
        metadata: list[tuple[str, str]] = []
        if meta_dir in records:
            record_path = f"{meta_dir}/RECORD"
            locations.append(record_path)
            with fs.open(record_path) as record:
                metadata.append(("record_files", str(_record_file_count(record))))
        metadata.append(("metadata_version", _field(headers, "Metadata-Version")))
        return make_package(
            found,
            name=name,
            version=version,
            purl=purl("pypi", normalize_package_name("PyPI", name), version),
            ecosystem="PyPI",
            cataloger=self.name,
            locations=locations,
            licenses=_licenses(headers),
            metadata=metadata,
        )


register(PythonCataloger())
