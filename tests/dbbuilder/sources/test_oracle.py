"""Oracle ELSA OVAL (`oracle/mock_data`, `mock_ksplice_data`, `mock_per_arch_data`): expected rows written by
hand from the fixtures' XML."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dbbuilder.compile import compile_database
from dbbuilder.sources.oracle import ARCH_MERGED
from dbbuilder.sources.oval import MODULE_SKIP
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import by_id, read_all, read_with_facts
from tests.dbbuilder.sources.test_oval import LINUX


def test_mock_data(feeds: Path) -> None:
    records, skips = read_all("oracle", [feeds / "oracle" / "mock_data"])
    found = by_id(records)
    assert sorted(found) == ["ELSA-2007-0057", "ELSA-2018-4250"]
    bind = found["ELSA-2007-0057"]
    # "Oracle Linux 5 is installed" AND OR(AND("bind-devel is earlier than 30:9.3.3-8.el5", signed) …): the
    # file holds almost none of these tests (two, with objects it lacks), so the comments are read.
    assert [row.package for row in bind.affected] == [
        "bind", "bind-chroot", "bind-devel", "bind-libbind-devel", "bind-libs", "bind-sdb", "bind-utils",
        "caching-nameserver"]
    assert {(row.ecosystem, row.fix_state, row.fixed) for row in bind.affected} == {
        ("Oracle Linux:5", FixState.FIXED, '["30:9.3.3-8.el5"]')}  # epoch 30 kept
    assert bind.upstream == ("CVE-2007-0493", "CVE-2007-0494") and bind.severity == "medium"
    assert bind.published == bind.modified == "2007-06-26T00:00:00Z"
    assert bind.summary == "Moderate: bind security update (MODERATE)"
    uek = found["ELSA-2018-4250"]
    assert {(row.ecosystem, row.fixed) for row in uek.affected} == {
        ("Oracle Linux:6", '["2.6.39-400.302.2.el6uek"]')}  # epoch 0 dropped, as in Red Hat's rows
    assert len(uek.affected) == 6 and uek.severity == "high"
    assert skips.skipped == 0


def test_ksplice_fixes_go_to_the_ksplice_channel_only(feeds: Path) -> None:
    [record], _ = read_all("oracle", [feeds / "oracle" / "mock_ksplice_data"])
    # openssl < 2:1.1.1g-15.ksplice1.el8_3 AND "openssl is ksplice-based": never a row of Oracle Linux:8.
    assert {row.ecosystem for row in record.affected} == {"Oracle Linux:8:ksplice"}
    assert [(row.package, row.fixed) for row in record.affected] == [
        (name, '["2:1.1.1g-15.ksplice1.el8_3"]') for name in
        ("openssl", "openssl-debugsource", "openssl-devel", "openssl-libs", "openssl-perl", "openssl-static")]


def test_per_architecture_fixes(feeds: Path) -> None:
    records, skips = read_all("oracle", [feeds / "oracle" / "mock_per_arch_data"])
    found = by_id(records)
    # ELSA-2022-4803: rsyslog 8.24.0-57.0.4.el7_9.3 on aarch64, 57.0.1 on x86_64. Rows have no architecture:
    # the row is the union (vulnerable below 57.0.4), both fixes listed; the 18 merged packages are counted.
    rsyslog = next(row for row in found["ELSA-2022-4803"].affected if row.package == "rsyslog")
    assert rsyslog.fixed == '["8.24.0-57.0.1.el7_9.3","8.24.0-57.0.4.el7_9.3"]'
    assert rsyslog.ranges == ('[{"events":[{"introduced":"0"},{"fixed":"8.24.0-57.0.1.el7_9.3"}],"type":"ECOSYSTEM"},'
                              '{"events":[{"introduced":"0"},{"fixed":"8.24.0-57.0.4.el7_9.3"}],"type":"ECOSYSTEM"}]')
    assert len(found["ELSA-2022-4803"].affected) == 18
    # ELSA-2025-10073: one firefox fix on both arches: one plain row.
    [firefox] = found["ELSA-2025-10073"].affected
    assert (firefox.ecosystem, firefox.fixed) == ("Oracle Linux:10", '["128.12.0-1.0.1.el10_0"]')
    # ELSA-2024-2961: two osbuild builds, each on both arches: both fixes, not an architecture difference.
    osbuild = next(row for row in found["ELSA-2024-2961"].affected if row.package == "osbuild")
    assert osbuild.fixed == '["110-1.0.1.el8","110-1.el8"]'
    assert dict(skips.reasons) == {ARCH_MERGED: 18}


ELSA = f"""<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>
<definition id="oval:com.oracle.elsa:def:20990001" version="501" class="patch"><metadata>
<title>ELSA-2099-0001: widget update (LOW)</title><affected family="unix"><platform>Oracle Linux 8</platform></affected>
<reference source="elsa" ref_id="ELSA-2099-0001" ref_url="https://linux.oracle.com/errata/ELSA-2099-0001.html"/>
<advisory><severity>LOW</severity><issued date="2099-01-01"/>
<cve cvss3="5.3/CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N" href="https://linux.oracle.com/cve/CVE-2099-0001.html">CVE-2099-0001</cve>
</advisory></metadata>
<criteria operator="AND"><criterion test_ref="t:1" comment="x"/><criteria operator="OR">
<criteria operator="AND"><criterion test_ref="t:2" comment="x"/><criterion test_ref="t:3" comment="x"/></criteria>
<criteria operator="AND"><criterion test_ref="t:9" comment="Module widget:2 is enabled"/>
<criterion test_ref="t:2" comment="x"/></criteria>
</criteria></criteria></definition></definitions>
<tests>
<rpminfo_test id="t:1" {LINUX}><object object_ref="o:1"/><state state_ref="s:1"/></rpminfo_test>
<rpminfo_test id="t:2" {LINUX}><object object_ref="o:2"/><state state_ref="s:2"/></rpminfo_test>
<rpminfo_test id="t:3" {LINUX}><object object_ref="o:2"/><state state_ref="s:3"/></rpminfo_test>
</tests><objects>
<rpminfo_object id="o:1" {LINUX}><name>oraclelinux-release</name></rpminfo_object>
<rpminfo_object id="o:2" {LINUX}><name>widget</name></rpminfo_object>
</objects><states>
<rpminfo_state id="s:1" {LINUX}><version operation="pattern match">^8</version></rpminfo_state>
<rpminfo_state id="s:2" {LINUX}><evr datatype="evr_string" operation="less than">0:1.0-2.el8</evr></rpminfo_state>
<rpminfo_state id="s:3" {LINUX}><signature_keyid operation="equals">BC4D06A08D8B756F</signature_keyid></rpminfo_state>
</states></oval_definitions>"""


def test_tests_are_read_when_the_file_has_them_and_module_conditions_are_left_out(tmp_path: Path) -> None:
    # The comments say nothing ("x"): the release, bound and key come from the tests. The module branch is
    # left out (counted, not fatal); the plain branch gives the row.
    (tmp_path / "com.oracle.elsa-ol8.xml").write_text(ELSA)
    [record], skips = read_all("oracle", [tmp_path], strict=False)
    assert [(row.ecosystem, row.package, row.fixed) for row in record.affected] == [
        ("Oracle Linux:8", "widget", '["1.0-2.el8"]')]
    assert [(s.source, s.score) for s in record.severities] == [("oracle", 5.3)]
    assert dict(skips.reasons) == {MODULE_SKIP: 1}
    [again], _ = read_all("oracle", [tmp_path], strict=True)  # a module condition is no malformed input
    assert again == record


def test_module_tests_present_in_the_file_leave_only_their_branch_out(tmp_path: Path) -> None:
    # Oracle's real files carry the module test itself (a textfilecontent54 test on dnf's modules.d): the
    # definition is kept, the module branch left out and counted as when the test is missing.
    module_test = ('<ind:textfilecontent54_test xmlns:ind="http://oval.mitre.org/XMLSchema/oval-definitions-5'
                   '#independent" id="t:9" check="at least one" comment="Module widget:2 is enabled" version="1">'
                   '<ind:object object_ref="o:9"/><ind:state state_ref="s:9"/></ind:textfilecontent54_test>')
    (tmp_path / "elsa.xml").write_text(ELSA.replace("</tests>", module_test + "</tests>"))
    [record], skips = read_all("oracle", [tmp_path], strict=True)
    assert [(row.ecosystem, row.package, row.fixed) for row in record.affected] == [
        ("Oracle Linux:8", "widget", '["1.0-2.el8"]')]
    assert dict(skips.reasons) == {MODULE_SKIP: 1}


def test_a_definition_whose_elsa_id_and_title_disagree_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "elsa.xml").write_text(ELSA.replace("<title>ELSA-2099-0001", "<title>ELSA-2099-0002"))
    records, skips = read_all("oracle", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"definition without one ELSA id": 1}


def test_database_keeps_ksplice_apart(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "oracle.sqlite"
    compile_database(out, {"oracle": [feeds / "oracle"]})
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT DISTINCT ecosystem FROM affected WHERE package = 'openssl'").fetchall() == [
            ("Oracle Linux:8:ksplice",)]
        ecosystems = {row[0] for row in db.execute("SELECT ecosystem FROM coverage WHERE provider = 'oracle'")}
        assert ecosystems == {f"Oracle Linux:{n}" for n in (5, 6, 7, 8, 10)} | {"Oracle Linux:8:ksplice"}
    _, _, facts = read_with_facts("oracle", [feeds / "oracle"])
    assert facts.exports == {}  # one or two ELSAs per release: samples
