"""Oracle Linux ELSA OVAL: `com.oracle.elsa-all.xml[.bz2]` and the per-release `com.oracle.elsa-olN.xml`,
read by `oval`.

Each `patch` definition is one advisory, `ELSA-YYYY-NNNN` (its `elsa` reference, which must agree with
its title), upstream: its CVEs; the rating is the advisory's severity (IMPORTANT = high), the dates its
`issued` date (Oracle publishes no update date). Rows are keyed by binary rpm name, as the OVAL lists
them; fixed versions are `[epoch:]version-release` with a zero epoch dropped.

The release is the `oraclelinux-release` test (`version` pattern `^8` is `Oracle Linux:8`). A fix whose
release contains `ksplice`, or whose condition requires a `ksplice` release pattern ("openssl is
ksplice-based"), is a Ksplice user-space fix: it goes to `Oracle Linux:8:ksplice` only, so it can never
match a package of the regular channel and a regular fix never matches a Ksplice package. Conditions on a
module stream ("Module nodejs:18 is enabled") are left out and counted, as Red Hat's modular packages are.

Architectures: an ELSA may ship different builds per architecture (ELSA-2022-4803: rsyslog
`8.24.0-57.0.4.el7_9.3` on aarch64, `8.24.0-57.0.1.el7_9.3` on x86_64). Rows have no architecture, so a
package's row is the union of every architecture's branch, as the OVAL's OR reads: vulnerable below the
highest fix any architecture lists, every fix named in `fixed`. That fails closed: an x86_64 package
between the two fixes is reported (its `fixed` list shows the x86_64 fix); such merges are counted as
`ARCH_MERGED` beside the skips.

Criteria are read from their tests. Oracle's criterion comments are generated from fixed templates ("bind
is earlier than 30:9.3.3-8.el5", "Oracle Linux 5 is installed", "… is signed with the Oracle Linux 5 key",
"Oracle Linux arch is aarch64", "… is ksplice-based"), and they are what vunnel reads: a criterion whose
test the file does not hold (Oracle's sample files keep only the definitions) is read from its comment
when it matches one of those templates exactly, and left out otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import oval
from .base import severity_label, severity_row
from .records import FeedFacts, Record, SkipLog

PROVIDER = "oracle"
FLAG_HELP = "Oracle Linux ELSA OVAL files (com.oracle.elsa-*.xml[.bz2]) or directories (repeatable)."
PRECEDENCE = 43
ECOSYSTEM = "Oracle Linux"
KSPLICE = "ksplice"
ARCH_MERGED = "per-architecture fixes merged: vulnerable below the highest"
# Every Oracle Linux release has hundreds of ELSAs (Oracle Linux 10, the newest, had over a hundred within
# months of its release); a sample has a handful.
WHOLE_FILE_MIN_DEFINITIONS = 100
BASIS = "Oracle ELSA OVAL file"

_ELSA_ID = re.compile(r"^ELSA-\d{4}-\d{4,}$")
_RELEASE_PATTERN = re.compile(r"^\^(\d+)$")
_INSTALLED = re.compile(r"^Oracle Linux (\d+) is installed$")
_ARCH = re.compile(r"^Oracle Linux arch is (\S+)$")
_EARLIER = re.compile(r"^(\S+) is earlier than (\S+)$")
_SIGNED = re.compile(r"^(\S+) is signed with the Oracle Linux \d+ key$")
_KSPLICE_BASED = re.compile(r"^(\S+) is ksplice-based$")
_MODULE = re.compile(r"^Module (\S+) is enabled$")


def accepts(path: Path) -> bool:
    # Oracle's samples (and vunnel's copies of them) carry no suffix at all.
    return oval.accepts_xml(path) or "." not in path.name


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    return oval.read_files(files, skips, facts, WHOLE_FILE_MIN_DEFINITIONS,
                           lambda _path, index: (BASIS, functools.partial(_record, index=index, skips=skips)))


def _record(definition: oval.Definition, index: oval.OvalIndex, skips: SkipLog) -> tuple[oval.Evaluation, list[Record]]:
    stats = oval.RowStats()
    record_id = _record_id(definition)
    evaluation = oval.evaluate(definition, index, classify, read_foreign=read_module_test)
    rows = oval.rows((_channel(item) for item in evaluation.affected), stats)
    if stats.arch_merged:
        skips.reasons[ARCH_MERGED] += stats.arch_merged  # not malformed: not fatal with --strict
    summary = " ".join(definition.title.split(":", 1)[-1].split())
    return evaluation, [Record(
        id=record_id,
        provider=PROVIDER,
        modified=definition.issued,
        published=definition.issued,
        summary=summary or None,
        details=definition.description,
        severity=severity_label(definition.severity),
        upstream=definition.cves,
        references=oval.references(definition),
        affected=rows,
        severities=tuple(severity_row(PROVIDER, vector) for vector in oval.vendor_vectors(definition, "oracle.com")),
    )]


def _record_id(definition: oval.Definition) -> str:
    if definition.cls != "patch":
        raise oval.Uninterpretable(f"{definition.cls or 'unclassed'} definition")
    elsa = [ref.ref_id for ref in definition.references if ref.source.lower() == "elsa"]
    title = definition.title.split(":", 1)[0].strip()
    if len(elsa) != 1 or not _ELSA_ID.match(elsa[0]) or elsa[0] != title:
        raise oval.Uninterpretable("definition without one ELSA id", definition.title[:80])
    return elsa[0]


def _channel(item: oval.Affected) -> oval.Affected:
    """The item in the Ksplice channel's ecosystem when it is a Ksplice fix; any other release pattern is
    not understood."""
    patterns = set(item.release_patterns)
    if patterns - {KSPLICE}:
        raise oval.Uninterpretable("release pattern other than ksplice", ", ".join(sorted(patterns)))
    bound = item.fixed or item.last_affected or ""
    if patterns or KSPLICE in bound.rpartition("-")[2]:
        return dataclasses.replace(item, ecosystem=f"{item.ecosystem}:{KSPLICE}")
    return item


def read_module_test(criterion: oval.Criterion, test: oval.ForeignTest) -> oval.Fact | None:
    """Oracle's module conditions are textfilecontent54 tests on dnf's module configuration, which the OVAL
    reader does not evaluate: read by their comment, so that the definition's other branches are kept."""
    module = _MODULE.match(criterion.comment)
    if test.kind == "textfilecontent54_test" and module and test.comment in ("", criterion.comment):
        return oval.Module(module[1])
    return None


