"""Debian packages: `var/lib/dpkg/status` and distroless `var/lib/dpkg/status.d/*`.

Ownership comes from `var/lib/dpkg/info/NAME[:ARCH].list` (and distroless `status.d/NAME.md5sums`),
licences from the machine-readable `usr/share/doc/NAME/copyright` where it has `License:` fields.
Databases are read as a stream of stanzas within `CatalogLimits`; a stanza over a cap is skipped
with a warning naming it, and the others are still reported.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, read_captured, register
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.ospackages import ecosystem_of, os_purl, package_layer, read_stanzas, upstream_qualifier
from scanner.image.filesystem import FileRequest, Filesystem, normalize_path
from scanner.model import Distro, Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d"
INFO = "var/lib/dpkg/info"
# Maintainer scripts and checksum lists sit beside distroless control files in status.d.
_STATUS_D_SIDECARS = frozenset({
    "md5sums", "preinst", "postinst", "prerm", "postrm", "conffiles", "list", "triggers", "shlibs",
    "symbols", "templates", "config",
})
# The third word of Status: states in which the package's files are not on disk.
_ABSENT_STATES = frozenset({"not-installed", "config-files"})
# The fields a package record is made of; the others are counted, never kept.
KEPT_FIELDS = frozenset({b"Package", b"Status", b"Version", b"Architecture", b"Source", b"Maintainer"})
# A field line: not a continuation (leading blank) nor a comment; its value's first line only. Matched
# after a newline (a stanza is searched with one put in front): the engine skips ahead to a literal first
# character, where a pattern starting at ^ would be tried at every position.
_FIELD = re.compile(rb"\n([^ \t#\n][^:\n]*):([^\n]*)")
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]*)\))?\s*$")
# A License: line, newline first: run on the file after a "\n", so that the literal start lets the search
# skip ahead (a pattern starting at ^ is tried at every position of a large copyright file). Both run on
# the file's bytes, not its text: half the copyright files name someone in UTF-8, and a search is slower
# over text that is not all ASCII. A "\n" byte is a line end in the text too (no UTF-8 sequence, nor a
# replaced malformed one, takes it in), so the lines and values found are the text's.
_LICENSE_LINE = re.compile(rb"\nLicense:[ \t]*([^\n]*?)[ \t\r]*$", re.M)
_COMMON_LICENSE = re.compile(rb"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+-]*[A-Za-z0-9+])")
# A package's layer is found from a bounded number of its files (see ospackages.package_layer).
_EVIDENCE_PATHS = 256


@dataclass(frozen=True)
class Paragraph:
    """One control paragraph: its kept fields (first line of each value) and where it came from."""

    fields: dict[str, str]
    path: str
    number: int  # 1-based position in the file, for warnings


def parse_control(stream: BinaryIO, path: str, limits: CatalogLimits = DEFAULT_LIMITS,
                  warn: Callable[[str], None] = lambda warning: None) -> Iterator[Paragraph]:
    """Paragraphs of a deb822 control file holding at least one of `KEPT_FIELDS`.

    Continuation lines are dropped: no field we keep spans lines. A paragraph over a cap (size,
    lines, fields, length of a kept value) is skipped with a warning through `warn`.
    """
    for number, stanza in read_stanzas(stream, path, limits, warn):
        fields: dict[str, str] = {}
        for count, match in enumerate(_FIELD.finditer(b"\n" + stanza), start=1):
            if count > limits.max_stanza_fields:
                warn(f"{path}: stanza {number} has more than {limits.max_stanza_fields} fields "
                     "(cap max_stanza_fields); skipped")
                break
            key = match[1].strip()
            if key not in KEPT_FIELDS:
                continue
            value = match[2].strip()
            if len(value) > limits.max_field_length:
                warn(f"{path}: stanza {number} has a {key.decode()} field of {len(value)} bytes, over "
                     f"{limits.max_field_length} (cap max_field_length); skipped")
                break
            fields[key.decode()] = value.decode("utf-8", "replace")
        else:
            if fields:
                yield Paragraph(fields, path, number)


def _licenses(copyright_file: bytes) -> tuple[str, ...]:
    """The values of a copyright file's License: lines, else the common licences it points to."""
    found = {value.decode("utf-8", "replace") for value in _LICENSE_LINE.findall(b"\n" + copyright_file) if value}
    if not found:
        found.update(name.decode("ascii") for name in _COMMON_LICENSE.findall(copyright_file))
    return tuple(sorted(found))


