from __future__ import annotations

from dbbuilder.compile.groups import alias_groups


def test_aliases_of_one_cve_form_one_group_named_by_the_cve() -> None:
    groups = alias_groups({
        "PYSEC-2021-137": ["CVE-2021-25287", "GHSA-77gc-v2xv-rvvh"],
        "GHSA-77gc-v2xv-rvvh": ["CVE-2021-25287"],
        "DEBIAN-CVE-2021-25287": ["CVE-2021-25287"],
    }, withdrawn=set())
    assert set(groups) == {"PYSEC-2021-137", "GHSA-77gc-v2xv-rvvh", "CVE-2021-25287", "DEBIAN-CVE-2021-25287"}
    assert set(groups.values()) == {"CVE-2021-25287"}


def test_records_naming_several_cves_stay_apart() -> None:
    groups = alias_groups({
        "DSA-5103-1": ["CVE-2021-4160", "CVE-2022-0778"],
        "DEBIAN-CVE-2022-0778": ["CVE-2022-0778"],
    }, withdrawn=set())
    assert "DSA-5103-1" not in groups
    assert groups["DEBIAN-CVE-2022-0778"] == "CVE-2022-0778"


def test_two_cves_are_never_joined_through_a_chain() -> None:
    groups = alias_groups({
        "PYSEC-1": ["CVE-2020-0001", "GHSA-x"],
        "GHSA-x": ["CVE-2020-0002"],
    }, withdrawn=set())
    assert groups["PYSEC-1"] == "CVE-2020-0001"
    assert groups["GHSA-x"] == "CVE-2020-0002"


def test_a_record_without_cve_joins_only_when_its_links_agree() -> None:
    groups = alias_groups({
        "UBUNTU-CVE-2021-3782": ["CVE-2021-3782"],
        "USN-5614-1": ["UBUNTU-CVE-2021-3782"],
        "UBUNTU-CVE-2021-3783": ["CVE-2021-3783"],
        "USN-9999-1": ["UBUNTU-CVE-2021-3782", "UBUNTU-CVE-2021-3783"],
    }, withdrawn=set())
    assert groups["USN-5614-1"] == "CVE-2021-3782"
    assert "USN-9999-1" not in groups


def test_group_without_cve_is_named_by_its_smallest_id_and_withdrawn_records_do_not_link() -> None:
    groups = alias_groups({
        "RUSTSEC-2020-0001": ["GHSA-aaaa"],
        "PYSEC-2021-63": ["CVE-2020-36242"],
    }, withdrawn={"PYSEC-2021-63"})
    assert groups == {"RUSTSEC-2020-0001": "GHSA-aaaa", "GHSA-aaaa": "GHSA-aaaa"}


def test_long_chains_do_not_recurse() -> None:
    links = {f"X-{i:06d}": [f"X-{i + 1:06d}"] for i in range(50_000)}
    groups = alias_groups(links, withdrawn=set())
    assert set(groups.values()) == {"X-000000"}