def classify(criterion: oval.Criterion, test: oval.RpmTest | None) -> oval.Fact | None:
    module = _MODULE.match(criterion.comment)
    if module:  # module tests are textfilecontent tests on dnf's module configuration
        return oval.Module(module[1])
    if test is None:
        return _from_comment(criterion.comment)
    version = test.fields.get("version")
    if test.package == "oraclelinux-release" and version is not None and len(test.fields) == 1:
        release = _RELEASE_PATTERN.match(version.value)
        if version.operation != "pattern match" or release is None:
            raise oval.Uninterpretable("release test not understood", test.id)
        return oval.Platform(f"{ECOSYSTEM}:{release[1]}")
    return oval.package_fact(test)


def _from_comment(comment: str) -> oval.Fact | None:
    if match := _INSTALLED.match(comment):
        return oval.Platform(f"{ECOSYSTEM}:{match[1]}")
    if match := _ARCH.match(comment):
        return oval.Qualifier("arch", match[1])
    if match := _EARLIER.match(comment):
        return oval.Bound(match[1], "less than", oval.normalized_evr(match[2]))
    if match := _SIGNED.match(comment):
        return oval.Qualifier("signed", "Oracle Linux", match[1])
    if match := _KSPLICE_BASED.match(comment):
        return oval.Qualifier("release", KSPLICE, match[1])
    return None
