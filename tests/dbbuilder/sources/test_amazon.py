"""Amazon Linux ALAS: RSS feeds joined with advisory pages, release evidence, hostile input, coverage, and a
database built from the real-format fixtures."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from dbbuilder.compile import compile_database
from dbbuilder.compile.database import CAPTURE_FEED, CAPTURE_RECORDS
from dbbuilder.sources import PROVIDERS, amazon
from dbbuilder.sources.amazon import (
    CONFLICTING_IDS,
    CONFLICTING_PAGES,
    CONFLICTING_RELEASE,
    EXTRAS_PAGE_SKIP,
    EXTRAS_SKIP,
    INVALID_XML,
    ITEM_WITHOUT_ID,
    MALFORMED_CVE_LIST,
    MALFORMED_DATE,
    MALFORMED_ITEM,
    MALFORMED_PACKAGE,
    NO_PAGE,
    NOT_ALAS,
    NOT_RSS,
    PAGE_WITHOUT_ID,
    PAGE_WITHOUT_ITEM,
    PAGE_WITHOUT_PACKAGES,
    REFUSED_XML,
    TWO_FIXES,
    UNKNOWN_RELEASE,
    UNSUPPORTED_RELEASE,
    WHOLE_FEED,
    WHOLE_FEED_MIN_ADVISORIES,
    AmazonLimits,
)
from dbbuilder.sources.records import MalformedFeedError, Record
from scanner.model import FixState

from .conftest import by_id, read_all, read_with_facts

CHANNEL_TITLES = {"2": "Amazon Linux AMI Security Bulletins", "2022": "Amazon Linux 2022 Security Bulletins",
                  "2023": "Amazon Linux 2023 Security Bulletins"}
KERNEL = {"noarch": ["kernel-doc-4.9.76-38.79.amzn2.noarch"], "src": ["kernel-4.9.76-38.79.amzn2.src"],
          "x86_64": ["kernel-4.9.76-38.79.amzn2.x86_64", "perf-4.9.76-38.79.amzn2.x86_64"],
          "aarch64": ["kernel-4.9.76-38.79.amzn2.aarch64"]}


def item(alas_id: str, *, release_dir: str | None = "AL2", severity: str = "important",
         cves: str = "CVE-2099-0001, CVE-2099-0002", pub: str = "Thu, 11 Jan 2018 21:05:00 GMT",
         extra: str = "") -> str:
    link = f"https://alas.aws.amazon.com/{release_dir + '/' if release_dir else ''}{alas_id}.html"
    return (f"<item><title>{alas_id} ({severity}): kernel</title><description>\n    {cves}\n    </description>"
            f"<pubDate>{pub}</pubDate><lastBuildDate>Tue, 16 Jan 2018 01:28:00 GMT</lastBuildDate>"
            f"<guid>{link}</guid><link>{link}</link>{extra}</item>")


def rss(items: Sequence[str], *, title: str = CHANNEL_TITLES["2"], channel: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://alas.aws.amazon.com</link>{channel}{''.join(items)}</channel></rss>")


def page(heading: str, *, label: str = "Amazon Linux 2", label_id: str | None = None,
         packages: Mapping[str, Sequence[str]] | None = KERNEL, tail: str = "") -> str:
    """An advisory page laid out as alas.aws.amazon.com lays it out (see the shared fixtures)."""
    package_list = "" if packages is None else (
        "<div id='new_packages'><b>New Packages:</b><pre>" + "".join(
            f"{arch}:<br />" + "".join(f"&nbsp;&nbsp;&nbsp; {nevra}<br />" for nevra in nevras) + "<br />"
            for arch, nevras in packages.items()) + "</pre></div>")
    return (f"<!doctype html>\n<html><head><title>{heading}</title><script>if (a <b) {{}}</script></head>"
            f"<body><section><div class='title'><h1 id='{heading}'>{heading}</h1></div><div class='text'>"
            f"<span class='alas-info'>\n<b>{label} Security Advisory:</b> {label_id or heading}\n</span><br />"
            "<span class='alas-info'><b>Advisory Release Date:</b> 2018-01-11 21:05 Pacific</span><br />"
            "<div id='issue_overview'><b>Issue Overview:</b><p>A flaw in <a href='/cve'>CVE-2099-0001</a>.</p>"
            f"<p>Another &amp; more.</p></div>{package_list}</div></section>{tail}</body></html>")


def write(directory: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


def rows(record: Record) -> dict[str, str]:
    return {row.package: json.loads(row.fixed or "null")[0] for row in record.affected}


def test_real_feeds_and_pages(feeds: Path) -> None:
    records, skips, facts = read_with_facts("amazon", [feeds / "amazon"])
    assert dict(skips.reasons) == {}
    found = by_id(records)
    assert sorted(found) == ["ALAS2-2018-939", "ALAS2022-2021-001", "ALAS2023-2023-126"]
    kernel = found["ALAS2-2018-939"]
    assert (kernel.severity, kernel.published, kernel.modified) == ("critical", "2018-01-11T21:05:00Z",
                                                                    "2018-01-16T01:28:00Z")
    assert kernel.upstream == ("CVE-2017-5715", "CVE-2017-5754")
    assert kernel.references == ("https://alas.aws.amazon.com/AL2/ALAS-2018-939.html",)
    assert kernel.summary == "kernel" and (kernel.details or "").startswith("An updated kernel release")
    assert {row.ecosystem for row in kernel.affected} == {"Amazon Linux:2"}
    assert all(row.fix_state is FixState.FIXED for record in records for row in record.affected)
    # Binary names of every architecture, noarch (kernel-doc) and the src rpm (kernel, also a binary): once each.
    assert rows(kernel) == dict.fromkeys([
        "kernel", "kernel-debuginfo", "kernel-debuginfo-common-x86_64", "kernel-devel", "kernel-doc",
        "kernel-headers", "kernel-tools", "kernel-tools-debuginfo", "kernel-tools-devel", "perf",
        "perf-debuginfo", "python-perf", "python-perf-debuginfo"], "4.9.76-38.79.amzn2")
    multipath = found["ALAS2023-2023-126"]
    assert multipath.severity == "high"  # Amazon's "important"
    assert {row.ecosystem for row in multipath.affected} == {"Amazon Linux:2023"}
    assert rows(multipath)["kpartx"] == "0.8.7-16.amzn2023.0.1" and len(multipath.affected) == 11
    assert rows(found["ALAS2022-2021-001"])["vim-minimal"] == "8.2.3512-1.amzn2022"
    # One advisory per release: samples, never Amazon's whole list; no channel date in the fixtures.
    assert facts.exports == {}
    assert facts.notes == {f"Amazon Linux:{r}": "ALAS RSS extract (1 advisory(ies))" for r in ("2", "2022", "2023")}
    assert facts.timestamps == []


def test_registry_entry() -> None:
    provider = PROVIDERS["amazon"]
    assert provider.precedence == 41
    assert all(provider.accepts(Path(name)) for name in ("2_rss.xml", "ALAS-2018-939", "ALAS2023-2023-1.html"))
    assert not any(provider.accepts(Path(name)) for name in ("README.md", "notes.txt", "ALAS.json"))


def test_release_comes_from_content_not_file_names(tmp_path: Path) -> None:
    # AL2023 content under AL2's names: the records still land in Amazon Linux:2023.
    write(tmp_path, {
        "2_rss.xml": rss([item("ALAS-2023-126", release_dir="AL2023")], title=CHANNEL_TITLES["2023"]),
        "2_html/ALAS-2018-939": page("ALAS2023-2023-126", label="Amazon Linux 2023", label_id="ALAS-2023-126",
                                     packages={"x86_64": ["kpartx-0.8.7-16.amzn2023.0.1.x86_64"]}),
    })
    records, skips = read_all("amazon", [tmp_path])
    assert dict(skips.reasons) == {}
    [record] = records
    assert record.id == "ALAS2023-2023-126"
    assert [(row.ecosystem, row.package) for row in record.affected] == [("Amazon Linux:2023", "kpartx")]


def test_release_prefixed_ids_join_bare_ones(tmp_path: Path) -> None:
    # An AL2 feed may title the advisory ALAS2-…; the page heads it ALAS2-… and labels it ALAS-….
    write(tmp_path, {"feed.xml": rss([item("ALAS2-2018-949", release_dir=None)]),
                     "ALAS2-2018-949.html": page("ALAS2-2018-949", label_id="ALAS-2018-949")})
    [record], skips = read_all("amazon", [tmp_path])
    assert dict(skips.reasons) == {} and record.id == "ALAS2-2018-949" and len(record.affected) == 3


@pytest.mark.parametrize(("feed", "reason"), [
    # The channel says 2022, the item's link says AL2.
    (rss([item("ALAS-2018-939")], title=CHANNEL_TITLES["2022"]), CONFLICTING_RELEASE),
    (rss([item("ALAS2023-2018-939")]), CONFLICTING_RELEASE),
    # Amazon Linux AMI: its title and links name no release this provider has.
    (rss([item("ALAS-2018-939", release_dir=None)]), UNKNOWN_RELEASE),
    (rss([item("ALAS-2018-939", release_dir="AL1")]), UNSUPPORTED_RELEASE),
])
def test_items_whose_release_is_not_one_supported_release_are_skipped(tmp_path: Path, feed: str,
                                                                      reason: str) -> None:
    write(tmp_path, {"alas.rss": feed, "ALAS-2018-939": page("ALAS-2018-939")})
    records, skips = read_all("amazon", [tmp_path])
    assert records == []
    assert dict(skips.reasons) == {reason: 1, PAGE_WITHOUT_ITEM: 1}
    with pytest.raises(MalformedFeedError, match=reason):
        read_all("amazon", [tmp_path], strict=True)


@pytest.mark.parametrize(("content", "reason"), [
    # The page is labelled AL2 but its packages are built for AL2023.
    (page("ALAS-2018-939", packages={"x86_64": ["kernel-6.1.0-1.amzn2023.x86_64"]}), CONFLICTING_RELEASE),
    (page("ALAS2022-2018-939"), CONFLICTING_RELEASE),
    (page("ALAS-2018-939", label_id="ALAS-2018-940"), CONFLICTING_IDS),
    (page("Security Center", label="Amazon Linux 2", label_id="nothing"), PAGE_WITHOUT_ID),
    (page("ALAS-2018-939", packages=None), PAGE_WITHOUT_PACKAGES),
    (page("ALAS-2018-939", packages={"x86_64": []}), PAGE_WITHOUT_PACKAGES),
    (page("ALAS-2018-939", packages={"x86_64": ["kernel"]}), MALFORMED_PACKAGE),  # not a NEVRA
    (page("ALAS-2018-939", packages={"x86_64": ["kernel-4.9.76.x86_64"]}), MALFORMED_PACKAGE),  # no release
    (page("ALAS-2018-939", packages={"x86_64": ["kernel-4.9.76-38.amzn2.aarch64"]}), MALFORMED_PACKAGE),
    (page("ALAS-2018-939", packages={"x86_64": ["1:kernel-2:4.9.76-38.amzn2.x86_64"]}), MALFORMED_PACKAGE),
    (page("ALAS-2018-939", packages={"x86_64": ["kernel 4.9.76-38.amzn2.x86_64"]}), MALFORMED_PACKAGE),
    (page("ALAS-2018-939", packages={"x86_64": ["k" * 600 + "-1-1.amzn2.x86_64"]}), MALFORMED_PACKAGE),
    (page("ALAS-2018-939", packages={"x86_64": ["kernel-4.9.76-38.amzn2.x86_64"],
                                     "aarch64": ["kernel-4.9.77-1.amzn2.aarch64"]}), TWO_FIXES),
    ("<!doctype html><html><body>" + "<a " * 1000, PAGE_WITHOUT_ID),
    ("<html>" + "\udcff", "not UTF-8 text"),
    ("just text", NOT_ALAS),
])
def test_a_page_that_says_no_clear_thing_leaves_its_advisory_without_rows(tmp_path: Path, content: str,
                                                                          reason: str) -> None:
    data = content.encode("utf-8", "surrogateescape")
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939")]), "ALAS-2018-939": data})
    records, skips = read_all("amazon", [tmp_path])
    [record] = records
    assert record.id == "ALAS2-2018-939" and record.affected == ()  # never invented rows
    assert dict(skips.reasons) == {reason: 1, NO_PAGE: 1}
    with pytest.raises(MalformedFeedError, match=reason):
        read_all("amazon", [tmp_path], strict=True)


def test_epoch_written_on_a_page_is_kept(tmp_path: Path) -> None:
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939")]), "ALAS-2018-939": page(
        "ALAS-2018-939", packages={"x86_64": ["1:mariadb-5.5.68-1.amzn2.x86_64", "bind-32:9.11.4-26.amzn2.x86_64",
                                              "zlib-0:1.2.7-18.amzn2.x86_64"]})})
    [record], _ = read_all("amazon", [tmp_path])
    assert rows(record) == {"mariadb": "1:5.5.68-1.amzn2", "bind": "32:9.11.4-26.amzn2", "zlib": "1.2.7-18.amzn2"}


def test_item_without_page_is_kept_without_rows_and_counted(tmp_path: Path) -> None:
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939"), item("ALAS-2018-940")]),
                     "ALAS-2018-939": page("ALAS-2018-939"), "ALAS-2018-941": page("ALAS-2018-941")})
    records, skips, facts = read_with_facts("amazon", [tmp_path], strict=True)  # not malformed: not fatal
    found = by_id(records)
    assert len(found["ALAS2-2018-939"].affected) == 3
    assert found["ALAS2-2018-940"].affected == () and found["ALAS2-2018-940"].upstream == ("CVE-2099-0001",
                                                                                         "CVE-2099-0002")
    assert dict(skips.reasons) == {NO_PAGE: 1, PAGE_WITHOUT_ITEM: 1}
    assert facts.notes == {"Amazon Linux:2": "ALAS RSS with 1 advisory(ies) without their page"}


def test_two_different_pages_for_one_advisory_are_both_refused(tmp_path: Path) -> None:
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939")]), "a/ALAS-2018-939": page("ALAS-2018-939"),
                     "b/ALAS-2018-939": page("ALAS2-2018-939", packages={"src": ["kernel-4.9.77-1.amzn2.src"]}),
                     "c/ALAS-2018-939.html": page("ALAS-2018-939")})  # a copy of a: no conflict of its own
    [record], skips = read_all("amazon", [tmp_path])
    assert record.affected == () and dict(skips.reasons) == {CONFLICTING_PAGES: 1, NO_PAGE: 1}


def test_extras_advisories_are_left_out_and_leave_the_feed_partial(tmp_path: Path) -> None:
    feed = rss([item(f"ALAS-2020-{n}") for n in range(1, WHOLE_FEED_MIN_ADVISORIES + 1)]
               + [item("ALASKERNEL-5.10-2022-003")])
    pages = {f"ALAS-2020-{n}": page(f"ALAS-2020-{n}") for n in range(1, WHOLE_FEED_MIN_ADVISORIES + 1)}
    pages["ALASKERNEL-5.10-2022-003"] = page("ALAS2KERNEL-5.10-2022-003", label_id="ALASKERNEL-5.10-2022-003",
                                             packages={"x86_64": ["kernel-5.10.50-44.132.amzn2.x86_64"]})
    write(tmp_path, {"alas.rss": feed, **pages})
    records, skips, facts = read_with_facts("amazon", [tmp_path], strict=True)  # not malformed: not fatal
    assert len(records) == WHOLE_FEED_MIN_ADVISORIES
    assert not any(row.fixed == '["5.10.50-44.132.amzn2"]' for r in records for row in r.affected)
    assert dict(skips.reasons) == {EXTRAS_SKIP: 1, EXTRAS_PAGE_SKIP: 1}
    assert facts.exports == {}
    assert facts.notes == {"Amazon Linux:2": "ALAS RSS feed with items not read (extras or malformed)"}


def test_a_whole_looking_feed_with_every_page_is_a_whole_export(tmp_path: Path) -> None:
    numbers = range(1, WHOLE_FEED_MIN_ADVISORIES + 1)
    files = {f"2023_html/ALAS-2023-{n:03d}": page(f"ALAS2023-2023-{n:03d}", label="Amazon Linux 2023",
                                                   label_id=f"ALAS-2023-{n:03d}",
                                                   packages={"src": [f"p{n}-1.0-1.amzn2023.src"]}) for n in numbers}
    items = [item(f"ALAS-2023-{n:03d}", release_dir="AL2023") for n in numbers]
    channel = "<lastBuildDate>Wed, 08 Mar 2023 00:51:00 GMT</lastBuildDate>"
    write(tmp_path, {**files, "2023_rss.xml": rss(items, title=CHANNEL_TITLES["2023"], channel=channel)})
    records, skips, facts = read_with_facts("amazon", [tmp_path])
    assert len(records) == WHOLE_FEED_MIN_ADVISORIES and dict(skips.reasons) == {}
    assert facts.exports == {"Amazon Linux:2023": WHOLE_FEED} and facts.notes == {}
    assert facts.timestamps == ["2023-03-08T00:51:00Z"]  # the channel's own date: the capture time
    # One page missing: that advisory's packages are unknown, so the release is not whole.
    (tmp_path / "2023_html" / "ALAS-2023-050").unlink()
    _, _, facts = read_with_facts("amazon", [tmp_path])
    assert facts.exports == {} and "1 advisory(ies) without their page" in facts.notes["Amazon Linux:2023"]


def test_a_feed_trimmed_to_some_packages_is_an_extract(tmp_path: Path) -> None:
    # Enough advisories, but one number in ten: a feed filtered to some packages, not Amazon's list.
    numbers = range(1, 10 * WHOLE_FEED_MIN_ADVISORIES + 1, 10)
    write(tmp_path, {"alas.rss": rss([item(f"ALAS-2020-{n}") for n in numbers]),
                     **{f"ALAS-2020-{n}": page(f"ALAS-2020-{n}") for n in numbers}})
    _, skips, facts = read_with_facts("amazon", [tmp_path])
    assert dict(skips.reasons) == {} and facts.exports == {}
    assert facts.notes == {"Amazon Linux:2": f"ALAS RSS extract ({WHOLE_FEED_MIN_ADVISORIES} advisory(ies))"}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Amazon Linux 2 Security Bulletins</title>
<item><title>ALAS-2018-939 (low): &lol9;</title><description>CVE-2099-0001</description>
<link>https://alas.aws.amazon.com/AL2/ALAS-2018-939.html</link></item></channel></rss>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>Amazon Linux 2 Security Bulletins</title>
<item><title>ALAS-2018-939 (low): kernel</title><description>&secret;</description>
<link>https://alas.aws.amazon.com/AL2/ALAS-2018-939.html</link></item></channel></rss>"""


