"""`-o cyclonedx-json`: CycloneDX 1.6 JSON.

The image is `metadata.component` (type container), the distro an `operating-system`
component, each package a `library` component whose `bom-ref` is stable across runs. Facts
CycloneDX has no field for (layer, source package, ecosystem, locations, owner) are properties
named `airgap-scanner:*`. `metadata.timestamp` is the time of the scan.
"""

from __future__ import annotations

from typing import Any

from scanner.catalog.distro import osv_ecosystem
from scanner.clock import rfc3339
from scanner.model import Distro, Package
from scanner.report import dumps
from scanner.report.base import SBOM, ReportFormat, register
from scanner.report.licenses import is_spdx_expression, is_spdx_id
from scanner.report.sbom import TOOL_NAME, SbomReport

SPEC_VERSION = "1.6"
IMAGE_REF = "image"


def _property(name: str, value: str) -> dict[str, str]:
    return {"name": f"{TOOL_NAME}:{name}", "value": value}


def _licenses(package: Package) -> list[dict[str, Any]]:
    if len(package.licenses) == 1 and is_spdx_expression(package.licenses[0]) \
            and not is_spdx_id(package.licenses[0]):
        return [{"expression": package.licenses[0]}]
    return [{"license": {"id": text} if is_spdx_id(text) else {"name": text}} for text in package.licenses]


def _component(package: Package, package_id: str) -> dict[str, Any]:
    properties = [_property("cataloger", package.cataloger), _property("package-type", package.type)]
    if package.ecosystem:
        properties.append(_property("ecosystem", package.ecosystem))
    if package.arch:
        properties.append(_property("arch", package.arch))
    if package.source_name:
        properties.append(_property("source-name", package.source_name))
    if package.source_version:
        properties.append(_property("source-version", package.source_version))
    if package.layer_index is not None:
        properties.append(_property("layer-index", str(package.layer_index)))
    if package.layer_digest:
        properties.append(_property("layer-digest", package.layer_digest))
    properties.extend(_property("location", location) for location in package.locations)
    if package.owned_by:
        properties.append(_property("owned-by", package.owned_by))
    if package.compiled_into:
        properties.append(_property("compiled-into", package.compiled_into))
    if package.version_inferred_from:
        properties.append(_property("version-inferred-from", package.version_inferred_from))
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": f"pkg-{package_id}",
        "name": package.name,
        "version": package.version,
    }
    if package.licenses:
        component["licenses"] = _licenses(package)
    component["purl"] = package.purl
    component["properties"] = properties
    return component


def _operating_system(distro: Distro) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "operating-system",
        "bom-ref": f"os-{distro.purl_distro}",
        "name": distro.id,
        "version": distro.version_id,
    }
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    ecosystem = osv_ecosystem(distro)
    if ecosystem:
        component["properties"] = [_property("ecosystem", ecosystem)]
    return component


def _image(report: SbomReport) -> dict[str, Any]:
    subject = report.subject
    component: dict[str, Any] = {"type": "container", "bom-ref": IMAGE_REF, "name": subject.name}
    if subject.config_digest:
        component["version"] = subject.config_digest
        algorithm, _, value = subject.config_digest.partition(":")
        if algorithm == "sha256" and len(value) == 64:
            component["hashes"] = [{"alg": "SHA-256", "content": value}]
    properties = [_property("image:tag", tag) for tag in subject.tags]
    if subject.platform:
        properties.append(_property("image:platform", subject.platform))
    properties.extend(_property(f"image:layer:{index}", digest) for index, digest in enumerate(subject.layers))
    if properties:
        component["properties"] = properties
    return component


def document(report: SbomReport) -> dict[str, Any]:
    metadata: dict[str, Any] = {"timestamp": rfc3339(report.timestamp)}
    metadata["tools"] = {"components": [{"type": "application", "name": report.tool_name,
                                         "version": report.tool_version}]}
    metadata["component"] = _image(report)
    components = []
    if report.catalog.distro is not None:
        components.append(_operating_system(report.catalog.distro))
    components.extend(map(_component, report.catalog.packages, report.package_ids))
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{report.content_id}",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [{"ref": IMAGE_REF, "dependsOn": [component["bom-ref"] for component in components]}],
    }


def write(report: SbomReport) -> bytes:
    return dumps(document(report))


register(ReportFormat(SBOM, "cyclonedx-json", "CycloneDX 1.6 JSON", write))
