"""Every document of every format validates against its schema, whatever the records and packages hold.

Generated records carry the dates feeds really write (Go's `0001-01-01T00:00:00Z`, year 9999, fractional
seconds, offsets, bare dates, junk), empty fields, non-ASCII and very long text and references that are
not URLs; generated catalogs carry odd names, versions and licences. Each is rendered in every findings
format (CycloneDX 1.6, SARIF 2.1.0, our JSON, the table) and every SBOM format (CycloneDX 1.6, SPDX 2.3,
our JSON, the table), and each document is validated with formats checked (`date-time` needs
rfc3339-validator, which the test extras carry). Formats without a schema are rendered too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from scanner.catalog import Catalog
from scanner.clock import Clock
from scanner.match.scan import ScanOptions, run_scan
from scanner.model import Distro, Package, Severity
from scanner.report.base import FINDINGS, SBOM, format_names, get_format
from scanner.report.sbom import SbomReport, Subject
from scanner.targets import ScanInput, TargetInfo
from tests.match.dbfixture import DATABASE_INFO, db_from_records
from tests.report.schemas import validate

NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=NO_SURROGATES), max_size=30),
    st.builds(lambda c, n: c * n, st.characters(blacklist_categories=NO_SURROGATES), st.integers(1_000, 20_000)),
)
NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(str.strip)  # a PURL name is never blank


def _iso(moment: datetime, offset_minutes: int, fraction: bool) -> str:
    moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    return (moment if fraction else moment.replace(microsecond=0)).isoformat()


FEED_TIMES = st.one_of(
    st.sampled_from([None, "", "0001-01-01T00:00:00Z", "1-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00", "2024-02-29T12:34:56.789123Z",
                     "2023-06-01T08:00:00+05:30", "2023-06-01", "2023-06-01T08:00:00", "yesterday",
                     "2023-13-01T00:00:00Z", "  2023-06-01T08:00:00Z  "]),
    st.builds(_iso, st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
              st.integers(-23 * 60, 23 * 60), st.booleans()),
)
URLS = st.one_of(st.sampled_from(["https://example.org/advisory?id=1#top", "not a url", "https://example.org/ü",
                                  "https://example.org/a b", "https://example.org:port/", "", "mailto:a@b.c"]), TEXT)
VECTORS = st.sampled_from(["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                           "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                           "AV:N/AC:L/Au:N/C:P/I:N/A:N", "CVSS:3.1/garbage"])


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    made = []
    for index in range(draw(st.integers(1, 4))):
        cve = f"CVE-2030-{draw(st.integers(1000, 1_000_000))}"
        made.append({
            "id": f"GHSA-{index}{index}{index}{index}-pppp-qqqq", "aliases": draw(st.sampled_from([[cve], []])),
            "summary": draw(TEXT), "details": draw(TEXT),
            "published": draw(FEED_TIMES), "modified": draw(FEED_TIMES),
            "references": [{"url": url} for url in draw(st.lists(URLS, max_size=3))],
            "severity": [{"type": "CVSS_V3", "score": vector} for vector in draw(st.lists(VECTORS, max_size=2))],
            "database_specific": {"severity": draw(st.sampled_from(["", "LOW", "MODERATE", "CRITICAL", "bogus"])),
                                  "cwe_ids": draw(st.lists(st.sampled_from(["CWE-79", "CWE-²", "NVD-CWE-Other"]),
                                                           max_size=2))},
            "affected": [{"package": {"ecosystem": "PyPI", "name": "pkg"}, "ranges": [{"type": "ECOSYSTEM", "events": [
                {"introduced": "0"}, {"fixed": draw(st.sampled_from(["2.0", "1.0", "3.0rc1"]))}]}]}],
        })
    return made


@contextmanager
def source_date_epoch(value: str | None) -> Iterator[None]:
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        os.environ.pop("SOURCE_DATE_EPOCH", None)
    else:
        os.environ["SOURCE_DATE_EPOCH"] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def test_the_formats_with_a_schema_are_registered() -> None:
    assert {"json", "sarif", "cyclonedx-json"} <= set(format_names(FINDINGS))
    assert {"json", "cyclonedx-json", "spdx-json"} <= set(format_names(SBOM))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated=records(), location=TEXT, target_name=NAME, pretty=TEXT,
       epoch=st.sampled_from([None, "0", "1796083200", "253402300799"]),
       unknown_as=st.sampled_from([None, Severity.LOW]))
def test_findings_documents_validate(generated: list[dict[str, Any]], location: str, target_name: str, pretty: str,
                                     epoch: str | None, unknown_as: Severity | None) -> None:
    package = Package(name="pkg", version="1.5", type="pypi", ecosystem="PyPI", purl="pkg:pypi/pkg@1.5",
                      locations=(location,), layer_index=0, layer_digest="sha256:" + "1" * 64)
    target = TargetInfo(kind="image", name=target_name, format="docker-archive", digest="sha256:" + "9" * 64,
                        tags=(target_name,), distro=Distro(id="debian", version_id="11", pretty_name=pretty))
    with tempfile.TemporaryDirectory() as work, source_date_epoch(epoch):
        database = db_from_records(Path(work) / "v.sqlite", generated)
        report = run_scan(ScanInput(target, (package,), ()), database_path=database, database=DATABASE_INFO,
                          options=ScanOptions(fail_on=Severity.HIGH, unknown_as=unknown_as), clock=Clock(os.environ))
    # pkg 1.5 is affected by every record that is not fixed in 1.0: most examples have findings.
    assert report.findings or all(r["affected"][0]["ranges"][0]["events"][1]["fixed"] == "1.0" for r in generated)
    documents = {name: get_format(FINDINGS, name).render(report) for name in format_names(FINDINGS)}
    for name, data in documents.items():
        validate(name, data)
    assert report.generated_at in documents["table"].decode()
    if epoch is not None:
        assert report.generated_at == report.started_at == datetime.fromtimestamp(int(epoch), UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")


PACKAGE_TYPES = st.sampled_from([("pypi", "PyPI"), ("deb", "Debian:12"), ("npm", "npm"), ("golang", "Go")])


@st.composite
def packages(draw: st.DrawFn) -> Package:
    kind, ecosystem = draw(PACKAGE_TYPES)
    name, version = draw(NAME), draw(NAME)
    return Package(name=name, version=version, type=kind, ecosystem=ecosystem,
                   purl=PackageURL(type=kind, name=name, version=version).to_string(),
                   cataloger=kind, licenses=tuple(draw(st.lists(st.one_of(TEXT, st.just("MIT OR Apache-2.0")),
                                                                max_size=2))),
                   source_name=draw(st.sampled_from(["", "source-ü"])), locations=(draw(TEXT),),
                   layer_index=draw(st.sampled_from([None, 0, 3])), owned_by=draw(st.sampled_from(["", "owner"])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog=st.lists(packages(), max_size=4, unique=True),
       moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                           timezones=st.just(UTC)),
       subject_name=NAME, pretty=TEXT, tags=st.lists(NAME, max_size=2))
def test_sbom_documents_validate(catalog: list[Package], moment: datetime, subject_name: str, pretty: str,
                                 tags: list[str]) -> None:
    distro = Distro(id="debian", version_id="12", pretty_name=pretty)
    report = SbomReport(subject=Subject(name=subject_name, tags=tuple(tags), config_digest="sha256:" + "c" * 64),
                        catalog=Catalog(distro, tuple(sorted(catalog))), timestamp=moment)
    documents = {name: get_format(SBOM, name).render(report) for name in format_names(SBOM)}
    for name, data in documents.items():
        validate(name, data)
    assert documents["table"]
