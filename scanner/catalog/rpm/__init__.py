"""rpm packages from any of the three database formats: sqlite, Berkeley DB hash, ndb.

One database is read per image: the first found in the order below (a Fedora image's
`var/lib/rpm` is a symlink to `usr/lib/sysimage/rpm`, and leftovers of a backend migration
must not count twice).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, register
from scanner.catalog.limits import CatalogLimits
from scanner.catalog.ospackages import ecosystem_of, os_purl, package_layer
from scanner.catalog.rpm import bdb, ndb, sqlite
from scanner.catalog.rpm.errors import DatabaseFormatError
from scanner.catalog.rpm.header import HeaderError, RpmHeader, parse_header
from scanner.image.filesystem import FileRequest, Filesystem, normalize_path
from scanner.model import Distro, Package

# (stream, size, label, limits, warn) -> header blobs. None stands for sqlite, which also reads a log.
BlobReader = Callable[[BinaryIO, int, str, CatalogLimits, Callable[[str], None]], Iterator[bytes]]

DATABASES: tuple[tuple[str, BlobReader | None], ...] = (
    ("usr/lib/sysimage/rpm/rpmdb.sqlite", None),
    ("var/lib/rpm/rpmdb.sqlite", None),
    ("usr/lib/sysimage/rpm/Packages.db", ndb.read_blobs),
    ("var/lib/rpm/Packages.db", ndb.read_blobs),
    ("usr/lib/sysimage/rpm/Packages", bdb.read_values),
    ("var/lib/rpm/Packages", bdb.read_values),
)
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


def _size(stream: BinaryIO) -> int:
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return size


def purl_namespace(distro: Distro | None, vendor: str) -> str:
    if distro is not None:
        return _PURL_NAMESPACES.get(distro.id, distro.id)
    lowered = vendor.lower()
    return next((namespace for needle, namespace in _VENDOR_NAMESPACES if needle in lowered), "")


class RpmCataloger(LimitedCataloger):
    name = "rpm"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(tuple(path for path, _ in DATABASES), max_size=self.limits.max_rpm_database_size),
                FileRequest(tuple(f"{path}-wal" for path, reader in DATABASES if reader is None),
                            max_size=self.limits.max_rpm_database_size))

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        captured = set(fs.captured(self.requests[0]))
        logs = set(fs.captured(self.requests[1]))
        findings = Findings(self.limits)
        read: set[str] = set()
        for path, reader in DATABASES:
            resolved = fs.resolve(path)
            if path not in captured or resolved is None or resolved in read:
                continue
            read.add(resolved)
            try:
                with contextlib.ExitStack() as stack:
                    stream = stack.enter_context(fs.open(path))
                    size = _size(stream)
                    if reader is None:
                        wal = stack.enter_context(fs.open(f"{path}-wal")) if f"{path}-wal" in logs else None
                        wal_size = _size(wal) if wal is not None else 0
                        blobs: Iterator[bytes] = stack.enter_context(contextlib.closing(sqlite.read_blobs(
                            stream, path, self.limits, findings.warn, wal if wal_size else None)))
                        size += wal_size
                    else:
                        blobs = reader(stream, size, path, self.limits, findings.warn)
                    self._packages(fs, distro, path, blobs, findings, size)
                return findings.result()
            except DatabaseFormatError as error:
                findings.warn(f"{path}: not read: {error}")
        return findings.result()

    def _packages(self, fs: Filesystem, distro: Distro | None, path: str, blobs: Iterator[bytes],
                  findings: Findings, database_size: int) -> None:
        blob_bytes = 0
        for number, blob in enumerate(blobs, start=1):
            # Each header has its own bytes in a sound database; more than the file holds means entries
            # share bytes, which would let a small file name one large header without end.
            blob_bytes += len(blob)
            if blob_bytes > database_size:
                findings.warn(f"{path}: headers add up to more than the database's {database_size} bytes "
                              "(entries overlap); the rest is not read")
                return
            where = f"{path}: header {number}"
            try:
                header = parse_header(blob, self.limits)
            except HeaderError as error:
                findings.warn(f"{where} skipped: {error}")
                continue
            if header.name == "gpg-pubkey":
                continue  # imported signing keys, not software
            where = f"{where} ({header.name})"
            with findings.record(where):
                if header.files_refused:
                    findings.warn(f"{where}: {header.files_refused}; its files are not recorded")
                files = list(filter(None, map(normalize_path, header.files)))
                if not findings.add(self._package(fs, distro, path, header, files), where):
                    return
                findings.own(files, header.name, where)

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
