"""`-o json`: this project's own SBOM, every field of every package (docs/sbom-json.md).

`read_sbom` reads it back into the same `Subject` and `Catalog`, so a later scan can match an
SBOM made earlier without the image.
"""

from __future__ import annotations

from typing import Any

from scanner.catalog import Catalog
from scanner.catalog.distro import osv_ecosystem
from scanner.clock import rfc3339
from scanner.errors import TargetError
from scanner.jsonstrict import loads_strict
from scanner.match.sbom_input import OWN_SCHEMA
from scanner.model import Distro, Package
from scanner.report.base import SBOM, ReportFormat, register
from scanner.report.findings_json import dumps
from scanner.report.sbom import SbomReport, Subject

SCHEMA = OWN_SCHEMA
SCHEMA_VERSION = 1


def _distro(distro: Distro | None) -> dict[str, Any] | None:
    if distro is None:
        return None
    return {
        "id": distro.id,
        "version_id": distro.version_id,
        "codename": distro.codename,
        "pretty_name": distro.pretty_name,
        "id_like": list(distro.id_like),
        "osv_ecosystem": osv_ecosystem(distro),
    }


def _package(package: Package) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "type": package.type,
        "ecosystem": package.ecosystem,
        "purl": package.purl,
        "cataloger": package.cataloger,
        "arch": package.arch,
        "source_name": package.source_name,
        "source_version": package.source_version,
        "licenses": list(package.licenses),
        "layer_index": package.layer_index,
        "layer_digest": package.layer_digest,
        "locations": list(package.locations),
        "owned_by": package.owned_by,
        "compiled_into": package.compiled_into,
        "version_inferred_from": package.version_inferred_from,
        "metadata": [list(pair) for pair in package.metadata],
    }


def document(report: SbomReport) -> dict[str, Any]:
    subject = report.subject
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": report.tool_name, "version": report.tool_version},
        "created": rfc3339(report.timestamp),
    }
    doc["source"] = {
        "kind": subject.kind,
        "name": subject.name,
        "tags": list(subject.tags),
        "config_digest": subject.config_digest,
        "platform": subject.platform,
        "layers": list(subject.layers),
    }
    doc["distro"] = _distro(report.catalog.distro)
    doc["packages"] = [_package(package) for package in report.catalog.packages]
    doc["warnings"] = list(report.catalog.warnings)
    return doc


def write(report: SbomReport) -> bytes:
    return dumps(document(report))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TargetError(f"{where}: expected a list of strings")
    return tuple(value)


def _text(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key, "")
    if not isinstance(value, str):
        raise TargetError(f"{where}: {key!r} must be a string")
    return value


def _read_package(record: Any, where: str) -> Package:
    if not isinstance(record, dict):
        raise TargetError(f"{where}: expected an object")
    for key in ("name", "version", "type", "purl"):
        if not _text(record, key, where):
            raise TargetError(f"{where}: {key!r} missing")
    layer_index = record.get("layer_index")
    if layer_index is not None and (not isinstance(layer_index, int) or isinstance(layer_index, bool)):
        raise TargetError(f"{where}: 'layer_index' must be an integer or null")
    metadata = record.get("metadata", [])
    if not isinstance(metadata, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair) for pair in metadata):
        raise TargetError(f"{where}: 'metadata' must be a list of [key, value] strings")
    return Package(
        name=_text(record, "name", where),
        version=_text(record, "version", where),
        type=_text(record, "type", where),
        ecosystem=_text(record, "ecosystem", where),
        purl=_text(record, "purl", where),
        cataloger=_text(record, "cataloger", where),
        arch=_text(record, "arch", where),
        source_name=_text(record, "source_name", where),
        source_version=_text(record, "source_version", where),
        licenses=_strings(record.get("licenses", []), f"{where}: licenses"),
        layer_index=layer_index,
        layer_digest=_text(record, "layer_digest", where),
        locations=_strings(record.get("locations", []), f"{where}: locations"),
        owned_by=_text(record, "owned_by", where),
        version_inferred_from=_text(record, "version_inferred_from", where),
        metadata=tuple((key, value) for key, value in metadata),
    )


def read_sbom(data: bytes, origin: str) -> tuple[Subject, Catalog]:
    """Parse a document `write` produced; `origin` names the file in error messages."""
    return read_document(loads_strict(data, origin, TargetError), origin)


def read_document(doc: Any, origin: str) -> tuple[Subject, Catalog]:
    """`read_sbom` of a document already parsed (strictly: no duplicate keys, no NaN)."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise TargetError(f"{origin}: not an {SCHEMA} document")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise TargetError(f"{origin}: schema_version {doc.get('schema_version')!r} is not supported "
                          f"(this scanner reads {SCHEMA_VERSION})")
    source = doc.get("source")
    if not isinstance(source, dict):
        raise TargetError(f"{origin}: 'source' missing")
    subject = Subject(
        name=_text(source, "name", f"{origin}: source"),
        kind=_text(source, "kind", f"{origin}: source") or "image",
        tags=_strings(source.get("tags", []), f"{origin}: source.tags"),
        config_digest=_text(source, "config_digest", f"{origin}: source"),
        platform=_text(source, "platform", f"{origin}: source"),
        layers=_strings(source.get("layers", []), f"{origin}: source.layers"),
    )
    distro_record = doc.get("distro")
    distro = None
    if distro_record is not None:
        if not isinstance(distro_record, dict) or not _text(distro_record, "id", f"{origin}: distro"):
            raise TargetError(f"{origin}: 'distro' must be null or an object with an id")
        distro = Distro(
            id=_text(distro_record, "id", f"{origin}: distro"),
            version_id=_text(distro_record, "version_id", f"{origin}: distro"),
            codename=_text(distro_record, "codename", f"{origin}: distro"),
            pretty_name=_text(distro_record, "pretty_name", f"{origin}: distro"),
            id_like=_strings(distro_record.get("id_like", []), f"{origin}: distro.id_like"),
        )
    packages = doc.get("packages")
    if not isinstance(packages, list):
        raise TargetError(f"{origin}: 'packages' must be a list")
    parsed = tuple(sorted(_read_package(record, f"{origin}: packages[{index}]")
                          for index, record in enumerate(packages)))
    warnings = _strings(doc.get("warnings", []), f"{origin}: warnings")
    return subject, Catalog(distro=distro, packages=parsed, warnings=warnings)


register(ReportFormat(SBOM, "json", "this scanner's own SBOM JSON (docs/sbom-json.md)", write))
