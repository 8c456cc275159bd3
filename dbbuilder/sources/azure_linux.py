"""CBL-Mariner and Azure Linux OVAL: Microsoft's `cbl-mariner-2.0-oval.xml` and `azurelinux-3.0-oval.xml`,
read by `oval`.

Each file is one release, and its definitions carry no release condition: the product is the file's
generator (`CBL-Mariner OVAL Definition Generator` or `Azure Linux OVAL Definition Generator`) and the
release the number in the file's name, as Microsoft publishes them (`…-2.0-oval.xml` is `CBL-Mariner:2.0`,
`…-3.0-oval.xml` is `Azure Linux:3.0`). Every version a definition names must carry that release's dist
tag (`.cm2`, `.azl3`), or the definition is skipped (`version of another release`): a misnamed file cannot
put rows in the wrong release.

A definition is one CVE in one source package (`CVE-2023-29404 affecting package golang …`). Its advisory
id is `CBL-MARINER-2.0-<definition number>` / `AZURE-LINUX-3.0-<definition number>` (the number is the
one Microsoft's `advisory_id` carries before its revision), upstream: the CVE. Rows are keyed by the rpm
name the OVAL gives (Mariner's OVAL names source packages, which are also the main binary's name). `evr
less than` is the fix; `less than or equal` without a patch (`patchable` false) is `not-fixed`, affected up
to that version; `greater than` is an inclusive lower bound (the one version equal to it is reported too,
failing closed); `patchable` `Not Applicable` ("no longer is or was never applicable") is `not-affected`.
The rating is the definition's `severity`, the date its `advisory_date`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import oval
from .base import rfc3339, severity_label
from .records import FeedFacts, Record, RecordError, SkipLog

PROVIDER = "azure-linux"
FLAG_HELP = "CBL-Mariner / Azure Linux OVAL files (*-2.0-oval.xml, *-3.0-oval.xml) or directories (repeatable)."
PRECEDENCE = 44
# The 2.0 and 3.0 files hold thousands of definitions each; a sample a handful.
WHOLE_FILE_MIN_DEFINITIONS = 1000

# generator product name -> (ecosystem family, advisory id prefix)
PRODUCTS: Mapping[str, tuple[str, str]] = {
    "CBL-Mariner OVAL Definition Generator": ("CBL-Mariner", "CBL-MARINER"),
    "Azure Linux OVAL Definition Generator": ("Azure Linux", "AZURE-LINUX"),
}
DIST_TAGS: Mapping[str, str] = {"CBL-Mariner:1.0": "cm1", "CBL-Mariner:2.0": "cm2", "Azure Linux:3.0": "azl3"}
RELEASE_PACKAGES = frozenset({"mariner-release", "azurelinux-release"})
NOT_APPLICABLE = "Not Applicable"

_FILE_RELEASE = re.compile(r"-(\d+\.\d+)-oval\.xml(?:\.gz|\.bz2|\.xz)?$")
_DEFINITION_NUMBER = re.compile(r"^oval:com\.microsoft\.[a-z-]+:def:(\d+)$")
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


def accepts(path: Path) -> bool:
    return oval.accepts_xml(path)


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    return oval.read_files(files, skips, facts, WHOLE_FILE_MIN_DEFINITIONS, _file_reader)


def _file_reader(path: Path, index: oval.OvalIndex) -> tuple[str, oval.DefinitionReader]:
    family, prefix, release = _release(index, path)
    reader = functools.partial(_record, index=index, ecosystem=f"{family}:{release}", id_prefix=f"{prefix}-{release}")
    return f"{family} OVAL file", reader


def _release(index: oval.OvalIndex, path: Path) -> tuple[str, str, str]:
    product = index.generator.get("product_name", "")
    if product not in PRODUCTS:
        raise RecordError("not a CBL-Mariner or Azure Linux OVAL file", product[:80])
    release = _FILE_RELEASE.search(path.name)
    if release is None:
        raise RecordError("file name without a release", "expected …-<major>.<minor>-oval.xml")
    family, prefix = PRODUCTS[product]
    if f"{family}:{release[1]}" not in DIST_TAGS:
        raise RecordError("unknown release", f"{family} {release[1]}")
    return family, prefix, release[1]


def _record(definition: oval.Definition, index: oval.OvalIndex, ecosystem: str,
            id_prefix: str) -> tuple[oval.Evaluation, list[Record]]:
    platform = oval.Platform(ecosystem)

    def classify(criterion: oval.Criterion, test: oval.RpmTest | None) -> oval.Fact | None:
        if test is None:
            return None
        version = test.fields.get("version")
        if test.package in RELEASE_PACKAGES and version is not None and len(test.fields) == 1:
            same = version.operation == "equals" and version.value == ecosystem.rpartition(":")[2]
            return platform if same else oval.OtherProduct()
        return oval.package_fact(test)

    number = _DEFINITION_NUMBER.match(definition.id)
    if definition.cls != "vulnerability" or number is None:
        raise oval.Uninterpretable("not a CBL-Mariner vulnerability definition", definition.id)
    if len(definition.cves) != 1:
        raise oval.Uninterpretable("definition without one CVE")
    evaluation = oval.evaluate(definition, index, classify, default_platform=platform)
    items = [_checked(item, DIST_TAGS[ecosystem]) for item in evaluation.affected]
    if definition.metadata.get("patchable") == NOT_APPLICABLE:
        items = [dataclasses.replace(item, not_affected=True) for item in items]
    date = rfc3339(definition.metadata.get("advisory_date"))
    return evaluation, [Record(
        id=f"{id_prefix}-{number[1]}",
        provider=PROVIDER,
        modified=date,
        published=date,
        summary=definition.title or None,
        details=definition.description,
        severity=severity_label(definition.severity),
        upstream=definition.cves,
        references=oval.references(definition),
        affected=oval.rows(items),
    )]


def _checked(item: oval.Affected, dist_tag: str) -> oval.Affected:
    tag = re.compile(rf"\.{re.escape(dist_tag)}(?:\.|$)")
    for version in (item.introduced, item.fixed, item.last_affected):
        if version is not None and not tag.search(version):
            raise oval.Uninterpretable("version of another release", version)
    return item
