"""SBOMs as scan targets: CycloneDX JSON and SPDX 2.x JSON, ours and other tools'.

Packages come from PURLs. OS packages (deb, apk, rpm) need their distro release: the PURL's
`distro` qualifier when present, else the SBOM's operating-system component (CycloneDX) or
package (SPDX `primaryPackagePurpose: OPERATING-SYSTEM`). Source packages come from the
`upstream` qualifier (ours and Syft's) or Trivy's `SrcName`/`SrcVersion` properties.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from scanner.catalog.distro import osv_ecosystem
from scanner.errors import TargetError
from scanner.fileio import open_regular_file, read_capped
from scanner.model import Distro, Package
from scanner.names import normalize_package_name

MAX_SBOM_BYTES = 512 * 1024 * 1024

PURL_TYPE_ECOSYSTEMS: Mapping[str, str] = {
    "pypi": "PyPI", "npm": "npm", "maven": "Maven", "golang": "Go", "cargo": "crates.io", "gem": "RubyGems",
    "composer": "Packagist", "nuget": "NuGet", "hex": "Hex", "pub": "Pub", "cran": "CRAN", "hackage": "Hackage",
    "swift": "SwiftURL", "conan": "ConanCenter", "bitnami": "Bitnami",
}
_OS_TYPES = frozenset({"deb", "apk", "rpm"})
_SRPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.src\.rpm$")
# SPDX sourceInfo: Trivy's "built package from: NAME VERSION", ours "built from source package NAME VERSION"
_BUILT_FROM = re.compile(r"^built (?:package from:|from source package)\s*(?P<name>\S+)\s+(?P<version>\S+)")
_OURS = "airgap-scanner:"  # our SBOMs' property prefix (scanner/report/cyclonedx.py, spdx.py comments)


@dataclass(frozen=True)
class SbomTarget:
    format: str  # "cyclonedx-json" or "spdx-json"
    name: str  # the document's subject (image name, directory) or the file name
    sha256: str  # of the SBOM file
    distro: Distro | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]


def _distro_from_text(name: str, version: str) -> Distro | None:
    ident = name.strip().lower()
    if not ident:
        return None
    return Distro(id=ident, version_id=version.strip())


def _distro_qualifier(value: str) -> Distro | None:
    """`debian-11`, `ubuntu-22.04`, `alpine-3.18.4`, `opensuse-leap-15.5`; None without a release."""
    ident, _, version = value.rpartition("-")
    if version and version[:1].isdigit():
        return _distro_from_text(ident, version)
    return None


def _source_of(purl: PackageURL, properties: Mapping[str, str], source_info: str) -> tuple[str, str]:
    qualifiers: dict[str, str] = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    upstream = qualifiers.get("upstream", "")
    if upstream:
        srpm = _SRPM.match(upstream)
        if srpm:
            # A source rpm's file name has no epoch; its binaries carry the spec's, which is the source's.
            epoch = qualifiers.get("epoch", "")
            return srpm["name"], f"{epoch + ':' if epoch else ''}{srpm['version']}-{srpm['release']}"
        name, _, version = upstream.partition("@")
        return name, version
    name = properties.get("aquasecurity:trivy:SrcName", "")
    if name:
        version = properties.get("aquasecurity:trivy:SrcVersion", "")
        release = properties.get("aquasecurity:trivy:SrcRelease", "")
        epoch = properties.get("aquasecurity:trivy:SrcEpoch", "")
        if release:
            version = f"{version}-{release}"
        if epoch and epoch != "0":
            version = f"{epoch}:{version}"
        return name, version
    if properties.get(_OURS + "source-name"):
        return properties[_OURS + "source-name"], properties.get(_OURS + "source-version", "")
    built = _BUILT_FROM.match(source_info)
    if built:
        return built["name"], built["version"]
    return "", ""


def _display_name(purl: PackageURL) -> str:
    if purl.type == "maven" and purl.namespace:
        return f"{purl.namespace}:{purl.name}"
    if purl.type in ("npm", "golang", "composer") and purl.namespace:
        return f"{purl.namespace}/{purl.name}"
    return str(purl.name)


def _layer_of(properties: Mapping[str, str]) -> str:
    for key in (_OURS + "layer-digest", "syft:location:0:layerID", "aquasecurity:trivy:LayerDigest",
                "aquasecurity:trivy:LayerDiffID"):
        if properties.get(key):
            return properties[key]
    return ""


@dataclass(frozen=True)
class _Facts:
    """What an SBOM says about a component beyond its PURL, from its properties (or an SPDX comment)."""

    properties: Mapping[str, str]  # the first value of each name
    locations: tuple[str, ...] = ()

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, str]]) -> _Facts:
        first: dict[str, str] = {}
        for name, value in pairs:
            first.setdefault(name, value)
        return cls(first, tuple(value for name, value in pairs if name == _OURS + "location"))

    def package_fields(self) -> dict[str, Any]:
        """Layer, locations and owner, as the Package fields our own SBOMs carry them."""
        index = self.properties.get(_OURS + "layer-index", "")
        return {"layer_digest": _layer_of(self.properties), "layer_index": int(index) if index.isdigit() else None,
                "locations": self.locations, "owned_by": self.properties.get(_OURS + "owned-by", "")}


class _Reader:
    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self.distro: Distro | None = None
        self.warnings: list[str] = []
        self.unsupported: dict[str, int] = {}
        self.without_purl = 0

    def package(self, purl_text: str, name_hint: str, version_hint: str, facts: _Facts,
                source_info: str = "") -> Package | None:
        try:
            purl = PackageURL.from_string(purl_text)
        except ValueError:
            self.warnings.append(f"PURL not understood, component skipped: {purl_text[:200]!r}")
            return None
        qualifiers: dict[str, str] = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        version = str(purl.version or version_hint or "")
        if not version:
            self.warnings.append(f"no version for {purl_text[:200]}: not matched")
            return None
        if purl.type in _OS_TYPES:
            distro = _distro_qualifier(qualifiers.get("distro", "")) or self.distro
            if qualifiers.get("epoch") and ":" not in version:
                version = f"{qualifiers['epoch']}:{version}"
            ecosystem = osv_ecosystem(distro) or ""
            source_name, source_version = _source_of(purl, facts.properties, source_info)
            return Package(name=str(purl.name), version=version, type=purl.type, ecosystem=ecosystem,
                           purl=purl_text, cataloger=f"sbom:{self.format}", arch=qualifiers.get("arch", ""),
                           source_name=source_name if source_name != purl.name else "",
                           source_version=source_version if source_version != version else "",
                           **facts.package_fields())
        language_ecosystem = PURL_TYPE_ECOSYSTEMS.get(purl.type)
        if language_ecosystem is None:
            self.unsupported[purl.type] = self.unsupported.get(purl.type, 0) + 1
            return None
        name = _display_name(purl)
        if name_hint and (normalize_package_name(language_ecosystem, name_hint)
                          == normalize_package_name(language_ecosystem, name)):
            name = name_hint  # PURLs lower-case some names (pypi); keep the spelling the SBOM shows
        return Package(name=name, version=version, type=purl.type, ecosystem=language_ecosystem,
                       purl=purl_text, cataloger=f"sbom:{self.format}", **facts.package_fields())

    def final_warnings(self) -> tuple[str, ...]:
        notes = list(self.warnings)
        notes += [f"{count} component(s) with PURL type {kind!r}: no advisory ecosystem, not matched"
                  for kind, count in sorted(self.unsupported.items())]
        if self.without_purl:
            notes.append(f"{self.without_purl} component(s) without a PURL: not matched")
        return tuple(notes)


def _cyclonedx_facts(raw: Any) -> _Facts:
    if not isinstance(raw, list):
        return _Facts({})
    return _Facts.of([(item["name"], item["value"]) for item in raw if isinstance(item, dict)
                      and isinstance(item.get("name"), str) and isinstance(item.get("value"), str)])


def _spdx_facts(comment: object) -> _Facts:
    """Our SPDX packages' comment: "cataloger=dpkg; layer=0 sha256:...; location=...; owned-by=..."."""
    if not isinstance(comment, str):
        return _Facts({})
    pairs: list[tuple[str, str]] = []
    for fact in comment.split("; "):
        key, _, value = fact.partition("=")
        if key == "layer":
            index, _, digest = value.partition(" ")
            pairs += [(_OURS + "layer-index", index), (_OURS + "layer-digest", digest)]
        elif key in ("location", "owned-by"):
            pairs.append((_OURS + key, value))
    return _Facts.of(pairs)


