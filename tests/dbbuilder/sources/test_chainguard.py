"""Chainguard's secdb: the Wolfi format under its own ecosystem and repository name."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from dbbuilder.compile import compile_database
from scanner.model import FixState

from .conftest import by_id, read_all, read_with_facts


def test_real_secdb_records(feeds: Path) -> None:
    records, skips, facts = read_with_facts("chainguard", [feeds / "chainguard"])
    assert skips.skipped == 0
    found = by_id(records)
    assert all(r.id.startswith("CHAINGUARD-CVE-") and r.provider == "chainguard" for r in records)
    glibc = {r.id: r.affected[0] for r in records if r.affected[0].package == "glibc"}
    assert glibc["CHAINGUARD-CVE-2010-4756"].fix_state is FixState.NOT_AFFECTED
    assert json.loads(glibc["CHAINGUARD-CVE-2023-25139"].fixed or "") == ["2.37-r1"]
    assert {row.ecosystem for r in records for row in r.affected} == {"Chainguard"}
    assert found["CHAINGUARD-CVE-2022-43551"].upstream == ("CVE-2022-43551",)
    assert facts.notes == {"Chainguard": "Chainguard secdb with 57 package(s): an extract"}


def test_wolfi_and_chainguard_files_are_not_interchangeable(feeds: Path, tmp_path: Path) -> None:
    shutil.copy(feeds / "wolfi" / "security.json", tmp_path / "security.json")
    records, skips = read_all("chainguard", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"not the Chainguard secdb": 1}


def test_database_with_wolfi_and_chainguard(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "apk.sqlite"
    compile_database(out, {"wolfi": [feeds / "wolfi"], "chainguard": [feeds / "chainguard"]})
    with sqlite3.connect(out) as db:
        rows = db.execute("SELECT ecosystem, vuln_id, fixed FROM affected WHERE package = 'curl' AND "
                          "vuln_id LIKE '%2022-42916' ORDER BY ecosystem").fetchall()
        assert rows == [("Chainguard", "CHAINGUARD-CVE-2022-42916", '["7.86.0-r0"]'),
                        ("Wolfi", "WOLFI-CVE-2022-42916", '["7.86.0-r0"]')]
        providers = dict(db.execute("SELECT name, captured_at_basis FROM providers").fetchall())
        assert providers == {"wolfi": "unknown", "chainguard": "unknown"}
