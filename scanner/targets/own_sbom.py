"""This scanner's own SBOM JSON (`scanner sbom -o json`, docs/sbom-json.md) read back as a scan target.

`scanner.report.json_sbom` writes it; `read_sbom` reads it into the same `Subject` and `Catalog`, so a
later scan can match an SBOM made earlier without the image. Every field is checked for its JSON type.
"""

from __future__ import annotations

from typing import Any

from scanner.catalog import Catalog
from scanner.errors import TargetError
from scanner.jsonstrict import expect, list_of, loads_strict, member, optional_member
from scanner.model import Distro, Package
from scanner.report.sbom import Subject
from scanner.targets import OWN_SCHEMA, SbomContent

SCHEMA = OWN_SCHEMA
SCHEMA_VERSION = 1


def _strings(value: Any, where: str) -> tuple[str, ...]:
    return tuple(list_of(value, str, where, TargetError))


def _text(record: dict[str, Any], key: str, where: str) -> str:
    return member(record, key, str, where, TargetError, default="")


def _read_package(value: Any, where: str) -> Package:
    record = expect(value, dict, where, TargetError)
    for key in ("name", "version", "type", "purl"):
        if not _text(record, key, where):
            raise TargetError(f"{where}: {key!r} missing")
    layer_index = optional_member(record, "layer_index", int, where, TargetError)
    metadata = [list_of(pair, str, f"{where}: metadata[{index}]", TargetError)
                for index, pair in enumerate(list_of(record.get("metadata", []), list, f"{where}: metadata", TargetError))]
    if any(len(pair) != 2 for pair in metadata):
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
    source = member(doc, "source", dict, origin, TargetError)
    subject = Subject(
        name=_text(source, "name", f"{origin}: source"),
        kind=_text(source, "kind", f"{origin}: source") or "image",
        tags=_strings(source.get("tags", []), f"{origin}: source.tags"),
        config_digest=_text(source, "config_digest", f"{origin}: source"),
        platform=_text(source, "platform", f"{origin}: source"),
        layers=_strings(source.get("layers", []), f"{origin}: source.layers"),
    )
    distro_record = optional_member(doc, "distro", dict, origin, TargetError)
    distro = None
    if distro_record is not None:
        if not _text(distro_record, "id", f"{origin}: distro"):
            raise TargetError(f"{origin}: 'distro' must be null or an object with an id")
        distro = Distro(
            id=_text(distro_record, "id", f"{origin}: distro"),
            version_id=_text(distro_record, "version_id", f"{origin}: distro"),
            codename=_text(distro_record, "codename", f"{origin}: distro"),
            pretty_name=_text(distro_record, "pretty_name", f"{origin}: distro"),
            id_like=_strings(distro_record.get("id_like", []), f"{origin}: distro.id_like"),
        )
    packages = member(doc, "packages", list, origin, TargetError)
    parsed = tuple(sorted(_read_package(record, f"{origin}: packages[{index}]")
                          for index, record in enumerate(packages)))
    warnings = _strings(doc.get("warnings", []), f"{origin}: warnings")
    return subject, Catalog(distro=distro, packages=parsed, warnings=warnings)


def read_content(document: dict[str, Any], what: str) -> SbomContent:
    """The registry's reader (scanner.targets): a document already parsed strictly."""
    subject, catalog = read_document(document, what)
    return SbomContent(subject.name, catalog.distro, tuple(catalog.packages), tuple(catalog.warnings))
