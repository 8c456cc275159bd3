"""What the SBOM formats (`scanner sbom -o NAME`) render: the scanned subject and its catalog.

Writers are pure: the same `SbomReport` gives the same bytes. The only clock time an SBOM carries
is `SbomReport.timestamp`, the time of the scan, which the caller takes from its `scanner.clock.Clock` (`stamp()`)
(`SOURCE_DATE_EPOCH` when set, for byte-identical output).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scanner import __version__
from scanner.catalog import Catalog
from scanner.image.metadata import ImageMetadata

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
        """A stable id for this content (SPDX namespace, CycloneDX serial number): same input, same id.

        The sha256 of `repr((subject, catalog, tool_version))`, the catalog's repr put together from the
        package reprs `package_ids` made (a dataclass's repr is its fields' in order), rather than
        formatting every package a second time.
        """
        catalog = self.catalog
        shown = [(field.name, _tuple_repr(self._package_reprs) if field.name == "packages"
                  else repr(getattr(catalog, field.name))) for field in dataclasses.fields(catalog) if field.repr]
        fields = ", ".join(f"{name}={text}" for name, text in shown)
        text = f"({self.subject!r}, {type(catalog).__qualname__}({fields}), {self.tool_version!r})"
        digest = hashlib.sha256(text.encode()).hexdigest()
        return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:{TOOL_NAME}:{digest}")

    @property
    def package_ids(self) -> tuple[str, ...]:
        """A short id for each package of the catalog, in order: stable across runs, unique within the catalog."""
        return tuple(hashlib.sha256(text.encode()).hexdigest()[:16] for text in self._package_reprs)

    @functools.cached_property
    def _package_reprs(self) -> tuple[str, ...]:
        return tuple(map(repr, self.catalog.packages))


def _tuple_repr(item_reprs: tuple[str, ...]) -> str:
    return f"({item_reprs[0]},)" if len(item_reprs) == 1 else f"({', '.join(item_reprs)})"


