"""Alpine, Wolfi and Chainguard packages: `lib/apk/db/installed`.

Each stanza is `KEY:value` lines separated by a blank line. P name, V version, A arch, o origin
(the source package), L licence expression, F a directory and R a file inside the last F. The
database is read as a stream of stanzas within `CatalogLimits`; a stanza over a cap is skipped with
a warning naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, register
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.ospackages import ecosystem_of, os_purl, package_layer, read_stanzas, upstream_qualifier
from scanner.image.filesystem import FileRequest, Filesystem, normalize_path
from scanner.model import Distro, Package

INSTALLED = "lib/apk/db/installed"
_APK_NAMESPACES = ("alpine", "wolfi", "chainguard", "postmarketos")
# Single-valued fields that make the package record; the rest (checksums, sizes, dependencies) are not kept.
_KEPT = frozenset("PVAoLmc")
_LINE = re.compile(rb"^(.):([^\n]*)", re.M)


def parse_installed(stream: BinaryIO, limits: CatalogLimits = DEFAULT_LIMITS,
                    warn: Callable[[str], None] = lambda warning: None,
                    ) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """(stanza number, kept single-valued fields, owned file paths) for each stanza."""
    for number, stanza in read_stanzas(stream, INSTALLED, limits, warn):
        fields: dict[str, str] = {}
        files: list[str] = []
        directory = ""
        for match in _LINE.finditer(stanza):
            key, raw = match[1].decode("latin-1"), match[2].removesuffix(b"\r")
            if key == "F" or key == "R":
                value = raw.decode("utf-8", "replace")
                if key == "F":
                    directory = value
                if (path := normalize_path(value if key == "F" else f"{directory}/{value}")) is not None:
                    files.append(path)
            elif key in _KEPT and key not in fields:
                if len(raw) > limits.max_field_length:
                    warn(f"{INSTALLED}: stanza {number} has a {key}: field of {len(raw)} bytes, over "
                         f"{limits.max_field_length} (cap max_field_length); skipped")
                    break
                fields[key] = raw.decode("utf-8", "replace")
        else:
            if fields or files:
                yield number, fields, files


class ApkCataloger(LimitedCataloger):
    name = "apk"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest((INSTALLED,), max_size=self.limits.max_os_database_size),)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        if INSTALLED not in set(fs.captured(self.requests[0])):
            return CatalogResult()
        findings = Findings(self.limits)
        namespace = distro.id if distro is not None and distro.id in _APK_NAMESPACES else "alpine"
        ecosystem = ecosystem_of(distro)
        with fs.open(INSTALLED) as stream:
            for number, fields, files in parse_installed(stream, self.limits, findings.warn):
                name, version = fields.get("P", ""), fields.get("V", "")
                where = f"{INSTALLED}: stanza {number} ({name or 'unnamed'})"
                if not name or not version:
                    findings.warn(f"{where}: skipped, no {'P' if not name else 'V'}: field")
                    continue
                with findings.record(where):
                    package = self._package(fs, distro, namespace, ecosystem, fields, files)
                    if not findings.add(package, where):
                        break
                    findings.own(files, name, where)
        return findings.result()

    def _package(self, fs: Filesystem, distro: Distro | None, namespace: str, ecosystem: str,
                 fields: dict[str, str], files: list[str]) -> Package:
        name, version = fields["P"], fields["V"]
        arch = fields.get("A", "")
        origin = fields.get("o", "")
        source_name = origin if origin != name else ""
        layer_index, layer_digest = package_layer(fs, files, INSTALLED)
        return Package(
            name=name,
            version=version,
            type="apk",
            ecosystem=ecosystem,
            purl=os_purl("apk", namespace, name, version, arch=arch, distro=distro,
                         upstream=upstream_qualifier(name, version, source_name, "")),
            cataloger=self.name,
            arch=arch,
            source_name=source_name,
            licenses=(fields["L"],) if fields.get("L") else (),
            layer_index=layer_index,
            layer_digest=layer_digest,
            locations=(INSTALLED,),
            metadata=tuple((label, fields[key]) for key, label in (("m", "maintainer"), ("c", "commit"))
                           if fields.get(key)),
        )


register(ApkCataloger())
