from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from dbbuilder.cli import main as dbbuilder_main
from dbbuilder.sources.redhat import UNKNOWN_FORM, accepts
from scanner.cli import main as scanner_main
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import by_id, read_all, read_skipping_once, read_with_facts

STREAM = "AppStream-9.3.0.Z.MAIN"
PACKAGE = "widget-1:2.0-3.el9_3.x86_64"
MODULE_PACKAGE = "ruby-0:2.7.8-1.module+el9.x86_64"
CSAF: dict[str, Any] = {
    "document": {
        "category": "csaf_security_advisory",
        "publisher": {"name": "Red Hat Product Security"},
        "title": "Red Hat Security Advisory: widget security update",
        "aggregate_severity": {"text": "Moderate"},
        "tracking": {"id": "RHSA-2099:0001", "initial_release_date": "2099-01-02T03:04:05+00:00",
                     "current_release_date": "2099-02-03T04:05:06+00:00"},
        "references": [{"url": "https://access.redhat.com/errata/RHSA-2099:0001"}],
    },
    "product_tree": {
        "branches": [{"category": "vendor", "name": "Red Hat", "branches": [
            {"category": "product_name", "product": {
                "product_id": STREAM,
                "product_identification_helper": {"cpe": "cpe:/a:redhat:enterprise_linux:9::appstream"}}},
            {"category": "architecture", "branches": [
                {"category": "product_version", "product": {
                    "product_id": PACKAGE,
                    "product_identification_helper": {"purl": "pkg:rpm/redhat/widget@2.0-3.el9_3?arch=x86_64&epoch=1"}}},
                {"category": "product_version", "product": {
                    "product_id": "gadget-0:1.0-1.el9.x86_64",
                    "product_identification_helper": {"purl": "pkg:rpm/redhat/gadget@1.0-1.el9?arch=x86_64"}}},
                {"category": "product_version", "product": {
                    "product_id": MODULE_PACKAGE,
                    "product_identification_helper": {
                        "purl": "pkg:rpm/redhat/ruby@2.7.8-1.module%2Bel9?arch=x86_64&rpmmod=ruby:2.7:1:abc"}}},
            ]},
        ]}],
        "relationships": [
            {"category": "default_component_of", "product_reference": product, "relates_to_product_reference": STREAM,
             "full_product_name": {"product_id": f"{STREAM}:{product}"}}
            for product in (PACKAGE, "gadget-0:1.0-1.el9.x86_64", MODULE_PACKAGE)
        ],
    },
    "vulnerabilities": [
        {"cve": "CVE-2099-0001", "title": "widget: overflow", "cwe": {"id": "CWE-787"},
         "release_date": "2098-12-01T00:00:00+00:00",
         "threats": [{"category": "impact", "details": "Important"}],
         "scores": [{"cvss_v3": {"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
         "product_status": {"fixed": [f"{STREAM}:{PACKAGE}", f"{STREAM}:{MODULE_PACKAGE}"],
                            "known_affected": [f"{STREAM}:gadget-0:1.0-1.el9.x86_64"]},
         "remediations": [{"category": "no_fix_planned", "product_ids": [f"{STREAM}:gadget-0:1.0-1.el9.x86_64"]}]},
        {"cve": "CVE-2099-0002",
         "product_status": {"known_not_affected": [f"{STREAM}:{PACKAGE}"]}},
    ],
}


def write_document(directory: Path, document: object, name: str = "rhsa-2099_0001.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(document))
    return directory


MODULE_STREAM = "Red Hat:enterprise_linux:9::appstream::module:ruby:2.7"


def test_advisory_maps_to_per_cve_parts_with_states(tmp_path: Path) -> None:
    records, skips, facts = read_with_facts("redhat", [write_document(tmp_path, CSAF)])
    assert dict(skips.reasons) == {}
    assert facts.timestamps == ["2099-02-03T04:05:06Z"] and facts.exports == {}
    found = by_id(records)
    assert set(found) == {"RHSA-2099:0001", "REDHAT-CVE-2099-0001", "REDHAT-CVE-2099-0002"}
    advisory = found["RHSA-2099:0001"]
    assert advisory.affected == () and advisory.upstream == ("CVE-2099-0001", "CVE-2099-0002")
    assert advisory.severity == "medium" and advisory.published == "2099-01-02T03:04:05Z"
    first = found["REDHAT-CVE-2099-0001"]
    assert (first.upstream, first.related, first.severity, first.cwes) == (
        ("CVE-2099-0001",), ("RHSA-2099:0001",), "high", ("CWE-787",))
    assert [(s.source, s.score) for s in first.severities] == [("redhat", 9.8)]
    rows = {row.package: row for row in first.affected}
    assert set(rows) == {"widget", "gadget", "ruby"}
    assert rows["widget"].ecosystem == "Red Hat:enterprise_linux:9::appstream"
    # The modular package goes to its module stream's ecosystem (rpmmod=ruby:2.7:1:abc), build left out.
    assert rows["ruby"].ecosystem == MODULE_STREAM
    assert rows["ruby"].fix_state is FixState.FIXED and json.loads(rows["ruby"].fixed or "") == ["2.7.8-1.module+el9"]
    assert rows["widget"].fix_state is FixState.FIXED and json.loads(rows["widget"].fixed or "") == ["1:2.0-3.el9_3"]
    assert rows["gadget"].fix_state is FixState.WONT_FIX and rows["gadget"].fixed is None
    [not_affected] = found["REDHAT-CVE-2099-0002"].affected
    assert not_affected.fix_state is FixState.NOT_AFFECTED and not_affected.ranges is None
    assert found["REDHAT-CVE-2099-0002"].severity == "medium"  # no impact of its own: the advisory's


def test_vex_document_gives_leading_parts_and_none_available_is_not_fixed(tmp_path: Path) -> None:
    vex = copy.deepcopy(CSAF)
    vex["document"]["category"] = "csaf_vex"
    vex["document"]["tracking"]["id"] = "CVE-2099-0001"
    vex["vulnerabilities"][0]["remediations"][0]["category"] = "none_available"
    records, skips = read_all("redhat", [write_document(tmp_path, vex, "cve-2099-0001.json")])
    assert dict(skips.reasons) == {}
    assert {r.id for r in records} == {"REDHAT-CVE-2099-0001", "REDHAT-CVE-2099-0002"}  # no advisory record
    first = by_id(records)["REDHAT-CVE-2099-0001"]
    assert first.part_precedence == 0 and first.related == ()
    assert {row.package: row.fix_state for row in first.affected}["gadget"] is FixState.NOT_FIXED


def test_source_rpm_not_affected_beside_fixed_binaries_keeps_the_fix(tmp_path: Path) -> None:
    document = copy.deepcopy(CSAF)
    tree = document["product_tree"]
    tree["branches"][0]["branches"][1]["branches"].append({"product": {
        "product_id": "widget-1:2.0-3.el9_3.src",
        "product_identification_helper": {"purl": "pkg:rpm/redhat/widget@2.0-3.el9_3?arch=src&epoch=1"}}})
    tree["relationships"].append({"category": "default_component_of", "product_reference": "widget-1:2.0-3.el9_3.src",
                                  "relates_to_product_reference": STREAM,
                                  "full_product_name": {"product_id": f"{STREAM}:widget-1:2.0-3.el9_3.src"}})
    document["vulnerabilities"][0]["product_status"]["known_not_affected"] = [f"{STREAM}:widget-1:2.0-3.el9_3.src"]
    records, _ = read_all("redhat", [write_document(tmp_path, document)])
    rows = {row.package: row for row in by_id(records)["REDHAT-CVE-2099-0001"].affected}
    assert rows["widget"].fix_state is FixState.FIXED


def test_real_advisories(feeds: Path) -> None:
    records, skips, facts = read_with_facts("redhat", [feeds / "redhat" / "vunnel-csaf"])
    assert dict(skips.reasons) == {}
    assert max(facts.timestamps) == "2026-04-01T19:04:12Z" and facts.exports == {}
    found = by_id(records)
    assert sum(r.id.startswith("RHSA-") for r in records) == 8
    assert sum(len(r.affected) for r in records) == 660
    # Every package of RHSA-2023:3821, 2023:7025 and 2024:1431 (ruby) is in a module stream: rpmmod=ruby:2.7:
    # 8080020230427102918:63b34585 and so on, the MODULARITYLABEL of the rpms, name the stream's ecosystem.
    modular = {(row.ecosystem, row.package): row for record in records if record.id == "REDHAT-CVE-2023-28755"
               for row in record.affected}  # parts from all three advisories
    assert {ecosystem for ecosystem, _ in modular} == {
        f"Red Hat:enterprise_linux:8::appstream::module:ruby:{stream}" for stream in ("2.5", "2.7", "3.1")}
    ruby = modular[("Red Hat:enterprise_linux:8::appstream::module:ruby:2.7", "ruby")]
    assert json.loads(ruby.fixed or "") == ["2.7.8-139.module+el8.8.0+18745+f1bef313"]
    assert not any(row.ecosystem == "Red Hat:enterprise_linux:8::appstream"
                   for record in records for row in record.affected)
    # RHSA-2024:0811 (sudo): EUS streams keep their names, `cpe:/o:redhat:rhel_eus:8.6::baseos` among them.
    sudo = {row.ecosystem: row for row in found["REDHAT-CVE-2023-28486"].affected if row.package == "sudo"}
    assert json.loads(sudo["Red Hat:rhel_eus:8.6::baseos"].fixed or "") == ["1.9.5p2-1.el8_6"]
    assert {"Red Hat:rhel_eus:9.2::appstream", "Red Hat:enterprise_linux:8::baseos"} <= set(sudo)
    # RHSA-2024:0010 (server/2024): tigervnc fixed in 1.13.1-3.el9_3.3 for RHEL 9 AppStream, rated Important.
    tigervnc = found["REDHAT-CVE-2023-6377"]
    assert tigervnc.severity == "high" and tigervnc.related == ("RHSA-2024:0010",)
    rows = {(row.ecosystem, row.package): row for row in tigervnc.affected}
    row = rows[("Red Hat:enterprise_linux:9::appstream", "tigervnc")]
    assert row.fix_state is FixState.FIXED and json.loads(row.fixed or "") == ["1.13.1-3.el9_3.3"]
    # RHSA-2025:23414: bind's epoch 32 is kept; its source rpm, listed not affected, does not hide the fix.
    bind = {row.package: row for row in found["REDHAT-CVE-2021-25220"].affected if row.ecosystem == "Red Hat:rhel_els:6"}
    assert json.loads(bind["bind"].fixed or "") == ["32:9.8.2-0.68.rc1.el6_10.17"]
    assert bind["bind-chroot"].fix_state is FixState.NOT_AFFECTED


def _with(path: str, value: object) -> dict[str, Any]:
    document = copy.deepcopy(CSAF)
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return document


@pytest.mark.parametrize(("document", "reason"), [
    (_with("document.category", "csaf_informational_advisory"), "not a Red Hat CSAF document"),
    (_with("document.publisher", {"name": "Someone Else"}), "not a Red Hat CSAF document"),
    ({"other": "json"}, UNKNOWN_FORM),
    ({"document": "csaf"}, "document is not an object"),
    ([1, 2], "document is not an object"),
    (_with("document.tracking", {"current_release_date": "2099-01-01"}), "document without tracking id"),
    (_with("vulnerabilities", {"cve": "CVE-2099-0001"}), "vulnerabilities is not a list"),
    (_with("vulnerabilities.0.cve", "not-a-cve"), "vulnerability without CVE id"),
    (_with("vulnerabilities.0.product_status", {"fixed": "x"}), "product_status.fixed is not a list of strings"),
    (_with("vulnerabilities.0.scores", [{"cvss_v3": "CVSS:3.1"}]), "cvss_v3 is not an object"),
    (_with("product_tree.branches", {"x": 1}), "product tree branches is not a list"),
    (_with("product_tree.branches.0.branches.1.branches.0.product.product_identification_helper",
           {"purl": "pkg:rpm/redhat/widget@2.0?epoch=x1"}), "invalid package epoch"),
    (_with("product_tree.branches.0.branches.1.branches.0.product.product_identification_helper",
           {"purl": "pkg:rpm/redhat/widget?arch=x86_64"}), "fixed package without version"),
    (_with("product_tree.branches.0.branches.1.branches.2.product.product_identification_helper",
           {"purl": "pkg:rpm/redhat/ruby@2.7.8-1?rpmmod=ruby"}), "invalid module label"),
    (_with("product_tree.branches.0.branches.1.branches.2.product.product_identification_helper",
           {"purl": "pkg:rpm/redhat/ruby@2.7.8-1?rpmmod=ruby:2.7%0A:1:abc"}), "invalid module label"),
    (_with("vulnerabilities.1.product_status", {"fixed": [f"{STREAM}:{PACKAGE}"],
                                                "known_affected": [f"{STREAM}:{PACKAGE}"]}),
     "conflicting states for one package"),
])
def test_hostile_documents_are_skipped_with_a_reason_and_fatal_when_strict(
        tmp_path: Path, document: object, reason: str) -> None:
    write_document(tmp_path, document)
    assert read_skipping_once("redhat", [tmp_path], reason) == []


def test_deep_and_unparsable_files_are_skipped(tmp_path: Path) -> None:
    deep: dict[str, Any] = {"branches": []}
    for _ in range(40):
        deep = {"branches": [deep]}
    write_document(tmp_path, _with("product_tree.branches", deep["branches"]), "a.json")
    (tmp_path / "b.json").write_bytes(b"{\"document\": ")
    (tmp_path / "c.json").write_text("[" * 100_000 + "]" * 100_000)
    records, skips = read_all("redhat", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"product tree too deep": 1, "invalid JSON": 2}


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], main: Any, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["cli", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    assert exited.value.code in (0, 1, None), out.err
    return out.out


def scan_findings(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], keys: Path, bundle: Path,
                  state: Path, component: dict[str, str]) -> dict[str, Any]:
    """By vulnerability id, the findings of `scanner scan -o json` with `bundle` (its key, `release` in `keys`,
    trusted in `state`) of a CycloneDX SBOM, written beside `state`, listing `component`."""
    run_cli(monkeypatch, capsys, scanner_main, "--state-dir", str(state), "trust", "add", str(keys / "release.pub.pem"))
    sbom = state.parent / "sbom.json"
    sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5",
                                "components": [{"type": "library", **component}]}))
    report = json.loads(run_cli(monkeypatch, capsys, scanner_main, "--state-dir", str(state), "scan", str(sbom),
                                "--db", str(bundle), "-o", "json"))
    return {f["vulnerability"]["id"]: f for f in report["findings"]}


