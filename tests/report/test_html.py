"""`scanner scan -o html`: self-contained under a strict CSP, everything escaped, complete without JavaScript.

The page is also checked in a real browser by hand (docs/scanning.md, "HTML report"); these tests read
the bytes: what could load, what could run, and what a hostile name becomes.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scanner.match.scan import ScanReport
from scanner.report import html as html_report
from scanner.report.base import FINDINGS, get_format
from tests.report.test_findings_formats import build_report

SCRIPT_NAME = "<script>alert(1)</script>"
IMG_SUMMARY = '<img src=x onerror="alert(2)"> & </td></tr><script>alert(3)</script>'
BIDI = "evil\u202etxt.exe"


class Page(HTMLParser):
    """Every start tag with its attributes, every text node, and the text of <style> and <script>."""

    def __init__(self, data: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.raw: dict[str, list[str]] = {"style": [], "script": []}
        self._open: list[str] = []
        self.feed(data.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] in self.raw:
            self.raw[self._open[-1]].append(data)
        else:
            self.texts.append(data)


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScanReport:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    return build_report(tmp_path)


def hostile(report: ScanReport) -> ScanReport:
    first = report.findings[0]
    finding = dataclasses.replace(
        first, package=dataclasses.replace(first.package, name=SCRIPT_NAME, version=f'1.0"><b>{BIDI}'),
        vulnerability=dataclasses.replace(first.vulnerability, summary=IMG_SUMMARY, aliases=("GHSA-'onmouseover='x",)))
    target = dataclasses.replace(report.target, name="</title><script>alert(4)</script>")
    return dataclasses.replace(report, findings=(finding, *report.findings[1:]), target=target,
                               warnings=("<iframe src=//example.com>",))


def test_strict_policy_allows_exactly_the_inline_style_and_script(report: ScanReport) -> None:
    page = Page(get_format(FINDINGS, "html").render(report))
    [policy] = [attrs["content"] for tag, attrs in page.tags
                if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy is not None
    directives = dict(item.strip().split(" ", 1) for item in policy.split(";"))
    assert directives["default-src"] == "'none'"
    for kind in ("style", "script"):
        [text] = page.raw[kind]
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert directives[f"{kind}-src"] == f"'sha256-{digest}'"  # the hash of what the page holds
    for directive in ("img-src", "font-src", "connect-src", "base-uri", "form-action"):
        assert directives[directive] == "'none'"
    tags = [tag for tag, _ in page.tags]
    assert tags.index("meta") < tags.index("style") < tags.index("script")
    assert tags.count("script") == 1 and tags.count("style") == 1


def test_nothing_external_and_nothing_inline_a_hash_cannot_allow(report: ScanReport) -> None:
    page = Page(get_format(FINDINGS, "html").render(hostile(report)))
    for tag, attrs in page.tags:
        for name in attrs:
            assert not name.startswith("on"), (tag, name)  # event handlers would need 'unsafe-inline'
            assert name not in ("style", "src", "href", "srcset", "action", "formaction", "background"), (tag, name)
        assert tag not in ("link", "img", "iframe", "object", "embed", "base", "form", "a", "audio", "video")
    style = "".join(page.raw["style"])
    assert "url(" not in style and "@import" not in style


def test_hostile_names_and_descriptions_are_text(report: ScanReport) -> None:
    data = get_format(FINDINGS, "html").render(hostile(report))
    page = Page(data)
    text = "".join(page.texts)
    assert SCRIPT_NAME in text and IMG_SUMMARY in text and "</title><script>alert(4)</script>" in text
    assert "<iframe src=//example.com>" in text
    assert "evil\\u202etxt.exe" in text and "\u202e" not in data.decode()  # the override is shown, not obeyed
    assert [tag for tag, _ in page.tags].count("script") == 1 and "img" not in [tag for tag, _ in page.tags]
    assert b"<script>alert" not in data and b"<img" not in data
    for _, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs)


def test_complete_without_javascript(report: ScanReport) -> None:
    page = Page(get_format(FINDINGS, "html").render(report))
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and "data-order" in attrs]
    assert len(rows) == len(report.findings)
    assert [attrs["data-kev"] for attrs in rows] == ["0", "1", "0", "0"]
    [controls] = [attrs for tag, attrs in page.tags if attrs.get("id") == "controls"]
    assert "hidden" in controls  # the filters do nothing without the script, so they show only with it
    assert "[hidden] { display: none !important; }" in "".join(page.raw["style"])
    text = " ".join(page.texts)
    for expected in ("Known exploited (CISA KEV)", "due 2026-12-15", "known ransomware use", "1.23% (percentile 0.85)",
                     "bundle 3 day(s), oldest provider nvd 122 day(s)", "Pillow 8.4.0 -> 9.0.1 fixes",
                     "version not understood", "a catalog warning", "Debian:11", "partial"):
        assert expected in text, expected
    assert "<svg" in get_format(FINDINGS, "html").render(report).decode()


def test_attestation_digest_and_empty_report(report: ScanReport) -> None:
    signed = dataclasses.replace(report, attestation_sha256="ab" * 32)
    assert f"sha256:{'ab' * 32}" in get_format(FINDINGS, "html").render(signed).decode()
    assert "Signed attestation" not in get_format(FINDINGS, "html").render(report).decode()
    empty = dataclasses.replace(report, findings=(), suppressed=(), unevaluated=(), remediations=(), warnings=())
    page = Page(get_format(FINDINGS, "html").render(empty))
    assert not [attrs for tag, attrs in page.tags if tag == "tr" and "data-order" in attrs]
    assert "Nothing to remediate." in page.texts


def test_script_only_uses_what_the_policy_allows() -> None:
    """No eval, no string timers, no network API: what a hash-allowed script could still do."""
    for forbidden in ("eval(", "Function(", "setTimeout", "setInterval", "innerHTML", "fetch(", "XMLHttpRequest",
                      "import(", "WebSocket", "location", "document.write"):
        assert forbidden not in html_report.SCRIPT, forbidden
    assert re.search(r"createElement\(\"(?!button)", html_report.SCRIPT) is None