def _is_clean_list(body: str) -> bool:
    """Whether every line of a .list body is a clean absolute path: no "//", no backslash, no "." or ".."
    component, no line (an empty one included) that does not start with "/". Substring counts, each one
    pass in C: a regular expression for the same would be tried at every position of the text. The four
    searches for "." and ".." components run only where a name starts with "." at all."""
    if "//" in body or "\\" in body:
        return False
    if "/." in body and ("/./" in body or "/../" in body or "/.\n" in body or "/..\n" in body
                         or body.endswith(("/.", "/.."))):
        return False
    if body and body[0] != "/":
        return False
    return body.count("\n") - body.endswith("\n") == body.count("\n/")


def _list_paths(text: str, room: int) -> list[str]:
    """The paths of a .list file, each of its first `room` + 1 lines that names one (one more than the room
    shows that it ran out)."""
    body = text[3:] if text.startswith("/.\n") else text
    # A dpkg .list holds clean absolute paths after its "/." root line; anything else takes the slow path.
    if not _is_clean_list(body):
        lines = body.split("\n", room + 1)[:room + 1]
        return [path for path in (normalize_path(line.strip()) for line in lines) if path]
    # Every line starts with "/" (and only the last newline, if any, ends the body): split where the next
    # line's "/" follows, which drops it in C. An empty piece is a line of "/" alone.
    paths = body[1:].split("\n/", room + 1)[:room + 1]
    if paths[-1].endswith("\n"):
        paths[-1] = paths[-1][:-1]
    return list(filter(None, paths))


def _md5sums_paths(text: str, room: int) -> list[str]:
    paths = []
    for line in text.split("\n", room + 1)[:room + 1]:
        _, _, name = line.strip().partition(" ")
        normalized = normalize_path(name.strip())
        if normalized:
            paths.append(normalized)
    return paths


class DpkgCataloger(LimitedCataloger):
    name = "dpkg"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (
            FileRequest((STATUS, f"{STATUS_D}/*", f"{INFO}/*.list"), max_size=self.limits.max_os_database_size),
            FileRequest(("usr/share/doc/*/copyright",), max_size=self.limits.max_license_file_size),
        )

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        return _Run(fs, distro, self.requests, self.limits).result()


