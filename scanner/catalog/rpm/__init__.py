"""rpm packages from any of the three database formats: sqlite, Berkeley DB hash, ndb.

One database is read per image: the first found in the order below (a Fedora image's
`var/lib/rpm` is a symlink to `usr/lib/sysimage/rpm`, and leftovers of a backend migration
must not count twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from scanner.catalog.base import CatalogResult, register
from scanner.catalog.ospackages import ecosystem_of, os_purl, package_layer
from scanner.catalog.rpm import bdb, ndb, sqlite
from scanner.catalog.rpm.errors import DatabaseFormatError
from scanner.catalog.rpm.header import HeaderError, RpmHeader, parse_header
from scanner.image.filesystem import FileRequest, Filesystem, normalize_path
from scanner.model import Distro, Package

BlobReader = Callable[[bytes, list[str], str], Iterator[bytes]]

DATABASES: tuple[tuple[str, BlobReader], ...] = (
    ("usr/lib/sysimage/rpm/rpmdb.sqlite", sqlite.read_blobs),
    ("var/lib/rpm/rpmdb.sqlite", sqlite.read_blobs),
    ("usr/lib/sysimage/rpm/Packages.db", ndb.read_blobs),
    ("var/lib/rpm/Packages.db", ndb.read_blobs),
    ("usr/lib/sysimage/rpm/Packages", bdb.read_values),
    ("var/lib/rpm/Packages", bdb.read_values),
)
_MAX_DATABASE_SIZE = 2 * 1024 * 1024 * 1024
_PURL_NAMESPACES = {
    "rhel": "redhat", "ol": "oracle", "amzn": "amazon", "sles": "suse", "sled": "suse", "sle-micro": "suse",
    "opensuse-leap": "opensuse", "opensuse-tumbleweed": "opensuse", "opensuse": "opensuse",
}
_VENDOR_NAMESPACES = (
    ("red hat", "redhat"), ("centos", "centos"), ("rocky", "rocky"), ("alma", "almalinux"), ("fedora", "fedora"),
    ("suse", "suse"), ("oracle", "oracle"), ("amazon", "amazon"), ("microsoft", "mariner"),
)


def split_source_rpm(source_rpm: str) -> tuple[str, str]:
    """"util-linux-2.32.1-42.el8_8.src.rpm" -> ("util-linux", "2.32.1-42.el8_8"); ("", "") when unreadable."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if source_rpm.endswith(suffix):
            stem = source_rpm[: -len(suffix)]
            break
    else:
        return "", ""
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def _optional(fs: Filesystem, path: str) -> bytes:
    try:
        return fs.read_bytes(path)
    except KeyError:
        return b""


def purl_namespace(distro: Distro | None, vendor: str) -> str:
    if distro is not None:
        return _PURL_NAMESPACES.get(distro.id, distro.id)
    lowered = vendor.lower()
    return next((namespace for needle, namespace in _VENDOR_NAMESPACES if needle in lowered), "")


class RpmCataloger:
    name = "rpm"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(tuple(path for path, _ in DATABASES), max_size=_MAX_DATABASE_SIZE),
                FileRequest(tuple(f"{path}-wal" for path, reader in DATABASES if reader is sqlite.read_blobs),
                            max_size=_MAX_DATABASE_SIZE))

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        captured = set(fs.captured(self.requests[0]))
        warnings: list[str] = []
        read: set[str] = set()
        for path, reader in DATABASES:
            resolved = fs.resolve(path)
            if path not in captured or resolved is None or resolved in read:
                continue
            read.add(resolved)
            try:
                if reader is sqlite.read_blobs:
                    blobs = sqlite.read_blobs(fs.read_bytes(path), warnings, path, wal=_optional(fs, f"{path}-wal"))
                else:
                    blobs = reader(fs.read_bytes(path), warnings, path)
                return self._packages(fs, distro, path, blobs, warnings)
            except DatabaseFormatError as error:
                warnings.append(f"{path}: not read: {error}")
        return CatalogResult(warnings=tuple(warnings))

    def _packages(self, fs: Filesystem, distro: Distro | None, path: str, blobs: Iterator[bytes],
                  warnings: list[str]) -> CatalogResult:
        packages: list[Package] = []
        owned: dict[str, str] = {}
        for number, blob in enumerate(blobs, start=1):
            try:
                header = parse_header(blob)
            except HeaderError as error:
                warnings.append(f"{path}: header {number} skipped: {error}")
                continue
            if header.name == "gpg-pubkey":
                continue  # imported signing keys, not software
            files = [p for p in (normalize_path(f) for f in header.files) if p]
            packages.append(self._package(fs, distro, path, header, files))
            for file_path in files:
                owned[file_path] = header.name
        return CatalogResult(tuple(packages), owned, tuple(warnings))

    def _package(self, fs: Filesystem, distro: Distro | None, path: str, header: RpmHeader,
                 files: list[str]) -> Package:
        version = header.evr
        source_name, source_base = split_source_rpm(header.source_rpm)
        source_version = f"{header.epoch}:{source_base}" if source_base and header.epoch is not None else source_base
        source_name = source_name if source_name != header.name else ""
        source_version = source_version if source_version != version else ""
        layer_index, layer_digest = package_layer(fs, files, path)
        purl_version = f"{header.version}-{header.release}" if header.release else header.version
        metadata = tuple((key, value) for key, value in (
            ("vendor", header.vendor), ("modularity_label", header.modularity_label),
            ("source_rpm", header.source_rpm)) if value)
        return Package(
            name=header.name,
            version=version,
            type="rpm",
            ecosystem=ecosystem_of(distro),
            purl=os_purl("rpm", purl_namespace(distro, header.vendor), header.name, purl_version,
                         arch=header.arch, distro=distro,
                         epoch=str(header.epoch) if header.epoch is not None else "",
                         upstream=header.source_rpm),
            cataloger=self.name,
            arch=header.arch,
            source_name=source_name,
            source_version=source_version,
            licenses=(header.license,) if header.license else (),
            layer_index=layer_index,
            layer_digest=layer_digest,
            locations=(path,),
            metadata=metadata,
        )


register(RpmCataloger())
