"""Red Hat OVAL v2 definitions files (`rhel-8.oval.xml[.bz2]` of security.access.redhat.com/data/oval/v2/RHEL8/,
per release or extended-support stream) as `redhat` records, read by `oval`.

A helper of the `redhat` provider (dbbuilder/sources/redhat.py), which tells these files from its JSON forms
by content: XML (plain, or gzip, bzip2, xz as Red Hat ships them) whose root is OVAL's `oval_definitions`.

Definitions. A `patch` definition is one advisory (`RHSA-2023:5184: firefox security update (Important)`, its
`RHSA` reference, which must agree with its title): it becomes that advisory's part (title, dates, rating, its
CVEs as upstream; no rows, as for CSAF) and one `REDHAT-CVE-…` part per CVE with the advisory's fixes (the OVAL
does not say which package fixes which CVE: every package counts for every CVE, as vunnel and Trivy read it).
A `vulnerability` definition names one CVE Red Hat has not fixed there (`oval:com.redhat.cve:def:…`), or whose
components it found unaffected (`oval:com.redhat.unaffected:def:…`): one `REDHAT-CVE-…` part. Parts carry the
CVE's own rating (`cve` `impact`, else the advisory's `severity`), its CVSS v3 vector (source `redhat`), CWE
and public date; the advisory's `issued`/`updated` dates.

Criteria are Red Hat's generated templates, read from their tests where oval evaluates them (rpminfo tests) and
from their comments where it does not (release file checks, module tests, "not installed" tests), each
comment only on the kind of test it is generated for and when the test's own comment says the same:
- "Red Hat Enterprise Linux 8 is installed" (an rpmverifyfile test of /etc/redhat-release): the release.
  "Red Hat Enterprise Linux must be installed" (the same test with `check="none satisfy"`, true where RHEL is
  not installed) and other products ("Red Hat CoreOS 4 is installed") name no package of the release: their
  branches are left out.
- "firefox is earlier than 0:102.15.1-1.el8_8": the fix (`evr` less than; the architecture pattern beside it is
  the builds the fix covers). "firefox is signed with Red Hat redhatrelease2 key": a signing key, which rows
  cannot hold (the scanner does not check rpm signatures: a rebuilt package of the name is judged as Red
  Hat's, which fails closed).
- "nodejs-full-i18n is installed" (no state): affected at every version, no fix (`not-fixed`, or the state
  the definition's `affected/resolution` gives the component: `Will not fix` and `Out of support scope` are
  `wont-fix`, `Under investigation` is `under-investigation`, as redhat_securitydata maps Red Hat's states).
  "X is installed" together with "X is not installed" (a `none_exist` test): Red Hat's unaffected
  components, `not-affected`.
- "Module nodejs:18 is enabled" (a textfilecontent54 test of dnf's module configuration): the branch's
  packages go to the stream's module ecosystem, `<ecosystem>::module:nodejs:18`, as redhat_rows spells
  module ecosystems for CSAF.
When the file holds no test for a criterion (vunnel's extracts keep only the definitions), the comment is
read when it matches a template exactly; otherwise the branch is left out (`criterion test not in the file`).

Ecosystem: the advisory's `affected_cpe_list`, mapped by redhat_rows' CPE function, must name one release
(`cpe:/a:redhat:enterprise_linux:8::appstream` and `cpe:/o:redhat:enterprise_linux:8` are both
`Red Hat:enterprise_linux:8`; an EUS file's `cpe:/a:redhat:rhel_eus:8.6::appstream` is `Red Hat:rhel_eus:8.6`)
agreeing with the release criterion. Rows go to the one stream the list names when it names exactly one
(`…:8::crb`), else to the release, which a RHEL image reads with every stream of it: the OVAL does not say which
stream ships which package. A definition without the list (Red Hat's unaffected ones) uses the release
criterion's `Red Hat:enterprise_linux:N`. Packages are binary rpm names, as the criteria name them.

Precedence: for one CVE's (ecosystem, package), an OVAL part gives way to a VEX file, an RHSA's CSAF and a
security data document (`PRECEDENCE_OVAL`): Red Hat's older form, read last. As for security data, the rows of
a CVE a VEX file was read for are dropped (OVAL names releases, VEX streams: the compiler could not choose).
An OVAL file is never a whole export of a release (Red Hat's coverage stays partial); its capture time is the
generator's `timestamp`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from scanner.model import FixState

from . import oval
from .base import rfc3339, severity_label, severity_row
from .records import AffectedRow, FeedFacts, Record, RecordError, SkipLog
from .redhat_rows import MODULE_MARK, PRECEDENCE_SECURITY_DATA, module_ecosystem, stream_ecosystem
from .redhat_securitydata import FIX_STATES

PRECEDENCE_OVAL = PRECEDENCE_SECURITY_DATA + 1  # below VEX, RHSA CSAF and security data (redhat_rows)
ROOT = "oval_definitions"
NOT_OVAL = "XML that is not an OVAL definitions file"

_ADVISORY_ID = re.compile(r"^RH[SBE]A-\d{4}:\d{4,}$")
_CWE_ID = re.compile(r"CWE-\d+")
_PUBLIC_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})")
# The rating Red Hat appends to a vulnerability definition's title: "… (important)".
_TITLE_RATING = re.compile(r"\s*\((?:low|moderate|important|critical)\)$", re.IGNORECASE)
_TITLE_CVE = re.compile(r"^(?:Unaffected components for:\s*)?CVE-\d{4}-\d{4,}\s*")

# Red Hat's criterion comment templates.
MUST_BE_INSTALLED = "Red Hat Enterprise Linux must be installed"
_RELEASE = re.compile(r"^Red Hat Enterprise Linux (\d+)(?: (?:Client|Server|Workstation|ComputeNode))? is installed$")
_OTHER_PRODUCT = re.compile(r"^Red Hat .+ is installed$")
_EARLIER = re.compile(r"^(\S+) is earlier than (\S+)$")
_SIGNED = re.compile(r"^(\S+) is signed with Red Hat (\S+) key$")
_MODULE = re.compile(r"^Module (\S+) is enabled$")
_INSTALLED = re.compile(r"^(\S+) is installed$")
_NOT_INSTALLED = re.compile(r"^(\S+) is not installed$")


def is_oval(path: Path) -> bool:
    """Whether the file is XML (the JSON forms never are), compressed or not; RecordError when unreadable."""
    return oval.starts_like_xml(path)


def read_file(name: str, path: Path, provider: str, skips: SkipLog, facts: FeedFacts,
              vex_cves: Collection[str]) -> Iterator[Record]:
    """The file's records (of `provider`); definitions that cannot be read are skipped by reason, a file that
    is not an OVAL definitions file (or not well-formed XML, or with a DOCTYPE) gives none."""
    opened = oval.read_file(name, path, skips)
    if opened is None:
        return
    reading, definitions = opened
    if reading.index.root != ROOT:
        skips.skip(NOT_OVAL, name, f"root element {reading.index.root or 'outside the OVAL namespace'}")
        return
    yield from oval.records(name, reading, definitions, skips,
                            functools.partial(_records, index=reading.index, provider=provider, vex_cves=vex_cves))
    oval.generator_timestamp(reading.index, facts)


def _records(definition: oval.Definition, index: oval.OvalIndex, provider: str,
             vex_cves: Collection[str]) -> tuple[oval.Evaluation, list[Record]]:
    advisory = _advisory_id(definition)
    release = _release(definition)
    reader = _Reader(release, index)
    evaluation = oval.evaluate(definition, index, reader.classify, read_foreign=reader.read_foreign,
                               keep_modules=True)
    try:
        items = [item if item.module is None else dataclasses.replace(item, ecosystem=module_ecosystem(
            item.ecosystem, item.module)) for item in evaluation.affected]
    except RecordError as error:  # an invalid module label
        raise oval.Uninterpretable(error.reason, error.detail) from error
    rows = _resolved(oval.rows(items), definition.resolutions)
    modified = definition.updated or definition.issued
    entries = {entry.id: entry for entry in definition.cve_entries}
    parts = [_cve_part(provider, cve, definition, entries.get(cve), advisory, () if cve in vex_cves else rows,
                       modified) for cve in definition.cves]
    if advisory is None:
        return evaluation, parts
    head = Record(
        id=advisory,
        provider=provider,
        part_precedence=PRECEDENCE_OVAL,
        modified=modified,
        published=definition.issued or modified,
        summary=_TITLE_RATING.sub("", definition.title.split(":", 2)[-1]).strip() or None,
        details=definition.description,
        severity=severity_label(definition.severity),
        upstream=definition.cves,
        references=oval.references(definition),
    )
    return evaluation, [head, *parts]


def _advisory_id(definition: oval.Definition) -> str | None:
    """The RHSA of a patch definition; None for a vulnerability definition (which must name one CVE)."""
    if definition.cls == "patch":
        ids = {ref.ref_id for ref in definition.references if ref.source.upper() in ("RHSA", "RHBA", "RHEA")}
        title = definition.title.split(":", 2)
        title_id = ":".join(title[:2]).strip() if len(title) > 2 else ""
        if len(ids) != 1 or not _ADVISORY_ID.match(title_id) or ids != {title_id}:
            raise oval.Uninterpretable("patch definition without one RHSA id", definition.title[:80])
        if not definition.cves:
            raise oval.Uninterpretable("patch definition without a CVE", title_id)
        return title_id
    if definition.cls == "vulnerability":
        if len(definition.cves) != 1:
            raise oval.Uninterpretable("vulnerability definition without one CVE", definition.title[:80])
        return None
    raise oval.Uninterpretable(f"{definition.cls or 'unclassed'} definition", definition.id)


@dataclasses.dataclass(frozen=True)
class _Release:
    ecosystem: str | None  # from the affected_cpe_list: one stream, else the release; None without the list
    major: str | None


def _release(definition: oval.Definition) -> _Release:
    ecosystems = {stream_ecosystem(cpe) for cpe in definition.cpes}
    if not ecosystems:
        return _Release(None, None)
    if None in ecosystems:
        raise oval.Uninterpretable("affected_cpe_list with a CPE that is not a Red Hat product")
    named = {ecosystem for ecosystem in ecosystems if ecosystem is not None}
    releases = {ecosystem.partition("::")[0] for ecosystem in named}
    if len(releases) != 1:
        raise oval.Uninterpretable("affected_cpe_list of several releases", ", ".join(sorted(releases))[:200])
    release = releases.pop()
    streams = named - {release}
    version = release.split(":")[2] if release.count(":") >= 2 else ""
    return _Release(streams.pop() if len(streams) == 1 else release, version.split(".")[0] or None)


@dataclasses.dataclass(frozen=True)
class _Reader:
    """Reads one definition's criteria (the module docstring lists the templates)."""

    release: _Release
    index: oval.OvalIndex

    def platform(self, major: str) -> oval.Platform:
        if self.release.ecosystem is None:
            return oval.Platform(f"Red Hat:enterprise_linux:{major}")
        if major != self.release.major:
            raise oval.Uninterpretable("release criterion and affected_cpe_list disagree",
                                       f"{major}, {self.release.ecosystem}")
        return oval.Platform(self.release.ecosystem)

    def classify(self, criterion: oval.Criterion, test: oval.RpmTest | None) -> oval.Fact | None:
        if test is None:
            return self.from_comment(criterion.comment)
        if not test.fields:
            return oval.AnyVersion(test.package)
        return oval.package_fact(test)

    def read_foreign(self, criterion: oval.Criterion, test: oval.ForeignTest) -> oval.Fact | None:
        comment = criterion.comment
        if test.comment != comment:  # Red Hat writes both alike; which one to believe would be a guess
            return None
        if test.kind == "rpmverifyfile_test":
            if comment == MUST_BE_INSTALLED and test.check == "none satisfy":
                return oval.OtherProduct()
            if test.check in ("", "at least one") and (release := _RELEASE.match(comment)):
                return self.platform(release[1])
            if test.check in ("", "at least one") and _OTHER_PRODUCT.match(comment):
                return oval.OtherProduct()
        elif test.kind == "textfilecontent54_test" and (module := _MODULE.match(comment)):
            return oval.Module(module[1])
        elif test.kind == "rpminfo_test" and test.check_existence == "none_exist":
            absent = _NOT_INSTALLED.match(comment)
            if absent and self.index.objects.get(test.object_ref) == absent[1]:
                return oval.NeverInstalled(absent[1])
        return None

    def from_comment(self, comment: str) -> oval.Fact | None:
        """A criterion whose test the file lacks, read from its comment when it is one of the templates."""
        if comment == MUST_BE_INSTALLED:
            return oval.OtherProduct()
        if release := _RELEASE.match(comment):
            return self.platform(release[1])
        if _OTHER_PRODUCT.match(comment):
            return oval.OtherProduct()
        if module := _MODULE.match(comment):
            return oval.Module(module[1])
        if earlier := _EARLIER.match(comment):
            return oval.Bound(earlier[1], "less than", oval.normalized_evr(earlier[2]))
        if signed := _SIGNED.match(comment):
            return oval.Qualifier("signed", signed[2], signed[1])
        if absent := _NOT_INSTALLED.match(comment):
            return oval.NeverInstalled(absent[1])
        if installed := _INSTALLED.match(comment):
            return oval.AnyVersion(installed[1])
        return None


