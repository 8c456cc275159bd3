"""`-o json`: this project's own SBOM, every field of every package (docs/sbom-json.md).

`scanner.targets.own_sbom` reads it back into the same `Subject` and `Catalog`, so a later scan can
match an SBOM made earlier without the image.
"""

from __future__ import annotations

from typing import Any

from scanner.catalog.distro import osv_ecosystem
from scanner.clock import rfc3339
from scanner.model import Distro, Package
from scanner.report import dumps
from scanner.report.base import SBOM, ReportFormat, register
from scanner.report.sbom import SbomReport
from scanner.targets.own_sbom import SCHEMA, SCHEMA_VERSION


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


register(ReportFormat(SBOM, "json", "this scanner's own SBOM JSON (docs/sbom-json.md)", write))
