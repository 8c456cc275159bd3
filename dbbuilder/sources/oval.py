"""OVAL 5.x definitions files, as SUSE, Oracle, Red Hat and Microsoft (CBL-Mariner, Azure Linux) publish them.

A file is read twice as a stream, never as a tree: first its rpminfo tests, objects and states into a
compact index (`OvalIndex`), then one `definition` at a time (`Definition`), each evaluated against the
index and dropped. The XML goes through expat with handlers of our own rather than ElementTree's
iterparse, so that every size the input drives is capped here (`OvalLimits`): a DOCTYPE (and with it any
entity, the billion laughs, external entities) is refused outright, as is a token (a start tag, an
attribute) longer than `max_token_bytes`, a stream longer than `max_xml_bytes` once decompressed (gzip,
bzip2 and xz inputs are told apart by their first bytes). Elements that are not kept stream past at the
cost of a depth counter, however deep; a kept element nested deeper than `max_depth`, or over its element
or text caps, is skipped alone (`Oversized`). Whole-file failures are RecordErrors (the file is skipped: a truncated file is refused before any record is made,
since the index pass reads it to the end first); a definition over a cap is skipped alone.

Criteria are evaluated the way vunnel/grype read these files: the tree (AND/OR, `negate` on any node,
nested to `max_criteria_depth`) is expanded into a disjunction of conjunctions (at most `max_terms`);
each conjunction is one way the definition is true, and must name one release (a release-package test,
a provider's platform) and one package bound (`evr` `less than` is the fix; `less than or equal` is the
last affected version; `greater than [or equal]` an inclusive lower bound), beside qualifiers (the
vendor's signing key, an architecture, a release pattern). The provider classifies each criterion into
a `Fact`. What the rest of a definition means cannot be known when one part is not understood, so an
uninterpretable condition (a negated criterion, an unknown state operation, an `extend_definition`, a
conjunction with two packages) skips the whole definition (`Uninterpretable`). A criterion whose test the
file does not hold (extracts of the vendor's file) only drops its conjunction, counted as
`MISSING_TEST_SKIP`: a missing conjunction can remove rows, never add a wrong one.

Two readings are a provider's choice (`evaluate`): a test of another kind than rpminfo, or an rpminfo test
of another existence check, is uninterpretable unless the provider reads it by its generated comment
(`read_foreign`, `ForeignTest`: Red Hat's release file checks and module tests); a module stream condition
("Module nodejs:18 is enabled") leaves its conjunction out, counted, unless the provider keeps it
(`keep_modules`: `Affected.module`). A package installed at any version (`AnyVersion`) is affected without
a fix.

The conjunctions that remain become rows: one per (ecosystem, package), the union of their ranges
(OVAL's OR: vulnerable while below any of the fixes listed), every fixed version in `fixed`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from scanner.fileio import open_regular_file
from scanner.model import FixState
from scanner.names import normalize_package_name

from .base import compact_json, json_list_or_none, rfc3339
from .records import AffectedRow, FeedFacts, Record, RecordError, SkipLog


@dataclass(frozen=True)
class OvalLimits:
    """Caps on everything an OVAL file drives; the real exports (SUSE's per-product files, Oracle's
    elsa-all, Mariner's) are a few hundred MB to 2 GB of XML with definitions of at most some thousand
    elements."""

    max_xml_bytes: int = 4 << 30  # the decompressed XML
    max_token_bytes: int = 1 << 20  # XML fed without any element or text event (one huge tag)
    max_depth: int = 64  # element nesting; OVAL's deepest real criteria are about 10 levels
    max_text_chars: int = 1 << 20  # the text of one element (a description)
    max_definition_elements: int = 200_000
    max_criteria_depth: int = 32
    max_terms: int = 200_000  # conjunctions of one definition's criteria
    max_index_entries: int = 8_000_000  # tests + objects + states of one file


LIMITS = OvalLimits()
CHUNK_BYTES = 1 << 16

MISSING_TEST_SKIP = "criterion test not in the file (its condition left out)"
MODULE_SKIP = "modular stream package: needs module metadata of the image"

_OVAL = "http://oval.mitre.org/XMLSchema/oval-definitions-5"
_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
# The OVAL 5 operation enumeration (oval-common-schema OperationEnumeration).
OPERATIONS = frozenset({
    "equals", "not equal", "case insensitive equals", "case insensitive not equal", "greater than",
    "less than", "greater than or equal", "less than or equal", "bitwise and", "bitwise or", "pattern match",
    "subset of", "superset of",
})
LOWER_BOUNDS = frozenset({"greater than", "greater than or equal"})
UPPER_BOUNDS = frozenset({"less than", "less than or equal"})
_EVR = re.compile(r"^(?:(?P<epoch>\d+):)?(?P<vr>[^\s:-]+(?:-[^\s:-]+)?)$")
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")


class Uninterpretable(Exception):
    """A definition whose criteria cannot be read into rows; `reason` is its skip-log key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------------------------------------
# XML: a bounded expat stream of the elements we keep


@dataclass
class Node:
    """One kept element: local name, attributes, children and text (capped)."""

    name: str
    namespace: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    text_chars: int = 0

    @property
    def text(self) -> str:
        return "".join(self.text_parts).strip()

    def child(self, name: str) -> Node | None:
        return next((child for child in self.children if child.name == name), None)

    def all(self, name: str) -> list[Node]:
        return [child for child in self.children if child.name == name]


@dataclass(frozen=True)
class Oversized:
    """A kept element that went over a cap or cannot be read: skipped alone, the rest of the file is read."""

    name: str
    id: str
    reason: str


class _Refused(Exception):
    """Carries a RecordError out of expat's callbacks."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(str(error))
        self.error = error


def _chunks(path: Path, limits: OvalLimits) -> Iterator[bytes]:
    """The file's XML bytes, decompressed when it is gzip, bzip2 or xz (by its first bytes), capped."""
    try:
        with ExitStack() as stack:
            raw = stack.enter_context(open_regular_file(path))
            head = raw.peek(6)[:6]
            read: Callable[[int], bytes] = raw.read
            if head.startswith(_GZIP):
                read = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")).read
            elif head.startswith(_BZIP2):
                read = stack.enter_context(bz2.BZ2File(raw, mode="rb")).read
            elif head.startswith(_XZ):
                read = stack.enter_context(lzma.LZMAFile(raw, mode="rb")).read
            total = 0
            while True:
                chunk = read(CHUNK_BYTES)
                if not chunk:
                    return
                total += len(chunk)
                if total > limits.max_xml_bytes:
                    raise RecordError("XML too large", f"over {limits.max_xml_bytes} bytes once decompressed")
                yield chunk
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
        raise RecordError("unreadable file", str(error)) from error


def starts_like_xml(path: Path, limits: OvalLimits = LIMITS) -> bool:
    """Whether the file, decompressed, begins with `<` after blanks and a byte order mark (within
    `max_token_bytes`): XML told apart from JSON by content. RecordError when it cannot be read."""
    seen = 0
    for chunk in _chunks(path, limits):
        text = (chunk if seen else chunk.removeprefix(b"\xef\xbb\xbf")).lstrip(b" \t\r\n")
        if text:
            return text.startswith(b"<")
        seen += len(chunk)
        if seen > limits.max_token_bytes:
            return False
    return False


def kept_elements(path: Path, keep: Callable[[str, int], bool], limits: OvalLimits) -> Iterator[Node | Oversized]:
    """The elements `keep(local name, depth)` selects (the root is depth 1), each whole, in file order.

    Only elements in OVAL's namespaces are kept; everything else streams past. RecordError for XML that is
    not well-formed, has a DOCTYPE, or goes over a file-wide cap (size, token).
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[Node] = []  # the kept element being built, and its open descendants
    done: list[Node | Oversized] = []
    state = {"depth": 0, "event": 0, "elements": 0}
    overflow: list[str] = []  # why the element being built went over a cap

    def refuse(reason: str, detail: str = "") -> None:
        raise _Refused(RecordError(reason, detail))

    def start(tag: str, attrs: dict[str, str]) -> None:
        state["event"] = parser.CurrentByteIndex
        state["depth"] += 1
        namespace, _, name = tag.rpartition(" ")
        if stack and state["depth"] > limits.max_depth and not overflow:
            overflow.append(f"nested over {limits.max_depth} levels")
        if stack:
            state["elements"] += 1
            if state["elements"] > limits.max_definition_elements and not overflow:
                overflow.append(f"over {limits.max_definition_elements} elements")
            node = Node(name, namespace, attrs)
            if not overflow:
                stack[-1].children.append(node)
            stack.append(node)
        elif namespace.startswith(_OVAL) and keep(name, state["depth"]):
            state["elements"] = 1
            overflow.clear()
            stack.append(Node(name, namespace, attrs))

    def end(_tag: str) -> None:
        state["event"] = parser.CurrentByteIndex
        state["depth"] -= 1
        if stack:
            node = stack.pop()
            if not stack:
                done.append(Oversized(node.name, node.attrs.get("id", ""), overflow[0]) if overflow else node)

    def text(data: str) -> None:
        state["event"] = parser.CurrentByteIndex
        if stack and not overflow:
            node = stack[-1]
            node.text_chars += len(data)
            if node.text_chars > limits.max_text_chars:
                overflow.append(f"text over {limits.max_text_chars} characters")
            else:
                node.text_parts.append(data)

    def doctype(*_: object) -> None:
        refuse("XML with a DOCTYPE", "DTDs and entities are refused")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.ExternalEntityRefHandler = doctype  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    fed = 0
    try:
        for chunk in _chunks(path, limits):
            parser.Parse(chunk, False)
            fed += len(chunk)
            if fed - max(state["event"], 0) > limits.max_token_bytes:
                refuse("XML token too large", f"over {limits.max_token_bytes} bytes without an element")
            yield from done
            done.clear()
        parser.Parse(b"", True)
        yield from done
    except _Refused as refused:
        raise refused.error from None
    except expat.ExpatError as error:
        raise RecordError("invalid XML", str(error)) from error


# ---------------------------------------------------------------------------------------------------------
# The index: rpminfo tests, objects and states


@dataclass(frozen=True)
class StateField:
    operation: str
    value: str


@dataclass(frozen=True)
class RpmTest:
    """A resolved rpminfo test: the package name its object names and the fields its states require."""

    id: str
    package: str
    fields: Mapping[str, StateField]


@dataclass(frozen=True)
class ForeignTest:
    """A test oval does not evaluate, though well formed: of another kind than rpminfo (a release file check,
    a text file pattern) or an rpminfo test of another existence check (`none_exist`: not installed). A
    provider whose vendor generates criterion comments from fixed templates may read it by its comment
    (`evaluate`'s `read_foreign`), checking that the test is of the kind that template is written for."""

    id: str
    kind: str  # the element name: rpmverifyfile_test, textfilecontent54_test, rpminfo_test ...
    check: str  # `check` as written ("at least one", "none satisfy" ...; "" when absent)
    check_existence: str
    object_ref: str
    comment: str  # the test's own comment


@dataclass(frozen=True)
class _Test:
    object_ref: str
    state_refs: tuple[str, ...]
    problem: str | None
    foreign: ForeignTest | None = None  # set when the only problem is the test's kind or existence check


@dataclass
class OvalIndex:
    tests: dict[str, _Test] = field(default_factory=dict)
    objects: dict[str, str | _Problem] = field(default_factory=dict)
    states: dict[str, tuple[tuple[str, StateField], ...] | _Problem] = field(default_factory=dict)
    generator: dict[str, str] = field(default_factory=dict)  # product_name, timestamp
    root: str = ""  # the root element's local name, when it is in an OVAL namespace

    def foreign(self, test_ref: str) -> ForeignTest | None:
        test = self.tests.get(test_ref)
        return None if test is None else test.foreign

    def resolve(self, test_ref: str) -> RpmTest | None:
        """The test, None when the file does not hold it (or its object); Uninterpretable when it is not
        an rpminfo test of a name with known state operations."""
        test = self.tests.get(test_ref)
        if test is None:
            return None
        if test.problem:
            raise Uninterpretable(test.problem, test_ref)
        name = self.objects.get(test.object_ref)
        if name is None:
            return None
        if isinstance(name, _Problem):
            raise Uninterpretable(name.reason, test.object_ref)
        fields: dict[str, StateField] = {}
        for state_ref in test.state_refs:
            state = self.states.get(state_ref)
            if state is None:
                return None
            if isinstance(state, _Problem):
                raise Uninterpretable(state.reason, state_ref)
            for key, value in state:
                if key in fields:
                    raise Uninterpretable("two states constrain one field", f"{test_ref} {key}")
                fields[key] = value
        return RpmTest(test_ref, name, fields)


@dataclass(frozen=True)
class _Problem:
    reason: str


def _is_index_element(name: str, depth: int) -> bool:
    return (depth == 3 and name.endswith(("_test", "_object", "_state"))) or (depth == 2 and name == "generator")


def read_index(path: Path, limits: OvalLimits = LIMITS) -> OvalIndex:
    """Pass one: every test, object and state of the file (RecordError when the file is unreadable)."""
    index = OvalIndex()
    entries = 0

    def keep(name: str, depth: int) -> bool:
        if depth == 1:
            index.root = name
        return _is_index_element(name, depth)

    for node in kept_elements(path, keep, limits):
        if isinstance(node, Oversized):
            _store_problem(index, node.name, node.id, f"element {node.reason}")
            continue
        if node.name == "generator":
            index.generator = {child.name: child.text for child in node.children}
            continue
        entries += 1
        if entries > limits.max_index_entries:
            raise RecordError("too many tests, objects and states", f"over {limits.max_index_entries}")
        identifier = node.attrs.get("id", "")
        if node.name.endswith("_test"):
            index.tests[identifier] = _test(node)
        elif node.name == "rpminfo_object":
            index.objects[identifier] = _object(node)
        elif node.name == "rpminfo_state":
            index.states[identifier] = _state(node)
        else:
            _store_problem(index, node.name, identifier, f"unsupported {node.name}")
    return index


def _store_problem(index: OvalIndex, name: str, identifier: str, reason: str) -> None:
    if name.endswith("_test"):
        index.tests[identifier] = _Test("", (), reason)
    elif name.endswith("_object"):
        index.objects[identifier] = _Problem(reason)
    elif name.endswith("_state"):
        index.states[identifier] = _Problem(reason)


def _test(node: Node) -> _Test:
    objects = node.all("object")
    states = tuple(state.attrs.get("state_ref", "") for state in node.all("state"))
    existence = node.attrs.get("check_existence", "at_least_one_exists")
    problem = None
    if len(objects) != 1 or not objects[0].attrs.get("object_ref"):
        problem = "test without one object"
    elif existence != "at_least_one_exists":
        problem = f"test check_existence {existence}"
    elif node.attrs.get("state_operator", "AND") != "AND":
        problem = f"test state_operator {node.attrs['state_operator']}"
    well_formed = problem is None or problem.startswith("test check_existence ")
    if node.name != "rpminfo_test":
        problem = f"unsupported {node.name}"
    foreign = None
    if well_formed and problem is not None:
        foreign = ForeignTest(node.attrs.get("id", ""), node.name, node.attrs.get("check", ""), existence,
                              objects[0].attrs["object_ref"], node.attrs.get("comment", ""))
    return _Test(objects[0].attrs.get("object_ref", "") if objects else "", states, problem, foreign)


def _object(node: Node) -> str | _Problem:
    name = node.child("name")
    if name is None or "var_ref" in name.attrs or not name.text:
        return _Problem("rpminfo object without a literal name")
    if name.attrs.get("operation", "equals") != "equals":
        return _Problem(f"rpminfo object name operation {name.attrs['operation']}")
    return name.text


def _state(node: Node) -> tuple[tuple[str, StateField], ...] | _Problem:
    fields: list[tuple[str, StateField]] = []
    for child in node.children:
        operation = child.attrs.get("operation", "equals")
        if operation not in OPERATIONS:
            return _Problem("unknown state operation")
        if "var_ref" in child.attrs or child.attrs.get("var_check", "all") != "all" or not child.text:
            return _Problem("state field without a literal value")
        fields.append((child.name, StateField(operation, child.text)))
    if not fields or len({key for key, _ in fields}) != len(fields):
        return _Problem("state without one value per field")
    return tuple(fields)


# ---------------------------------------------------------------------------------------------------------
# Definitions


@dataclass(frozen=True)
class Criterion:
    test_ref: str
    comment: str
    negate: bool


@dataclass(frozen=True)
class Criteria:
    operator: str
    negate: bool
    children: tuple[Criteria | Criterion, ...]


@dataclass(frozen=True)
class Reference:
    source: str
    ref_id: str
    url: str


@dataclass(frozen=True)
class CveEntry:
    """One `cve` element of the advisory: the id and its attributes (Red Hat: `impact`, `cwe`, `public`,
    `cvss3`, `href`)."""

    id: str
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class Resolution:
    """An advisory `affected/resolution` (Red Hat's unpatched definitions): a state and its components."""

    state: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class Definition:
    id: str
    version: str
    cls: str
    title: str
    description: str | None
    severity: str | None  # the advisory's text rating as written
    issued: str | None  # RFC 3339
    updated: str | None
    platforms: tuple[str, ...]
    references: tuple[Reference, ...]
    cves: tuple[str, ...]  # CVE ids of the advisory's `cve` elements and CVE references, in order
    cvss3: tuple[tuple[str, str], ...]  # (href of the `cve` element, CVSS v3 vector) the advisory gives
    metadata: Mapping[str, str]  # other metadata leaves by name (Mariner's advisory_id, patchable ...)
    criteria: Criteria | None
    cve_entries: tuple[CveEntry, ...] = ()  # the advisory's `cve` elements whose text is a CVE id
    cpes: tuple[str, ...] = ()  # the advisory's `affected_cpe_list` (Red Hat)
    resolutions: tuple[Resolution, ...] = ()  # the advisory's `affected/resolution` elements (Red Hat)


def definitions(path: Path, limits: OvalLimits = LIMITS) -> Iterator[Definition | Oversized]:
    """Pass two: the file's definitions, one at a time; one that cannot be read is an `Oversized` naming why."""
    for node in kept_elements(path, lambda name, depth: depth == 3 and name == "definition", limits):
        if isinstance(node, Oversized):
            yield Oversized(node.name, node.id, f"definition {node.reason}")
            continue
        try:
            yield _definition(node, limits)
        except Uninterpretable as error:
            yield Oversized(node.name, node.attrs.get("id", ""), error.reason)


def _definition(node: Node, limits: OvalLimits) -> Definition:
    metadata = node.child("metadata") or Node("metadata", "", {})
    advisory = metadata.child("advisory") or Node("advisory", "", {})
    affected = metadata.child("affected") or Node("affected", "", {})
    references = tuple(Reference(ref.attrs.get("source", ""), ref.attrs.get("ref_id", "").strip(),
                                 ref.attrs.get("ref_url", "").strip()) for ref in metadata.all("reference"))
    cve_texts = [cve.text.split()[0] for cve in advisory.all("cve") if cve.text]
    cve_texts += [ref.ref_id for ref in references if ref.source.upper() == "CVE"]
    # `cvss3="7/CVSS:3.1/AV:L/…"`: the score, then the vector.
    vectors = [(cve.attrs.get("href", ""), cve.attrs["cvss3"][cve.attrs["cvss3"].index("CVSS:3"):])
               for cve in advisory.all("cve") if "CVSS:3" in cve.attrs.get("cvss3", "")]
    criteria_node = node.child("criteria")
    leaves = {child.name: child.text for child in metadata.children if not child.children and child.text}
    severity = advisory.child("severity") or metadata.child("severity")
    return Definition(
        id=node.attrs.get("id", ""),
        version=node.attrs.get("version", ""),
        cls=node.attrs.get("class", ""),
        title=(metadata.child("title") or Node("title", "", {})).text,
        description=(metadata.child("description") or Node("description", "", {})).text or None,
        severity=severity.text if severity is not None and severity.text else None,
        issued=_date(advisory.child("issued")),
        updated=_date(advisory.child("updated")),
        platforms=tuple(platform.text for platform in affected.all("platform") if platform.text),
        references=references,
        cves=tuple(dict.fromkeys(cve for cve in cve_texts if _CVE_ID.match(cve))),
        cvss3=tuple(dict.fromkeys(vectors)),
        metadata=leaves,
        criteria=None if criteria_node is None else _criteria(criteria_node, 1, limits),
        cve_entries=tuple(CveEntry(cve.text.split()[0], dict(cve.attrs)) for cve in advisory.all("cve")
                          if cve.text and _CVE_ID.match(cve.text.split()[0])),
        cpes=tuple(cpe.text for cpes in advisory.all("affected_cpe_list") for cpe in cpes.all("cpe") if cpe.text),
        resolutions=tuple(Resolution(resolution.attrs.get("state", ""),
                                     tuple(component.text for component in resolution.all("component")
                                           if component.text))
                          for affected_node in advisory.all("affected")
                          for resolution in affected_node.all("resolution")),
    )


def _date(node: Node | None) -> str | None:
    return None if node is None else rfc3339(node.attrs.get("date"))


def _criteria(node: Node, depth: int, limits: OvalLimits) -> Criteria:
    if depth > limits.max_criteria_depth:
        raise Uninterpretable("criteria nested too deep", f"over {limits.max_criteria_depth} levels")
    children: list[Criteria | Criterion] = []
    for child in node.children:
        if child.name == "criteria":
            children.append(_criteria(child, depth + 1, limits))
        elif child.name == "criterion":
            children.append(Criterion(child.attrs.get("test_ref", ""), child.attrs.get("comment", ""),
                                      _boolean(child.attrs.get("negate"))))
        else:
            raise Uninterpretable(f"criteria with {child.name}")
    if not children:
        raise Uninterpretable("empty criteria")
    return Criteria(node.attrs.get("operator", "AND").upper(), _boolean(node.attrs.get("negate")), tuple(children))


def _boolean(value: str | None) -> bool:
    if value in (None, "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise Uninterpretable("malformed negate", str(value))


Literal = tuple[Criterion, bool]  # the criterion and whether it is negated once De Morgan is applied


def conjunctions(criteria: Criteria, limits: OvalLimits = LIMITS) -> list[tuple[Literal, ...]]:
    """The criteria as a disjunction of conjunctions, negation pushed down to the criteria (De Morgan)."""
    return _dnf(criteria, False, limits)


def _dnf(node: Criteria | Criterion, negated: bool, limits: OvalLimits) -> list[tuple[Literal, ...]]:
    if isinstance(node, Criterion):
        return [((node, negated != node.negate),)]
    negated = negated != node.negate
    if node.operator not in ("AND", "OR"):
        raise Uninterpretable(f"criteria operator {node.operator}")
    parts = [_dnf(child, negated, limits) for child in node.children]
    if (node.operator == "OR") != negated:  # a disjunction: its children's terms side by side
        terms = [term for part in parts for term in part]
        if len(terms) > limits.max_terms:
            raise Uninterpretable("criteria too large", f"over {limits.max_terms} conditions")
        return terms
    product: list[tuple[Literal, ...]] = [()]
    for part in parts:
        if len(product) * len(part) > limits.max_terms:
            raise Uninterpretable("criteria too large", f"over {limits.max_terms} conditions")
        product = [left + right for left in product for right in part]
    return product


# ---------------------------------------------------------------------------------------------------------
# Facts: what one criterion says, as its provider reads it


@dataclass(frozen=True)
class Platform:
    """The release (an ecosystem) the conjunction is for; `rank` orders alternatives (lower wins)."""

    ecosystem: str
    rank: int = 0


@dataclass(frozen=True)
class OtherProduct:
    """A release test of a product the provider stores no rows for: the conjunction is not ours."""


@dataclass(frozen=True)
class Bound:
    """`package` `operation` `evr`: an upper (less than [or equal]) or lower (greater than [or equal]) bound."""

    package: str
    operation: str
    evr: str
    arch: str | None = None


@dataclass(frozen=True)
class AnyVersion:
    """`package` is installed, at any version: affected with no fix (Red Hat's unpatched "X is installed")."""

    package: str


@dataclass(frozen=True)
class NeverInstalled:
    """`package` at version 0: a condition no installed package meets (SUSE's "not affected")."""

    package: str


@dataclass(frozen=True)
class Qualifier:
    """A condition on the package or system that rows cannot hold: signing key, architecture, release
    pattern. `package` is None for a condition on the system (the release package's architecture)."""

    kind: str  # "signed", "arch", "release"
    value: str
    package: str | None = None


@dataclass(frozen=True)
class Module:
    stream: str


Fact = Platform | OtherProduct | Bound | AnyVersion | NeverInstalled | Qualifier | Module
# Reads one criterion (its test resolved, None when the file lacks it) into a fact; None when the criterion
# cannot be read without its test (the conjunction is left out); Uninterpretable when it cannot be read.
Classifier = Callable[[Criterion, RpmTest | None], Fact | None]
# Reads a criterion whose test oval does not evaluate (ForeignTest) by its comment; None when it cannot, and
# the test's own problem skips the definition.
ForeignReader = Callable[[Criterion, ForeignTest], Fact | None]


def package_fact(test: RpmTest) -> Fact:
    """The facts every rpm OVAL shares: `evr` bounds (with an `arch` beside them), signature key, `arch` or
    `release` pattern alone. Release-package (`version`) tests are the provider's to read."""
    fields = dict(test.fields)
    evr = fields.pop("evr", None)
    arch = fields.pop("arch", None)
    if evr is not None and not fields:
        if evr.operation not in UPPER_BOUNDS | LOWER_BOUNDS:
            raise Uninterpretable(f"evr operation {evr.operation}", test.id)
        return Bound(test.package, evr.operation, normalized_evr(evr.value),
                     None if arch is None else arch.value)
    if evr is None and arch is not None and not fields:
        return Qualifier("arch", arch.value, None)
    if evr is None and arch is None and len(fields) == 1:
        (key, value), = fields.items()
        if key == "signature_keyid" and value.operation in ("equals", "case insensitive equals"):
            return Qualifier("signed", value.value.lower(), test.package)
        if key == "release" and value.operation == "pattern match":
            return Qualifier("release", value.value, test.package)
    raise Uninterpretable("unsupported rpminfo state", f"{test.id}: {', '.join(sorted(test.fields))}")


def normalized_evr(text: str) -> str:
    """`[epoch:]version[-release]` with a zero epoch dropped, as Red Hat's rows are written."""
    match = _EVR.match(text.strip())
    if match is None:
        raise Uninterpretable("malformed evr", text[:80])
    epoch = match["epoch"]
    return match["vr"] if epoch is None or int(epoch) == 0 else f"{int(epoch)}:{match['vr']}"


# ---------------------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Affected:
    """One conjunction read: in `ecosystem`, `package` is affected from `introduced` (inclusive) to `fixed`
    (exclusive) or `last_affected` (inclusive), or never (`not_affected`)."""

    ecosystem: str
    rank: int
    package: str
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    arch: str | None = None
    release_patterns: tuple[str, ...] = ()
    not_affected: bool = False
    module: str | None = None  # the module stream (NAME:STREAM) the condition requires enabled


@dataclass
class Evaluation:
    affected: list[Affected]
    missing: int = 0  # conjunctions left out: a test the file does not hold
    modular: int = 0  # conjunctions left out: a module stream condition


def evaluate(definition: Definition, index: OvalIndex, classify: Classifier, *,
             default_platform: Platform | None = None, read_foreign: ForeignReader | None = None,
             keep_modules: bool = False, limits: OvalLimits = LIMITS) -> Evaluation:
    """The definition's conjunctions as `Affected` items (Uninterpretable when it cannot be read).

    With `read_foreign`, a criterion whose test oval does not evaluate is offered to it first. With
    `keep_modules`, a condition on one module stream gives an item carrying the stream (`Affected.module`)
    instead of being left out and counted.
    """
    if definition.criteria is None:
        raise Uninterpretable("definition without criteria")
    result = Evaluation([])
    facts: dict[Criterion, Fact | None] = {}
    for term in conjunctions(definition.criteria, limits):
        read: list[Fact] = []
        for criterion, negated in term:
            if criterion not in facts:
                facts[criterion] = _fact(criterion, index, classify, read_foreign)
            fact = facts[criterion]
            if negated:
                raise Uninterpretable("negated criterion", criterion.test_ref)
            if fact is None:
                break
            read.append(fact)
        else:
            item = _conjunction(read, default_platform, result, keep_modules)
            if item is not None:
                result.affected.append(item)
            continue
        result.missing += 1
    return result


def _fact(criterion: Criterion, index: OvalIndex, classify: Classifier,
          read_foreign: ForeignReader | None) -> Fact | None:
    foreign = None if read_foreign is None else index.foreign(criterion.test_ref)
    if foreign is not None and read_foreign is not None:
        fact = read_foreign(criterion, foreign)
        if fact is not None:
            return fact
    return classify(criterion, index.resolve(criterion.test_ref))


def _conjunction(facts: Sequence[Fact], default_platform: Platform | None, result: Evaluation,
                 keep_modules: bool) -> Affected | None:
    if any(isinstance(fact, OtherProduct) for fact in facts):
        return None
    modules = {fact.stream for fact in facts if isinstance(fact, Module)}
    if modules and not keep_modules:
        result.modular += 1
        return None
    if len(modules) > 1:
        raise Uninterpretable("several module streams in one condition", ", ".join(sorted(modules)))
    platforms = {fact for fact in facts if isinstance(fact, Platform)}
    if len(platforms) > 1:
        raise Uninterpretable("several releases in one condition")
    platform = next(iter(platforms), default_platform)
    if platform is None:
        raise Uninterpretable("condition without a release")
    bounds = [fact for fact in facts if isinstance(fact, Bound)]
    never = [fact for fact in facts if isinstance(fact, NeverInstalled)]
    installed = [fact for fact in facts if isinstance(fact, AnyVersion)]
    qualifiers = [fact for fact in facts if isinstance(fact, Qualifier)]
    packages = {bound.package for bound in bounds} | {fact.package for fact in never} | {
        fact.package for fact in installed}
    if len(packages) != 1:
        raise Uninterpretable("condition without one package" if not packages else "several packages in one condition")
    package = packages.pop()
    if any(qualifier.package not in (None, package) for qualifier in qualifiers):
        raise Uninterpretable("qualifier on another package", package)
    module = next(iter(modules), None)
    if never:
        if bounds:
            raise Uninterpretable("package both bounded and never installed", package)
        # "installed and not installed" (Red Hat's unaffected components) is never true either.
        return Affected(platform.ecosystem, platform.rank, package, not_affected=True, module=module)
    uppers = [bound for bound in bounds if bound.operation in UPPER_BOUNDS]
    lowers = [bound for bound in bounds if bound.operation in LOWER_BOUNDS]
    arches = {value for value in [*(b.arch for b in bounds), *(q.value for q in qualifiers if q.kind == "arch")] if value}
    if len(uppers) > 1 or len(lowers) > 1 or len(arches) > 1 or not (uppers or installed):
        raise Uninterpretable("package bounds not one range", package)
    upper = uppers[0] if uppers else None  # installed at any version, with no upper bound: no fix
    return Affected(
        platform.ecosystem, platform.rank, package,
        # `greater than` is read as inclusive: the one version equal to the bound is reported too (fails closed).
        introduced=lowers[0].evr if lowers else None,
        fixed=upper.evr if upper is not None and upper.operation == "less than" else None,
        last_affected=upper.evr if upper is not None and upper.operation == "less than or equal" else None,
        arch=next(iter(arches), None),
        release_patterns=tuple(sorted({q.value for q in qualifiers if q.kind == "release"})),
        module=module,
    )


@dataclass
class RowStats:
    """What building rows merged, for the audit trail."""

    arch_merged: int = 0  # (ecosystem, package) pairs whose fixes differ per architecture


def rows(items: Iterable[Affected], stats: RowStats | None = None) -> tuple[AffectedRow, ...]:
    """One row per (ecosystem, package): the union of its conjunctions of the lowest rank.

    A package affected in one conjunction and not affected in another is affected (the row that can match
    fails closed). Per-architecture fixes are merged the same way: vulnerable below the highest fix any
    architecture lists (OVAL's OR over the branches), every fix named in `fixed`.
    """
    grouped: dict[tuple[str, str], list[Affected]] = {}
    for item in items:
        grouped.setdefault((item.ecosystem, item.package), []).append(item)
    built: list[AffectedRow] = []
    for (ecosystem, package), group in sorted(grouped.items()):
        best = min(item.rank for item in group)
        chosen = [item for item in group if item.rank == best]
        affected = [item for item in chosen if not item.not_affected]
        name = normalize_package_name(ecosystem, package)
        if not affected:
            built.append(AffectedRow(ecosystem, name, FixState.NOT_AFFECTED))
            continue
        fixes_by_arch: dict[str, set[str | None]] = {}
        for item in affected:
            if item.arch:
                fixes_by_arch.setdefault(item.arch, set()).add(item.fixed or item.last_affected)
        if stats is not None and len({frozenset(fixes) for fixes in fixes_by_arch.values()}) > 1:
            stats.arch_merged += 1
        ranges = sorted({compact_json({"type": "ECOSYSTEM", "events": _events(item)}) for item in affected})
        fixes = sorted({item.fixed for item in affected if item.fixed})
        state = FixState.FIXED if all(item.fixed for item in affected) else FixState.NOT_FIXED
        built.append(AffectedRow(ecosystem=ecosystem, package=name, fix_state=state,
                                 ranges="[" + ",".join(ranges) + "]", fixed=json_list_or_none(fixes)))
    return tuple(built)


def _events(item: Affected) -> list[dict[str, str]]:
    events = [{"introduced": item.introduced or "0"}]
    if item.fixed:
        events.append({"fixed": item.fixed})
    elif item.last_affected:
        events.append({"last_affected": item.last_affected})
    return events


# ---------------------------------------------------------------------------------------------------------
# Reading a provider's files


@dataclass
class FileReading:
    """What one file gave: its index, and per ecosystem how many definitions had rows there."""

    index: OvalIndex
    per_ecosystem: Counter[str] = field(default_factory=Counter)
    missing_tests: int = 0  # definitions with a condition left out for a missing test


def accepts_xml(path: Path) -> bool:
    return path.name.endswith((".xml", ".xml.gz", ".xml.bz2", ".xml.xz"))


def read_file(name: str, path: Path, skips: SkipLog, limits: OvalLimits = LIMITS) -> tuple[FileReading, Iterator[Definition]] | None:
    """The file's index and a stream of its readable definitions (unreadable ones skipped by reason);
    None (and the skip logged) when the file itself is refused."""
    try:
        index = read_index(path, limits)
    except RecordError as error:
        skips.skip(error.reason, name, error.detail)
        return None
    return FileReading(index), _readable(name, path, skips, limits)


def _readable(name: str, path: Path, skips: SkipLog, limits: OvalLimits) -> Iterator[Definition]:
    try:
        for item in definitions(path, limits):
            if isinstance(item, Oversized):
                skips.skip(item.reason, f"{name} {item.id}")
            else:
                yield item
    except RecordError as error:  # the file changed between the passes
        skips.skip(error.reason, name, error.detail)


def judge_exports(reading: FileReading, floor: int, basis: str, facts: FeedFacts) -> None:
    """A file is a whole export of an ecosystem when it references no test it lacks (an extract cut from
    the vendor's file does) and has at least `floor` definitions with rows there (the vendor's files have
    thousands per release; a sample has a handful)."""
    for ecosystem, count in sorted(reading.per_ecosystem.items()):
        if reading.missing_tests:
            facts.notes.setdefault(ecosystem, f"{basis} referencing tests it lacks: an extract")
        elif count < floor:
            facts.notes.setdefault(ecosystem, f"{basis} with {count} definition(s) for it: an extract")
        else:
            facts.export(ecosystem, basis)


def generator_timestamp(index: OvalIndex, facts: FeedFacts) -> None:
    stamp = rfc3339(index.generator.get("timestamp"))
    if stamp is not None:
        facts.timestamps.append(stamp)


def skip_uninterpretable(error: Uninterpretable, name: str, definition: Definition, skips: SkipLog) -> None:
    detail = f"{definition.id}: {error.detail}" if error.detail else definition.id
    skips.skip(error.reason, name, detail)


def note_losses(evaluation: Evaluation, name: str, definition: Definition, reading: FileReading, skips: SkipLog) -> None:
    """Counts conjunctions left out: a missing test is lost data (fatal with --strict), a module stream
    condition is not (counted beside the skips, as Red Hat's modular packages are)."""
    if evaluation.missing:
        reading.missing_tests += 1
        skips.skip(MISSING_TEST_SKIP, name, definition.id)
    if evaluation.modular:
        skips.reasons[MODULE_SKIP] += evaluation.modular


DefinitionReader = Callable[[Definition], tuple[Evaluation, Sequence[Record]]]
"""A provider's records of one definition, and the evaluation they were made from; Uninterpretable when the
definition cannot be read."""


def records(name: str, reading: FileReading, definitions: Iterable[Definition], skips: SkipLog,
            read: DefinitionReader) -> Iterator[Record]:
    """The records `read` makes of each definition: one it cannot interpret is skipped by reason, the conditions
    its evaluation left out are counted (`note_losses`), and so are the ecosystems it has rows in (for
    `judge_exports`)."""
    for definition in definitions:
        try:
            evaluation, made = read(definition)
        except Uninterpretable as error:
            skip_uninterpretable(error, name, definition, skips)
            continue
        note_losses(evaluation, name, definition, reading, skips)
        reading.per_ecosystem.update({row.ecosystem for record in made for row in record.affected})
        yield from made


FileReader = Callable[[Path, OvalIndex], tuple[str, DefinitionReader]]
"""For one file: the basis it is judged a whole export on (`judge_exports`) and the reader of its definitions;
RecordError when the file is refused."""


def read_files(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts, floor: int,
               file_reader: FileReader) -> Iterator[Record]:
    """A provider's records from its OVAL files, each file's capture time (`generator_timestamp`) and whether
    it is a whole export of an ecosystem (`judge_exports` with `floor`); a refused file is skipped by reason."""
    for name, path in files:
        opened = read_file(name, path, skips)
        if opened is None:
            continue
        reading, definitions = opened
        try:
            basis, read = file_reader(path, reading.index)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        yield from records(name, reading, definitions, skips, read)
        generator_timestamp(reading.index, facts)
        judge_exports(reading, floor, basis, facts)


def references(definition: Definition) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ref.url for ref in definition.references if ref.url))


def vendor_vectors(definition: Definition, host: str) -> tuple[str, ...]:
    """The CVSS v3 vectors of the vendor's own `cve` entries (those linking to `host`), when the definition
    names one CVE: a vector scores its CVE, and a record of several CVEs is not one of them."""
    if len(definition.cves) != 1:
        return ()
    return tuple(dict.fromkeys(vector for href, vector in definition.cvss3 if host in href))


__all__ = [
    "LIMITS", "MISSING_TEST_SKIP", "MODULE_SKIP", "Affected", "AnyVersion", "Bound", "Classifier", "Criteria",
    "Criterion", "CveEntry", "Definition", "DefinitionReader", "Evaluation", "Fact", "FileReader", "FileReading",
    "ForeignReader", "ForeignTest", "Module", "NeverInstalled", "OtherProduct", "OvalIndex", "OvalLimits", "Platform",
    "Qualifier", "Resolution", "RowStats", "RpmTest", "Uninterpretable", "accepts_xml", "conjunctions", "definitions",
    "evaluate", "generator_timestamp", "judge_exports", "normalized_evr", "note_losses", "package_fact", "read_file",
    "read_files", "read_index", "records", "references", "rows", "skip_uninterpretable", "starts_like_xml",
    "vendor_vectors",
]
