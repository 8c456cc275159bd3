"""Alpine, Wolfi and Chainguard packages: `lib/apk/db/installed`.

Each stanza is `KEY:value` lines separated by a blank line. P name, V version, A arch, o origin
(the source package), L licence expression, F a directory and R a file inside the last F.
"""

from __future__ import annotations

from collections.abc import Iterator

from scanner.catalog.base import CatalogResult, read_text, register
from scanner.catalog.ospackages import control_lines, ecosystem_of, os_purl, package_layer, upstream_qualifier
from scanner.image.filesystem import FileRequest, Filesystem, normalize_path
from scanner.model import Distro, Package

INSTALLED = "lib/apk/db/installed"
_APK_NAMESPACES = ("alpine", "wolfi", "chainguard", "postmarketos")


def parse_installed(text: str) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """(stanza number, single-valued fields, owned file paths) for each stanza."""
    fields: dict[str, str] = {}
    files: list[str] = []
    directory = ""
    number = 0
    for line in [*control_lines(text), ""]:
        if not line.strip():
            if fields or files:
                number += 1
                yield number, fields, files
            fields, files, directory = {}, [], ""
            continue
        key, sep, value = line.partition(":")
        if not sep or len(key) != 1:
            continue
        if key == "F":
            directory = value
            if (path := normalize_path(value)) is not None:
                files.append(path)
        elif key == "R":
            if (path := normalize_path(f"{directory}/{value}")) is not None:
                files.append(path)
        elif key not in fields:
            fields[key] = value


class ApkCataloger:
    name = "apk"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest((INSTALLED,), max_size=256 * 1024 * 1024),)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        text = read_text(fs, INSTALLED)
        if text is None:
            return CatalogResult()
        namespace = distro.id if distro is not None and distro.id in _APK_NAMESPACES else "alpine"
        ecosystem = ecosystem_of(distro)
        packages: list[Package] = []
        owned: dict[str, str] = {}
        warnings: list[str] = []
        for number, fields, files in parse_installed(text):
            name, version = fields.get("P", ""), fields.get("V", "")
            if not name or not version:
                missing = "P" if not name else "V"
                warnings.append(f"{INSTALLED}: stanza {number} ({name or 'unnamed'}): skipped, no {missing}: field")
                continue
            arch = fields.get("A", "")
            origin = fields.get("o", "")
            source_name = origin if origin != name else ""
            layer_index, layer_digest = package_layer(fs, files, INSTALLED)
            packages.append(Package(
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
            ))
            for path in files:
                owned[path] = name
        return CatalogResult(tuple(packages), owned, tuple(warnings))


register(ApkCataloger())
