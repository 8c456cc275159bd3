"""The fix invariant every scan keeps: an offered fix sorts above what is installed, in the ecosystem's order.

Checked on findings JSON documents (`scanner scan -o json`) so that the end-to-end tests can run it on
every image they scan: for each fixed finding, every version offered for the package (`fix.versions`)
is above the package's version, and every version named for its source package (`fix.source.versions`)
is above the source's installed version; the same for each remediation's `upgrade_to` and `source`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from scanner import versions


def _above(ecosystem: str, installed: str, offered: str) -> bool:
    try:
        return versions.compare(ecosystem, installed, offered) < 0
    except (versions.InvalidVersion, versions.UnknownEcosystem):
        return False  # an offer nobody can order is not shown to be above what is installed


def _violations(document: Mapping[str, Any]) -> Iterator[str]:
    for finding in (*document["findings"], *document["suppressed"]):
        package, fix = finding["package"], finding["fix"]
        ecosystem, installed = package["ecosystem"], package["version"]
        installed_source = package["source_version"] or installed
        where = f"{package['name']} {installed} {finding['vulnerability']['id']}"
        if fix["state"] != "fixed":
            if fix["versions"] or fix["source"]:
                yield f"{where}: fix state {fix['state']} but versions offered"
            continue
        if not fix["versions"] and not (fix["source"] and fix["source"]["versions"]):
            yield f"{where}: fixed, with no version offered"
        yield from (f"{where}: offers {offered}" for offered in fix["versions"]
                    if not _above(ecosystem, installed, offered))
        if fix["source"]:
            yield from (f"{where}: offers source {fix['source']['name']} {offered}"
                        for offered in fix["source"]["versions"]
                        if not _above(ecosystem, installed_source, offered))
    for remediation in document["remediation"]:
        package = remediation["package"]
        where = f"remediation of {package['name']} {package['version']}"
        if remediation["upgrade_to"] and not _above(package["ecosystem"], package["version"], remediation["upgrade_to"]):
            yield f"{where}: upgrade to {remediation['upgrade_to']}"


def assert_fixes_above_installed(document: Mapping[str, Any]) -> None:
    """Fail, naming each, when a report offers a fix at or below the installed version."""
    violations = list(_violations(document))
    assert not violations, "fixes not above the installed version:\n" + "\n".join(violations)
