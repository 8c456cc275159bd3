from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from scanner.errors import OperatorInputError
from scanner.match.filters import apply_filters, load_ignore_file, load_vex
from scanner.model import Finding, Fix, FixState, Package, Severity, Vulnerability

PILLOW = Package(name="Pillow", version="8.4.0", type="pypi", ecosystem="PyPI", purl="pkg:pypi/pillow@8.4.0")
OPENSSL = Package(name="libssl1.1", version="1.1.1k-1", type="deb", ecosystem="Debian:11",
                  purl="pkg:deb/debian/libssl1.1@1.1.1k-1?distro=debian-11", source_name="openssl")


def finding(package: Package, vuln_id: str, aliases: tuple[str, ...] = (), state: FixState = FixState.FIXED) -> Finding:
    return Finding(package=package,
                   vulnerability=Vulnerability(id=vuln_id, aliases=aliases, severity=Severity.HIGH),
                   fix=Fix(state, ("9.0.0",) if state is FixState.FIXED else ()), matched_by="ecosystem")


FINDINGS = [finding(PILLOW, "CVE-2022-22817", ("GHSA-8vj2-vxx3-667w",)),
            finding(PILLOW, "CVE-2021-0001"),
            finding(OPENSSL, "CVE-2023-0001", state=FixState.NOT_FIXED)]
DAY = dt.date(2026, 11, 29)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ignore_rules_by_alias_package_range_and_state(tmp_path: Path) -> None:
    rules = load_ignore_file(write(tmp_path, "ignore.yaml", """
rules:
  - id: GHSA-8vj2-vxx3-667w
    reason: not reachable
  - package: openssl
    fix_state: not-fixed
    reason: accepted until the next base image
    expires: 2027-01-31
  - package: pillow
    versions: {introduced: "9.0.0"}
    reason: only newer Pillow
"""))
    outcome = apply_filters(FINDINGS, rules=rules, on=DAY)
    assert [f.vulnerability.id for f in outcome.active] == ["CVE-2021-0001"]
    assert [f.suppressed_by for f in outcome.suppressed] == ["ignore: not reachable",
                                                              "ignore: accepted until the next base image"]


def test_expired_rules_warn_and_stop_applying(tmp_path: Path) -> None:
    rules = load_ignore_file(write(tmp_path, "ignore.json", json.dumps(
        [{"id": "CVE-2021-0001", "reason": "old", "expires": "2026-01-01"}])))
    outcome = apply_filters(FINDINGS, rules=rules, on=DAY)
    assert len(outcome.active) == 3
    assert outcome.warnings == ("ignore rule 1 (CVE-2021-0001) expired on 2026-01-01 and no longer applies",)


@pytest.mark.parametrize("text, message", [
    ("- {id: CVE-1}", "'reason' is required"),
    ("- {reason: x}", "needs an 'id' or a 'package'"),
    ("- {id: CVE-1, reason: x, colour: red}", "unknown key 'colour'"),
    ("- {id: CVE-1, reason: x, expires: soon}", "'expires' must be a date"),
    ("- {id: CVE-1, reason: x, fix_state: maybe}", "'fix_state' must be one of"),
    ("- {id: CVE-1, reason: x, versions: {below: 1}}", "'versions' must be a mapping"),
    ("{rules: 3}", "expected a list"),
    ("[unclosed", "not valid YAML or JSON"),
    ("- [1, 2]", "must be a mapping"),
])
def test_bad_ignore_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(OperatorInputError, match=message):
        load_ignore_file(write(tmp_path, "bad.yaml", text))


def test_only_fixed_hides_and_counts(tmp_path: Path) -> None:
    outcome = apply_filters(FINDINGS, only_fixed=True, on=DAY)
    assert len(outcome.active) == 2 and outcome.hidden_unfixed == 1


def test_openvex_not_affected_and_fixed_suppress_later_statement_wins(tmp_path: Path) -> None:
    vex = load_vex(write(tmp_path, "vex.json", json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "timestamp": "2026-11-01T00:00:00Z",
        "statements": [
            {"vulnerability": {"name": "CVE-2022-22817"}, "products": [{"@id": "pkg:pypi/pillow@8.4.0"}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": {"name": "CVE-2021-0001"}, "products": [{"@id": "pkg:pypi/pillow"}],
             "status": "not_affected", "justification": "component_not_present", "timestamp": "2026-11-02T00:00:00Z"},
            {"vulnerability": {"name": "CVE-2021-0001"}, "products": [{"@id": "pkg:pypi/pillow"}],
             "status": "affected", "timestamp": "2026-11-03T00:00:00Z"},
            {"vulnerability": "CVE-2023-0001",
             "products": [{"@id": "pkg:oci/app@sha256%3Aabc",
                           "subcomponents": [{"@id": "pkg:deb/debian/libssl1.1@1.1.1k-1"}]}],
             "status": "fixed"},
        ]})))
    outcome = apply_filters(FINDINGS, vex=vex, on=DAY)
    assert [f.vulnerability.id for f in outcome.active] == ["CVE-2021-0001"]
    assert [f.suppressed_by for f in outcome.suppressed] == [
        "vex: not_affected (vulnerable_code_not_in_execute_path)", "vex: fixed"]


def test_vex_for_other_versions_does_not_apply(tmp_path: Path) -> None:
    vex = load_vex(write(tmp_path, "vex.json", json.dumps({"statements": [
        {"vulnerability": {"name": "CVE-2022-22817"}, "products": ["pkg:pypi/pillow@9.9.9"], "status": "fixed"}]})))
    assert len(apply_filters(FINDINGS, vex=vex, on=DAY).active) == 3


@pytest.mark.parametrize("document, message", [
    ({"statements": "x"}, "no 'statements' list"),
    ({"statements": [{"vulnerability": {"name": "CVE-1"}, "products": [], "status": "bogus"}]}, "unknown status"),
    ({"statements": [{"vulnerability": 5, "products": [], "status": "fixed"}]}, "must name a vulnerability"),
    ({"statements": [{"vulnerability": "CVE-1", "products": "x", "status": "fixed"}]}, "'products' must be a list"),
])
def test_bad_vex_documents_name_the_problem(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(OperatorInputError, match=message):
        load_vex(write(tmp_path, "vex.json", json.dumps(document)))
