from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.model import FixState

from .conftest import read_all, read_skipping_once, read_with_facts

SECDB = {
    "distroversion": "v3.12",
    "reponame": "main",
    "packages": [
        {"pkg": {"name": "OpenSSL", "secfixes": {
            "1.1.1g-r0": ["CVE-2020-1967"],
            "1.1.1i-r0": ["CVE-2020-1971 (regression of ALPINE-1234)", "CVE-2020-1967"],
            "0": ["CVE-2019-0001"],
            "1.1.1j-r0": None,
        }}},
        {"pkg": {"name": "empty"}},
    ],
}


def test_secdb_json(tmp_path: Path) -> None:
    (tmp_path / "main.json").write_text(json.dumps(SECDB))
    records, skips = read_all("alpine", [tmp_path])
    assert skips.skipped == 0
    found = {r.id: r for r in records}
    assert set(found) == {"ALPINE-CVE-2020-1967", "ALPINE-CVE-2020-1971", "ALPINE-CVE-2019-0001"}
    [row] = found["ALPINE-CVE-2020-1967"].affected
    assert (row.ecosystem, row.package, row.fix_state) == ("Alpine:v3.12", "openssl", FixState.FIXED)
    assert json.loads(row.fixed or "") == ["1.1.1g-r0"]  # the first fix listed, not the regression re-fix
    [never] = found["ALPINE-CVE-2019-0001"].affected
    assert never.fix_state is FixState.NOT_AFFECTED and never.ranges is None
    assert all(r.upstream == (r.id.removeprefix("ALPINE-"),) and r.part_precedence == 0 for r in records)


def test_yaml_form_and_branch_from_directory(tmp_path: Path) -> None:
    branch = tmp_path / "v3.15"
    branch.mkdir()
    (branch / "main.yaml").write_text(
        "reponame: main\npackages:\n- pkg:\n    name: zlib\n    secfixes:\n      1.2.12-r0:\n"
        "      - CVE-2018-25032\n      0:\n      - CVE-2022-0000\n")
    records, skips = read_all("alpine", [tmp_path])
    assert skips.skipped == 0
    states = {r.id: (r.affected[0].ecosystem, r.affected[0].fix_state) for r in records}
    assert states == {"ALPINE-CVE-2018-25032": ("Alpine:v3.15", FixState.FIXED),
                      "ALPINE-CVE-2022-0000": ("Alpine:v3.15", FixState.NOT_AFFECTED)}


def test_real_secdb(feeds: Path) -> None:
    records, skips = read_all("alpine", [feeds / "alpine"])
    assert skips.skipped == 0
    ecosystems = {row.ecosystem for r in records for row in r.affected}
    assert {"Alpine:v3.3", "Alpine:v3.11", "Alpine:v3.12", "Alpine:v3.15", "Alpine:edge"} <= ecosystems
    assert any(row.fix_state is FixState.NOT_AFFECTED for r in records for row in r.affected)


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("v3.12/main.json", "{nope", "invalid JSON"),
    ("v3.12/main.json", '{"packages": {"pkg": 1}}', "malformed secdb"),
    ("misc/main.json", '{"packages": []}', "unknown branch"),
    ("v3.12/main.json", '{"packages": [{"pkg": {"secfixes": {}}}]}', "package without name"),
    ("v3.12/main.json", '{"packages": [{"pkg": {"name": "x", "secfixes": ["CVE-2020-0001"]}}]}',
     "malformed secfixes"),
    ("v3.12/main.yaml", "packages:\n- pkg:\n    name: x\n    secfixes:\n      1.10:\n      - CVE-2020-0001\n",
     "malformed fixed version"),
    ("v3.12/main.yaml", "packages: [unclosed\n", "invalid YAML"),
])
def test_hostile_secdb(tmp_path: Path, name: str, content: str, reason: str) -> None:
    target = tmp_path / name
    target.parent.mkdir(parents=True)
    target.write_text(content)
    assert read_skipping_once("alpine", [tmp_path], reason) == []


def test_a_branch_is_whole_with_main_and_community(feeds: Path) -> None:
    _, _, facts = read_with_facts("alpine", [feeds / "alpine"])
    assert facts.exports["Alpine:v3.11"] == "Alpine secdb branch"
    assert facts.exports["Alpine:v3.9"] == "Alpine secdb branch"
    assert facts.notes["Alpine:v3.15"] == "Alpine secdb with 7 package(s): an extract"  # a fixture's sample
    # The v3.12 directory's community.json says it is v3.3's.
    assert "Alpine:v3.12" not in facts.exports
    assert facts.notes["Alpine:v3.12"] == "Alpine secdb without community"
    assert facts.timestamps == []  # secdb carries no date
