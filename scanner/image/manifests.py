"""From an archive's metadata files to one image: format detection, image and platform choice.

docker-archive: `manifest.json` (or the legacy `repositories` with per-layer `json` files).
OCI layout (tar or directory): `index.json`, followed through image indexes to an image manifest.
The result is an `ImagePlan`: the image's metadata and the layer blobs to read, in order.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from scanner.errors import ImageError, OperatorInputError
from scanner.image.limits import Limits
from scanner.image.source import Source, read_small
from scanner.jsonstrict import expect

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
# docker-archive states no media type; the reader names one from the compression it finds.
DOCKER_LAYER_TYPES = {"none": DOCKER_LAYER, "gzip": DOCKER_LAYER + ".gzip", "zstd": DOCKER_LAYER + ".zstd"}
_INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")
# Blob names that state their content digest: blobs/sha256/HEX (docker 25+), HEX.json and HEX.tar
# (older docker configs, skopeo). HEX/layer.tar names a legacy layer id, not a digest.
_NAMED_BY_DIGEST = re.compile(r"blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.(?:json|tar)")
_REF_NAME = "org.opencontainers.image.ref.name"
_CONTAINERD_NAME = "io.containerd.image.name"
DEFAULT_PLATFORM = ("linux", "amd64")


@dataclass(frozen=True)
class LayerRef:
    name: str  # blob name inside the source
    media_type: str  # "" when the format does not say (docker-archive)
    expected_digest: str  # digest the blob must have; "" when the format does not say
    diff_id: str  # from the config; "" when the format has none (legacy docker)


@dataclass(frozen=True)
class ImagePlan:
    format: str
    tags: tuple[str, ...]
    config_digest: str
    os: str
    architecture: str
    variant: str
    created: str
    layers: tuple[LayerRef, ...]


@dataclass(frozen=True)
class _Candidate:
    names: tuple[str, ...]
    descriptor: dict[str, Any]
    platform: tuple[str, str, str] | None  # (os, architecture, variant) when the index says

    @property
    def label(self) -> str:
        if self.names:
            return self.names[0]
        return str(self.descriptor.get("digest", "?"))


def _parse_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as error:
        raise ImageError(f"{where}: not valid JSON ({str(error).splitlines()[0]})") from None


_T = TypeVar("_T")


def _expect(value: Any, kind: type[_T], where: str) -> _T:
    return expect(value, kind, where, ImageError)


def _check_digest(digest: Any, where: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ImageError(f"{where}: invalid digest {str(digest)[:80]!r}")
    return digest


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def normalize_reference(reference: str) -> str:
    """`ubuntu` -> `ubuntu:latest`; `docker.io/library/x:1` -> `x:1`, so either spelling selects."""
    name = reference.strip()
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


def _selected(names: tuple[str, ...], wanted: str) -> bool:
    target = normalize_reference(wanted)
    return any(name == wanted or normalize_reference(name) == target for name in names)


def parse_platform(text: str) -> tuple[str, str, str]:
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise OperatorInputError(f"--platform {text!r}: expected os/arch or os/arch/variant (linux/amd64)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _platform_matches(have: tuple[str, str, str], want: tuple[str, str, str]) -> bool:
    return have[:2] == want[:2] and (not want[2] or have[2] == want[2])


def _platform_text(platform: tuple[str, str, str]) -> str:
    return "/".join(part for part in platform if part)


class _ConfigFields:
    def __init__(self, config: dict[str, Any], where: str) -> None:
        def text(key: str) -> str:
            value = config.get(key, "")
            return value if isinstance(value, str) else ""

        self.os = text("os")
        self.architecture = text("architecture")
        self.variant = text("variant")
        self.created = text("created")
        rootfs = config.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list):
            raise ImageError(f"{where}: no rootfs.diff_ids list")
        self.diff_ids = tuple(_check_digest(d, f"{where}: rootfs.diff_ids") for d in diff_ids)


def _check_platform(fields: _ConfigFields, platform: str | None, where: str) -> None:
    if platform is None:
        return
    want = parse_platform(platform)
    have = (fields.os, fields.architecture, fields.variant)
    if not _platform_matches(have, want):
        raise ImageError(f"{where}: image is {_platform_text(have)}, not {platform}")


def _read_config(source: Source, name: str, limits: Limits, expected: str) -> tuple[str, _ConfigFields]:
    data = read_small(source, name, limits.max_metadata_size)
    digest = digest_of(data, expected.split(":", 1)[0] if expected else "sha256")
    if expected and digest != expected:
        raise ImageError(f"{source.description}: config {name} has digest {digest}, expected {expected}")
    config = _expect(_parse_json(data, f"config {name}"), dict, f"config {name}")
    return digest, _ConfigFields(config, f"config {name}")


def _check_layer_count(count: int, limits: Limits, where: str) -> None:
    if count > limits.max_layers:
        raise ImageError(f"{where}: {count} layers, more than {limits.max_layers} (max_layers)")


def _hex_digest_in(name: str) -> str:
    found = _NAMED_BY_DIGEST.fullmatch(name)
    return f"sha256:{found.group(1) or found.group(2)}" if found else ""


def docker_archive_plan(source: Source, image: str | None, platform: str | None, limits: Limits) -> ImagePlan:
    if not source.exists("manifest.json"):
        return _legacy_docker_plan(source, image, platform, limits)
    where = f"{source.description}: manifest.json"
    entries = _expect(_parse_json(read_small(source, "manifest.json", limits.max_metadata_size), where), list, where)
    if not entries:
        raise ImageError(f"{where}: lists no image")
    images: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for number, entry in enumerate(entries):
        entry = _expect(entry, dict, f"{where}: entry {number}")
        tags = entry.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ImageError(f"{where}: entry {number} has malformed RepoTags")
        images.append((tuple(tags), entry))
    chosen = _choose_docker_image(images, image, where)
    tags, entry = chosen
    config_name = entry.get("Config")
    layers = entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise ImageError(f"{where}: entry for {tags[0] if tags else 'the image'} lacks Config or Layers")
    _check_layer_count(len(layers), limits, where)
    config_digest, fields = _read_config(source, config_name, limits, _hex_digest_in(config_name))
    if len(fields.diff_ids) != len(layers):
        raise ImageError(
            f"{where}: {len(layers)} layers listed but the config has {len(fields.diff_ids)} diff_ids"
        )
    _check_platform(fields, platform, f"{source.description}")
    refs = tuple(
        LayerRef(name, "", _hex_digest_in(name), diff_id)
        for name, diff_id in zip(layers, fields.diff_ids, strict=True)
    )
    return ImagePlan("docker-archive", tags, config_digest, fields.os, fields.architecture, fields.variant,
                     fields.created, refs)


def _choose_docker_image(
    images: list[tuple[tuple[str, ...], dict[str, Any]]], image: str | None, where: str
) -> tuple[tuple[str, ...], dict[str, Any]]:
    def label(tags: tuple[str, ...], entry: dict[str, Any]) -> str:
        return ", ".join(tags) if tags else str(entry.get("Config", "?"))

    choices = "; ".join(label(tags, entry) for tags, entry in images)
    if image is not None:
        matching = [item for item in images if _selected(item[0], image)]
        if not matching:
            raise ImageError(f"{where}: no image tagged {image}; the archive holds: {choices}")
        return matching[0]
    if len(images) > 1:
        raise ImageError(f"{where}: holds {len(images)} images ({choices}); choose one with --image NAME:TAG")
    return images[0]


def _legacy_docker_plan(source: Source, image: str | None, platform: str | None, limits: Limits) -> ImagePlan:
    """`repositories` maps name -> tag -> top layer id; each layer's `json` names its parent."""
    where = f"{source.description}: repositories"
    repositories = _expect(_parse_json(read_small(source, "repositories", limits.max_metadata_size), where),
                           dict, where)
    tops: dict[str, list[str]] = {}
    for repo, tags in repositories.items():
        for tag, top in _expect(tags, dict, f"{where}: {repo}").items():
            if not isinstance(top, str) or not re.fullmatch(r"[0-9a-f]{64}", top):
                raise ImageError(f"{where}: {repo}:{tag} names an invalid layer id")
            tops.setdefault(top, []).append(f"{repo}:{tag}")
    images = [(tuple(names), {"Config": top}) for top, names in tops.items()]
    if not images:
        raise ImageError(f"{where}: lists no image")
    tags, entry = _choose_docker_image(images, image, where)
    chain: list[tuple[str, dict[str, Any], bytes]] = []
    layer_id: Any = entry["Config"]
    while layer_id:
        if not isinstance(layer_id, str) or not re.fullmatch(r"[0-9a-f]{64}", layer_id):
            raise ImageError(f"{where}: invalid parent layer id {str(layer_id)[:80]!r}")
        if any(item[0] == layer_id for item in chain):
            raise ImageError(f"{where}: layer parent chain loops at {layer_id}")
        _check_layer_count(len(chain) + 1, limits, where)
        data = read_small(source, f"{layer_id}/json", limits.max_metadata_size)
        info = _expect(_parse_json(data, f"{layer_id}/json"), dict, f"{layer_id}/json")
        chain.append((layer_id, info, data))
        layer_id = info.get("parent")
    chain.reverse()
    top_info = chain[-1][1]

    def text(key: str) -> str:
        value = top_info.get(key, "")
        return value if isinstance(value, str) else ""

    if platform is not None:
        have = (text("os"), text("architecture"), text("variant"))
        if not _platform_matches(have, parse_platform(platform)):
            raise ImageError(f"{source.description}: image is {_platform_text(have)}, not {platform}")
    refs = tuple(LayerRef(f"{item[0]}/layer.tar", "", "", "") for item in chain)
    return ImagePlan("docker-archive", tags, digest_of(chain[-1][2]), text("os"), text("architecture"),
                     text("variant"), text("created"), refs)


