"""Amazon Linux security advisories (ALAS) for Amazon Linux 2, 2022 and 2023: RSS feeds and advisory pages.

Amazon publishes one RSS feed per release (`https://alas.aws.amazon.com/AL2023/alas.rss`): an `<item>` per
advisory whose title is `ALAS-2023-126 (important): device-mapper-multipath`, whose description is the
comma-separated CVE list, with `pubDate`, `lastBuildDate` (the advisory's last update) and a link to the
advisory page. The page (`…/AL2023/ALAS-2023-126.html`, kept by vunnel as `2023_html/ALAS-2023-126`) is the
only place that names the fixed packages: a `New Packages:` list per architecture of NEVRAs
(`kernel-4.9.76-38.79.amzn2.x86_64`, `src:` for the source rpm). The reader takes the advisory list,
severity, dates and CVEs from the feeds and the fixed packages from the pages, joined on the advisory id:
file names are never used, and the files are told apart by content (an RSS document or an HTML page).

Release. Evidence comes from content only: the channel title (`Amazon Linux 2023 Security Bulletins`), a
channel or item link under `/AL2/`, `/AL2022/`, `/AL2023/`, an id with a release prefix (`ALAS2-`,
`ALAS2022-`, `ALAS2023-`), on a page also its label (`Amazon Linux 2022 Security Advisory:`) and the
`amzn2` / `amzn2022` / `amzn2023` tag of every package's release. A bare `ALAS-` id and Amazon's
`Amazon Linux AMI` title name no release (the AL2 feed the fixtures come from carries it). An item or
page whose evidence names two releases is skipped (`conflicting release`), one naming none is skipped
(`unknown release`: Amazon Linux AMI, which has no ecosystem here), as is one naming another release.

Ids. Two releases number their advisories independently, so the bare id the feeds and links use
(`ALAS-2023-126`) is ambiguous; records are named as Amazon's page heading and updateinfo name them, with
the release prefix: `ALAS2-2018-939`, `ALAS2022-2021-001`, `ALAS2023-2023-126`. Advisories of Amazon Linux
2 extras topics (`ALASKERNEL-5.10-2022-003`, `ALASTOMCAT9-…`) are left out and counted: their packages
apply only where that topic is enabled, which the rpm database does not record, and a topic's `kernel` or
`postgresql` matched against the core package of that name would be false positives.

Records. One advisory per ALAS (upstream: its CVEs; severity from the title, Amazon's low / medium /
important / critical; published: pubDate; modified: the item's lastBuildDate; details: the page's issue
overview) with one `fixed` row in `Amazon Linux:2`, `Amazon Linux:2022` or `Amazon Linux:2023` per package
name the page lists: binary rpm names of every architecture, noarch, and the source rpm names of `src:`,
deduplicated; `fixed` is `[epoch:]version-release` without the architecture (a page that leaves out a
non-zero epoch gives a fix that reads as epoch 0: an installed `1:…` then looks fixed). A page that
names one package with two versions, or a line that is not a NEVRA of its section's architecture, is
skipped.
An item without a page, or whose page was skipped, is kept as an advisory without rows (counted: `no
advisory page: no fixed packages known`): its packages are unknown, so none are invented.

Coverage. A feed is Amazon's whole advisory list for a release when it looks whole (at least
`WHOLE_FEED_MIN_ADVISORIES` advisories of the release, numbered densely enough that it was not trimmed to
some packages: `WHOLE_FEED_MIN_DENSITY`), every one of its items was read (an extras advisory or a
malformed item leaves it partial), and every advisory of the release came with its page. Capture time:
the channel's own `lastBuildDate` / `pubDate` when it has one, else the newest advisory update.

XML goes through defusedxml with DTDs forbidden (entity expansion, XML bombs and external entities are
refused with the file); pages through the standard library's html.parser, fed once and never closed:
Python's `close()` re-scans an unterminated tag from every later `<`, which takes minutes on a few
hundred KiB of hostile HTML, while without it an unterminated tag merely ends the page there.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from scanner.errors import MissingExtraError
from scanner.model import FixState

from .base import affected_row, rfc3339, severity_label
from .feedio import read_capped
from .records import FeedFacts, Record, RecordError, SkipLog

PROVIDER = "amazon"
FLAG_HELP = "Amazon Linux 2/2022/2023 ALAS RSS feeds and advisory pages, files or directories (repeatable)."
PRECEDENCE = 41


@dataclass(frozen=True)
class AmazonLimits:
    """Caps on what the ALAS inputs drive. The real AL2 feed, every advisory since 2017, is a few MB; an
    advisory page is 10 to 100 KiB (kernel advisories with long overviews are the largest)."""

    max_feed_bytes: int = 64 << 20
    max_page_bytes: int = 4 << 20
    max_nevra_chars: int = 512  # one line of a page's package list


LIMITS = AmazonLimits()

# Release as Amazon numbers it -> ecosystem (the distro ecosystem names shared with the scanner).
ECOSYSTEMS: Mapping[str, str] = {
    "2": "Amazon Linux:2",
    "2022": "Amazon Linux:2022",
    "2023": "Amazon Linux:2023",
}

# A whole feed lists every advisory of its release since the first: thousands for AL2 and AL2023. Amazon
# Linux AMI and AL2 drew numbers from one sequence at first, so AL2's early numbers have gaps; a feed
# trimmed to some packages keeps a small fraction of its numbers.
WHOLE_FEED_MIN_ADVISORIES = 100
WHOLE_FEED_MIN_DENSITY = 0.5  # advisory numbers present / numbers from the lowest to the highest
WHOLE_FEED = "Amazon ALAS RSS feed with every advisory page"

NOT_ALAS = "not an ALAS RSS feed or advisory page"
REFUSED_XML = "XML with a DTD or entity declaration: refused"
INVALID_XML = "invalid XML"
NOT_RSS = "not an RSS feed"
NOT_UTF8 = "not UTF-8 text"
ITEM_WITHOUT_ID = "item without ALAS id"
MALFORMED_ITEM = "malformed item"
MALFORMED_CVE_LIST = "malformed CVE list"
MALFORMED_DATE = "malformed date"
UNKNOWN_RELEASE = "unknown release"
CONFLICTING_RELEASE = "conflicting release"
UNSUPPORTED_RELEASE = "unsupported release"
PAGE_WITHOUT_ID = "advisory page without ALAS id"
CONFLICTING_IDS = "advisory page naming two ids"
PAGE_WITHOUT_PACKAGES = "advisory page without package list"
MALFORMED_PACKAGE = "malformed package line"
TWO_FIXES = "one package with two fixed versions"
CONFLICTING_PAGES = "two different pages for one advisory"
# Counted beside the skips, and not fatal with --strict: nothing is malformed, something is not read.
EXTRAS_SKIP = "extras advisory: needs the image's enabled extras topics"
EXTRAS_PAGE_SKIP = "extras advisory page: not read"
NO_PAGE = "no advisory page: no fixed packages known"
PAGE_WITHOUT_ITEM = "advisory page without RSS item"

_ALAS_ID = re.compile(r"ALAS(?P<tag>[A-Z0-9][A-Z0-9.\-]*?)?-(?P<year>\d{4})-(?P<number>\d{1,7})")
_ITEM_TITLE = re.compile(r"(?P<id>\S+)\s+\((?P<severity>[^()]*)\):\s*(?P<summary>.*)", re.DOTALL)
_CHANNEL_TITLE = re.compile(r"Amazon Linux (?P<release>\S+) Security Bulletins")
_PAGE_LABEL = re.compile(r"Amazon Linux (?P<release>\S+) Security Advisory:\s*(?P<id>\S+)")
_RELEASE_URL = re.compile(r"https?://alas\.aws\.amazon\.com/AL(?P<release>\d+)(?:/|$)")
_CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")
_ARCH_HEADER = re.compile(r"(?P<arch>[A-Za-z0-9_]+):")
_NEVRA = re.compile(
    r"(?:(?P<epoch>\d+):)?(?P<name>[A-Za-z0-9_+][A-Za-z0-9._+-]*)-(?:(?P<inner_epoch>\d+):)?"
    r"(?P<version>[A-Za-z0-9._+~^]+)-(?P<release>[A-Za-z0-9._+~^]+)\.(?P<arch>[A-Za-z0-9_]+)")
_RELEASE_TAG = re.compile(r"(?:^|\.)amzn(?P<release>\d+)(?=\.|$)")
_PAGE_NAME = re.compile(r"ALAS[A-Z0-9.\-]*-\d{4}-\d+(?:\.html?)?")
_SPACE = re.compile(r"\s+")


def accepts(path: Path) -> bool:
    return path.suffix in (".xml", ".rss", ".html", ".htm") or _PAGE_NAME.fullmatch(path.name) is not None


@dataclass(frozen=True)
class _AlasId:
    tag: str | None  # between `ALAS` and the year: a release, an extras topic, or nothing
    year: str
    number: str

    @property
    def extras(self) -> bool:
        return self.tag is not None and not self.tag.isdigit()

    @property
    def release(self) -> str | None:
        return self.tag if self.tag is not None and self.tag.isdigit() else None

    def key(self, release: str) -> tuple[str, str, int]:
        return release, self.year, int(self.number)

    def named(self, release: str) -> str:
        return f"ALAS{release}-{self.year}-{self.number}"


@dataclass(frozen=True)
class _Item:
    key: tuple[str, str, int]
    id: str
    summary: str | None
    severity: str | None
    cves: tuple[str, ...]
    published: str | None
    modified: str | None
    link: str | None


@dataclass
class _Feed:
    name: str
    items: list[_Item] = field(default_factory=list)
    unread: int = 0  # items skipped or left out


@dataclass(frozen=True)
class _Page:
    packages: tuple[tuple[str, str], ...]  # (name, [epoch:]version-release), sorted
    details: str | None


def read(files: Sequence[tuple[str, Path]], skips: SkipLog, facts: FeedFacts) -> Iterator[Record]:
    feeds: list[_Feed] = []
    pages: dict[tuple[str, str, int], _Page] = {}
    conflicting: set[tuple[str, str, int]] = set()
    for name, path in files:
        try:
            data = read_capped(path, max(LIMITS.max_feed_bytes, LIMITS.max_page_bytes))
            feed = _is_feed(data)
            limit = LIMITS.max_feed_bytes if feed else LIMITS.max_page_bytes
            if len(data) > limit:
                raise RecordError("file too large", f"over {limit} bytes")
            if feed:
                feeds.append(_read_feed(data, name, skips, facts))
                continue
            page = _read_page(data)
        except RecordError as error:
            skips.skip(error.reason, name, error.detail)
            continue
        if page is None:
            skips.reasons[EXTRAS_PAGE_SKIP] += 1
            continue
        key, content = page
        if key in pages and pages[key] != content:
            conflicting.add(key)
            skips.skip(CONFLICTING_PAGES, name, _key_text(key))
        pages.setdefault(key, content)
    for key in conflicting:
        del pages[key]
    yield from _joined(feeds, pages, skips, facts)


def _is_feed(data: bytes) -> bool:
    """True for an XML document, False for an HTML page, by their first bytes."""
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<rss")):
        return True
    if head.startswith((b"<!doctype html", b"<html")):
        return False
    raise RecordError(NOT_ALAS, head[:40].decode("utf-8", "replace"))


def _joined(feeds: Sequence[_Feed], pages: Mapping[tuple[str, str, int], _Page], skips: SkipLog,
            facts: FeedFacts) -> Iterator[Record]:
    """Each item's record with its page's rows; then what the inputs say about each release's coverage."""
    used: set[tuple[str, str, int]] = set()
    without_page: Counter[str] = Counter()
    for feed in feeds:
        for item in feed.items:
            release = item.key[0]
            page = pages.get(item.key)
            if page is None:
                skips.reasons[NO_PAGE] += 1
                without_page[release] += 1
            used.add(item.key)
            yield Record(
                id=item.id,
                provider=PROVIDER,
                modified=item.modified or item.published,
                published=item.published,
                summary=item.summary,
                details=page.details if page else None,
                severity=item.severity,
                upstream=item.cves,
                references=(item.link,) if item.link else (),
                affected=tuple(affected_row(ECOSYSTEMS[release], name, FixState.FIXED, fixed=evr)
                               for name, evr in page.packages) if page else (),
            )
    unused = len(pages.keys() - used)
    if unused:
        skips.reasons[PAGE_WITHOUT_ITEM] += unused
    _judge(feeds, without_page, facts)