@pytest.mark.parametrize(("feed", "reason"), [
    (BILLION_LAUGHS, REFUSED_XML),
    (EXTERNAL_ENTITY, REFUSED_XML),
    ('<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://example.invalid/rss.dtd"><rss/>', REFUSED_XML),
    (rss([item("ALAS-2018-939")])[:-30], INVALID_XML),  # cut short: not even the first item is kept
    (rss([item("ALAS-2018-939")]).replace("</title>", "", 1), INVALID_XML),
    ('<?xml version="1.0"?><feed><entry/></feed>', NOT_RSS),
    ('<?xml version="1.0"?><rss version="2.0"/>', NOT_RSS),
])
def test_hostile_or_broken_xml_is_refused_whole(tmp_path: Path, feed: str, reason: str) -> None:
    write(tmp_path, {"alas.rss": feed, "ALAS-2018-939": page("ALAS-2018-939")})
    records, skips = read_all("amazon", [tmp_path])
    assert records == [] and dict(skips.reasons) == {reason: 1, PAGE_WITHOUT_ITEM: 1}
    with pytest.raises(MalformedFeedError, match=reason):
        read_all("amazon", [tmp_path], strict=True)


@pytest.mark.parametrize(("entry", "reason"), [
    ("<item><description>CVE-2099-0001</description></item>", ITEM_WITHOUT_ID),
    (item("ALAS-2018-939").replace("<title>ALAS-2018-939 (important): kernel</title>", ""), ITEM_WITHOUT_ID),
    (item("RHSA-2018:0001"), ITEM_WITHOUT_ID),
    (item("ALAS-2018-939").replace(" (important)", ""), ITEM_WITHOUT_ID),
    (item("ALAS-2018-939", cves="CVE-2099-0001, <b>all of them</b>"), MALFORMED_CVE_LIST),
    (item("ALAS-2018-939", cves="CVE-2099-0001 CVE-2099-0002"), MALFORMED_CVE_LIST),
    (item("ALAS-2018-939", cves="CVE-2099-0001,,"), MALFORMED_CVE_LIST),
    (item("ALAS-2018-939", cves="CVE-99-1"), MALFORMED_CVE_LIST),
    (item("ALAS-2018-939", pub="yesterday"), MALFORMED_DATE),
    (item("ALAS-2018-939", pub="Thu, 41 Jan 2018 21:05:00 GMT"), MALFORMED_DATE),
    (item("ALAS-2018-939", extra="<title>ALAS-2018-940 (low): x</title>"), MALFORMED_ITEM),
])
def test_malformed_items_are_skipped_alone(tmp_path: Path, entry: str, reason: str) -> None:
    write(tmp_path, {"alas.rss": rss([entry, item("ALAS-2018-940")]), "ALAS-2018-940": page("ALAS-2018-940")})
    records, skips = read_all("amazon", [tmp_path])
    assert [record.id for record in records] == ["ALAS2-2018-940"]
    assert skips.reasons[reason] == 1
    with pytest.raises(MalformedFeedError, match=reason):
        read_all("amazon", [tmp_path], strict=True)