def _blob_name(digest: str) -> str:
    algorithm, hex_digest = digest.split(":", 1)
    return f"blobs/{algorithm}/{hex_digest}"


def _read_blob_json(source: Source, descriptor: dict[str, Any], limits: Limits, what: str) -> dict[str, Any]:
    digest = _check_digest(descriptor.get("digest"), f"{source.description}: {what} descriptor")
    name = _blob_name(digest)
    data = read_small(source, name, limits.max_metadata_size)
    actual = digest_of(data, digest.split(":", 1)[0])
    if actual != digest:
        raise ImageError(f"{source.description}: {what} {name} has digest {actual}")
    size = descriptor.get("size")
    if isinstance(size, int) and size != len(data):
        raise ImageError(f"{source.description}: {what} {name} is {len(data)} bytes, descriptor says {size}")
    return _expect(_parse_json(data, f"{what} {name}"), dict, f"{what} {name}")


def _descriptor_names(descriptor: dict[str, Any], inherited: tuple[str, ...]) -> tuple[str, ...]:
    annotations = descriptor.get("annotations")
    if not isinstance(annotations, dict):
        return inherited
    names = [annotations.get(_CONTAINERD_NAME), annotations.get(_REF_NAME)]
    found = tuple(n for n in names if isinstance(n, str) and n)
    return found or inherited