def _judge(feeds: Sequence[_Feed], without_page: Mapping[str, int], facts: FeedFacts) -> None:
    """Which releases the feeds are a whole export of (module docstring, "Coverage")."""
    looks_whole: dict[str, bool] = {}  # release -> a whole-looking feed of it had every item read
    largest: Counter[str] = Counter()
    for feed in feeds:
        numbers: dict[str, set[int]] = {}
        for item in feed.items:
            numbers.setdefault(item.key[0], set()).add(item.key[2])
        for release, present in numbers.items():
            span = max(present) - min(present) + 1
            whole = len(present) >= WHOLE_FEED_MIN_ADVISORIES and len(present) >= WHOLE_FEED_MIN_DENSITY * span
            if whole:
                looks_whole[release] = looks_whole.get(release, False) or feed.unread == 0
            largest[release] = max(largest[release], len(present))
    for release, count in sorted(largest.items()):
        ecosystem = ECOSYSTEMS[release]
        if without_page.get(release):
            facts.notes[ecosystem] = f"ALAS RSS with {without_page[release]} advisory(ies) without their page"
        elif looks_whole.get(release):
            facts.export(ecosystem, WHOLE_FEED)
        elif release in looks_whole:
            facts.notes[ecosystem] = "ALAS RSS feed with items not read (extras or malformed)"
        else:
            facts.notes[ecosystem] = f"ALAS RSS extract ({count} advisory(ies))"


