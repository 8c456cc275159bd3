"""Scan targets: what `scanner scan` and `scanner diff` read, behind one registry.

A target is an image (a docker-archive or OCI archive tar, or an OCI layout directory) or an SBOM
file: CycloneDX JSON, SPDX 2.x JSON, or this scanner's own `sbom -o json`. `TARGET_FORMATS` lists them
with the function that reads each, imported only when a target of that format is read (an image's
reader, `scanner.catalog.catalog_image`, brings the image reader and every cataloger). `identify`
tells them apart without a guess: a tar archive starts with a member name and an OCI layout is a
directory, never "{", so any file that starts with a JSON object is an SBOM, and one in none of the
SBOM formats is refused with that message, not as a broken tar.

Every SBOM is read the same way first (`read_sbom`): within a size cap, strictly (scanner.jsonstrict:
no duplicate keys, no NaN), its values counted before it is parsed, and refused when a string holds a
lone UTF-16 surrogate; then the first SBOM format whose `recognises` holds reads the document.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import TargetError
from scanner.fileio import open_regular_file, read_capped
from scanner.jsonstrict import loads_strict
from scanner.model import Distro, Package

if TYPE_CHECKING:
    from scanner.catalog import Catalog
    from scanner.image import ImageMetadata
    from scanner.image.limits import Limits

MAX_SBOM_BYTES = 512 * 1024 * 1024
# json.loads builds one Python object per value: 512 MiB of "{}," would become 12 GiB of dicts. The
# separators and openers (, : [ {) in the raw bytes bound the values; past this many the SBOM is refused
# before it is parsed (at most about 700 MB of objects; a large real SBOM has a few hundred thousand).
MAX_SBOM_JSON_TOKENS = 8_000_000
# a \uD800-\uDFFF escape: the only way JSON text that is valid UTF-8 yields a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
OWN_SCHEMA = "airgap-scanner/sbom"  # `sbom -o json` (scanner/report/json_sbom.py, docs/sbom-json.md)
IMAGE = "image"
SBOM = "sbom"


@dataclass(frozen=True)
class SbomContent:
    """What one SBOM format's reader found in a document."""

    name: str  # the document's subject (image name, directory); "" when it names none
    distro: Distro | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class SbomTarget:
    format: str  # "cyclonedx-json", "spdx-json" or OWN_SCHEMA
    name: str  # the document's subject (image name, directory) or the file name
    sha256: str  # of the SBOM file
    distro: Distro | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class TargetFormat:
    name: str  # the format a report names: "image", "cyclonedx-json", "spdx-json", OWN_SCHEMA
    kind: str  # IMAGE or SBOM
    # "module:function" that reads it, imported on use. An image: (path, image=, platform=, limits=) ->
    # (ImageMetadata, Catalog); an SBOM format: (parsed document, what) -> SbomContent.
    reader: str
    # An SBOM format: whether a parsed JSON object is in this format.
    recognises: Callable[[dict[str, Any]], bool] | None = None

    def read_function(self) -> Callable[..., Any]:
        module, _, function = self.reader.partition(":")
        found: Callable[..., Any] = getattr(importlib.import_module(module), function)
        return found


TARGET_FORMATS: tuple[TargetFormat, ...] = (
    TargetFormat(IMAGE, IMAGE, "scanner.catalog:catalog_image"),
    TargetFormat("cyclonedx-json", SBOM, "scanner.targets.sbom:read_cyclonedx",
                 lambda document: document.get("bomFormat") == "CycloneDX"),
    TargetFormat("spdx-json", SBOM, "scanner.targets.sbom:read_spdx",
                 lambda document: isinstance(document.get("spdxVersion"), str)),
    TargetFormat(OWN_SCHEMA, SBOM, "scanner.targets.own_sbom:read_content",
                 lambda document: document.get("schema") == OWN_SCHEMA),
)
_IMAGE_FORMAT = TARGET_FORMATS[0]
SBOM_FORMATS = tuple(f for f in TARGET_FORMATS if f.kind == SBOM)


def _head(path: Path, size: int) -> bytes | None:
    try:
        with open_regular_file(path) as handle:
            return handle.read(size)
    except OSError:  # the image reader names the problem
        return None


def looks_like_sbom(path: Path) -> bool:
    """A regular file that starts with a JSON object (after a UTF-8 BOM and white space): an SBOM."""
    head = _head(path, 64)
    return head is not None and head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


def identify(path: Path) -> str:
    """IMAGE or SBOM: what `path` is read as (an unreadable path is an image, for the image reader to name)."""
    return SBOM if looks_like_sbom(path) else IMAGE


