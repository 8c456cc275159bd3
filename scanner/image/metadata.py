"""What an image is, as opposed to what it contains: format, tags, platform and layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerInfo:
    index: int
    digest: str  # digest of the blob as stored (compressed when the layer is)
    diff_id: str  # sha256 of the uncompressed tar, as computed while reading
    media_type: str
    size: int  # bytes as stored
    uncompressed_size: int
    files: int  # tar entries in the layer: files, directories, links, devices and whiteout markers


@dataclass(frozen=True)
class ImageMetadata:
    format: str  # "docker-archive", "oci-archive" or "oci-dir"
    tags: tuple[str, ...]
    config_digest: str  # the image id
    os: str
    architecture: str
    variant: str
    created: str
    layers: tuple[LayerInfo, ...]

    @property
    def platform(self) -> str:
        parts = [self.os, self.architecture, *([self.variant] if self.variant else [])]
        return "/".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form documented in docs/architecture.md ("scanner inspect -o json")."""
        return {
            "format": self.format,
            "tags": list(self.tags),
            "config_digest": self.config_digest,
            "os": self.os,
            "architecture": self.architecture,
            "variant": self.variant,
            "created": self.created,
            "layers": [
                {
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                    "media_type": layer.media_type,
                    "size": layer.size,
                    "uncompressed_size": layer.uncompressed_size,
                    "files": layer.files,
                }
                for layer in self.layers
            ],
        }