def _key_text(key: tuple[str, str, int]) -> str:
    return f"Amazon Linux {key[0]} advisory {key[1]}-{key[2]}"


# --- RSS feeds ----------------------------------------------------------------------------------------

def _read_feed(data: bytes, name: str, skips: SkipLog, facts: FeedFacts) -> _Feed:
    """The feed's items, each checked; RecordError for a file that is not a well-formed, DTD-free RSS."""
    channel, items = _rss_elements(data)
    feed = _Feed(name)
    evidence = [_channel_release(channel.get("title")), _url_release(channel.get("link"))]
    for field_name in ("lastBuildDate", "pubDate"):
        try:
            stamp = _rss_date(channel.get(field_name))
        except RecordError as error:
            skips.skip(error.reason, f"{name} channel", error.detail)
            continue
        if stamp is not None:
            facts.timestamps.append(stamp)
    for index, fields in enumerate(items):
        where = f"{name} item {index}"
        try:
            item = _item(fields, evidence)
        except RecordError as error:
            feed.unread += 1
            skips.skip(error.reason, where, error.detail)
            continue
        if item is None:
            feed.unread += 1
            skips.reasons[EXTRAS_SKIP] += 1
            continue
        feed.items.append(item)
    return feed


def _rss_elements(data: bytes) -> tuple[dict[str, str], list[dict[str, list[str]]]]:
    """(the channel's own text fields, each item's child texts by tag), read as a stream: an item is
    dropped from the tree once its fields are taken."""
    # Imported here: defusedxml is in the builder extra, and every provider module is imported when dbbuilder
    # starts (the registry), also where only the scanner side is installed.
    try:
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse
    except ModuleNotFoundError:
        raise MissingExtraError("dbbuilder build --amazon needs the builder extra: "
                                "pip install 'airgap-scanner[builder]'") from None

    channel: dict[str, str] = {}
    items: list[dict[str, list[str]]] = []
    path: list[str] = []
    has_channel = False
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                if not path and element.tag != "rss":
                    raise RecordError(NOT_RSS, f"root element {element.tag[:40]}")
                path.append(element.tag)
                has_channel = has_channel or path == ["rss", "channel"]
                continue
            path.pop()
            if path != ["rss", "channel"]:
                continue
            if element.tag == "item":
                items.append(_child_texts(element))
                element.clear()
            elif element.tag in ("title", "link", "lastBuildDate", "pubDate"):
                channel.setdefault(element.tag, _text(element))
    except ParseError as error:
        raise RecordError(INVALID_XML, str(error)) from error
    except DefusedXmlException as error:
        raise RecordError(REFUSED_XML, repr(error)) from error
    if not has_channel:
        raise RecordError(NOT_RSS, "no channel")
    return channel, items


