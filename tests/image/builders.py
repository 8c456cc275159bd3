"""Build small image archives in the three formats, with tarfile, for the reader's tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

Entry = tuple[tarfile.TarInfo, bytes]

LAYER_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def _info(name: str, kind: bytes, mode: int = 0o644, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = 1_600_000_000
    return info


def file(name: str, data: bytes, mode: int = 0o644) -> Entry:
    return _info(name, tarfile.REGTYPE, mode, len(data)), data


def directory(name: str) -> Entry:
    return _info(name, tarfile.DIRTYPE, 0o755), b""


def symlink(name: str, target: str) -> Entry:
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target), b""


def hardlink(name: str, target: str) -> Entry:
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target), b""


def device(name: str) -> Entry:
    return _info(name, tarfile.CHRTYPE, 0o600), b""


def whiteout(path: str) -> Entry:
    head, _, base = path.rpartition("/")
    return file(f"{head}/.wh.{base}" if head else f".wh.{base}", b"")


def opaque(directory_path: str) -> Entry:
    return file(f"{directory_path}/.wh..wh..opq", b"")


def tar_bytes(entries: list[Entry], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ImageSpec:
    layers: list[list[Entry]]
    tags: tuple[str, ...] = ("example/app:1.0",)
    compression: str = "none"  # for every layer, or per layer via `compressions`
    compressions: tuple[str, ...] = ()
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    config_extra: dict[str, Any] = field(default_factory=dict)

    def layer_blobs(self) -> list[tuple[bytes, bytes, str]]:
        """(blob, uncompressed tar, compression) per layer."""
        out = []
        for number, entries in enumerate(self.layers):
            kind = self.compressions[number] if self.compressions else self.compression
            raw = tar_bytes(entries)
            out.append((compress(raw, kind), raw, kind))
        return out

    def config(self, diff_ids: list[str]) -> bytes:
        config: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "created": "2021-12-20T00:00:00Z",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if self.variant:
            config["variant"] = self.variant
        config.update(self.config_extra)
        return json.dumps(config).encode()


def _write_tar(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            archive.addfile(_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            archive.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=target))


def docker_archive(path: Path, *images: ImageSpec, manifest_override: Any = None) -> Path:
    members: dict[str, bytes] = {}
    manifest = []
    for spec in images:
        blobs = spec.layer_blobs()
        layer_names = []
        for blob, _, _ in blobs:
            name = f"{sha256(blob)[7:]}.tar"
            members[name] = blob
            layer_names.append(name)
        config = spec.config([sha256(raw) for _, raw, _ in blobs])
        config_name = f"{sha256(config)[7:]}.json"
        members[config_name] = config
        manifest.append({"Config": config_name, "RepoTags": list(spec.tags), "Layers": layer_names})
    members["manifest.json"] = json.dumps(manifest if manifest_override is None else manifest_override).encode()
    _write_tar(path, members)
    return path


def _descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def oci_layout(path: Path, *images: ImageSpec, as_tar: bool = True, multi_platform: bool = False) -> Path:
    """An OCI layout; with `multi_platform` all images go under one image index (one tag, many platforms)."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> None:
        blobs[f"blobs/sha256/{sha256(data)[7:]}"] = data

    manifests = []
    for spec in images:
        layers = []
        built = spec.layer_blobs()
        for blob, _, kind in built:
            add(blob)
            layers.append(_descriptor(LAYER_TYPES[kind], blob))
        config = spec.config([sha256(raw) for _, raw, _ in built])
        add(config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": layers,
        }).encode()
        add(manifest)
        platform = {"os": spec.os, "architecture": spec.architecture, **({"variant": spec.variant} if spec.variant else {})}
        annotations = {"org.opencontainers.image.ref.name": spec.tags[0]} if spec.tags else {}
        manifests.append(_descriptor("application/vnd.oci.image.manifest.v1+json", manifest, platform=platform,
                                     **({"annotations": annotations} if annotations and not multi_platform else {})))
    if multi_platform:
        nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                             "manifests": manifests}).encode()
        add(nested)
        top = [_descriptor("application/vnd.oci.image.index.v1+json", nested,
                           annotations={"org.opencontainers.image.ref.name": images[0].tags[0]})]
    else:
        top = manifests
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": top}).encode()
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": index, **blobs}
    if as_tar:
        _write_tar(path, files)
    else:
        for name, data in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
    return path
