"""SUSE OVAL: SUSE's per-product definitions files (`suse.linux.enterprise.server.15.xml[.gz]`,
`suse.linux.enterprise.desktop.15.xml`, `opensuse.leap.15.5.xml`, and their `-patch` forms), read by
`oval`.

A CVE definition (class `vulnerability`, titled with the CVE) becomes the advisory `SUSE-CVE-…`; a patch
definition (class `patch`, titled `SUSE-SU-…`/`openSUSE-SU-…`) keeps SUSE's advisory id. Upstream: the CVEs
the definition names. One CVE is published in every product's file, each with that product's releases,
so every definition is emitted as a *part* of its advisory and the compiler assembles the parts.

The release comes from the criteria's release-package tests: `sles-release` `==15.5` is
`SUSE:Linux Enterprise Server 15 SP5` (`==15`: GA, `SUSE:Linux Enterprise Server 15`), `sled-release` the
Desktop, `openSUSE-release` `==15.5` is `openSUSE:Leap 15.5`. `sles-ltss-release` (the LTSS extension of
that service pack) is read only where no `sles-release` condition of the release names the package, as
vunnel does: an image reads the general update channel. Conditions on other products' release packages
(modules, SLES for SAP, HPC, Manager …) are not rows of these ecosystems and are left out. Packages are
binary rpm names, as SUSE's OVAL lists them; `kernel-default` `==0` is SUSE's "not affected" and becomes a
`not-affected` row. The rating is the advisory's `severity` (Important = high), the CVSS v3 vectors of
SUSE's own `cve` entries are stored with source `suse`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import oval
from .base import first_sentence, severity_label, severity_row
from .records import FeedFacts, Record, SkipLog

PROVIDER = "suse"
FLAG_HELP = "SUSE OVAL definitions files (.xml, .xml.gz/.bz2/.xz) or directories (repeatable)."
PRECEDENCE = 42
PART_PRECEDENCE = 0
# SUSE's per-product files hold tens of thousands of CVE definitions, thousands for every service pack;
# a sample or an extract has a handful.
WHOLE_FILE_MIN_DEFINITIONS = 1000
BASIS = "SUSE OVAL file"

# release package -> (ecosystem family, rank: a lower rank's rows win for one release and package)
RELEASE_PACKAGES: Mapping[str, tuple[str, int]] = {
    "sles-release": ("SUSE:Linux Enterprise Server", 0),
    "sles-ltss-release": ("SUSE:Linux Enterprise Server", 1),
    "sled-release": ("SUSE:Linux Enterprise Desktop", 0),
    "openSUSE-release": ("openSUSE:Leap", 0),
}
_SLE_VERSION = re.compile(r"^(?P<major>\d+)(?:\.(?P<sp>\d+))?$")
_LEAP_VERSION = re.compile(r"^\d+\.\d+$")
_ADVISORY_ID = re.compile(r"^(?:SUSE|openSUSE)-[A-Z]{2}-\d{4}:\d+-\d+$")
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


def accepts(path: Path) -> bool:
    return oval.accepts_xml(path)


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    return oval.read_files(files, skips, facts, WHOLE_FILE_MIN_DEFINITIONS,
                           lambda _path, index: (BASIS, functools.partial(_record, index=index)))


def _record(definition: oval.Definition, index: oval.OvalIndex) -> tuple[oval.Evaluation, list[Record]]:
    record_id = _record_id(definition)
    evaluation = oval.evaluate(definition, index, classify)
    return evaluation, [Record(
        id=record_id,
        provider=PROVIDER,
        part_precedence=PART_PRECEDENCE,
        modified=definition.updated or definition.issued,
        published=definition.issued,
        summary=definition.title if not record_id.startswith("SUSE-CVE-") else first_sentence(definition.description),
        details=definition.description,
        severity=severity_label(definition.severity),
        upstream=definition.cves,
        references=oval.references(definition),
        affected=oval.rows(evaluation.affected),
        severities=tuple(severity_row(PROVIDER, vector) for vector in oval.vendor_vectors(definition, "suse.com")),
    )]


def _record_id(definition: oval.Definition) -> str:
    title = definition.title.split()[0].rstrip(":") if definition.title else ""
    if definition.cls == "vulnerability" and _CVE_ID.match(title):
        return f"SUSE-{title}"
    if definition.cls == "patch" and _ADVISORY_ID.match(title):
        return title
    raise oval.Uninterpretable(f"{definition.cls or 'unclassed'} definition without a SUSE id", definition.title[:80])


def classify(criterion: oval.Criterion, test: oval.RpmTest | None) -> oval.Fact | None:
    if test is None:
        return None
    version = test.fields.get("version")
    if version is not None and len(test.fields) == 1:
        if test.package in RELEASE_PACKAGES:
            return _platform(test.package, version, test.id)
        if test.package.endswith("-release"):
            return oval.OtherProduct()
        if version.operation == "equals" and version.value == "0":
            return oval.NeverInstalled(test.package)
    return oval.package_fact(test)


def _platform(package: str, version: oval.StateField, test_id: str) -> oval.Platform:
    family, rank = RELEASE_PACKAGES[package]
    if version.operation != "equals":
        raise oval.Uninterpretable("release test not an equality", test_id)
    if family == "openSUSE:Leap":
        if not _LEAP_VERSION.match(version.value):
            raise oval.Uninterpretable("malformed release version", f"{test_id}: {version.value}")
        return oval.Platform(f"{family} {version.value}", rank)
    match = _SLE_VERSION.match(version.value)
    if match is None:
        raise oval.Uninterpretable("malformed release version", f"{test_id}: {version.value}")
    service_pack = int(match["sp"] or 0)
    release = match["major"] if service_pack == 0 else f"{match['major']} SP{service_pack}"
    return oval.Platform(f"{family} {release}", rank)
