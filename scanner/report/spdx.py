"""`-o spdx-json`: SPDX 2.3 JSON.

The document DESCRIBES the image package; the image CONTAINS the operating system and every
package. Licences that are SPDX expressions are declared as such; any other licence text
becomes a `LicenseRef-` with its text in `hasExtractedLicensingInfos`. The creation time is the time
of the scan (SOURCE_DATE_EPOCH when set, for byte-identical output).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from scanner.clock import rfc3339
from scanner.model import Distro, Package
from scanner.report import dumps
from scanner.report.base import SBOM, ReportFormat, register
from scanner.report.licenses import is_spdx_expression
from scanner.report.sbom import TOOL_NAME, SbomReport

IMAGE_ID = "SPDXRef-Image"
OPERATING_SYSTEM_ID = "SPDXRef-OperatingSystem"
_REF_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def _license_ref(text: str) -> str:
    readable = _REF_UNSAFE.sub("-", text).strip("-")[:48] or "unnamed"
    return f"LicenseRef-{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _declared(package: Package, extracted: dict[str, str]) -> str:
    if not package.licenses:
        return "NOASSERTION"
    parts = []
    for text in package.licenses:
        if is_spdx_expression(text):
            parts.append(f"({text})" if len(package.licenses) > 1 and " " in text else text)
        else:
            reference = _license_ref(text)
            extracted[reference] = text
            parts.append(reference)
    return " AND ".join(parts)


def _package(package: Package, package_id: str, extracted: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "SPDXID": f"SPDXRef-Package-{_REF_UNSAFE.sub('-', package.type)}-{package_id}",
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": _declared(package, extracted),
        "copyrightText": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": package.purl}],
        "primaryPackagePurpose": "LIBRARY",
    }
    if package.source_name or package.source_version:
        record["sourceInfo"] = (f"built from source package {package.match_source_name} "
                                f"{package.match_source_version}")
    facts = [f"cataloger={package.cataloger}"]
    if package.ecosystem:
        facts.append(f"ecosystem={package.ecosystem}")
    if package.layer_index is not None:
        facts.append(f"layer={package.layer_index} {package.layer_digest}".rstrip())
    facts.extend(f"location={location}" for location in package.locations)
    if package.owned_by:
        facts.append(f"owned-by={package.owned_by}")
    if package.compiled_into:
        facts.append(f"compiled-into={package.compiled_into}")
    if package.version_inferred_from:
        facts.append(f"version-inferred-from={package.version_inferred_from}")
    record["comment"] = "; ".join(facts)
    return record


def _operating_system(distro: Distro) -> dict[str, Any]:
    return {
        "SPDXID": OPERATING_SYSTEM_ID,
        "name": distro.id,
        "versionInfo": distro.version_id,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "description": distro.pretty_name or distro.id,
    }


def _image(report: SbomReport) -> dict[str, Any]:
    subject = report.subject
    record: dict[str, Any] = {
        "SPDXID": IMAGE_ID,
        "name": subject.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    }
    if subject.config_digest:
        record["versionInfo"] = subject.config_digest
        algorithm, _, value = subject.config_digest.partition(":")
        if algorithm == "sha256" and len(value) == 64:
            record["checksums"] = [{"algorithm": "SHA256", "checksumValue": value}]
    details = [f"tag={tag}" for tag in subject.tags]
    if subject.platform:
        details.append(f"platform={subject.platform}")
    if details:
        record["comment"] = "; ".join(details)
    return record


def document(report: SbomReport) -> dict[str, Any]:
    extracted: dict[str, str] = {}
    packages = [_image(report)]
    contained = []
    if report.catalog.distro is not None:
        packages.append(_operating_system(report.catalog.distro))
        contained.append(OPERATING_SYSTEM_ID)
    for package, package_id in zip(report.catalog.packages, report.package_ids, strict=True):
        record = _package(package, package_id, extracted)
        packages.append(record)
        contained.append(record["SPDXID"])
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": IMAGE_ID}]
    relationships.extend({"spdxElementId": IMAGE_ID, "relationshipType": "CONTAINS", "relatedSpdxElement": ref}
                         for ref in contained)
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": report.subject.name,
        "documentNamespace": f"https://{TOOL_NAME}.invalid/spdx/{report.content_id}",
        "creationInfo": {"created": rfc3339(report.timestamp), "creators": [f"Tool: {report.tool_name}-{report.tool_version}"]},
        "packages": packages,
        "relationships": relationships,
    }
    if extracted:
        doc["hasExtractedLicensingInfos"] = [
            {"licenseId": reference, "name": text, "extractedText": text}
            for reference, text in sorted(extracted.items())
        ]
    return doc


def write(report: SbomReport) -> bytes:
    return dumps(document(report))


register(ReportFormat(SBOM, "spdx-json", "SPDX 2.3 JSON", write))