def test_an_advisory_without_cves_has_no_upstream(tmp_path: Path) -> None:
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939", cves="", severity="bogus")]),
                     "ALAS-2018-939": page("ALAS-2018-939")})
    [record], _ = read_all("amazon", [tmp_path])
    assert record.upstream == () and record.severity is None


def test_files_over_the_caps_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = rss([item("ALAS-2018-939")])
    big_page = page("ALAS-2018-939", tail="<!--" + "x" * 4096 + "-->")
    monkeypatch.setattr(amazon, "LIMITS", AmazonLimits(max_feed_bytes=len(feed) + 10, max_page_bytes=4096))
    write(tmp_path, {"alas.rss": feed, "ALAS-2018-939": big_page, "huge.xml": feed + " " * (len(feed) + 10)})
    [record], skips = read_all("amazon", [tmp_path])
    assert record.affected == ()
    assert dict(skips.reasons) == {"file too large": 2, NO_PAGE: 1}


def test_unterminated_markup_after_the_package_list_costs_linear_time(tmp_path: Path) -> None:
    # Bounded-resource regression: html.parser's close() re-scans an unterminated tag from every later
    # "<" (tens of seconds for these 96 KiB); the page is fed once and never closed.
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939")]),
                     "ALAS-2018-939": page("ALAS-2018-939") + "<a " * (32 << 10)})
    started = time.monotonic()
    [record], skips = read_all("amazon", [tmp_path])
    assert time.monotonic() - started < 10
    assert dict(skips.reasons) == {} and len(record.affected) == 3