def _resolved(rows: tuple[AffectedRow, ...], resolutions: tuple[oval.Resolution, ...]) -> tuple[AffectedRow, ...]:
    """Rows affected with no fix, in the state Red Hat's resolution gives their component: the one that names
    it (`nodejs:22/nodejs-full-i18n` in a module stream), else the one that names no component. Several
    states for one package (or none) leave it `not-fixed`."""
    if not resolutions:
        return rows
    named: dict[str, set[FixState]] = {}
    general: set[FixState] = set()
    for resolution in resolutions:
        state = FIX_STATES.get(resolution.state.strip().lower())
        if state is None:
            raise oval.Uninterpretable("unknown resolution state", resolution.state[:80])
        for component in resolution.components:
            named.setdefault(component, set()).add(state)
        if not resolution.components:
            general.add(state)
    resolved = []
    for row in rows:
        if row.fix_state is FixState.NOT_FIXED and row.fixed is None:
            module = row.ecosystem.partition(MODULE_MARK)[2]
            states = named.get(f"{module}/{row.package}" if module else row.package, general)
            if len(states) == 1:
                row = _with_state(row, next(iter(states)))
        resolved.append(row)
    return tuple(resolved)


def _with_state(row: AffectedRow, state: FixState) -> AffectedRow:
    if state is FixState.NOT_AFFECTED:
        return dataclasses.replace(row, fix_state=state, ranges=None)
    return dataclasses.replace(row, fix_state=state)


