"""The `redhat` provider's Security Data API per-CVE documents, alone and beside CSAF (VEX, RHSA)."""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.cli import main as dbbuilder_main
from dbbuilder.compile import compile_database
from dbbuilder.sources import redhat
from dbbuilder.sources.records import MalformedFeedError
from dbbuilder.sources.redhat_securitydata import (
    LIST_ENTRY_SKIP,
    MODULE_BUILD_SKIP,
    NO_PACKAGE_SKIP,
    NOT_RPM_SKIP,
)
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import by_id, read_all, read_skipping_once, read_with_facts
from tests.dbbuilder.sources.test_redhat import CSAF, run_cli, scan_findings, write_document

CVE = "CVE-2099-0001"


def _fix(cpe: str, package: str | None, advisory: str, date: str = "2099-02-01T00:00:00Z") -> dict[str, Any]:
    return {"product_name": "Red Hat Enterprise Linux", "release_date": date, "advisory": advisory, "cpe": cpe,
            "package": package}


def _state(cpe: str, name: str, state: str) -> dict[str, Any]:
    return {"product_name": "Red Hat Enterprise Linux", "fix_state": state, "package_name": name, "cpe": cpe}


EL6, EL7, EL8, EL9 = (f"cpe:/o:redhat:enterprise_linux:{major}" for major in (6, 7, 8, 9))
DOCUMENT: dict[str, Any] = {
    "name": CVE,
    "threat_severity": "Low",
    "public_date": "2099-01-01T00:00:00Z",
    "bugzilla": {"description": "widget: overflow in parser", "id": "1",
                 "url": "https://bugzilla.redhat.com/show_bug.cgi?id=1"},
    "cvss3": {"cvss3_base_score": "9.8", "cvss3_scoring_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
              "status": "verified"},
    "cwe": "(CWE-120|CWE-787)",
    "details": ["Upstream description.", "Red Hat description."],
    "statement": "Only the parser is affected.",
    "mitigation": {"value": "Do not parse untrusted input.", "lang": "en:us"},
    "references": ["https://example.org/a\nhttps://example.org/b"],
    "affected_release": [
        _fix("cpe:/a:redhat:enterprise_linux:9", "widget-1:2.0-3.el9_3", "RHSA-2099:0001"),
        _fix("cpe:/o:redhat:rhel_aus:8.4::baseos", "widget-0:2.0-2.el8_4.1", "RHSA-2099:0002", "2099-03-01T00:00:00Z"),
        _fix(EL8, "nodejs:18-8090020231019152822.a75119d5", "RHSA-2099:0003"),
        _fix("cpe:/a:redhat:jboss_enterprise_application_platform:7", None, "RHSA-2099:0004"),
    ],
    "package_state": [
        _state(EL7, "widget", "Will not fix"),
        _state(EL6, "widget", "Out of support scope"),
        _state(EL8, "gadget", "Fix deferred"),
        _state(EL8, "nodejs:18/nodejs", "Affected"),
        _state(EL8, "doohickey", "Under investigation"),
        _state(EL9, "gadget", "Not affected"),
        _state(EL9, "firefox:flatpak/firefox", "Affected"),
        _state(EL9, "rhel9/widget-app", "Affected"),
    ],
}


def write_cve(directory: Path, document: object, name: str = CVE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(document))  # no suffix, as vunnel stores them
    return directory


