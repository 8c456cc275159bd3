"""Red Hat OVAL v2 files through the `redhat` provider (dbbuilder/sources/redhat_oval.py).

The fixture (fixtures/rhel-8.oval.xml, invented data in the structure of Red Hat's file; its comment names the
sources it follows) has a patch definition of three packages with signature tests, a module-stream patch, an
unpatched `vulnerability` definition with resolution states and a module branch, and an "unaffected
components" definition ("installed" and "not installed").
"""

from __future__ import annotations

import bz2
import copy
import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.cli import main as dbbuilder_main
from dbbuilder.compile.database import compile_database
from dbbuilder.sources import oval
from dbbuilder.sources.records import MalformedFeedError, Record
from dbbuilder.sources.redhat import accepts
from dbbuilder.sources.redhat_oval import NOT_OVAL, PRECEDENCE_OVAL
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import by_id, read_all, read_with_facts
from tests.dbbuilder.sources.test_redhat import CSAF, write_document

FIXTURE = Path(__file__).parent / "fixtures" / "rhel-8.oval.xml"
TEXT = FIXTURE.read_text()
RHEL8 = "Red Hat:enterprise_linux:8"
NODEJS = "Red Hat:enterprise_linux:8::appstream::module:nodejs:18"


def write(directory: Path, text: str, name: str = "rhel-8.oval.xml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


def rows(record: Record) -> dict[tuple[str, str], tuple[FixState, list[str] | None]]:
    return {(row.ecosystem, row.package): (row.fix_state, None if row.fixed is None else json.loads(row.fixed))
            for row in record.affected}


def test_the_fixture_gives_advisory_and_cve_parts() -> None:
    records, skips, facts = read_with_facts("redhat", [FIXTURE], strict=True)
    assert dict(skips.reasons) == {}
    assert facts.timestamps == ["2099-03-04T05:06:07Z"] and facts.exports == {}  # never a whole export
    found = by_id(records)
    assert list(found) == ["RHSA-2099:0001", "REDHAT-CVE-2099-1001", "REDHAT-CVE-2099-1002", "RHSA-2099:0002",
                           "REDHAT-CVE-2099-2001", "REDHAT-CVE-2099-3001", "REDHAT-CVE-2099-3002"]
    assert all(record.part_precedence == PRECEDENCE_OVAL and record.provider == "redhat" for record in records)
    advisory = found["RHSA-2099:0001"]
    assert advisory.affected == () and advisory.upstream == ("CVE-2099-1001", "CVE-2099-1002")
    assert (advisory.summary, advisory.severity, advisory.published, advisory.modified) == (
        "libwidget security update", "high", "2099-01-10T00:00:00Z", "2099-01-12T00:00:00Z")
    # Every package of the patch counts for every CVE; the affected_cpe_list names several streams of RHEL 8:
    # the rows go to the release. The signature tests qualify, they bound nothing; the epoch is kept when not 0.
    patched = {(RHEL8, "libwidget"): (FixState.FIXED, ["2.4.1-3.el8_9"]),
               (RHEL8, "libwidget-devel"): (FixState.FIXED, ["2.4.1-3.el8_9"]),
               (RHEL8, "widget-tools"): (FixState.FIXED, ["1:2.4.1-3.el8_9"])}
    first, second = found["REDHAT-CVE-2099-1001"], found["REDHAT-CVE-2099-1002"]
    assert rows(first) == rows(second) == patched
    assert (first.related, first.severity, first.published, first.modified, first.cwes) == (
        ("RHSA-2099:0001",), "high", "2099-01-05T00:00:00Z", "2099-01-12T00:00:00Z", ("CWE-122",))
    assert [(s.source, s.score) for s in first.severities] == [("redhat", 8.8)]
    # No impact of its own: the advisory's rating; its public date "20990106:1200" is read by the day.
    assert (second.severity, second.published, second.cwes) == ("high", "2099-01-06T00:00:00Z", ("CWE-400", "CWE-770"))
    # "Module nodejs:18 is enabled": the packages go to the module stream of the one stream the list names.
    assert rows(found["REDHAT-CVE-2099-2001"]) == {
        (NODEJS, "nodejs"): (FixState.FIXED, ["1:18.19.1-1.module+el8.9.0+21388+ee0a5a37"]),
        (NODEJS, "npm"): (FixState.FIXED, ["1:10.2.4-1.18.19.1.1.module+el8.9.0+21388+ee0a5a37"])}
    unpatched = found["REDHAT-CVE-2099-3001"]
    assert rows(unpatched) == {
        (f"{RHEL8}::crb", "gadget"): (FixState.WONT_FIX, None),  # its resolution: Will not fix
        (f"{RHEL8}::crb", "gadget-libs"): (FixState.NOT_FIXED, None),  # named by no resolution
        (f"{RHEL8}::crb::module:nodejs:18", "nodejs-docs"): (FixState.UNDER_INVESTIGATION, None)}
    assert all(row.ranges == '[{"events":[{"introduced":"0"}],"type":"ECOSYSTEM"}]' for row in unpatched.affected)
    assert (unpatched.summary, unpatched.severity, unpatched.related, unpatched.modified) == (
        "gadget: use after free in gadget_close", "low", (), "2099-02-20T00:00:00Z")
    assert unpatched.details is not None and unpatched.details.startswith("DOCUMENTATION: A use after free")
    unaffected = found["REDHAT-CVE-2099-3002"]
    [row] = unaffected.affected
    assert (row.ecosystem, row.package, row.fix_state, row.ranges) == (RHEL8, "qemu-img", FixState.NOT_AFFECTED, None)
    assert unaffected.summary == "qemu: integer overflow in blit"


def test_a_definitions_only_extract_reads_the_same_from_the_comments(tmp_path: Path) -> None:
    # vunnel keeps Red Hat's definitions without their tests: the comments are Red Hat's templates.
    extract = re.sub(r"<tests>.*</states>", "<tests/><objects/><states/>", TEXT, flags=re.DOTALL)
    records, skips = read_all("redhat", [write(tmp_path, extract)], strict=True)
    assert dict(skips.reasons) == {}
    assert records == read_all("redhat", [FIXTURE])[0]


def test_compressed_files_and_content_not_names_decide_the_form(tmp_path: Path) -> None:
    (tmp_path / "rhel-8.oval.xml.bz2").write_bytes(bz2.compress(TEXT.encode()))
    write(tmp_path, TEXT, "misnamed.json")  # XML content: read as OVAL whatever the name
    write_document(tmp_path, CSAF, "csaf.xml")  # JSON content: read as CSAF
    records, _ = read_all("redhat", [tmp_path], strict=True)
    ids = [record.id for record in records]
    assert ids.count("REDHAT-CVE-2099-1001") == 2 and "REDHAT-CVE-2099-0001" in ids
    assert accepts(Path("RHEL8/rhel-8.oval.xml.bz2")) and accepts(Path("rhel-9.oval.xml"))


def test_release_and_stream_come_from_the_affected_cpe_list(tmp_path: Path) -> None:
    eus = TEXT.replace("cpe:/a:redhat:enterprise_linux:8::crb", "cpe:/a:redhat:rhel_eus:8.6::crb").replace(
        "cpe:/a:redhat:enterprise_linux:8::appstream", "cpe:/a:redhat:rhel_eus:8.6::appstream").replace(
        "cpe:/a:redhat:enterprise_linux:8</cpe>", "cpe:/a:redhat:rhel_eus:8.6</cpe>")
    records, skips = read_all("redhat", [write(tmp_path, eus)])
    found = by_id(records)
    assert {row.ecosystem for row in found["REDHAT-CVE-2099-2001"].affected} == {
        "Red Hat:rhel_eus:8.6::appstream::module:nodejs:18"}
    assert {row.ecosystem for row in found["REDHAT-CVE-2099-3001"].affected} == {
        "Red Hat:rhel_eus:8.6::crb", "Red Hat:rhel_eus:8.6::crb::module:nodejs:18"}
    # RHSA-2099:0001 still lists cpe:/o:redhat:enterprise_linux:8 beside the EUS ones: two releases.
    assert "RHSA-2099:0001" not in found and dict(skips.reasons) == {"affected_cpe_list of several releases": 1}


@pytest.mark.parametrize(("edit", "reason"), [
    # The release criterion must name the release of the affected_cpe_list.
    (lambda text: text.replace('comment="Red Hat Enterprise Linux 8 is installed"',
                               'comment="Red Hat Enterprise Linux 9 is installed"'),
     "release criterion and affected_cpe_list disagree"),
    # A comment is read only on the kind of test it is generated for, and only when the test's own comment
    # says the same: a release file check with another check, a module test whose comment differs from its
    # criterion's, stay tests oval does not support.
    (lambda text: text.replace('check="none satisfy" comment="Red Hat Enterprise Linux must be installed"',
                               'check="at least one" comment="Red Hat Enterprise Linux must be installed"'),
     "unsupported rpmverifyfile_test"),
    (lambda text: text.replace('comment="Module nodejs:18 is enabled" id=', 'comment="nodejs:18 stream" id='),
     "unsupported textfilecontent54_test"),
    (lambda text: text.replace("<cpe>cpe:/a:redhat:enterprise_linux:8::crb</cpe>", "<cpe>cpe:/a:fedora:f40</cpe>"),
     "affected_cpe_list with a CPE that is not a Red Hat product"),
    (lambda text: text.replace('state="Will not fix"', 'state="Maybe later"'), "unknown resolution state"),
    (lambda text: text.replace("Module nodejs:18 is enabled", "Module nodejs:18/x is enabled"), "invalid module label"),
    (lambda text: text.replace('<criterion comment="gadget-libs is installed"',
                               '<criterion negate="true" comment="gadget-libs is installed"'), "negated criterion"),
    (lambda text: text.replace("<title>RHSA-2099:0001:", "<title>RHSA-2099:0009:"),
     "patch definition without one RHSA id"),
])
def test_definitions_that_cannot_be_read_are_skipped_with_a_reason(tmp_path: Path, edit: Any, reason: str) -> None:
    path = write(tmp_path, edit(TEXT))
    records, skips = read_all("redhat", [path])
    assert skips.reasons[reason] >= 1 and set(skips.reasons) == {reason}
    assert {record.id for record in records} < {record.id for record in read_all("redhat", [FIXTURE])[0]}
    with pytest.raises(MalformedFeedError, match=re.escape(reason)):
        read_all("redhat", [path], strict=True)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE oval_definitions [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>&b;</definitions>
</oval_definitions>"""


@pytest.mark.parametrize("name", ["rhel-8.oval.xml", "CVE-2099-0001", "rhsa.json"])
def test_a_doctype_is_refused_through_the_redhat_dispatch(tmp_path: Path, name: str) -> None:
    write(tmp_path, BILLION_LAUGHS, name)
    records, skips = read_all("redhat", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"XML with a DOCTYPE": 1}
    with pytest.raises(MalformedFeedError, match="XML with a DOCTYPE"):
        read_all("redhat", [tmp_path], strict=True)


def test_dbbuilder_build_redhat_refuses_a_doctype_with_one_line_and_exit_9(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    evil = write(tmp_path / "feeds", BILLION_LAUGHS, "rhel-8.oval.xml")
    out = tmp_path / "redhat.bundle"
    codes, errors = [], []
    for args in (["keygen", "--out", str(tmp_path), "--name", "release"],
                 ["build", "--redhat", str(evil), "--strict", "--key", str(tmp_path / "release.pem"),
                  "--channel", "t", "--bundle-version", "1", "--out", str(out)]):
        monkeypatch.setattr(sys, "argv", ["dbbuilder", *args])
        with pytest.raises(SystemExit) as exited:
            dbbuilder_main()
        codes.append(exited.value.code)
        errors.append(capsys.readouterr().err)
    err = errors[1]
    assert codes == [0, 9] and err.count("\n") == 1, err
    assert "redhat: XML with a DOCTYPE in rhel-8.oval.xml" in err and not out.exists()


def test_xml_that_is_not_oval_or_not_well_formed_gives_nothing(tmp_path: Path) -> None:
    write(tmp_path, '<?xml version="1.0"?><html><body>RHSA</body></html>', "a.xml")
    write(tmp_path, TEXT.replace('<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"',
                                 '<oval_results xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"').replace(
        "</oval_definitions>", "</oval_results>"), "b.xml")
    write(tmp_path, TEXT[: len(TEXT) // 2], "c.xml")  # cut short: refused before any record is made
    (tmp_path / "d.xml.bz2").write_bytes(b"BZh9" + b"\x00" * 64)
    records, skips = read_all("redhat", [tmp_path])
    assert records == [] and dict(skips.reasons) == {NOT_OVAL: 2, "invalid XML": 1, "unreadable file": 1}


def vex(cve: str) -> dict[str, Any]:
    document = copy.deepcopy(CSAF)
    document["document"]["category"] = "csaf_vex"
    document["document"]["tracking"]["id"] = cve
    document["vulnerabilities"] = document["vulnerabilities"][:1]
    document["vulnerabilities"][0]["cve"] = cve
    return document


def test_oval_parts_assemble_below_vex_rhsa_csaf_and_security_data(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    write(feeds, TEXT)
    write_document(feeds, CSAF, "rhsa-2099_0001.json")  # the CSAF of the same RHSA (its RHEL 9 rows)
    write_document(feeds, vex("CVE-2099-1001"), "cve-2099-1001.json")
    security_data = {"name": "CVE-2099-1002", "threat_severity": "Low", "affected_release": [
        {"advisory": "RHSA-2099:0001", "release_date": "2099-01-10T00:00:00Z",
         "cpe": "cpe:/a:redhat:enterprise_linux:8", "package": "libwidget-0:2.4.1-9.el8"}]}
    write_document(feeds, security_data, "CVE-2099-1002")
    out = tmp_path / "redhat.sqlite"
    compile_database(out, {"redhat": [feeds]}, strict=True)
    with sqlite3.connect(out) as db:
        def affected(vuln: str) -> set[tuple[str, str, str, str | None]]:
            return set(db.execute("SELECT ecosystem, package, fix_state, fixed FROM affected WHERE vuln_id = ?",
                                  (vuln,)).fetchall())

        # A VEX file was read for CVE-2099-1001: its OVAL rows are dropped, the VEX's alone remain.
        assert {row[0] for row in affected("REDHAT-CVE-2099-1001")} == {
            "Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::appstream::module:ruby:2.7"}
        # CVE-2099-1002: for (RHEL 8, libwidget) the security data row wins over OVAL's; OVAL's other rows stay.
        assert affected("REDHAT-CVE-2099-1002") == {
            (RHEL8, "libwidget", "fixed", '["2.4.1-9.el8"]'),
            (RHEL8, "libwidget-devel", "fixed", '["2.4.1-3.el8_9"]'),
            (RHEL8, "widget-tools", "fixed", '["1:2.4.1-3.el8_9"]')}
        # The RHSA's CSAF leads its vulnerabilities row; the OVAL part only fills gaps.
        assert db.execute("SELECT provider, summary, severity FROM vulnerabilities WHERE id = 'RHSA-2099:0001'"
                          ).fetchone() == ("redhat", "Red Hat Security Advisory: widget security update", "medium")
        assert db.execute("SELECT summary, severity FROM vulnerabilities WHERE id = 'RHSA-2099:0002'").fetchone() == (
            "nodejs:18 security update", "medium")
        assert affected("REDHAT-CVE-2099-3002") == {(RHEL8, "qemu-img", "not-affected", None)}
        assert affected("REDHAT-CVE-2099-2001") == {
            (NODEJS, "nodejs", "fixed", '["1:18.19.1-1.module+el8.9.0+21388+ee0a5a37"]'),
            (NODEJS, "npm", "fixed", '["1:10.2.4-1.18.19.1.1.module+el8.9.0+21388+ee0a5a37"]')}
        groups = dict(db.execute("SELECT id, group_id FROM aliases WHERE id LIKE 'REDHAT-%' OR id LIKE 'RHSA-%'"))
        assert groups["REDHAT-CVE-2099-3001"] == "CVE-2099-3001"
        coverage = dict(db.execute("SELECT ecosystem, complete FROM coverage WHERE provider = 'redhat'"))
        assert coverage[RHEL8] == 0 and coverage[NODEJS] == 0


def test_oval_extensions_are_opt_in_for_the_other_providers() -> None:
    # Without read_foreign a release file check is a test oval does not support; without keep_modules a module
    # branch is left out and counted, as for Oracle.
    index = oval.read_index(FIXTURE)
    nodejs = next(item for item in oval.definitions(FIXTURE)
                  if isinstance(item, oval.Definition) and item.id.endswith(":20990002"))

    def classify(criterion: oval.Criterion, test: oval.RpmTest | None) -> oval.Fact | None:
        return None if test is None else oval.package_fact(test)

    def read_foreign(criterion: oval.Criterion, test: oval.ForeignTest) -> oval.Fact | None:
        if test.kind == "textfilecontent54_test":
            return oval.Module("nodejs:18")
        return oval.Platform("x") if criterion.comment.endswith("8 is installed") else oval.OtherProduct()

    with pytest.raises(oval.Uninterpretable, match="unsupported rpmverifyfile_test"):
        oval.evaluate(nodejs, index, classify)
    left_out = oval.evaluate(nodejs, index, classify, read_foreign=read_foreign)
    assert left_out.affected == [] and left_out.modular == 2
    kept = oval.evaluate(nodejs, index, classify, read_foreign=read_foreign, keep_modules=True)
    assert {(item.ecosystem, item.package, item.module) for item in kept.affected} == {
        ("x", "nodejs", "nodejs:18"), ("x", "npm", "nodejs:18")}