def _cve_part(provider: str, cve: str, definition: oval.Definition, entry: oval.CveEntry | None, advisory: str | None,
              rows: tuple[AffectedRow, ...], modified: str | None) -> Record:
    attributes: Mapping[str, str] = entry.attributes if entry is not None else {}
    vector = attributes.get("cvss3", "")
    vector = vector[vector.index("CVSS:3"):] if "CVSS:3" in vector else ""
    public = _PUBLIC_DATE.match(attributes.get("public", ""))
    summary = None
    if advisory is None:
        summary = _TITLE_RATING.sub("", _TITLE_CVE.sub("", definition.title)).strip() or None
    return Record(
        id=f"REDHAT-{cve}",
        provider=provider,
        part_precedence=PRECEDENCE_OVAL,
        modified=modified,
        published=rfc3339("-".join(public.groups())) if public else None,
        summary=summary,
        details=definition.description if advisory is None else None,
        severity=severity_label(attributes.get("impact")) or severity_label(definition.severity),
        upstream=(cve,),
        related=(advisory,) if advisory is not None else (),
        references=oval.references(definition),
        cwes=tuple(dict.fromkeys(_CWE_ID.findall(attributes.get("cwe", "")))),
        affected=rows,
        severities=(severity_row(provider, vector),) if vector else (),
    )
