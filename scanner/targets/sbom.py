"""CycloneDX JSON and SPDX 2.x JSON SBOMs (ours and other tools') as scan targets.

Packages come from PURLs. OS packages (deb, apk, rpm) need their distro release: the PURL's
`distro` qualifier when present, else the SBOM's operating-system component (CycloneDX) or
package (SPDX `primaryPackagePurpose: OPERATING-SYSTEM`). Source packages come from the
`upstream` qualifier (ours and Syft's) or Trivy's `SrcName`/`SrcVersion` properties.

The document has been read strictly by `scanner.targets.read_sbom` (no duplicate keys, no NaN, no
lone surrogates, within the size caps); every field read here must have the JSON type the format gives it (null counts as absent): a `components` that is an object, an
`externalRefs` that is a number, a layer index that is not decimal digits make the SBOM malformed, and
it is refused with the target exit code (4), never read as "no packages". A component whose content is
not understood (a PURL that does not parse, no version, a type without an advisory ecosystem) is
skipped with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from packageurl import PackageURL

from scanner.catalog.distro import osv_ecosystem
from scanner.errors import TargetError
from scanner.jsonstrict import list_of, optional_member
from scanner.model import Distro, Package
from scanner.names import normalize_package_name
from scanner.targets import SbomContent

MAX_COMPONENT_DEPTH = 32  # CycloneDX components nested in components
_LAYER_INDEX = re.compile(r"[0-9]{1,6}")  # ASCII only: str.isdigit() also accepts "²", which int() refuses

PURL_TYPE_ECOSYSTEMS: Mapping[str, str] = {
    "pypi": "PyPI", "npm": "npm", "maven": "Maven", "golang": "Go", "cargo": "crates.io", "gem": "RubyGems",
    "composer": "Packagist", "nuget": "NuGet", "hex": "Hex", "pub": "Pub", "cran": "CRAN", "hackage": "Hackage",
    "swift": "SwiftURL", "conan": "ConanCenter", "bitnami": "Bitnami",
}
_OS_TYPES = frozenset({"deb", "apk", "rpm"})
_SRPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.src\.rpm$")
# SPDX sourceInfo: Trivy's "built package from: NAME VERSION", ours "built from source package NAME VERSION"
_BUILT_FROM = re.compile(r"^built (?:package from:|from source package)\s*(?P<name>\S+)\s+(?P<version>\S+)")
_GO_MAJOR = re.compile(r"v?(?P<major>[0-9]+)\.")  # of a Go module version: "v5.12.0", "5.12.0", "v2.0.0-2019..."
_GO_MAJOR_ELEMENT = re.compile(r"v[0-9]+")  # a module path's major-version suffix
_OURS = "airgap-scanner:"  # our SBOMs' property prefix (scanner/report/cyclonedx.py, spdx.py comments)


class _Malformed(Exception):
    """A value whose JSON type is not the one the format gives it; `_content` names the file."""


_T = TypeVar("_T")


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _optional(record: Mapping[str, Any], key: str, kind: type[_T], where: str) -> _T | None:
    """`record[key]`; None when absent or null; _Malformed when it has another JSON type."""
    return optional_member(record, key, kind, where or "document", _Malformed)


def _text(record: Mapping[str, Any], key: str, where: str) -> str:
    return _optional(record, key, str, where) or ""


def _objects(record: Mapping[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects of the array `record[key]`, each with its path; [] when absent or null."""
    path = _at(where, key)
    items = list_of(_optional(record, key, list, where) or [], dict, path, _Malformed)
    return [(f"{path}[{index}]", item) for index, item in enumerate(items)]


def _distro_from_text(name: str, version: str) -> Distro | None:
    ident = name.strip().lower()
    if not ident:
        return None
    return Distro(id=ident, version_id=version.strip())


def _distro_qualifier(value: str) -> Distro | None:
    """`debian-11`, `ubuntu-22.04`, `alpine-3.18.4`, `opensuse-leap-15.5`; None without a release."""
    ident, _, version = value.rpartition("-")
    if version[:1].isascii() and version[:1].isdigit():
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


def go_module_path(purl: PackageURL) -> str:
    """The Go module a golang PURL names: namespace/name, its subpath, and the major-version suffix.

    The golang type's subpath is a path inside the Go path the PURL names, so it is part of the module
    path: Trivy writes `github.com/containerd/containerd/api` as `...containerd@v1.7.19#api` and
    `github.com/go-git/go-git/v5` as `...go-git@v5.12.0#v5`. Go requires a module at major version 2 or
    more to end its path in `/vN` unless the version is `+incompatible` (gopkg.in paths carry `.vN`
    instead), so a v2+ version on a path without that element can only be the `/vN` module's.
    """
    path = "/".join(part for part in (purl.namespace, purl.name, purl.subpath) if part)
    version = str(purl.version or "")
    major = _GO_MAJOR.match(version)
    if major is None or int(major["major"]) < 2 or version.endswith("+incompatible") or path.startswith("gopkg.in/"):
        return path
    suffix = f"v{int(major['major'])}"
    elements = path.split("/")
    # Already there, or inside: a subpath below the `/vN` module names one of its packages, not a module.
    # A path ending in another major contradicts its version; it is kept as written, not rewritten.
    if len(elements) == 1 or suffix in elements[1:] or _GO_MAJOR_ELEMENT.fullmatch(elements[-1]):
        return path
    return f"{path}/{suffix}"


