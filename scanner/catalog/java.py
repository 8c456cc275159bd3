"""Java archives (jar, war, ear and relatives) and the archives nested inside them.

Identity, strongest first: each `META-INF/maven/<g>/<a>/pom.properties` (a shaded jar carries one per
library it swallowed, and yields one package each); then `META-INF/MANIFEST.MF`; then the file name
(`log4j-core-2.14.1.jar`). The groupId comes only from data in the image: pom.properties, the
manifest's `Implementation-Vendor-Id` or Jenkins `Group-Id`, or a Maven repository layout path
(`.m2/repository/<group path>/<artifact>/<version>/`, Debian's `/usr/share/maven-repo`). Nothing
is ever looked up over the network. When no groupId can be established, the package is named by its
artifactId alone, its PURL has no namespace and its metadata says `group_id=unknown`: it appears in
SBOMs but cannot be matched to a `group:artifact` advisory by accident.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scanner.catalog.base import CatalogResult, Findings, LimitedCataloger, register
from scanner.catalog.langpkg import CapturedFile, captured_files, make_package
from scanner.catalog.purl import purl
from scanner.catalog.ziparchive import ArchiveView, ImageBudget, walk_archive
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package

ARCHIVE_EXTENSIONS = (".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".kar", ".lpkg")
ARCHIVE_PATTERNS = tuple(f"**/*{ext}" for ext in ARCHIVE_EXTENSIONS)

MANIFEST = "META-INF/MANIFEST.MF"
_POM_PROPERTIES = re.compile(r"META-INF/maven/[^/]+/[^/]+/pom\.properties")
# name-version: the version starts at the first "-<digit>" (log4j-core-2.14.1, guava-31.1-jre).
_NAME_VERSION = re.compile(r"(?P<name>.+?)-(?P<version>\d[^/]*)")
# Without a "-<digit>", a version glued to a name (py4j0.10.9.9): the name ends in a letter and the version
# has a dot, so names that merely end in digits (ojdbc8, commons-lang3, bcprov-jdk18on) keep them.
_GLUED_NAME_VERSION = re.compile(r"(?P<name>.*?[A-Za-z])(?P<version>\d+(?:\.\d+)+(?:[.-][0-9A-Za-z][^/]*)?)")
_MAVEN_LAYOUT = re.compile(
    r"(?:^|/)(?:maven-repo|repository|maven2)/(?P<group>[^/]+(?:/[^/]+)*)/(?P<artifact>[^/]+)/(?P<version>[^/]+)/"
    r"(?P=artifact)-(?P=version)(?:-[^/]*)?\.[a-z]+$"
)
_LAYOUT_TAIL = 1024
# Debian's maven-repo also links the jar as <a>/debian/ and <a>/1.2.x/: names of a line, not versions
_PLACEHOLDER_VERSION = re.compile(r"debian|(?:\d+\.)*x")
UNKNOWN_GROUP = "unknown"


@dataclass(frozen=True)
class Coordinates:
    group: str
    artifact: str
    version: str
    source: str  # how they were established: pom.properties, manifest, maven repository path, file name
    evidence: str = ""  # the member or path they came from


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_EXTENSIONS)


def _is_wanted_member(name: str) -> bool:
    # Both live under META-INF/: the test of the prefix turns away nearly every member without a regex.
    return name.startswith("META-INF/") and (name == MANIFEST or _POM_PROPERTIES.fullmatch(name) is not None)


_PROPERTIES_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.S)
_ESCAPED_CHARACTERS = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape_one(match: re.Match[str]) -> str:
    if match[1]:
        return chr(int(match[1], 16))
    return _ESCAPED_CHARACTERS.get(match[2], match[2])


def _unescape_properties(text: str) -> str:
    return _PROPERTIES_ESCAPE.sub(_unescape_one, text) if "\\" in text else text


def parse_properties(data: bytes) -> dict[str, str]:
    """A Java .properties file (ISO-8859-1 or UTF-8 text, `key=value`, `key: value`, `key value`)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    logical: list[str] = []
    # Continued lines are joined once at the end: repeated concatenation is quadratic in a hostile file.
    pending: list[str] = []
    pending_chars = 0
    for raw in text.splitlines():
        line = raw.lstrip() if pending_chars else raw.strip()
        if not pending_chars and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending.append(line[:-1])
            pending_chars += len(line) - 1
            continue
        logical.append("".join(pending) + line)
        pending, pending_chars = [], 0
    if pending_chars:
        logical.append("".join(pending))
    result: dict[str, str] = {}
    for line in logical:
        match = re.match(r"((?:\\.|[^=:\s\\])*)\s*[=:]?\s*(.*)", line.strip())
        if match and match.group(1):
            result[_unescape_properties(match.group(1))] = _unescape_properties(match.group(2)).strip()
    return result


def parse_manifest(data: bytes) -> dict[str, str]:
    """The main section of a MANIFEST.MF (72-byte lines continued by a leading space)."""
    parts: dict[str, list[str]] = {}  # joined at the end: repeated concatenation is quadratic
    last: list[str] | None = None
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            break  # the main section ends at the first blank line
        if raw.startswith(" ") and last is not None:
            last.append(raw[1:])
            continue
        key, sep, value = raw.partition(":")
        if sep:
            last = parts[key.strip()] = [value.strip()]
    return {key: "".join(values) for key, values in parts.items()}


