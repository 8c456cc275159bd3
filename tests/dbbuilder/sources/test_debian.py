from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbbuilder.sources.records import AffectedRow, Record
from scanner.model import FixState

from .conftest import read_all, read_skipping_once, read_with_facts

DSA_LIST = """\
[15 Mar 2022] DSA-5103-1 openssl - security update
\t{CVE-2021-4160 CVE-2022-0778}
\t[buster] - openssl 1.1.1d-0+deb10u8
\t[bullseye] - openssl 1.1.1k-1+deb11u2
[17 Mar 2023] DSA-5356-2 sox - regression update
\t[bullseye] - sox 14.4.2+git20190427-2+deb11u2
[01 Jan 2010] DSA-1964-1 mysql - several
\t{CVE-2009-4019}
\t[lenny] - mysql-dfsg-5.0 <not-affected> (Vulnerable code not present)
\t[etch] - mysql-dfsg-5.0 <end-of-life>
\tNOTE: [etch] - notes never count <unfixed>
"""

CVE_LIST = """\
CVE-2021-36367 (PuTTY through 0.75 proceeds with establishing an SSH session ...)
\t{DSA-9999-1}
\t- putty 0.75-3 (low; bug #990901)
\t[bullseye] - putty <no-dsa> (Minor issue)
\t[buster] - putty <postponed> (Minor issue)
\t[stretch] - putty <ignored> (Minor issue)
CVE-2023-XXXX [waiting for an id]
\t- foot <unfixed>
CVE-2021-36373 (When reading a specially crafted TAR archive ...)
\t- ant <unfixed> (unimportant)
"""

TRACKER_JSON = {
    "openssl": {
        "CVE-2022-0778": {"description": "Infinite loop in BN_mod_sqrt()", "releases": {
            "bullseye": {"status": "resolved", "fixed_version": "1.1.1n-0+deb11u1", "urgency": "high**"},
            "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
            "buster": {"status": "open", "urgency": "end-of-life"},
            "trixie": {"status": "undetermined", "urgency": "not yet assigned"},
            "stretch": {"status": "open", "nodsa": "Minor issue", "nodsa_reason": "ignored", "urgency": "low"},
            "jessie": {"status": "open", "nodsa": "Minor issue", "nodsa_reason": "postponed", "urgency": "low"},
            "sid": {"status": "resolved", "fixed_version": "3.0.2-1", "urgency": "high**"},
        }},
        "TEMP-0000000-ABCDEF": {"releases": {}},
    },
}


def rows_of(records: list[Record], vuln_id: str) -> dict[str, AffectedRow]:
    return {row.ecosystem: row for r in records if r.id == vuln_id for row in r.affected}


def test_advisory_list(tmp_path: Path) -> None:
    (tmp_path / "DSA").mkdir()
    (tmp_path / "DSA" / "list").write_text(DSA_LIST)
    records, skips = read_all("debian", [tmp_path])
    assert skips.skipped == 0
    advisory = next(r for r in records if r.id == "DSA-5103-1")
    assert advisory.upstream == ("CVE-2021-4160", "CVE-2022-0778") and advisory.affected == ()
    assert advisory.published == "2022-03-15T00:00:00Z" and advisory.summary == "openssl - security update"
    rows = rows_of(records, "DEBIAN-CVE-2022-0778")
    assert set(rows) == {"Debian:10", "Debian:11"}
    assert rows["Debian:11"].package == "openssl" and rows["Debian:11"].fix_state is FixState.FIXED
    assert json.loads(rows["Debian:11"].fixed or "") == ["1.1.1k-1+deb11u2"]
    part = next(r for r in records if r.id == "DEBIAN-CVE-2022-0778")
    assert part.related == ("DSA-5103-1",) and part.upstream == ("CVE-2022-0778",)
    # An advisory naming no CVE carries its own rows.
    assert rows_of(records, "DSA-5356-2")["Debian:11"].package == "sox"
    old = rows_of(records, "DEBIAN-CVE-2009-4019")
    assert old["Debian:5.0"].fix_state is FixState.NOT_AFFECTED and old["Debian:5.0"].ranges is None
    assert old["Debian:4.0"].fix_state is FixState.END_OF_LIFE


def test_real_lists_and_the_bullseye_openssl_fix(feeds: Path) -> None:
    records, skips = read_all("debian", [feeds / "debian"])
    assert skips.skipped == 0
    assert sum(1 for r in records if r.id.startswith("DSA-") and r.part_precedence is None) == len(
        {line.split()[3] for line in (feeds / "debian/DSA/list").read_text().splitlines() if line.startswith("[")})
    bullseye = [row for r in records if r.id == "DEBIAN-CVE-2022-0778" for row in r.affected
                if row.ecosystem == "Debian:11"]
    assert json.loads(bullseye[0].fixed or "") == ["1.1.1k-1+deb11u2"]
    dtsa = next(r for r in records if r.id == "DTSA-1-1")
    assert dtsa.published == "2005-08-26T00:00:00Z" and dtsa.severity == "high"


