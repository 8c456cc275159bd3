"""Wolfi's secdb: records, hostile input, coverage, and a database built from the real-format fixture."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.compile import compile_database
from dbbuilder.compile.database import CAPTURE_UNKNOWN
from dbbuilder.sources.wolfi import WHOLE_MIN_PACKAGES
from scanner.model import FixState

from .conftest import by_id, read_all, read_skipping_once, read_with_facts


def secdb(reponame: str, packages: list[Any]) -> dict[str, Any]:
    return {"apkurl": "{{urlprefix}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk", "archs": ["x86_64"],
            "reponame": reponame, "urlprefix": "https://packages.wolfi.dev", "packages": packages}


def test_real_secdb_records(feeds: Path) -> None:
    records, skips, facts = read_with_facts("wolfi", [feeds / "wolfi"])
    assert skips.skipped == 0
    found = by_id(records)
    # apko lists a GHSA beside CVEs under "0": never affected, and kept under its own id.
    [ghsa] = found["WOLFI-GHSA-jq35-85cj-fj4p"].affected
    assert (ghsa.ecosystem, ghsa.package, ghsa.fix_state, ghsa.ranges) == ("Wolfi", "apko", FixState.NOT_AFFECTED,
                                                                          None)
    assert found["WOLFI-GHSA-jq35-85cj-fj4p"].upstream == ("GHSA-jq35-85cj-fj4p",)
    [fixed] = found["WOLFI-CVE-2023-39325"].affected
    assert fixed.fix_state is FixState.FIXED and json.loads(fixed.fixed or "") == ["0.10.0-r6"]
    [coreutils] = found["WOLFI-CVE-2016-2781"].affected
    assert coreutils.fix_state is FixState.NOT_AFFECTED
    assert all(r.provider == "wolfi" and r.part_precedence == 0 for r in records)
    # 27 packages: the fixture is an extract of the published file, never a whole export.
    assert facts.exports == {} and facts.notes == {"Wolfi": "Wolfi secdb with 27 package(s): an extract"}
    assert facts.timestamps == []


def test_the_published_file_is_a_whole_export(tmp_path: Path) -> None:
    packages = [{"pkg": {"name": f"p{n}", "secfixes": {"1-r0": [f"CVE-2024-{1000 + n}"]}}}
                for n in range(WHOLE_MIN_PACKAGES)]
    (tmp_path / "security.json").write_text(json.dumps(secdb("os", packages)))
    records, _, facts = read_with_facts("wolfi", [tmp_path])
    assert len(records) == WHOLE_MIN_PACKAGES and facts.exports == {"Wolfi": "Wolfi secdb"}


@pytest.mark.parametrize(("content", "reason"), [
    ("{nope", "invalid JSON"),
    ("[]", "secdb is not an object"),
    (json.dumps(secdb("chainguard", [])), "not the Wolfi secdb"),  # Chainguard's file given to --wolfi
    (json.dumps({"distroversion": "v3.18", "reponame": "os", "packages": []}), "not the Wolfi secdb"),
    (json.dumps({"packages": []}), "not the Wolfi secdb"),  # no reponame: whose is it?
    (json.dumps(secdb("os", {"pkg": 1})), "malformed secdb"),  # type: ignore[arg-type]
    (json.dumps(secdb("os", [{"pkg": {"secfixes": {}}}])), "package without name"),
    (json.dumps(secdb("os", [{"pkg": {"name": "x", "secfixes": ["CVE-2020-0001"]}}])), "malformed secfixes"),
    (json.dumps(secdb("os", [{"pkg": {"name": "x", "secfixes": {"1-r0": [7]}}}])), "malformed secfixes"),
    (json.dumps(secdb("os", [{"pkg": {"name": "x", "secfixes": {" ": ["CVE-2020-0001"]}}}])),
     "malformed fixed version"),
    (json.dumps(secdb("os", [5])), "package entry is not an object"),
])
def test_hostile_secdb(tmp_path: Path, content: str, reason: str) -> None:
    (tmp_path / "security.json").write_text(content)
    assert read_skipping_once("wolfi", [tmp_path], reason) == []


def test_a_bad_package_entry_costs_only_that_entry(tmp_path: Path) -> None:
    (tmp_path / "security.json").write_text(json.dumps(secdb("os", [
        {"pkg": {"name": "bad", "secfixes": "CVE-2020-0001"}},
        {"pkg": {"name": "good", "secfixes": {"1.0-r1": ["CVE-2020-0002", "not an id"], "2.0-r0": None}}}])))
    records, skips = read_all("wolfi", [tmp_path])
    assert [r.id for r in records] == ["WOLFI-CVE-2020-0002"] and dict(skips.reasons) == {"malformed secfixes": 1}


def test_database_from_the_fixture(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "wolfi.sqlite"
    summary = compile_database(out, {"wolfi": [feeds / "wolfi"]})
    [provider] = summary.providers
    assert provider.captured_at_basis == CAPTURE_UNKNOWN  # security.json carries no date
    with sqlite3.connect(out) as db:
        rows = db.execute("SELECT vuln_id, fix_state, fixed FROM affected WHERE ecosystem = 'Wolfi' AND "
                          "package = 'zlib' ORDER BY vuln_id").fetchall()
        assert rows == [("WOLFI-CVE-2018-25032", "fixed", '["1.2.12-r0"]'),
                        ("WOLFI-CVE-2022-37434", "fixed", '["1.2.12-r3"]')]
        group = db.execute("SELECT group_id FROM vulnerabilities WHERE id = 'WOLFI-CVE-2022-37434'").fetchone()
        assert group == ("CVE-2022-37434",)  # joins its CVE's alias group through upstream
        coverage = db.execute("SELECT complete, basis FROM coverage WHERE provider = 'wolfi'").fetchall()
        assert coverage == [(0, "Wolfi secdb with 27 package(s): an extract")]