class _Run:
    """One cataloging pass: the captured file names are listed once, so absent files cost no lookup."""

    def __init__(self, fs: Filesystem, distro: Distro | None, requests: tuple[FileRequest, ...],
                 limits: CatalogLimits) -> None:
        self.fs = fs
        self.distro = distro
        self.limits = limits
        self.captured = {path for request in requests for path in fs.captured(request)}
        self.namespace = distro.id if distro is not None and distro.id in ("debian", "ubuntu") else "debian"
        self.ecosystem = ecosystem_of(distro)
        self.findings = Findings(limits)

    def result(self) -> CatalogResult:
        findings = self.findings
        for paragraph in self._paragraphs():
            where = f"{paragraph.path}: stanza {paragraph.number}"
            with findings.record(where):
                found = self._package(paragraph, where)
                if found is not None:
                    package, files = found
                    if not findings.add(package, where):
                        break
                    findings.own(files, package.name, where)
        return findings.result()

    def _read(self, path: str) -> bytes | None:
        return read_captured(self.fs, path) if path in self.captured else None

    def _read_file_list(self, path: str, where: str) -> str | None:
        """A captured file list as text; None when absent or (with a warning) over `max_file_list_bytes`."""
        if path not in self.captured:
            return None
        cap = self.limits.max_file_list_bytes
        with self.fs.open(path) as stream:
            data = stream.read(cap + 1)
        if len(data) > cap:
            self.findings.warn(f"{where}: {path} is larger than {cap} bytes (cap max_file_list_bytes); "
                               "its files are not recorded")
            return None
        return data.decode("utf-8", "replace")

    def _paragraphs(self) -> Iterator[Paragraph]:
        for path in sorted(self.captured):
            if path != STATUS:
                if posixpath.dirname(path) != STATUS_D:
                    continue
                base = posixpath.basename(path)
                if base.startswith(".") or base.rpartition(".")[2] in _STATUS_D_SIDECARS:
                    continue
            with self.fs.open(path) as stream:
                yield from parse_control(stream, path, self.limits, self.findings.warn)

    def _files(self, paragraph: Paragraph, name: str, arch: str, where: str) -> tuple[list[str], list[str], list[str]]:
        """(owned paths, their evidence for the layer, extra locations) of a package."""
        files, evidence, locations = self._listed(paragraph, name, arch, where)
        if len(files) > self.limits.max_package_files:
            self.findings.warn(f"{where}: its file list has more than {self.limits.max_package_files} entries "
                               "(cap max_package_files); its files are not recorded")
            return [], evidence, locations
        return files, evidence, locations

    def _listed(self, paragraph: Paragraph, name: str, arch: str, where: str) -> tuple[list[str], list[str], list[str]]:
        room = min(self.findings.owned_room, self.limits.max_package_files)
        if paragraph.path == STATUS:
            # Multi-Arch: same packages keep their list under NAME:ARCH.list.
            list_path = next((candidate for candidate in (f"{INFO}/{name}:{arch}.list", f"{INFO}/{name}.list")
                              if candidate in self.captured), "")
            if not list_path:
                return [], [], []
            listing = self._read_file_list(list_path, where)
            return _list_paths(listing, room) if listing else [], [list_path], [list_path]
        md5sums_path = f"{STATUS_D}/{name}.md5sums"
        if md5sums_path not in self.captured:
            return [], [], []
        md5sums = self._read_file_list(md5sums_path, where)
        files = _md5sums_paths(md5sums, room) if md5sums else []
        return files, files[:_EVIDENCE_PATHS], [md5sums_path]

    def _package(self, paragraph: Paragraph, where: str) -> tuple[Package, list[str]] | None:
        fields = paragraph.fields
        status = fields.get("Status", "").split()
        if status and status[-1] in _ABSENT_STATES:
            return None  # before the Version check: dpkg drops the Version of purged packages
        name = fields.get("Package", "").split(":", 1)[0]
        version = fields.get("Version", "")
        if not name or not version:
            self.findings.warn(f"{where}: skipped, no {'Package' if not name else 'Version'} field")
            return None
        if not name.strip() or not version.strip():
            # Python's strip() also takes \x1c-\x1f and other separators, and so does packageurl: such a value
            # is no name a PURL can carry. Any other hostile name is kept, reported escaped (scanner.terminal).
            self.findings.warn(f"{where}: skipped, Package or Version {(name + ' ' + version)[:80]!r} is blank")
            return None
        arch = fields.get("Architecture", "")
        source_name, source_version = "", ""
        if "Source" in fields:
            match = _SOURCE.match(fields["Source"])
            if match is None:
                self.findings.warn(f"{where} ({name}): unreadable Source field {fields['Source']!r} ignored")
            else:
                source_name = match["name"] if match["name"] != name else ""
                source_version = match["version"] if match["version"] and match["version"] != version else ""
        files, evidence, extra_locations = self._files(paragraph, name, arch, where)
        locations = [paragraph.path, *extra_locations]
        copyright_path = f"usr/share/doc/{name}/copyright"
        copyright_file = self._read(copyright_path)
        licenses = _licenses(copyright_file) if copyright_file else ()
        if licenses:
            locations.append(copyright_path)
        layer_index, layer_digest = package_layer(self.fs, evidence, paragraph.path)
        purl = os_purl("deb", self.namespace, name, version, arch=arch, distro=self.distro,
                       upstream=upstream_qualifier(name, version, source_name, source_version))
        metadata = tuple((key.lower(), fields[key]) for key in ("Maintainer", "Status") if fields.get(key))
        package = Package(
            name=name,
            version=version,
            type="deb",
            ecosystem=self.ecosystem,
            purl=purl,
            cataloger=DpkgCataloger.name,
            arch=arch,
            source_name=source_name,
            source_version=source_version,
            licenses=licenses,
            layer_index=layer_index,
            layer_digest=layer_digest,
            locations=tuple(locations),
            metadata=metadata,
        )
        return package, files


register(DpkgCataloger())