def test_document_maps_onto_per_cve_and_advisory_parts(tmp_path: Path) -> None:
    records, skips, facts = read_with_facts("redhat", [write_cve(tmp_path, DOCUMENT)])
    assert dict(skips.reasons) == {MODULE_BUILD_SKIP: 1, NO_PACKAGE_SKIP: 1, NOT_RPM_SKIP: 2}
    assert facts.timestamps == [] and facts.exports == {}  # the document states no time of its own
    found = by_id(records)
    assert set(found) == {f"REDHAT-{CVE}", *(f"RHSA-2099:000{n}" for n in range(1, 5))}
    part = found[f"REDHAT-{CVE}"]
    assert (part.part_precedence, part.upstream, part.related) == (
        2, (CVE,), ("RHSA-2099:0001", "RHSA-2099:0002", "RHSA-2099:0003", "RHSA-2099:0004"))
    assert (part.summary, part.severity, part.published, part.modified, part.cwes) == (
        "widget: overflow in parser", "low", "2099-01-01T00:00:00Z", "2099-03-01T00:00:00Z", ("CWE-120", "CWE-787"))
    assert part.details == ("Upstream description.\n\nRed Hat description.\n\nStatement: Only the parser is affected."
                            "\n\nMitigation: Do not parse untrusted input.")
    assert part.references == ("https://example.org/a", "https://example.org/b",
                               "https://bugzilla.redhat.com/show_bug.cgi?id=1")
    assert [(s.source, s.type, s.score) for s in part.severities] == [("redhat", "CVSS_V3", 9.8)]
    rows = {(row.ecosystem, row.package): (row.fix_state, json.loads(row.fixed) if row.fixed else None)
            for row in part.affected}
    assert rows == {
        ("Red Hat:enterprise_linux:9", "widget"): (FixState.FIXED, ["1:2.0-3.el9_3"]),  # epoch kept, 0 left out
        ("Red Hat:rhel_aus:8.4::baseos", "widget"): (FixState.FIXED, ["2.0-2.el8_4.1"]),
        ("Red Hat:enterprise_linux:7", "widget"): (FixState.WONT_FIX, None),
        ("Red Hat:enterprise_linux:6", "widget"): (FixState.WONT_FIX, None),  # out of support scope
        ("Red Hat:enterprise_linux:8", "gadget"): (FixState.NOT_FIXED, None),  # fix deferred
        ("Red Hat:enterprise_linux:8::module:nodejs:18", "nodejs"): (FixState.NOT_FIXED, None),
        ("Red Hat:enterprise_linux:8", "doohickey"): (FixState.UNDER_INVESTIGATION, None),
        ("Red Hat:enterprise_linux:9", "gadget"): (FixState.NOT_AFFECTED, None),
    }
    advisory = found["RHSA-2099:0002"]
    assert (advisory.part_precedence, advisory.upstream, advisory.published, advisory.affected) == (
        2, (CVE,), "2099-03-01T00:00:00Z", ())


def test_real_documents(feeds: Path) -> None:
    records, skips = read_all("redhat", [feeds / "redhat" / "vunnel-oval"])
    # min/ holds the CVE list API's entries of the same 20 CVEs; 22 package states name flatpak applications.
    assert dict(skips.reasons) == {LIST_ENTRY_SKIP: 20, NOT_RPM_SKIP: 22}
    assert sum(record.id.startswith("REDHAT-CVE-") for record in records) == 20

    def rows(cve: str) -> dict[tuple[str, str], tuple[FixState, list[str] | None]]:
        return {(row.ecosystem, row.package): (row.fix_state, json.loads(row.fixed) if row.fixed else None)
                for row in by_id(records)[f"REDHAT-{cve}"].affected}

    libwebp = {ecosystem: state for (ecosystem, package), state in rows("CVE-2023-4863").items()
               if package == "libwebp"}
    # Release-wide CPEs, and the EUS/AUS/E4S/TUS releases under their own names.
    assert libwebp["Red Hat:enterprise_linux:8"] == (FixState.FIXED, ["1.0.0-8.el8_8.1"])
    assert libwebp["Red Hat:rhel_eus:8.6"] == (FixState.FIXED, ["1.0.0-7.el8_6.1"])
    assert libwebp["Red Hat:rhel_aus:8.4"] == libwebp["Red Hat:rhel_tus:8.4"] == libwebp["Red Hat:rhel_e4s:8.4"] \
        == (FixState.FIXED, ["1.0.0-7.el8_4.1"])
    assert libwebp["Red Hat:enterprise_linux:7"] == (FixState.NOT_AFFECTED, None)
    java = rows("CVE-2017-3509")
    assert java[("Red Hat:rhel_extras_oracle_java:6", "java-1.8.0-oracle")] == (
        FixState.FIXED, ["1:1.8.0.131-1jpp.1.el6"])
    assert java[("Red Hat:enterprise_linux:5", "java-1.6.0-sun")] == (FixState.WONT_FIX, None)
    assert rows("CVE-2022-1921")[("Red Hat:enterprise_linux:7", "gstreamer1-plugins-good")] == (
        FixState.WONT_FIX, None)  # "Out of support scope"
    assert rows("CVE-2022-2309")[("Red Hat:enterprise_linux:8::module:python38:3.8", "python-lxml")] == (
        FixState.NOT_AFFECTED, None)  # "python38:3.8/python-lxml"
    # RHSA-2023:5309 fixed both libwebp CVEs: one part from each document.
    assert sorted(r.upstream for r in records if r.id == "RHSA-2023:5309") == [("CVE-2023-4863",), ("CVE-2023-5129",)]


