"""What the SBOM formats (`scanner sbom -o NAME`) render: the scanned subject and its catalog.

Writers are pure: the same `SbomReport` gives the same bytes. The only clock time an SBOM may
carry is `SbomReport.timestamp`, which the caller takes from `SOURCE_DATE_EPOCH`
(`timestamp_from_environment`); without it, formats leave time out or use their documented fixed value.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner import __version__
from scanner.catalog import Catalog
from scanner.errors import UsageError
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
    timestamp: datetime | None = None  # from SOURCE_DATE_EPOCH only; None: no clock time in the output
    tool_name: str = TOOL_NAME
    tool_version: str = __version__

    @property
    def content_id(self) -> uuid.UUID:
        """A stable id for this content (SPDX namespace, CycloneDX serial number): same input, same id."""
        digest = hashlib.sha256(repr((self.subject, self.catalog, self.tool_version)).encode()).hexdigest()
        return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:{TOOL_NAME}:{digest}")


def timestamp_from_environment(environ: Mapping[str, str] | None = None) -> datetime | None:
    """SOURCE_DATE_EPOCH (reproducible-builds.org) as a UTC time; None when unset or empty."""
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH must be a non-negative integer, not {value!r}")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, ValueError, OSError) as error:
        raise UsageError(f"SOURCE_DATE_EPOCH {value} is out of range") from error


def iso_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def package_id(package: Package) -> str:
    """A short id for a package, stable across runs and unique within a catalog."""
    return hashlib.sha256(repr(package).encode()).hexdigest()[:16]