def _pom_coordinates(member: str, data: bytes) -> Coordinates | None:
    props = parse_properties(data)
    _, _, path_group, path_artifact, _ = member.split("/")
    artifact = props.get("artifactId") or path_artifact
    version = props.get("version", "")
    if not version:
        return None
    return Coordinates(props.get("groupId") or path_group, artifact, version, "pom.properties", member)


def _first(headers: Mapping[str, str], *keys: str) -> str:
    for key in keys:
        value = headers.get(key, "").split(";", 1)[0].strip()
        if value:
            return value
    return ""


def _layout_coordinates(paths: Iterable[str]) -> Coordinates | None:
    for path in paths:
        # The search is quadratic in the path's segments; real layouts fit well inside the tail.
        match = _MAVEN_LAYOUT.search(path[-_LAYOUT_TAIL:])
        if match and not _PLACEHOLDER_VERSION.fullmatch(match.group("version")):
            group = match.group("group").replace("/", ".")
            return Coordinates(group, match.group("artifact"), match.group("version"), "maven repository path", path)
    return None


def _own_coordinates(view: ArchiveView, headers: Mapping[str, str], aliases: Iterable[str]) -> Coordinates | None:
    """The archive's identity without pom.properties: repository layout, manifest, file name."""
    layout = _layout_coordinates(aliases)
    if layout is not None:
        return layout
    stem = posixpath.basename(view.location)
    stem = stem[: stem.rfind(".")] if "." in stem else stem
    from_name = _NAME_VERSION.fullmatch(stem) or _GLUED_NAME_VERSION.fullmatch(stem)
    artifact, file_version = (from_name["name"], from_name["version"]) if from_name else (stem, "")
    artifact = artifact or _first(headers, "Implementation-Title", "Bundle-SymbolicName", "Short-Name",
                                  "Extension-Name", "Bundle-Name", "Specification-Title")
    if not artifact:
        return None
    group = _first(headers, "Implementation-Vendor-Id", "Group-Id")
    manifest_version = _first(headers, "Implementation-Version", "Bundle-Version", "Plugin-Version")
    version = manifest_version or file_version or _first(headers, "Specification-Version")
    from_manifest = bool(group or manifest_version or (version and not file_version))
    return Coordinates(group, artifact, version, "manifest" if from_manifest else "file name", view.location)


def archive_coordinates(view: ArchiveView, headers: Mapping[str, str], aliases: Iterable[str]) -> list[Coordinates]:
    """One Coordinates per library the archive holds (several for a shaded jar)."""
    poms = [c for member, data in sorted(view.files.items()) if member != MANIFEST
            for c in [_pom_coordinates(member, data)] if c is not None]
    if len(poms) == 1:
        return poms
    own = _own_coordinates(view, headers, aliases)
    if own is None or any(pom.artifact == own.artifact for pom in poms):
        return poms
    return [own, *poms]


def _package(source: CapturedFile, coords: Coordinates, view: ArchiveView, locations: tuple[str, ...],
             licenses: tuple[str, ...]) -> Package:
    group_known = bool(coords.group)
    name = f"{coords.group}:{coords.artifact}" if group_known else coords.artifact
    return make_package(
        source,
        name=name,
        version=coords.version,
        purl=purl("maven", coords.artifact, coords.version, namespace=coords.group),
        ecosystem="Maven",
        cataloger="java",
        locations=locations,
        licenses=licenses,
        metadata=[
            ("sha1", view.sha1),
            ("group_id", coords.group or UNKNOWN_GROUP),
            ("artifact_id", coords.artifact),
            ("identified_by", coords.source),
            ("evidence", coords.evidence),
        ],
    )


class JavaCataloger(LimitedCataloger):
    name = "java"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (FileRequest(ARCHIVE_PATTERNS, max_size=self.limits.max_archive_size),)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        findings = Findings(self.limits)
        budget = ImageBudget(self.limits)
        for archive in captured_files(fs, self.requests[0]):
            if budget.exhausted:
                findings.warn(f"{archive.path} and later archives: not read: the image's archives passed "
                              f"{budget.exhausted}")
                break
            with fs.open(archive.path) as stream:
                for view in walk_archive(stream, archive.path, _is_wanted_member, is_archive_name, findings.warn,
                                         budget):
                    with findings.record(view.location):
                        if not self._view(archive, view, findings):
                            return findings.result()
        return findings.result()

    def _view(self, archive: CapturedFile, view: ArchiveView, findings: Findings) -> bool:
        """Add the packages of one archive; False once no more packages are kept."""
        headers = parse_manifest(view.files.get(MANIFEST, b""))
        top_level = view.depth == 0
        coordinates = archive_coordinates(view, headers, archive.paths if top_level else ())
        if not coordinates:
            findings.warn(f"{view.location}: no coordinates could be established offline")
        licenses = (_first(headers, "Bundle-License"),) if len(coordinates) == 1 else ()
        locations = archive.paths if top_level else (view.location,)
        for found in coordinates:
            where = f"{view.location} ({found.evidence or found.source})"
            with findings.record(where):
                if not findings.add(_package(archive, found, view, locations, licenses), where):
                    return False
        return True


register(JavaCataloger())