def _child_texts(item: Element) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for child in item:
        fields.setdefault(child.tag, []).append(_text(child))
    return fields


def _text(element: Element) -> str:
    return "".join(element.itertext()).strip()


def _item(fields: Mapping[str, list[str]], channel_evidence: Sequence[str | None]) -> _Item | None:
    """The item as an advisory of its release; None for an extras advisory."""
    for tag in ("title", "description", "pubDate", "lastBuildDate", "link", "guid"):
        if len(fields.get(tag, ())) > 1:
            raise RecordError(MALFORMED_ITEM, f"two {tag} elements")
    title = _first(fields, "title")
    match = _ITEM_TITLE.fullmatch(title or "")
    alas = _alas_id(match["id"]) if match else None
    if match is None or alas is None:
        raise RecordError(ITEM_WITHOUT_ID, (title or "no title")[:80])
    if alas.extras:
        return None
    link, guid = _first(fields, "link"), _first(fields, "guid")
    release = _one_release([*channel_evidence, _url_release(link), _url_release(guid), alas.release])
    return _Item(
        key=alas.key(release),
        id=alas.named(release),
        summary=_SPACE.sub(" ", match["summary"]).strip() or None,
        severity=severity_label(match["severity"].strip()),
        cves=_cves(_first(fields, "description") or ""),
        published=_rss_date(_first(fields, "pubDate")),
        modified=_rss_date(_first(fields, "lastBuildDate")),
        link=link,
    )