def _cyclonedx_components(raw: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if not isinstance(raw, list) or depth > 32:
        return
    for component in raw:
        if isinstance(component, dict):
            yield component
            yield from _cyclonedx_components(component.get("components"), depth + 1)


def _read_cyclonedx(document: dict[str, Any]) -> tuple[str, _Reader, list[Package]]:
    reader = _Reader("cyclonedx-json")
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    subject = metadata.get("component") if isinstance(metadata, dict) else None
    components = list(_cyclonedx_components(document.get("components")))
    for component in [*([subject] if isinstance(subject, dict) else []), *components]:
        if component.get("type") == "operating-system":
            reader.distro = _distro_from_text(str(component.get("name") or ""), str(component.get("version") or ""))
            break
    packages: list[Package] = []
    for component in components:
        if component.get("type") == "operating-system":
            continue
        purl = component.get("purl")
        if not isinstance(purl, str) or not purl:
            reader.without_purl += 1
            continue
        found = reader.package(purl, str(component.get("name") or ""), str(component.get("version") or ""),
                               _cyclonedx_facts(component.get("properties")))
        if found is not None:
            packages.append(found)
    name = str(subject.get("name") or "") if isinstance(subject, dict) else ""
    return name, reader, packages


def _spdx_purl(package: dict[str, Any]) -> str:
    for ref in package.get("externalRefs") or []:
        if (isinstance(ref, dict) and str(ref.get("referenceType", "")).lower() == "purl"
                and isinstance(ref.get("referenceLocator"), str)):
            return str(ref["referenceLocator"])
    return ""


def _read_spdx(document: dict[str, Any]) -> tuple[str, _Reader, list[Package]]:
    reader = _Reader("spdx-json")
    raw_packages = [p for p in document.get("packages") or [] if isinstance(p, dict)]
    for package in raw_packages:
        if package.get("primaryPackagePurpose") == "OPERATING-SYSTEM":
            reader.distro = _distro_from_text(str(package.get("name") or ""), str(package.get("versionInfo") or ""))
            break
    packages: list[Package] = []
    for package in raw_packages:
        if package.get("primaryPackagePurpose") in ("OPERATING-SYSTEM", "CONTAINER"):
            continue
        purl = _spdx_purl(package)
        if not purl:
            reader.without_purl += 1
            continue
        found = reader.package(purl, str(package.get("name") or ""), str(package.get("versionInfo") or ""),
                               _spdx_facts(package.get("comment")), str(package.get("sourceInfo") or ""))
        if found is not None:
            packages.append(found)
    return str(document.get("name") or ""), reader, packages


def looks_like_sbom(path: Path) -> bool:
    """A regular file that starts with a JSON object: an SBOM, never an image archive.

    A tar archive starts with a member name, never "{", so any JSON object is read as an SBOM and
    one that is neither CycloneDX nor SPDX is refused with that message, not as a broken tar.
    """
    try:
        with open_regular_file(path) as handle:
            head = handle.read(64)
    except OSError:  # the image reader names the problem
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


def read_sbom(path: Path) -> SbomTarget:
    raw = read_capped(path, MAX_SBOM_BYTES, "SBOM", TargetError)
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise TargetError(f"SBOM {path}: not valid JSON ({error})") from error
    if not isinstance(document, dict):
        raise TargetError(f"SBOM {path}: not a JSON object")
    if document.get("bomFormat") == "CycloneDX":
        name, reader, packages = _read_cyclonedx(document)
    elif isinstance(document.get("spdxVersion"), str):
        name, reader, packages = _read_spdx(document)
    else:
        raise TargetError(f"SBOM {path}: neither CycloneDX JSON (bomFormat) nor SPDX JSON (spdxVersion)")
    return SbomTarget(format=reader.format, name=name or path.name, sha256=hashlib.sha256(raw).hexdigest(),
                      distro=reader.distro, packages=tuple(sorted(set(packages))), warnings=reader.final_warnings())