def test_built_bundle_finds_an_older_rhel_package_with_red_hat_fix_and_rating(
        tmp_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    keys, bundle, state = tmp_path / "keys", tmp_path / "redhat.bundle", tmp_path / "state"
    run_cli(monkeypatch, capsys, dbbuilder_main, "keygen", "--out", str(keys), "--name", "release")
    run_cli(monkeypatch, capsys, dbbuilder_main, "build", "--redhat", str(feeds / "redhat" / "vunnel-csaf"),
         "--key", str(keys / "release.pem"), "--channel", "t", "--bundle-version", "1", "--out", str(bundle))
    findings = scan_findings(monkeypatch, capsys, keys, bundle, state, {
        "name": "tigervnc", "version": "1.13.1-2.el9",
        "purl": "pkg:rpm/redhat/tigervnc@1.13.1-2.el9?arch=x86_64&distro=rhel-9.3"})
    assert set(findings) == {"CVE-2023-5367", "CVE-2023-6377", "CVE-2023-6478"}
    finding = findings["CVE-2023-6377"]
    assert finding["fix"]["state"] == "fixed" and finding["fix"]["versions"] == ["1.13.1-3.el9_3.3"]
    assert finding["vulnerability"]["severity"] == "high"
    assert finding["vulnerability"]["severity_origin"]["source"] == "redhat"
    assert "RHSA-2024:0010" in finding["vulnerability"]["aliases"]


def test_accepts_csaf_json_and_bare_security_data_names() -> None:
    assert accepts(Path("advisories/rhsa-2024_0010.json")) and accepts(Path("input/cve/full/CVE-2023-4863"))
    assert not any(accepts(Path(name)) for name in (
        "changes.csv", "archive_latest.txt", "csaf_advisories_2025-02-15.tar.zst", "README.md", "CVE-2023-4863.txt",
        "CVE-2023-4863\n"))


def test_aus_and_eus_stream_cpes_keep_their_names(tmp_path: Path) -> None:
    document = copy.deepcopy(CSAF)
    helper = document["product_tree"]["branches"][0]["branches"][0]["product"]["product_identification_helper"]
    helper["cpe"] = "cpe:/o:redhat:rhel_aus:8.4::baseos"
    records, _ = read_all("redhat", [write_document(tmp_path, document)])
    assert {row.ecosystem for row in by_id(records)["REDHAT-CVE-2099-0001"].affected} == {
        "Red Hat:rhel_aus:8.4::baseos", "Red Hat:rhel_aus:8.4::baseos::module:ruby:2.7"}