def _with(changes: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document.update(changes)
    return document


def _release(**changes: Any) -> dict[str, Any]:
    """DOCUMENT with its first fix (widget for RHEL 9) changed."""
    first, *others = DOCUMENT["affected_release"]
    return _with({"affected_release": [{**first, **changes}, *others]})


def _package_state(**changes: Any) -> dict[str, Any]:
    """DOCUMENT with its first package state (widget for RHEL 7) changed."""
    first, *others = DOCUMENT["package_state"]
    return _with({"package_state": [{**first, **changes}, *others]})


@pytest.mark.parametrize(("document", "reason"), [
    ([1, 2], "document is not an object"),
    ({"name": "CVE-2099-0001", "unrelated": True}, redhat.UNKNOWN_FORM),
    (_with({"name": "not-a-cve"}), "security data document without CVE id"),
    (_with({"name": 2099}), "security data document without CVE id"),
    (_with({"affected_release": {"package": "widget-0:1-1"}}), "affected_release is not a list"),
    (_with({"package_state": ["widget"]}), "package_state entry is not an object"),
    (_release(package=5), "affected_release package is not a string"),
    (_release(advisory=["RHSA-2099:0001"]), "affected_release advisory is not a string"),
    (_package_state(fix_state=3), "package_state entry without package_name and fix_state strings"),
    (_with({"cvss3": "CVSS:3.1/AV:N"}), "cvss3 is not an object"),
    (_with({"bugzilla": ["1"]}), "bugzilla is not an object"),
    (_with({"details": "text"}), "details is not a list of strings"),
    (_with({"threat_severity": 5}), "threat_severity is not a string"),
    (_with({"public_date": {"date": "2099"}}), "public_date is not a string"),
    (_with({"mitigation": "none"}), "mitigation is not an object"),
    (_with({"package_state": ""}), "package_state is not a list"),
    (_with({"references": False}), "references is not a list of strings"),
    (_with({"affected_release": [_fix(EL9, "widget-0:2.0-3.el9", "RHSA-2099:0001"),
                                 _fix(EL9, "widget-0:2.0-4.el9", "RHSA-2099:0005")]}),
     "conflicting states for one package"),
])
def test_malformed_documents_are_skipped_with_a_reason_and_fatal_when_strict(
        tmp_path: Path, document: object, reason: str) -> None:
    write_cve(tmp_path, document)
    assert read_skipping_once("redhat", [tmp_path], reason) == []


@pytest.mark.parametrize(("document", "reason"), [
    (_release(package="widget"), "invalid NEVRA"),
    (_release(package="widget-2.0"), "invalid NEVRA"),
    (_release(package="widget-0:2.0-3.el9\n"), "invalid NEVRA"),
    (_release(cpe="cpe:/o:debian:debian_linux:12"), "entry without a Red Hat product CPE"),
    (_release(cpe="cpe:/o:redhat:enterprise_linux:9\n"), "entry without a Red Hat product CPE"),
    (_release(cpe=None), "entry without a Red Hat product CPE"),
    (_package_state(fix_state="Pending triage"), "unknown fix_state"),
    (_package_state(package_name="wid get"), "invalid package name"),
    (_package_state(package_name="nodejs:18/"), "invalid package name"),
])
def test_malformed_entries_are_skipped_and_the_rest_kept(tmp_path: Path, document: dict[str, Any],
                                                         reason: str) -> None:
    write_cve(tmp_path, document)
    records, skips = read_all("redhat", [tmp_path])
    assert dict(skips.reasons) == {MODULE_BUILD_SKIP: 1, NO_PACKAGE_SKIP: 1, NOT_RPM_SKIP: 2, reason: 1}
    [part] = [record for record in records if record.id == f"REDHAT-{CVE}"]
    assert part.summary == "widget: overflow in parser"
    assert len(part.affected) == 7  # the eight rows of DOCUMENT but the malformed entry's
    with pytest.raises(MalformedFeedError, match=reason):
        read_all("redhat", [tmp_path], strict=True)


def test_non_rpm_entries_and_list_entries_are_counted_but_not_fatal_when_strict(tmp_path: Path,
                                                                                feeds: Path) -> None:
    write_cve(tmp_path, DOCUMENT)
    (tmp_path / "CVE-2023-4863").write_bytes((feeds / "redhat/vunnel-oval/input/cve/min/CVE-2023-4863").read_bytes())
    records, skips = read_all("redhat", [tmp_path], strict=True)
    assert dict(skips.reasons) == {MODULE_BUILD_SKIP: 1, NO_PACKAGE_SKIP: 1, NOT_RPM_SKIP: 2, LIST_ENTRY_SKIP: 1}
    assert {record.id for record in records if record.id.startswith("REDHAT-")} == {f"REDHAT-{CVE}"}


def test_huge_and_unparsable_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redhat, "MAX_FILE_BYTES", 4096)
    write_cve(tmp_path, _with({"details": ["x" * 5000]}), "CVE-2099-0002")
    (tmp_path / "CVE-2099-0003").write_text("[" * 2000 + "]" * 2000)
    (tmp_path / "CVE-2099-0004").write_bytes(b"\xff\xfe{")
    write_cve(tmp_path, DOCUMENT)
    records, skips = read_all("redhat", [tmp_path])
    assert skips.reasons["file too large"] == 1 and skips.reasons["invalid JSON"] == 2
    assert {record.id for record in records if record.id.startswith("REDHAT-")} == {f"REDHAT-{CVE}"}


