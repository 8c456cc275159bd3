"""SUSE OVAL (`sles/suse_truncated.xml`): expected rows written by hand from the fixture's XML."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dbbuilder.compile import compile_database
from dbbuilder.sources.oval import MISSING_TEST_SKIP
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import by_id, read_with_facts
from tests.dbbuilder.sources.test_oval import LINUX, criterion, definition, oval_file

SLES15 = "SUSE:Linux Enterprise Server 15"


def test_the_fixture_as_vunnel_reads_it(feeds: Path) -> None:
    records, skips, facts = read_with_facts("suse", [feeds / "sles"])
    found = by_id(records)
    assert sorted(found) == ["SUSE-CVE-1999-0524", "SUSE-CVE-2021-29154", "SUSE-CVE-2026-34073"]

    # CVE-2021-29154: "SLES 15-LTSS" is sles-ltss-release ==15 (tst:2009302033) with kernel-default
    # < 0:4.12.14-150.72.1 (ste:2009118739); "SLES 15 SP1-BCL" is sles-release ==15.1 with kernel-default
    # < 0:4.12.14-197.89.2, and SP1-LTSS says the same through sles-ltss-release (the sles-release row wins).
    # The SAP, Workstation Extension and SAP SP1 groups name tests the extract lacks: left out, counted.
    kernel = found["SUSE-CVE-2021-29154"]
    assert [(row.ecosystem, row.package, row.fix_state, row.fixed) for row in kernel.affected] == [
        (SLES15, "kernel-default", FixState.FIXED, '["4.12.14-150.72.1"]'),
        (f"{SLES15} SP1", "kernel-default", FixState.FIXED, '["4.12.14-197.89.2"]')]
    assert kernel.upstream == ("CVE-2021-29154",) and kernel.severity == "high"  # <severity>Important
    assert (kernel.published, kernel.modified) == ("2021-04-30T00:00:00Z", "2021-07-14T00:00:00Z")
    assert [(s.source, s.vector, s.score) for s in kernel.severities] == [
        ("suse", "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.0)]
    assert kernel.part_precedence == 0  # one CVE is spread over every product's file

    # CVE-2026-34073: SLES 15 AND python3-cryptography ==0 (ste:2009079458): SUSE's "not affected".
    [crypto] = found["SUSE-CVE-2026-34073"].affected
    assert (crypto.ecosystem, crypto.package, crypto.fix_state, crypto.ranges) == (
        SLES15, "python3-cryptography", FixState.NOT_AFFECTED, None)
    # CVE-1999-0524 names only modules (Basesystem: another product; Development Tools: a missing test).
    assert found["SUSE-CVE-1999-0524"].affected == ()
    # CVE-2010-1323: krb5's state has `operation="6"`, not an OVAL operation: the whole definition is skipped.
    assert dict(skips.reasons) == {MISSING_TEST_SKIP: 2, "unknown state operation": 1}
    assert facts.exports == {} and facts.notes[SLES15] == "SUSE OVAL file referencing tests it lacks: an extract"
    assert facts.timestamps == ["2021-07-16T05:18:42Z"]


RELEASES = f"""
<rpminfo_test id="tst:4" {LINUX}><object object_ref="obj:4"/><state state_ref="ste:4"/></rpminfo_test>
<rpminfo_test id="tst:5" {LINUX}><object object_ref="obj:5"/><state state_ref="ste:4"/></rpminfo_test>
<rpminfo_test id="tst:6" {LINUX}><object object_ref="obj:6"/><state state_ref="ste:6"/></rpminfo_test>
<rpminfo_test id="tst:7" {LINUX}><object object_ref="obj:2"/><state state_ref="ste:7"/></rpminfo_test>
</tests><objects>
<rpminfo_object id="obj:4" {LINUX}><name>sles-ltss-release</name></rpminfo_object>
<rpminfo_object id="obj:5" {LINUX}><name>sled-release</name></rpminfo_object>
<rpminfo_object id="obj:6" {LINUX}><name>openSUSE-release</name></rpminfo_object>
</objects><states>
<rpminfo_state id="ste:4" {LINUX}><version operation="equals">15.5</version></rpminfo_state>
<rpminfo_state id="ste:6" {LINUX}><version operation="equals">15.5</version></rpminfo_state>
<rpminfo_state id="ste:7" {LINUX}><evr operation="less than">0:1.2-9</evr></rpminfo_state>
</states><tests>"""


def test_releases_service_packs_and_ltss(tmp_path: Path) -> None:
    # SLES 15 SP5 widget < 1.2-3 (sles-release, tst:1+2) beside LTSS 15 SP5 widget < 1.2-9 (tst:4+7): the
    # general channel's row wins; LTSS alone would be read. SLED (tst:5) and Leap (tst:6) get their own.
    criteria = (f'<criteria operator="OR"><criteria>{criterion(1)}{criterion(2)}</criteria>'
                f'<criteria>{criterion(4)}{criterion(7)}</criteria><criteria>{criterion(4)}{criterion(3)}</criteria>'
                f'<criteria>{criterion(5)}{criterion(2)}</criteria><criteria>{criterion(6)}{criterion(2)}</criteria>'
                "</criteria>")
    (tmp_path / "suse.xml").write_text(oval_file(definition(1, criteria), extra_tests=RELEASES))
    [record], skips, _ = read_with_facts("suse", [tmp_path])
    assert [(row.ecosystem, row.package, row.fixed) for row in record.affected] == [
        ("SUSE:Linux Enterprise Desktop 15 SP5", "widget", '["1.2-3"]'),
        ("SUSE:Linux Enterprise Server 15 SP5", "gadget", '["1:2.0-1"]'),  # only LTSS names it
        ("SUSE:Linux Enterprise Server 15 SP5", "widget", '["1.2-3"]'),
        ("openSUSE:Leap 15.5", "widget", '["1.2-3"]')]
    assert skips.skipped == 0


def test_database_from_the_fixture(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "suse.sqlite"
    summary = compile_database(out, {"suse": [feeds / "sles"]})
    [provider] = summary.providers
    assert provider.records == 3
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT ecosystem, fix_state, fixed FROM affected WHERE package = 'kernel-default' "
                          "ORDER BY ecosystem").fetchall() == [
            (SLES15, "fixed", '["4.12.14-150.72.1"]'), (f"{SLES15} SP1", "fixed", '["4.12.14-197.89.2"]')]
        assert db.execute("SELECT group_id FROM vulnerabilities WHERE id = 'SUSE-CVE-2021-29154'").fetchone() == (
            "CVE-2021-29154",)
        assert db.execute("SELECT complete FROM coverage WHERE provider = 'suse'").fetchall() == [(0,), (0,)]
