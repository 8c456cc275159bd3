"""Debian packages: `var/lib/dpkg/status` and distroless `var/lib/dpkg/status.d/*`.

Ownership comes from `var/lib/dpkg/info/NAME[:ARCH].list` (and distroless `status.d/NAME.md5sums`),
licences from the machine-readable `usr/share/doc/NAME/copyright` where it has `License:` fields.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.catalog.base import CatalogResult, read_text, register
from scanner.catalog.ospackages import control_lines, ecosystem_of, os_purl, package_layer, upstream_qualifier
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
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]*)\))?\s*$")
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+-]*[A-Za-z0-9+])")


@dataclass(frozen=True)
class Paragraph:
    """One control paragraph: its fields (first line of each value) and where it came from."""

    fields: dict[str, str]
    path: str
    number: int  # 1-based position in the file, for warnings


def parse_control(text: str, path: str) -> Iterator[Paragraph]:
    """Paragraphs of a deb822 control file. Continuation lines are dropped: no field we read spans lines."""
    fields: dict[str, str] = {}
    number = 0
    for line in control_lines(text):
        if not line.strip():
            if fields:
                number += 1
                yield Paragraph(fields, path, number)
                fields = {}
            continue
        if line[0] in " \t" or line[0] == "#":
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if fields:
        yield Paragraph(fields, path, number + 1)


def _licenses(copyright_text: str) -> tuple[str, ...]:
    found: set[str] = set()
    for line in copyright_text.splitlines():
        if line.startswith("License:"):
            value = line[len("License:"):].strip()
            if value:
                found.add(value)
    if not found:
        found.update(_COMMON_LICENSE.findall(copyright_text))
    return tuple(sorted(found))


# A dpkg .list holds clean absolute paths after its "/." root line; anything else takes the slow path.
_UNCLEAN_LIST = re.compile(r"//|\\|/\.\.?(?:/|$)|^[^/]", re.M)


def _list_paths(text: str) -> list[str]:
    body = text[3:] if text.startswith("/.\n") else text
    if not _UNCLEAN_LIST.search(body):
        return [line[1:] for line in body.splitlines() if len(line) > 1]
    return [path for path in (normalize_path(line.strip()) for line in text.splitlines()) if path]


def _md5sums_paths(text: str) -> list[str]:
    paths = []
    for line in text.splitlines():
        _, _, name = line.strip().partition(" ")
        normalized = normalize_path(name.strip())
        if normalized:
            paths.append(normalized)
    return paths


class DpkgCataloger:
    name = "dpkg"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (
            FileRequest((STATUS, f"{STATUS_D}/*", f"{INFO}/*.list"), max_size=256 * 1024 * 1024),
            FileRequest(("usr/share/doc/*/copyright",), max_size=8 * 1024 * 1024),
        )

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        return _Run(fs, distro, self.requests).result()


class _Run:
    """One cataloging pass: the captured file names are listed once, so absent files cost no lookup."""

    def __init__(self, fs: Filesystem, distro: Distro | None, requests: tuple[FileRequest, ...]) -> None:
        self.fs = fs
        self.distro = distro
        self.captured = {path for request in requests for path in fs.captured(request)}
        self.namespace = distro.id if distro is not None and distro.id in ("debian", "ubuntu") else "debian"
        self.ecosystem = ecosystem_of(distro)
        self.warnings: list[str] = []

    def result(self) -> CatalogResult:
        packages: list[Package] = []
        owned: dict[str, str] = {}
        for paragraph in self._paragraphs():
            package, files = self._package(paragraph)
            if package is None:
                continue
            packages.append(package)
            for path in files:
                owned[path] = package.name
        return CatalogResult(tuple(packages), owned, tuple(self.warnings))

    def _read(self, path: str) -> str | None:
        return read_text(self.fs, path) if path in self.captured else None

    def _paragraphs(self) -> Iterator[Paragraph]:
        for path in sorted(self.captured):
            if path != STATUS:
                if posixpath.dirname(path) != STATUS_D:
                    continue
                base = posixpath.basename(path)
                if base.startswith(".") or base.rpartition(".")[2] in _STATUS_D_SIDECARS:
                    continue
            text = self._read(path)
            if text is not None:
                yield from parse_control(text, path)

    def _package(self, paragraph: Paragraph) -> tuple[Package | None, list[str]]:
        fields = paragraph.fields
        where = f"{paragraph.path}: paragraph {paragraph.number}"
        status = fields.get("Status", "").split()
        if status and status[-1] in _ABSENT_STATES:
            return None, []  # before the Version check: dpkg drops the Version of purged packages
        name = fields.get("Package", "").split(":", 1)[0]
        version = fields.get("Version", "")
        if not name or not version:
            self.warnings.append(f"{where}: skipped, no {'Package' if not name else 'Version'} field")
            return None, []
        arch = fields.get("Architecture", "")
        source_name, source_version = "", ""
        if "Source" in fields:
            match = _SOURCE.match(fields["Source"])
            if match is None:
                self.warnings.append(f"{where} ({name}): unreadable Source field {fields['Source']!r} ignored")
            else:
                source_name = match["name"] if match["name"] != name else ""
                source_version = match["version"] if match["version"] and match["version"] != version else ""
        locations = [paragraph.path]
        if paragraph.path == STATUS:
            # Multi-Arch: same packages keep their list under NAME:ARCH.list.
            list_path = next((candidate for candidate in (f"{INFO}/{name}:{arch}.list", f"{INFO}/{name}.list")
                              if candidate in self.captured), "")
            listing = self._read(list_path) if list_path else None
            files = _list_paths(listing) if listing else []
            if list_path:
                locations.append(list_path)
            evidence = [list_path] if list_path else files
        else:
            md5sums_path = f"{STATUS_D}/{name}.md5sums"
            md5sums = self._read(md5sums_path)
            files = _md5sums_paths(md5sums) if md5sums else []
            if md5sums is not None:
                locations.append(md5sums_path)
            evidence = files
        copyright_path = f"usr/share/doc/{name}/copyright"
        copyright_text = self._read(copyright_path)
        licenses = _licenses(copyright_text) if copyright_text else ()
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