def _first(fields: Mapping[str, list[str]], tag: str) -> str | None:
    values = fields.get(tag)
    return values[0] or None if values else None


def _cves(text: str) -> tuple[str, ...]:
    """`CVE-2017-5715, CVE-2017-5754`: every comma-separated token must be a CVE id."""
    if not text.strip():
        return ()
    tokens = [token.strip() for token in text.split(",")]
    if not all(_CVE_ID.fullmatch(token) for token in tokens):
        raise RecordError(MALFORMED_CVE_LIST, _SPACE.sub(" ", text)[:80])
    return tuple(dict.fromkeys(tokens))


def _rss_date(text: str | None) -> str | None:
    """An RFC 822 date (`Thu, 11 Jan 2018 21:05:00 GMT`) as RFC 3339 UTC; None when absent."""
    if text is None:
        return None
    try:
        stamp = rfc3339(parsedate_to_datetime(text))
    except (ValueError, TypeError, IndexError) as error:
        raise RecordError(MALFORMED_DATE, text[:60]) from error
    if stamp is None:
        raise RecordError(MALFORMED_DATE, text[:60])
    return stamp


# --- release evidence --------------------------------------------------------------------------------

def _alas_id(text: str) -> _AlasId | None:
    match = _ALAS_ID.fullmatch(text.strip())
    return _AlasId(match["tag"], match["year"], match["number"]) if match else None


def _channel_release(title: str | None) -> str | None:
    match = _CHANNEL_TITLE.fullmatch(_SPACE.sub(" ", title or "").strip())
    return match["release"] if match and match["release"].isdigit() else None


def _url_release(url: str | None) -> str | None:
    match = _RELEASE_URL.match(url or "")
    return match["release"] if match else None


def _one_release(evidence: Iterable[str | None]) -> str:
    named = sorted({release for release in evidence if release is not None})
    if len(named) > 1:
        raise RecordError(CONFLICTING_RELEASE, ", ".join(named))
    if not named:
        raise RecordError(UNKNOWN_RELEASE)
    if named[0] not in ECOSYSTEMS:
        raise RecordError(UNSUPPORTED_RELEASE, named[0])
    return named[0]


# --- advisory pages ----------------------------------------------------------------------------------

# Tags that end a line of text inside a captured element: the package list is `<br />`-separated and
# follows its `<b>New Packages:</b>` label; the overview is paragraphs.
_BREAKS = frozenset({"br", "p", "pre", "div", "b", "li", "ul", "ol", "h1", "h2", "h3", "h4", "tr", "hr"})


