"""What happens to findings after matching: ignore rules, OpenVEX statements and `--only-fixed`.

Ignore file (YAML or JSON, documented in docs/scanning.md): a list of rules, or `{"rules": [...]}`.
Each rule names a vulnerability (`id`, compared with the finding's id and every alias) and/or a
`package`, optionally an `ecosystem`, a `versions` range (OSV events: `introduced`, `fixed`,
`last_affected`), a `fix_state`; a `reason` is required and `expires` (YYYY-MM-DD) optional. An
expired rule no longer applies and is reported as a warning.

OpenVEX (v0.2.0 and the earlier string forms): statements with status `not_affected` or `fixed`
suppress the findings whose vulnerability (id or alias) and product PURL (or a subcomponent's) they
name; a later statement about the same pair replaces an earlier one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from scanner import versions
from scanner.clock import SYSTEM_CLOCK
from scanner.errors import OperatorInputError
from scanner.fileio import read_capped
from scanner.model import Finding, FixState, Package
from scanner.names import ecosystem_family, normalize_package_name
from scanner.targets.sbom import go_module_path

_RULE_KEYS = frozenset({"id", "package", "ecosystem", "versions", "fix_state", "reason", "expires"})
_RANGE_EVENTS = ("introduced", "fixed", "last_affected")
_SUPPRESSING_STATUSES = frozenset({"not_affected", "fixed"})
_MAX_FILTER_FILE = 16 * 1024 * 1024


@dataclass(frozen=True)
class IgnoreRule:
    reason: str
    id: str = ""
    package: str = ""
    ecosystem: str = ""
    versions: Mapping[str, str] | None = None
    fix_state: FixState | None = None
    expires: dt.date | None = None
    position: int = 0  # 1-based index in its file, for messages

    def describe(self) -> str:
        subject = " ".join(part for part in (self.id, self.package) if part)
        return f"ignore rule {self.position} ({subject})"

    def applies_to(self, finding: Finding) -> bool:
        vulnerability = finding.vulnerability
        if self.id and self.id.upper() not in {i.upper() for i in (vulnerability.id, *vulnerability.aliases)}:
            return False
        package = finding.package
        if self.ecosystem and ecosystem_family(self.ecosystem).lower() != ecosystem_family(package.ecosystem).lower():
            return False
        if self.package and normalize_package_name(package.ecosystem, self.package) not in {
            normalize_package_name(package.ecosystem, package.name),
            normalize_package_name(package.ecosystem, package.match_source_name),
        }:
            return False
        if self.fix_state is not None and finding.fix.state is not self.fix_state:
            return False
        if self.versions is not None:
            events = [{"introduced": self.versions.get("introduced", "0")}]
            events += [{key: self.versions[key]} for key in ("fixed", "last_affected") if key in self.versions]
            affected = {"ranges": [{"type": "ECOSYSTEM", "events": events}]}
            try:
                return versions.is_affected(package.ecosystem, package.version, affected)
            except (versions.InvalidVersion, versions.UnknownEcosystem):
                return False
        return True


def _text(value: object, where: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise OperatorInputError(f"{where}: {key!r} must be a string")
    return str(value).strip()


def _load_structured(path: Path, what: str) -> Any:
    # Imported here: only an --ignore or --vex file is YAML (or JSON, which YAML reads); a scan without
    # one does not pay for the parser (~12 ms).
    import yaml

    raw = read_capped(path, _MAX_FILTER_FILE, what, OperatorInputError)
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise OperatorInputError(f"{what} {path}: not valid YAML or JSON ({str(error).splitlines()[0]})") from error


def _parse_rule(raw: object, position: int, where: str) -> IgnoreRule:
    at = f"{where}: rule {position}"
    if not isinstance(raw, dict):
        raise OperatorInputError(f"{at}: must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in _RULE_KEYS)
    if unknown:
        raise OperatorInputError(f"{at}: unknown key {unknown[0]!r}")
    reason = _text(raw.get("reason"), at, "reason")
    if not reason:
        raise OperatorInputError(f"{at}: a 'reason' is required")
    vuln_id, package = _text(raw.get("id"), at, "id"), _text(raw.get("package"), at, "package")
    if not vuln_id and not package:
        raise OperatorInputError(f"{at}: needs an 'id' or a 'package'")
    version_range: dict[str, str] | None = None
    if raw.get("versions") is not None:
        given = raw["versions"]
        if not isinstance(given, dict) or not given or any(k not in _RANGE_EVENTS for k in given):
            raise OperatorInputError(f"{at}: 'versions' must be a mapping of {', '.join(_RANGE_EVENTS)}")
        version_range = {str(k): _text(v, at, f"versions.{k}") for k, v in given.items()}
    fix_state: FixState | None = None
    if raw.get("fix_state") is not None:
        try:
            fix_state = FixState(_text(raw["fix_state"], at, "fix_state"))
        except ValueError as error:
            choices = ", ".join(s.value for s in FixState)
            raise OperatorInputError(f"{at}: 'fix_state' must be one of {choices}") from error
    expires: dt.date | None = None
    if raw.get("expires") is not None:
        value = raw["expires"]
        if isinstance(value, dt.datetime):
            expires = value.date()
        elif isinstance(value, dt.date):
            expires = value
        else:
            try:
                expires = dt.date.fromisoformat(_text(value, at, "expires"))
            except ValueError as error:
                raise OperatorInputError(f"{at}: 'expires' must be a date (YYYY-MM-DD)") from error
    return IgnoreRule(reason=reason, id=vuln_id, package=package, ecosystem=_text(raw.get("ecosystem"), at, "ecosystem"),
                      versions=version_range, fix_state=fix_state, expires=expires, position=position)


def load_ignore_file(path: Path) -> tuple[IgnoreRule, ...]:
    document = _load_structured(path, "ignore file")
    if isinstance(document, dict) and set(document) <= {"rules"}:
        document = document.get("rules") or []
    if document is None:
        return ()
    if not isinstance(document, list):
        raise OperatorInputError(f"ignore file {path}: expected a list of rules or {{'rules': [...]}}")
    return tuple(_parse_rule(raw, position, f"ignore file {path}") for position, raw in enumerate(document, 1))


@dataclass(frozen=True)
class VexStatement:
    vulnerabilities: frozenset[str]  # upper-case ids: the name and its aliases
    products: tuple[PackageURL, ...]  # products and subcomponents
    whole_image: bool  # a statement about an image (pkg:oci) without subcomponents covers every package
    status: str
    justification: str
    statement: str  # impact or status notes, for the report
    timestamp: str
    position: int

    def covers(self, finding: Finding) -> bool:
        vulnerability = finding.vulnerability
        if not self.vulnerabilities & {i.upper() for i in (vulnerability.id, *vulnerability.aliases)}:
            return False
        return self.whole_image or any(_purl_matches(product, finding.package) for product in self.products)


def _purl_matches(product: PackageURL, package: Package) -> bool:
    try:
        own = PackageURL.from_string(package.purl)
    except ValueError:
        return False
    if product.type == "golang" and own.type == "golang":  # the subpath is part of a Go module's path
        return go_module_path(product) == go_module_path(own) and (
            not product.version or product.version == own.version)
    if product.type != own.type or (product.namespace or "").lower() != (own.namespace or "").lower():
        return False
    if normalize_package_name(package.ecosystem, product.name) != normalize_package_name(package.ecosystem, own.name):
        return False
    return not product.version or product.version == own.version


def _vex_ids(raw: object, at: str) -> frozenset[str]:
    if isinstance(raw, str):
        return frozenset({raw.upper()})
    if isinstance(raw, dict):
        names = [raw.get("name"), raw.get("@id"), *(raw.get("aliases") or [])]
        ids = frozenset(str(n).upper() for n in names if isinstance(n, str) and n)
        if ids:
            return ids
    raise OperatorInputError(f"{at}: 'vulnerability' must name a vulnerability")


def _vex_products(raw: object, at: str) -> tuple[tuple[PackageURL, ...], bool]:
    if not isinstance(raw, list):
        raise OperatorInputError(f"{at}: 'products' must be a list")
    purls: list[PackageURL] = []
    whole_image = False
    for product in raw:
        ids: list[str] = []
        subcomponents: list[object] = []
        if isinstance(product, str):
            ids.append(product)
        elif isinstance(product, dict):
            ids.extend(str(product[key]) for key in ("@id",) if isinstance(product.get(key), str))
            identifiers = product.get("identifiers")
            if isinstance(identifiers, dict) and isinstance(identifiers.get("purl"), str):
                ids.append(identifiers["purl"])
            subcomponents = list(product.get("subcomponents") or [])
        for sub in subcomponents:
            if isinstance(sub, str):
                ids_sub = [sub]
            elif isinstance(sub, dict) and isinstance(sub.get("@id"), str):
                ids_sub = [sub["@id"]]
            else:
                ids_sub = []
            purls.extend(p for p in (_parse_purl(i) for i in ids_sub) if p is not None)
        for ident in ids:
            parsed = _parse_purl(ident)
            if parsed is None:
                continue
            if parsed.type == "oci" and not subcomponents:
                whole_image = True
            elif parsed.type != "oci":
                purls.append(parsed)
    return tuple(purls), whole_image


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def load_vex(path: Path) -> tuple[VexStatement, ...]:
    document = _load_structured(path, "VEX document")
    where = f"VEX document {path}"
    if not isinstance(document, dict) or not isinstance(document.get("statements"), list):
        raise OperatorInputError(f"{where}: not an OpenVEX document (no 'statements' list)")
    default_time = str(document.get("timestamp") or "")
    statements: list[VexStatement] = []
    for position, raw in enumerate(document["statements"], 1):
        at = f"{where}: statement {position}"
        if not isinstance(raw, dict):
            raise OperatorInputError(f"{at}: must be a mapping")
        status = str(raw.get("status") or "")
        if status not in {"not_affected", "affected", "fixed", "under_investigation"}:
            raise OperatorInputError(f"{at}: unknown status {status!r}")
        products, whole_image = _vex_products(raw.get("products") or [], at)
        statements.append(VexStatement(
            vulnerabilities=_vex_ids(raw.get("vulnerability"), at),
            products=products,
            whole_image=whole_image,
            status=status,
            justification=str(raw.get("justification") or ""),
            statement=str(raw.get("impact_statement") or raw.get("status_notes") or ""),
            timestamp=str(raw.get("timestamp") or default_time),
            position=position,
        ))
    # Later statements win: order by time, then by position in the document.
    return tuple(sorted(statements, key=lambda s: (s.timestamp, s.position)))


@dataclass(frozen=True)
class FilterOutcome:
    active: tuple[Finding, ...]
    suppressed: tuple[Finding, ...]  # each with `suppressed_by` saying which rule or statement
    hidden_unfixed: int  # findings dropped by --only-fixed
    warnings: tuple[str, ...]


def apply_filters(
    findings: Sequence[Finding],
    *,
    rules: Iterable[IgnoreRule] = (),
    vex: Iterable[VexStatement] = (),
    only_fixed: bool = False,
    on: dt.date | None = None,
) -> FilterOutcome:
    day = on or SYSTEM_CLOCK.now().date()  # the date rules expire against
    warnings: list[str] = []
    live_rules: list[IgnoreRule] = []
    for rule in rules:
        if rule.expires is not None and rule.expires < day:
            warnings.append(f"{rule.describe()} expired on {rule.expires.isoformat()} and no longer applies")
        else:
            live_rules.append(rule)
    statements = tuple(vex)
    active: list[Finding] = []
    suppressed: list[Finding] = []
    hidden = 0
    for finding in findings:
        verdict = next((s for s in reversed(statements) if s.covers(finding)), None)
        if verdict is not None and verdict.status in _SUPPRESSING_STATUSES:
            detail = "; ".join(p for p in (verdict.justification, verdict.statement) if p)
            suppressed.append(dataclasses.replace(
                finding, suppressed_by=f"vex: {verdict.status}" + (f" ({detail})" if detail else "")))
            continue
        matched_rule = next((r for r in live_rules if r.applies_to(finding)), None)
        if matched_rule is not None:
            suppressed.append(dataclasses.replace(finding, suppressed_by=f"ignore: {matched_rule.reason}"))
            continue
        if only_fixed and finding.fix.state is not FixState.FIXED:
            hidden += 1
            continue
        active.append(finding)
    return FilterOutcome(tuple(active), tuple(suppressed), hidden, tuple(warnings))