def _descriptor_platform(descriptor: dict[str, Any]) -> tuple[str, str, str] | None:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return None
    parts = (platform.get("os"), platform.get("architecture"), platform.get("variant") or "")
    if not all(isinstance(p, str) for p in parts):
        return None
    return parts  # type: ignore[return-value]


class _IndexWalk:
    """Descriptors seen over every image index of one read: a small index fanning out to the same
    nested index many times, many levels deep, would otherwise multiply without bound."""

    def __init__(self, source: Source, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.descriptors = 0

    def count(self, more: int) -> None:
        self.descriptors += more
        if self.descriptors > self.limits.max_index_descriptors:
            raise ImageError(f"{self.source.description}: image indexes list more than "
                             f"{self.limits.max_index_descriptors} descriptors (max_index_descriptors)")


def _collect_candidates(walk: _IndexWalk, index: dict[str, Any], names: tuple[str, ...], depth: int
                        ) -> list[_Candidate]:
    source, limits = walk.source, walk.limits
    if depth > limits.max_index_depth:
        raise ImageError(f"{source.description}: image indexes nested more than {limits.max_index_depth} deep "
                         "(max_index_depth)")
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise ImageError(f"{source.description}: image index without a manifests list")
    walk.count(len(manifests))
    found: list[_Candidate] = []
    for descriptor in manifests:
        if not isinstance(descriptor, dict):
            raise ImageError(f"{source.description}: malformed descriptor in an image index")
        media_type = descriptor.get("mediaType")
        own_names = _descriptor_names(descriptor, names)
        if media_type in _INDEX_TYPES:
            nested = _read_blob_json(source, descriptor, limits, "image index")
            found.extend(_collect_candidates(walk, nested, own_names, depth + 1))
        elif media_type in _MANIFEST_TYPES or media_type is None:
            platform = _descriptor_platform(descriptor)
            if platform is not None and platform[0] == "unknown":
                continue  # build attestations and signatures ride along as "unknown/unknown"
            found.append(_Candidate(own_names, descriptor, platform))
    return found


def _choose_candidate(candidates: list[_Candidate], image: str | None, platform: str | None,
                      where: str) -> _Candidate:
    if not candidates:
        raise ImageError(f"{where}: index.json leads to no image manifest")
    if image is not None:
        named = [c for c in candidates if _selected(c.names, image)]
        if not named:
            listed = "; ".join(sorted({c.label for c in candidates}))
            raise ImageError(f"{where}: no image named {image}; the layout holds: {listed}")
        candidates = named
    if platform is not None:
        want = parse_platform(platform)
        fitting = [c for c in candidates if c.platform is None or _platform_matches(c.platform, want)]
        if not fitting:
            listed = ", ".join(sorted({_platform_text(c.platform) for c in candidates if c.platform}))
            raise ImageError(f"{where}: no {platform} image; platforms present: {listed}")
        candidates = fitting
    distinct_images = {c.names for c in candidates}
    if len(distinct_images) > 1 and image is None:
        listed = "; ".join(sorted({c.label for c in candidates}))
        raise ImageError(f"{where}: holds several images ({listed}); choose one with --image NAME:TAG")
    if len(candidates) == 1:
        return candidates[0]
    default = [c for c in candidates if c.platform is not None and c.platform[:2] == DEFAULT_PLATFORM]
    if default:
        return default[0]
    listed = ", ".join(sorted({_platform_text(c.platform) if c.platform else c.label for c in candidates}))
    raise ImageError(f"{where}: holds several platforms ({listed}) and no linux/amd64; choose with --platform")


def oci_plan(source: Source, format_name: str, image: str | None, platform: str | None,
             limits: Limits) -> ImagePlan:
    where = f"{source.description}: index.json"
    index = _expect(_parse_json(read_small(source, "index.json", limits.max_metadata_size), where), dict, where)
    walk = _IndexWalk(source, limits)
    chosen = _choose_candidate(_collect_candidates(walk, index, (), 0), image, platform, source.description)
    manifest = _read_blob_json(source, chosen.descriptor, limits, "image manifest")
    if manifest.get("mediaType") in _INDEX_TYPES or "manifests" in manifest:
        nested = _collect_candidates(walk, manifest, chosen.names, 1)
        chosen = _choose_candidate(nested, image, platform, source.description)
        manifest = _read_blob_json(source, chosen.descriptor, limits, "image manifest")
    config_descriptor = _expect(manifest.get("config"), dict, f"{where}: manifest config")
    config_digest = _check_digest(config_descriptor.get("digest"), f"{where}: manifest config")
    _, fields = _read_config(source, _blob_name(config_digest), limits, config_digest)
    layers = _expect(manifest.get("layers"), list, f"{where}: manifest layers")
    _check_layer_count(len(layers), limits, where)
    if len(layers) != len(fields.diff_ids):
        raise ImageError(f"{where}: manifest lists {len(layers)} layers but the config has "
                         f"{len(fields.diff_ids)} diff_ids")
    _check_platform(fields, platform, source.description)
    refs: list[LayerRef] = []
    for layer, diff_id in zip(layers, fields.diff_ids, strict=True):
        layer = _expect(layer, dict, f"{where}: layer descriptor")
        digest = _check_digest(layer.get("digest"), f"{where}: layer descriptor")
        media_type = layer.get("mediaType")
        refs.append(LayerRef(_blob_name(digest), media_type if isinstance(media_type, str) else "", digest, diff_id))
    return ImagePlan(format_name, chosen.names, config_digest, fields.os, fields.architecture, fields.variant,
                     fields.created, tuple(refs))


def plan_image(source: Source, is_directory: bool, image: str | None, platform: str | None,
               limits: Limits) -> ImagePlan:
    """Detect the format from the content and choose the image to read."""
    if platform is not None:
        parse_platform(platform)
    if source.exists("manifest.json") or (not is_directory and source.exists("repositories")
                                          and not source.exists("index.json")):
        if is_directory:
            raise ImageError(f"{source.description}: an extracted docker-archive directory; pass the tar file")
        return docker_archive_plan(source, image, platform, limits)
    if source.exists("index.json"):
        return oci_plan(source, "oci-dir" if is_directory else "oci-archive", image, platform, limits)
    if is_directory:
        raise ImageError(f"{source.description}: not an OCI image layout (no index.json)")
    raise ImageError(f"{source.description}: not an image archive (no manifest.json, index.json or repositories)")