class _PageParser(HTMLParser):
    """The text of the elements an ALAS page keeps its facts in, as (field, text) in page order: the
    `<title>`, `<h1>`, the `alas-info` spans (one is the `… Security Advisory: ALAS-…` label), the
    `new_packages` and `issue_overview` divs. Fields are never nested in each other on a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self._field: str | None = None
        self._tag = ""
        self._depth = 0
        self._chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._field is not None:
            self._depth += tag == self._tag
            if tag in _BREAKS:
                self._chunks.append("\n")
            return
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        found = {"title": "title", "h1": "heading"}.get(tag)
        if tag == "div" and attributes.get("id") in ("new_packages", "issue_overview"):
            found = attributes["id"]
        elif tag == "span" and "alas-info" in classes:
            found = "label"
        if found is not None:
            self._field, self._tag, self._depth, self._chunks = found, tag, 1, []

    def handle_endtag(self, tag: str) -> None:
        if self._field is None:
            return
        if tag in _BREAKS:
            self._chunks.append("\n")
        if tag == self._tag:
            self._depth -= 1
            if self._depth == 0:
                self.fields.append((self._field, "".join(self._chunks)))
                self._field = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._field is not None and tag in _BREAKS:
            self._chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self._chunks.append(data)


def _read_page(data: bytes) -> tuple[tuple[str, str, int], _Page] | None:
    """(release, year, number) and the page's packages and overview; None for an extras advisory."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(NOT_UTF8, str(error)) from error
    parser = _PageParser()
    parser.feed(text)  # never close(): see the module docstring
    fields: dict[str, list[str]] = {}
    for name, value in parser.fields:
        fields.setdefault(name, []).append(value)
    ids: list[_AlasId] = []
    evidence: list[str | None] = []
    for value in [*fields.get("title", []), *fields.get("heading", [])]:
        found = _alas_id(_SPACE.sub(" ", value))
        if found is not None:
            ids.append(found)
    for value in fields.get("label", []):
        label = _PAGE_LABEL.fullmatch(_SPACE.sub(" ", value).strip())
        if label:
            evidence.append(label["release"] if label["release"].isdigit() else None)
            found = _alas_id(label["id"])
            if found is not None:
                ids.append(found)
    if not ids:
        raise RecordError(PAGE_WITHOUT_ID)
    if len({(alas.year, int(alas.number), alas.extras) for alas in ids}) > 1:
        raise RecordError(CONFLICTING_IDS, ", ".join(sorted({f"{a.tag or ''}-{a.year}-{a.number}" for a in ids})))
    if ids[0].extras:
        return None
    lists = fields.get("new_packages", [])
    if not lists:
        raise RecordError(PAGE_WITHOUT_PACKAGES)
    if len(lists) > 1:
        raise RecordError(MALFORMED_PACKAGE, "two package lists")
    packages, tags = _packages(lists[0])
    release = _one_release([*evidence, *(alas.release for alas in ids), *tags])
    overview = [_SPACE.sub(" ", line).strip() for value in fields.get("issue_overview", [])
                for line in value.splitlines()]
    details = "\n".join(line for line in overview if line and line != "Issue Overview:") or None
    return ids[0].key(release), _Page(packages, details)


def _packages(text: str) -> tuple[tuple[tuple[str, str], ...], set[str | None]]:
    """The (name, evr) pairs of a `New Packages:` list, and the release tags of their releases."""
    fixed: dict[str, str] = {}
    tags: set[str | None] = set()
    arch: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or (line == "New Packages:" and arch is None):
            continue
        header = _ARCH_HEADER.fullmatch(line)
        if header:
            arch = header["arch"]
            continue
        nevra = _NEVRA.fullmatch(line) if len(line) <= LIMITS.max_nevra_chars else None
        if nevra is None or arch is None or nevra["arch"] != arch or (nevra["epoch"] and nevra["inner_epoch"]):
            raise RecordError(MALFORMED_PACKAGE, line[:80])
        epoch = nevra["epoch"] or nevra["inner_epoch"]
        evr = f"{nevra['version']}-{nevra['release']}"
        if epoch and int(epoch):
            evr = f"{int(epoch)}:{evr}"
        if fixed.setdefault(nevra["name"], evr) != evr:
            raise RecordError(TWO_FIXES, f"{nevra['name']}: {fixed[nevra['name']]}, {evr}")
        release_tags = {match["release"] for match in _RELEASE_TAG.finditer(nevra["release"])}
        tags.update(release_tags or {None})
    if not fixed:
        raise RecordError(PAGE_WITHOUT_PACKAGES)
    return tuple(sorted(fixed.items())), tags