def read_image(path: Path, *, image: str | None = None, platform: str | None = None,
               limits: Limits | None = None) -> tuple[ImageMetadata, Catalog]:
    """The image at `path` read and cataloged (`scanner.catalog.catalog_image`, the registry's image entry)."""
    found: tuple[ImageMetadata, Catalog] = _IMAGE_FORMAT.read_function()(
        path, image=image, platform=platform, limits=limits)
    return found


def _unpaired_surrogate(document: Any) -> bool:
    """Whether a key or string value holds a lone UTF-16 surrogate (from a `\\udc80`-style escape)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isprintable() and any("\ud800" <= character <= "\udfff" for character in value):
                return True
        elif isinstance(value, dict):
            pending += value.keys()
            pending += value.values()
        elif isinstance(value, list):
            pending += value
    return False


def read_sbom(path: Path) -> SbomTarget:
    """The packages of the SBOM at `path`, in whichever of `SBOM_FORMATS` it is; TargetError otherwise."""
    raw = read_capped(path, MAX_SBOM_BYTES, "SBOM", TargetError)
    what = f"SBOM {path}"
    if sum(raw.count(mark) for mark in (b",", b":", b"[", b"{")) > MAX_SBOM_JSON_TOKENS:
        raise TargetError(f"{what}: more than {MAX_SBOM_JSON_TOKENS:,} JSON values (the cap on an SBOM's size)")
    document = loads_strict(raw.removeprefix(b"\xef\xbb\xbf"), what, TargetError)
    if not isinstance(document, dict):
        raise TargetError(f"{what}: not a JSON object")
    # A lone surrogate is no Unicode text: no UTF-8 for it in a report, nor a query for it in the database.
    if _SURROGATE_ESCAPE.search(raw) and _unpaired_surrogate(document):
        raise TargetError(f"{what}: a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)")
    for target_format in SBOM_FORMATS:
        assert target_format.recognises is not None
        if target_format.recognises(document):
            content: SbomContent = target_format.read_function()(document, what)
            return SbomTarget(format=target_format.name, name=content.name or path.name,
                              sha256=hashlib.sha256(raw).hexdigest(), distro=content.distro,
                              packages=tuple(sorted(set(content.packages))), warnings=content.warnings)
    raise TargetError(f"{what}: neither CycloneDX JSON (bomFormat), SPDX JSON (spdxVersion) nor this "
                      f"scanner's own SBOM JSON (schema {OWN_SCHEMA!r})")


# A POSIX (ustar) or GNU tar header carries "ustar" at offset 257; docker save and OCI archives do.
_TAR_MAGIC_AT = 257


def is_oci_layout(path: Path) -> bool:
    return path.is_dir() and (path / "oci-layout").is_file()


def is_image_archive(path: Path) -> bool:
    """An OCI layout directory, or a regular file with a tar header: what `scanner scan DIR/` takes from DIR."""
    if path.is_dir():
        return is_oci_layout(path)
    head = _head(path, 512)
    return head is not None and len(head) == 512 and head[_TAR_MAGIC_AT:_TAR_MAGIC_AT + 5] == b"ustar"


def images_in(directory: Path) -> Iterator[tuple[Path, bool]]:
    """(entry, is an image archive) for each entry of `directory` but hidden ones, in name order."""
    for entry in sorted(directory.iterdir()):
        if not entry.name.startswith("."):
            yield entry, is_image_archive(entry)


@dataclass(frozen=True)
class TargetInfo:
    kind: str  # "image" or "sbom"
    name: str  # first tag, the SBOM's subject, or the file name
    format: str  # docker-archive, oci-archive, oci-dir, cyclonedx-json, spdx-json
    digest: str  # image config digest, or "sha256:<hex>" of the SBOM file
    tags: tuple[str, ...] = ()
    platform: str = ""
    distro: Distro | None = None
    layers: tuple[str, ...] = ()  # layer digests, in order


@dataclass(frozen=True)
class ScanInput:
    target: TargetInfo
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]


def read_target(path: Path, *, image: str | None = None, platform: str | None = None,
                limits: Limits | None = None) -> ScanInput:
    """An SBOM file (CycloneDX or SPDX JSON) or an image archive / OCI directory (read within `limits`)."""
    if looks_like_sbom(path):
        sbom = read_sbom(path)
        return ScanInput(
            TargetInfo(kind="sbom", name=sbom.name, format=sbom.format, digest=f"sha256:{sbom.sha256}",
                       distro=sbom.distro),
            sbom.packages, sbom.warnings)
    metadata, catalog = read_image(path, image=image, platform=platform, limits=limits)
    return ScanInput(
        TargetInfo(kind="image", name=metadata.tags[0] if metadata.tags else path.name, format=metadata.format,
                   digest=metadata.config_digest, tags=metadata.tags, platform=metadata.platform,
                   distro=catalog.distro, layers=tuple(layer.digest for layer in metadata.layers)),
        tuple(catalog.packages), tuple(catalog.warnings))
