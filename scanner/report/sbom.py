"""What the SBOM formats (`scanner sbom -o NAME`) render: the scanned subject and its catalog.

Writers are pure: the same `SbomReport` gives the same bytes. The only clock time an SBOM carries
is `SbomReport.timestamp`, the time of the scan, which the caller takes from its `scanner.clock.Clock` (`stamp()`)
(`SOURCE_DATE_EPOCH` when set, for byte-identical output).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scanner import __version__
from scanner.catalog import Catalog
from scanner.image.metadata import ImageMetadata
from scanner.model import Package

TOOL_NAME = "airgap-scanner"


@dataclass(frozen=True)
class Subject:
    """What was scanned, as reports name it."""

    name: str  # the first tag, else the archive's file name
    kind: str = "image"
    tags: tuple[str, ...] = ()
    config_digest: str = ""  # "sha256:..."
    platform: str = ""  # "linux/arm64/v8"
    layers: tuple[str, ...] = ()  # layer digests, by layer index

    @classmethod
    def from_image(cls, archive: str | Path, metadata: ImageMetadata) -> Subject:
        return cls(
            name=metadata.tags[0] if metadata.tags else Path(archive).name,
            tags=metadata.tags,
            config_digest=metadata.config_digest,
            platform=metadata.platform,
            layers=tuple(layer.digest for layer in metadata.layers),
        )


@dataclass(frozen=True)
class SbomReport:
    subject: Subject
    catalog: Catalog
    timestamp: datetime  # when the image was read (Clock.stamp)
    tool_name: str = TOOL_NAME
    tool_version: str = __version__

    @property
    def content_id(self) -> uuid.UUID:
        """A stable id for this content (SPDX namespace, CycloneDX serial number): same input, same id."""
        digest = hashlib.sha256(repr((self.subject, self.catalog, self.tool_version)).encode()).hexdigest()
        return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:{TOOL_NAME}:{digest}")


def package_id(package: Package) -> str:
    """A short id for a package, stable across runs and unique within a catalog."""
    return hashlib.sha256(repr(package).encode()).hexdigest()[:16]