def _vex() -> dict[str, Any]:
    vex = copy.deepcopy(CSAF)
    vex["document"]["category"] = "csaf_vex"
    vex["document"]["tracking"]["id"] = CVE
    vex["vulnerabilities"] = vex["vulnerabilities"][:1]
    return vex


def test_a_vex_file_supersedes_the_security_data_rows_of_its_cve_whatever_the_file_order(tmp_path: Path) -> None:
    write_cve(tmp_path / "a", DOCUMENT)  # read before the VEX file by name, and still superseded
    write_document(tmp_path / "b", _vex(), "cve-2099-0001.json")
    records, _ = read_all("redhat", [tmp_path])
    parts = {record.part_precedence: record for record in records if record.id == f"REDHAT-{CVE}"}
    assert set(parts) == {0, 2}
    assert parts[2].affected == () and parts[2].details is not None and len(parts[2].related) == 4
    assert {row.ecosystem for row in parts[0].affected} == {
        "Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::appstream::module:ruby:2.7"}


def _database(tmp_path: Path, *inputs: Path) -> sqlite3.Connection:
    out = tmp_path / "vulns.sqlite"
    compile_database(out, {"redhat": list(inputs)})
    return sqlite3.connect(out)


def test_assembled_cve_takes_vex_rows_and_rating_and_fills_gaps_from_security_data(tmp_path: Path) -> None:
    write_cve(tmp_path / "in", DOCUMENT)
    write_document(tmp_path / "in", _vex(), "cve-2099-0001.json")
    with closing(_database(tmp_path, tmp_path / "in")) as db:
        ecosystems = {row[0] for row in db.execute("SELECT ecosystem FROM affected WHERE vuln_id = ?",
                                                   (f"REDHAT-{CVE}",))}
        assert ecosystems == {"Red Hat:enterprise_linux:9::appstream",
                              "Red Hat:enterprise_linux:9::appstream::module:ruby:2.7"}
        severity, summary = db.execute("SELECT severity, summary FROM vulnerabilities WHERE id = ?",
                                       (f"REDHAT-{CVE}",)).fetchone()
        assert (severity, summary) == ("high", "widget: overflow")  # the VEX file's, not "low"
        details, related = db.execute("SELECT details, related FROM details WHERE vuln_id = ?",
                                      (f"REDHAT-{CVE}",)).fetchone()
        assert details.startswith("Upstream description.") and "RHSA-2099:0002" in json.loads(related)


