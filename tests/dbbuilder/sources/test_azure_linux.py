"""CBL-Mariner / Azure Linux OVAL (`azure-linux/`): expected rows written by hand from the fixtures' XML."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dbbuilder.compile import compile_database
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import by_id, read_all, read_with_facts

MARINER = "mariner-truncated-2.0-oval.xml"
AZURE = "azure-linux-truncated-3.0-oval.xml"


def test_mariner_2(feeds: Path) -> None:
    records, skips = read_all("azure-linux", [feeds / "azure-linux" / MARINER])
    found = by_id(records)
    assert sorted(found) == [f"CBL-MARINER-2.0-{n}" for n in (13203, 13348, 26178, 26220, 44771)]
    # def:44771: golang < 0:1.20.7-1.cm2 AND golang > 0:1.19.0.cm2 -> introduced 1.19.0.cm2, fixed 1.20.7-1.cm2.
    [golang] = found["CBL-MARINER-2.0-44771"].affected
    assert (golang.ecosystem, golang.package, golang.fix_state) == ("CBL-Mariner:2.0", "golang", FixState.FIXED)
    assert golang.ranges == '[{"events":[{"introduced":"1.19.0.cm2"},{"fixed":"1.20.7-1.cm2"}],"type":"ECOSYSTEM"}]'
    assert found["CBL-MARINER-2.0-44771"].upstream == ("CVE-2023-29404",)
    assert found["CBL-MARINER-2.0-44771"].severity == "critical"
    # def:13348: patchable "Not Applicable" ("never applicable"): glibc not affected.
    [glibc] = found["CBL-MARINER-2.0-13348"].affected
    assert (glibc.package, glibc.fix_state, glibc.ranges) == ("glibc", FixState.NOT_AFFECTED, None)
    # def:13203: patchable false, bind <= 0:9.16.33-1.cm2: not fixed, affected up to that version.
    [bind] = found["CBL-MARINER-2.0-13203"].affected
    assert (bind.fix_state, bind.fixed) == (FixState.NOT_FIXED, None)
    assert bind.ranges == '[{"events":[{"introduced":"0"},{"last_affected":"9.16.33-1.cm2"}],"type":"ECOSYSTEM"}]'
    # def:26220: mysql < 0:8.0.33-1.cm2, dated by advisory_date.
    mysql = found["CBL-MARINER-2.0-26220"]
    assert [(row.package, row.fixed) for row in mysql.affected] == [("mysql", '["8.0.33-1.cm2"]')]
    assert mysql.modified == mysql.published == "2023-05-03T16:24:32Z"
    assert skips.skipped == 0


def test_azure_linux_3(feeds: Path) -> None:
    records, _, facts = read_with_facts("azure-linux", [feeds / "azure-linux" / AZURE])
    assert [(r.id, [(row.ecosystem, row.package, row.fixed) for row in r.affected]) for r in records] == [
        ("AZURE-LINUX-3.0-39708", [("Azure Linux:3.0", "freeglut", '["3.4.0-1.azl3"]')]),
        ("AZURE-LINUX-3.0-39694", [("Azure Linux:3.0", "freeglut", '["3.4.0-1.azl3"]')]),
        ("AZURE-LINUX-3.0-39076", [("Azure Linux:3.0", "ceph", '["18.2.1-1.azl3"]')])]
    assert facts.notes == {"Azure Linux:3.0": "Azure Linux OVAL file with 3 definition(s) for it: an extract"}
    assert facts.timestamps == ["2024-05-08T12:04:07Z"]


def test_a_file_named_for_another_release_puts_no_row_there(feeds: Path, tmp_path: Path) -> None:
    # Mariner 2.0's definitions under a 1.0 name: every version carries .cm2, not .cm1.
    (tmp_path / "cbl-mariner-1.0-oval.xml").write_bytes((feeds / "azure-linux" / MARINER).read_bytes())
    records, skips = read_all("azure-linux", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"version of another release": 5}


def test_a_file_without_a_release_in_its_name_is_refused(feeds: Path, tmp_path: Path) -> None:
    (tmp_path / "oval.xml").write_bytes((feeds / "azure-linux" / AZURE).read_bytes())
    records, skips = read_all("azure-linux", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"file name without a release": 1}


def test_database_from_the_fixtures(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "azure.sqlite"
    summary = compile_database(out, {"azure-linux": [feeds / "azure-linux"]})
    [provider] = summary.providers
    assert provider.records == 8
    with sqlite3.connect(out) as db:
        assert db.execute("SELECT vuln_id, fix_state FROM affected WHERE package = 'mysql' ORDER BY vuln_id"
                          ).fetchall() == [("CBL-MARINER-2.0-26178", "fixed"), ("CBL-MARINER-2.0-26220", "fixed")]
        assert db.execute("SELECT group_id FROM vulnerabilities WHERE id = 'AZURE-LINUX-3.0-39076'").fetchone() == (
            "CVE-2020-27304",)