def test_database_from_the_fixtures(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "amazon.sqlite"
    summary = compile_database(out, {"amazon": [feeds / "amazon"]})
    [provider] = summary.providers
    assert (provider.records, provider.skipped) == (3, 0)
    # No channel date in the fixtures: the newest advisory update is the capture time.
    assert (provider.captured_at, provider.captured_at_basis) == ("2023-03-08T00:51:00Z", CAPTURE_RECORDS)
    assert provider.ecosystems == {"Amazon Linux:2": 1, "Amazon Linux:2022": 1, "Amazon Linux:2023": 1}
    with sqlite3.connect(out) as db:
        found = db.execute("SELECT vuln_id, fix_state, fixed, ranges FROM affected WHERE ecosystem = ? AND "
                           "package = ?", ("Amazon Linux:2023", "libdmmp")).fetchall()
        assert found == [("ALAS2023-2023-126", "fixed", '["0.8.7-16.amzn2023.0.1"]',
                          '[{"events":[{"introduced":"0"},{"fixed":"0.8.7-16.amzn2023.0.1"}],"type":"ECOSYSTEM"}]')]
        assert db.execute("SELECT COUNT(*) FROM affected WHERE ecosystem = 'Amazon Linux:2' AND package = 'kernel'"
                          ).fetchone() == (1,)
        severity = db.execute("SELECT severity FROM vulnerabilities WHERE id = 'ALAS2-2018-939'").fetchone()
        assert severity == ("critical",)
        coverage = db.execute("SELECT ecosystem, complete, basis FROM coverage WHERE provider = 'amazon' "
                              "ORDER BY ecosystem").fetchall()
        assert coverage == [(f"Amazon Linux:{r}", 0, "ALAS RSS extract (1 advisory(ies))")
                            for r in ("2", "2022", "2023")]


def test_channel_date_makes_the_capture_time_the_feeds_own(tmp_path: Path) -> None:
    channel = "<lastBuildDate>Fri, 01 Mar 2024 10:00:00 GMT</lastBuildDate>"
    write(tmp_path, {"alas.rss": rss([item("ALAS-2018-939")], channel=channel),
                     "ALAS-2018-939": page("ALAS-2018-939")})
    summary = compile_database(tmp_path / "out.sqlite", {"amazon": [tmp_path]})
    [provider] = summary.providers
    assert (provider.captured_at, provider.captured_at_basis) == ("2024-03-01T10:00:00Z", CAPTURE_FEED)