def test_rhsa_and_security_data_parts_of_one_advisory_merge(tmp_path: Path) -> None:
    """An RHSA read as CSAF and named by a security data document: one advisory, the CSAF title, both CVEs."""
    other = _with({"name": "CVE-2099-0009"})
    write_cve(tmp_path / "in", DOCUMENT)
    write_cve(tmp_path / "in", other, "CVE-2099-0009")
    write_document(tmp_path / "in", CSAF)
    with closing(_database(tmp_path, tmp_path / "in")) as db:
        summary, = db.execute("SELECT summary FROM vulnerabilities WHERE id = 'RHSA-2099:0001'").fetchone()
        upstream, = db.execute("SELECT upstream FROM details WHERE vuln_id = 'RHSA-2099:0001'").fetchone()
        assert summary == "Red Hat Security Advisory: widget security update"
        assert json.loads(upstream) == ["CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0009"]
        # The RHSA's stream row and the security data's release row are both kept: an image of the release reads both.
        rows = set(db.execute("SELECT ecosystem, fixed FROM affected WHERE vuln_id = ? AND package = 'widget'",
                              (f"REDHAT-{CVE}",)))
        assert {("Red Hat:enterprise_linux:9::appstream", '["1:2.0-3.el9_3"]'),
                ("Red Hat:enterprise_linux:9", '["1:2.0-3.el9_3"]')} <= rows


def test_cli_builds_both_forms_inspect_lists_the_streams_and_a_scan_finds_the_fix(
        tmp_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    keys, bundle, state = tmp_path / "keys", tmp_path / "redhat.bundle", tmp_path / "state"
    run_cli(monkeypatch, capsys, dbbuilder_main, "keygen", "--out", str(keys), "--name", "release")
    run_cli(monkeypatch, capsys, dbbuilder_main, "build", "--redhat", str(feeds / "redhat" / "vunnel-csaf"),
            "--redhat", str(feeds / "redhat" / "vunnel-oval"), "--key", str(keys / "release.pem"),
            "--channel", "t", "--bundle-version", "1", "--out", str(bundle))
    shown = run_cli(monkeypatch, capsys, dbbuilder_main, "inspect", str(bundle))
    # Records per release and stream, from the manifest's coverage rows.
    coverage = dict(re.findall(r"^  (Red Hat:\S+)\s+partial\s+redhat: (\d+) records", shown, re.MULTILINE))
    assert {ecosystem: coverage.get(ecosystem) for ecosystem in (
        "Red Hat:enterprise_linux:8", "Red Hat:rhel_eus:8.6", "Red Hat:rhel_eus:8.6::baseos",
        "Red Hat:rhel_aus:8.4", "Red Hat:enterprise_linux:8::appstream::module:ruby:2.7",
        "Red Hat:enterprise_linux:8::module:python38:3.8")} == {
        "Red Hat:enterprise_linux:8": "14", "Red Hat:rhel_eus:8.6": "3", "Red Hat:rhel_eus:8.6::baseos": "3",
        "Red Hat:rhel_aus:8.4": "3", "Red Hat:enterprise_linux:8::appstream::module:ruby:2.7": "3",
        "Red Hat:enterprise_linux:8::module:python38:3.8": "1"}
    findings = scan_findings(monkeypatch, capsys, keys, bundle, state, {
        "name": "libwebp", "version": "1.0.0-7.el8",
        "purl": "pkg:rpm/redhat/libwebp@1.0.0-7.el8?arch=x86_64&distro=rhel-8.8"})
    # Both libwebp CVEs, fixed for RHEL 8 by RHSA-2023:5309 (security data only: no CSAF file names them).
    assert set(findings) == {"CVE-2023-4863", "CVE-2023-5129"}
    finding = findings["CVE-2023-4863"]
    assert finding["fix"]["state"] == "fixed" and finding["fix"]["versions"] == ["1.0.0-8.el8_8.1"]
    assert finding["vulnerability"]["severity"] == "high"
    assert finding["vulnerability"]["severity_origin"]["source"] == "redhat"
    assert "RHSA-2023:5309" in finding["vulnerability"]["aliases"]


def test_null_members_are_absent(tmp_path: Path) -> None:
    document = _with({"cvss3": None, "mitigation": None, "statement": None, "details": None, "package_state": None})
    records, _ = read_all("redhat", [write_cve(tmp_path, document)], strict=True)
    part = by_id(records)[f"REDHAT-{CVE}"]
    assert (part.details, part.severities, len(part.affected)) == (None, (), 2)