def _display_name(purl: PackageURL) -> str:
    """The package's name in its ecosystem. Other types' subpaths are files inside the package (the
    purl-spec's core rule; npm, PyPI, Maven and the rest define nothing else), not its identity."""
    if purl.type == "golang":
        return go_module_path(purl)
    if purl.type == "maven" and purl.namespace:
        return f"{purl.namespace}:{purl.name}"
    if purl.type in ("npm", "composer") and purl.namespace:
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
    layer_index: int | None = None

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, str]], where: str) -> _Facts:
        first: dict[str, str] = {}
        for name, value in pairs:
            first.setdefault(name, value)
        index = first.get(_OURS + "layer-index", "")
        if index and not _LAYER_INDEX.fullmatch(index):
            raise _Malformed(f"{where}: layer index {index[:40]!r} is not a decimal number of at most 6 digits")
        return cls(first, tuple(value for name, value in pairs if name == _OURS + "location"),
                   int(index) if index else None)

    def package_fields(self) -> dict[str, Any]:
        """Layer, locations, owner and an inferred version's evidence, as the Package fields our own SBOMs carry."""
        return {"layer_digest": _layer_of(self.properties), "layer_index": self.layer_index,
                "locations": self.locations, "owned_by": self.properties.get(_OURS + "owned-by", ""),
                "version_inferred_from": self.properties.get(_OURS + "version-inferred-from", "")}


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


def _cyclonedx_facts(component: Mapping[str, Any], where: str) -> _Facts:
    pairs = [(_text(item, "name", path), _text(item, "value", path))
             for path, item in _objects(component, "properties", where)]
    return _Facts.of(pairs, where)


def _spdx_facts(package: Mapping[str, Any], where: str) -> _Facts:
    """Our SPDX packages' comment: "cataloger=dpkg; layer=0 sha256:...; location=...; owned-by=...;
    version-inferred-from=..."."""
    pairs: list[tuple[str, str]] = []
    for fact in _text(package, "comment", where).split("; "):
        key, _, value = fact.partition("=")
        if key == "layer":
            index, _, digest = value.partition(" ")
            pairs += [(_OURS + "layer-index", index), (_OURS + "layer-digest", digest)]
        elif key in ("location", "owned-by", "version-inferred-from"):
            pairs.append((_OURS + key, value))
    return _Facts.of(pairs, _at(where, "comment"))


def _cyclonedx_components(record: Mapping[str, Any], where: str, depth: int = 0) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """Every component under `record`, nested ones after their parent, with its path."""
    for path, component in _objects(record, "components", where):
        yield path, component
        if component.get("components") is not None:
            if depth >= MAX_COMPONENT_DEPTH:
                raise _Malformed(f"{path}: components nested more than {MAX_COMPONENT_DEPTH} deep")
            yield from _cyclonedx_components(component, path, depth + 1)


def _read_cyclonedx(document: dict[str, Any]) -> tuple[str, _Reader, list[Package]]:
    reader = _Reader("cyclonedx-json")
    metadata = _optional(document, "metadata", dict, "") or {}
    subject = _optional(metadata, "component", dict, "metadata")
    components = list(_cyclonedx_components(document, ""))
    for path, component in [*([("metadata.component", subject)] if subject is not None else []), *components]:
        if _text(component, "type", path) == "operating-system":
            reader.distro = _distro_from_text(_text(component, "name", path), _text(component, "version", path))
            break
    packages: list[Package] = []
    for path, component in components:
        if _text(component, "type", path) == "operating-system":
            continue
        purl = _text(component, "purl", path)
        if not purl:
            reader.without_purl += 1
            continue
        found = reader.package(purl, _text(component, "name", path), _text(component, "version", path),
                               _cyclonedx_facts(component, path))
        if found is not None:
            packages.append(found)
    name = _text(subject, "name", "metadata.component") if subject is not None else ""
    return name, reader, packages


def _spdx_purl(package: Mapping[str, Any], where: str) -> str:
    for path, ref in _objects(package, "externalRefs", where):
        locator = _text(ref, "referenceLocator", path)
        if _text(ref, "referenceType", path).lower() == "purl" and locator:
            return locator
    return ""


def _read_spdx(document: dict[str, Any]) -> tuple[str, _Reader, list[Package]]:
    reader = _Reader("spdx-json")
    raw_packages = _objects(document, "packages", "")
    for path, package in raw_packages:
        if _text(package, "primaryPackagePurpose", path) == "OPERATING-SYSTEM":
            reader.distro = _distro_from_text(_text(package, "name", path), _text(package, "versionInfo", path))
            break
    packages: list[Package] = []
    for path, package in raw_packages:
        if _text(package, "primaryPackagePurpose", path) in ("OPERATING-SYSTEM", "CONTAINER"):
            continue
        purl = _spdx_purl(package, path)
        if not purl:
            reader.without_purl += 1
            continue
        found = reader.package(purl, _text(package, "name", path), _text(package, "versionInfo", path),
                               _spdx_facts(package, path), _text(package, "sourceInfo", path))
        if found is not None:
            packages.append(found)
    return _text(document, "name", ""), reader, packages


def _content(read: Callable[[dict[str, Any]], tuple[str, _Reader, list[Package]]], document: dict[str, Any],
             what: str) -> SbomContent:
    try:
        name, reader, packages = read(document)
    except _Malformed as error:
        raise TargetError(f"{what}: malformed: {error}") from None
    return SbomContent(name, reader.distro, tuple(packages), reader.final_warnings())


def read_cyclonedx(document: dict[str, Any], what: str) -> SbomContent:
    return _content(_read_cyclonedx, document, what)


def read_spdx(document: dict[str, Any], what: str) -> SbomContent:
    return _content(_read_spdx, document, what)