def test_cve_list_states(tmp_path: Path) -> None:
    (tmp_path / "CVE").mkdir()
    (tmp_path / "CVE" / "list").write_text(CVE_LIST)
    records, skips = read_all("debian", [tmp_path])
    assert skips.skipped == 0
    assert [r.id for r in records] == ["DEBIAN-CVE-2021-36367", "DEBIAN-CVE-2021-36373"]  # XXXX has no id yet
    rows = rows_of(records, "DEBIAN-CVE-2021-36367")
    assert {eco: row.fix_state for eco, row in rows.items()} == {
        "Debian:11": FixState.WONT_FIX, "Debian:10": FixState.NOT_FIXED, "Debian:9": FixState.WONT_FIX}
    assert records[0].related == ("DSA-9999-1",)
    assert records[1].affected == ()  # only the unstable line, which is not stored


def test_tracker_json(tmp_path: Path) -> None:
    (tmp_path / "debian.json").write_text(json.dumps(TRACKER_JSON))
    records, skips = read_all("debian", [tmp_path])
    assert skips.skipped == 0
    [issue] = records
    assert issue.id == "DEBIAN-CVE-2022-0778" and issue.details == "Infinite loop in BN_mod_sqrt()"
    rows = rows_of(records, issue.id)
    assert {eco: row.fix_state for eco, row in rows.items()} == {
        "Debian:11": FixState.FIXED, "Debian:12": FixState.NOT_AFFECTED, "Debian:10": FixState.END_OF_LIFE,
        "Debian:13": FixState.UNDER_INVESTIGATION, "Debian:9": FixState.WONT_FIX, "Debian:8": FixState.NOT_FIXED}
    assert rows["Debian:11"].severity == "high" and rows["Debian:12"].severity == "negligible"
    assert issue.severity == "high"


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("DSA/list", "[15 Mar 2022] DSA-1-1 x - y\n\t[bullseye] - x <bogus-state>\n", "unknown state"),
    ("DSA/list", "[15 Mar 2022] DSA-1-1 x - y\n\t[hamm] - x 1.0-1\n", "unknown release"),
    ("DSA/list", "[15 Mar 2022] DSA-1-1 x - y\n\t[bullseye] - \n", "malformed package line"),
    ("DSA/list", "[15 Mar 2022] DSA-1-1 x - y\ngarbage header\n\t[bullseye] - x 1\n", "malformed entry header"),
    ("DLA/list", "\xff\xfe binary", "not UTF-8 text"),
    ("CVE/list", "no tracker format here\n", "not a tracker list"),
    ("tracker.json", "{broken", "invalid JSON"),
    ("tracker.json", "[]", "not a JSON object"),
    ("tracker.json", '{"x": {}} trailing', "invalid JSON"),
    ("tracker.json", '{"x": 3}', "malformed package entry"),
    ("tracker.json", '{"x": {"CVE-2020-0001": {"releases": {"bullseye": {"status": "weird"}}}}}', "unknown status"),
    ("tracker.json", '{"x": {"CVE-2020-0001": {"releases": {"bullseye": 3}}}}', "release is not an object"),
])
def test_hostile_tracker_input(tmp_path: Path, name: str, content: str, reason: str) -> None:
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode("latin-1") if "\xff" in content else content.encode())
    read_skipping_once("debian", [tmp_path], reason)


def test_tracker_json_is_read_one_package_at_a_time(tmp_path: Path) -> None:
    issue = {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1.0-1"}}}
    whole = json.dumps({"a{": {"CVE-2020-0001": issue}, "b": {"CVE-2020-0002": issue}}, indent=1)
    (tmp_path / "t.json").write_text(whole[: whole.index('"b"')] + '"b": {"CVE-2020-0002": {')  # truncated
    records, skips = read_all("debian", [tmp_path])
    assert [r.id for r in records] == ["DEBIAN-CVE-2020-0001"]  # what came before the damage is kept
    assert dict(skips.reasons) == {"invalid JSON": 1}
    (tmp_path / "t.json").write_text(" { } ")
    assert read_all("debian", [tmp_path])[0] == []


def test_dsa_and_dla_lists_and_the_json_export_are_whole_for_the_releases_they_name(feeds: Path) -> None:
    _, _, facts = read_with_facts("debian", [feeds / "debian" / "DSA", feeds / "debian" / "DLA"])
    assert facts.exports["Debian:11"] == "Debian DSA list"
    assert facts.exports["Debian:6.0"] in {"Debian DSA list", "Debian DLA list"}  # both name squeeze
    assert "Debian:12" not in facts.exports  # bookworm has no DSA in the 2023-04 snapshot
    # The samples have the export's form, but a few issues per release where the export lists thousands.
    _, _, facts = read_with_facts("debian", [feeds / "debian" / "tracker-json"])
    assert facts.exports == {}
    assert facts.notes["Debian:12"] == "Debian tracker JSON with 2 issue(s) for it: an extract"
    _, _, facts = read_with_facts("debian", [feeds / "debian" / "CVE", feeds / "debian" / "DTSA"])
    assert facts.exports == {}
