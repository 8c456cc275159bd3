"""The `scanner` command: parses flags, calls the library, turns our errors into one line and an exit code.

Each command lives in this file as a thin function; the work happens in the library packages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scanner import __version__
from scanner.catalog import catalog_image
from scanner.cliexit import run
from scanner.db import trust
from scanner.db.audit import append, record_scan, verify_log
from scanner.db.install import (
    DATABASE_FILE,
    NO_DATABASE,
    VerifiedDatabase,
    freshness_summary,
    import_bundle,
    installed_info,
    load_database,
)
from scanner.db.state import StateDir, days, freshness_document, load_freshness, save_freshness
from scanner.db.verify import FreshnessPolicy, format_age, format_time
from scanner.errors import DatabaseError, ScannerError, UsageError
from scanner.image import ImageMetadata, Limits, open_image
from scanner.image.limits import parse_size
from scanner.match.filters import IgnoreRule, VexStatement, load_ignore_file, load_vex
from scanner.match.scan import ScanOptions, ScanReport, database_info, diff_reports, read_target, run_scan
from scanner.model import Severity
from scanner.report import write_output
from scanner.report.base import DIFF, FINDINGS, SBOM, get_format
from scanner.report.sbom import SbomReport, Subject, timestamp_from_environment

app = typer.Typer(
    name="scanner",
    help="Offline vulnerability scanner for container image archives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class GlobalOptions:
    """Options given before the command name, shared by every command."""

    state_dir: Path | None = None


@app.callback()
def root(
    ctx: typer.Context,
    state_dir: Annotated[Path | None, typer.Option(
        help="State directory (trust store, database, audit log); default $SCANNER_STATE_DIR, "
             "else $XDG_DATA_HOME/airgap-scanner.")] = None,
) -> None:
    """Offline vulnerability scanner for container image archives."""
    ctx.obj = GlobalOptions(state_dir=state_dir)


def global_options(ctx: typer.Context) -> GlobalOptions:
    options = ctx.find_root().obj
    return options if isinstance(options, GlobalOptions) else GlobalOptions()


@app.command()
def version() -> None:
    """Print the scanner's version."""
    typer.echo(__version__)


# --- image inspection (scanner.image) -------------------------------------------------------------


class InspectFormat(StrEnum):
    table = "table"
    json = "json"


def _size_option(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError:
        raise UsageError(f"--max-uncompressed-size {text!r}: expected a size such as 32G, 512M or 1000000") from None


def _inspect_table(metadata: ImageMetadata) -> None:
    for label, value in (("format", metadata.format), ("tags", ", ".join(metadata.tags) or "(none)"),
                         ("image id", metadata.config_digest), ("platform", metadata.platform),
                         ("created", metadata.created or "(unknown)")):
        typer.echo(f"{label + ':':<10} {value}")

    def short(digest: str) -> str:
        return digest[:19]

    table = Table("#", "digest", "diff_id", "size", "uncompressed", "files", box=None, pad_edge=False)
    for layer in metadata.layers:
        table.add_row(str(layer.index), short(layer.digest), short(layer.diff_id), str(layer.size),
                      str(layer.uncompressed_size), str(layer.files))
    Console(width=200).print(table)


@app.command()
def inspect(
    image: Annotated[Path, typer.Argument(help="docker save tarball, OCI archive or OCI layout directory.")],
    output: Annotated[InspectFormat, typer.Option("--output", "-o", help="table or json.")] = InspectFormat.table,
    image_name: Annotated[str | None, typer.Option(
        "--image", metavar="NAME:TAG", help="Which image of a multi-image archive.")] = None,
    platform: Annotated[str | None, typer.Option(
        "--platform", metavar="OS/ARCH[/VARIANT]", help="Which platform of a multi-platform index.")] = None,
    max_uncompressed_size: Annotated[str | None, typer.Option(
        help="Cap on decompressed layer bytes (default 32G): the guard against decompression bombs.")] = None,
) -> None:
    """Print an image's metadata: format, tags, image id, platform and layers."""
    cap = _size_option(max_uncompressed_size)
    limits = Limits() if cap is None else Limits(max_uncompressed_bytes=cap)
    with open_image(image, image=image_name, platform=platform, limits=limits) as opened:
        metadata, warnings = opened.metadata, opened.warnings
    _print_warnings(warnings)
    if output is InspectFormat.json:
        typer.echo(json.dumps(metadata.to_json(), indent=2))
    else:
        _inspect_table(metadata)


# --- trust, database lifecycle and audit (scanner.db) --------------------------------------------

trust_app = typer.Typer(help="Manage the keys trusted to sign vulnerability bundles.", no_args_is_help=True)
db_app = typer.Typer(help="Import, inspect and re-verify the vulnerability database.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")


def _state(ctx: typer.Context) -> StateDir:
    return StateDir.resolve(global_options(ctx).state_dir)


def _now() -> datetime:
    return datetime.now(UTC)


@trust_app.command("add")
def trust_add(
    ctx: typer.Context,
    public_key: Annotated[Path, typer.Argument(help="Ed25519 public key, SubjectPublicKeyInfo PEM.")],
    name: Annotated[str | None, typer.Option(help="Label shown in listings (default: the file name).")] = None,
) -> None:
    """Trust a bundle signing key."""
    label = name if name is not None else public_key.name.removesuffix(".pem").removesuffix(".pub")
    key, added = trust.add_key(_state(ctx), trust.read_key_file(public_key), label, str(public_key), _now())
    typer.echo(f"{'trusted' if added else 'already trusted, renamed'}: {key.key_id} ({key.name})")


@trust_app.command("list")
def trust_list(ctx: typer.Context) -> None:
    """List trusted keys and the signature threshold."""
    policy = trust.load_trust(_state(ctx))
    for key in policy.keys:
        typer.echo(f"{key.key_id}  {key.name}")
    typer.echo(f"threshold: {policy.threshold} of {len(policy.keys)} trusted key(s)")
    if not policy.keys:
        typer.echo("nothing is trusted: add a signing key with `scanner trust add PUBLIC.pem`", err=True)


@trust_app.command("remove")
def trust_remove(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id, or a unique prefix of at least 8 hex digits.")],
) -> None:
    """Stop trusting a key; bundles it signed stop verifying unless other keys meet the threshold."""
    key, remaining = trust.remove_key(_state(ctx), key_id, _now())
    typer.echo(f"removed: {key.key_id} ({key.name})")
    if len(remaining.keys) < remaining.threshold:
        typer.echo(f"scanner: warning: {len(remaining.keys)} trusted key(s) left, the threshold is "
                   f"{remaining.threshold}: no bundle can verify", err=True)


@trust_app.command("policy")
def trust_policy(
    ctx: typer.Context,
    threshold: Annotated[int | None, typer.Option(help="Signatures required from distinct trusted keys.")]
    = None,
) -> None:
    """Show or set the signature threshold (k of n trusted keys)."""
    state = _state(ctx)
    policy = trust.set_threshold(state, threshold, _now()) if threshold is not None else trust.load_trust(state)
    typer.echo(f"threshold: {policy.threshold} of {len(policy.keys)} trusted key(s)")


def _print_warnings(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        typer.echo(f"scanner: warning: {warning}", err=True)


@db_app.command("import")
def db_import(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(help="The bundle file to verify and install.")],
    allow_downgrade: Annotated[bool, typer.Option(
        help="Accept an older bundle_version (or the same version with other content); audited.")] = False,
    allow_expired: Annotated[bool, typer.Option(
        help="Accept a bundle past its signed expiry or the local maximum age; audited.")] = False,
) -> None:
    """Verify a bundle and install it atomically; the previous database stays until the new one is complete."""
    result = import_bundle(bundle, state_dir=global_options(ctx).state_dir, allow_expired=allow_expired,
                           allow_downgrade=allow_downgrade)
    database = result.database
    replaced = f", replacing v{result.previous.bundle_version}" if result.previous else ""
    typer.echo(f"installed {freshness_summary(database)}{replaced}")
    typer.echo(f"signed by: {', '.join(database.key_ids)}")
    _print_warnings(database.warnings)


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the installed database and re-verify it (exit code as `db verify`)."""
    state_dir = global_options(ctx).state_dir
    info = installed_info(state_dir)
    if info is None:
        raise DatabaseError(NO_DATABASE)
    manifest, origin = info.manifest, info.origin
    lines = [f"path: {info.directory / DATABASE_FILE}"]
    if manifest is not None:
        now = _now()
        lines += [
            f"channel: {manifest.channel}", f"bundle version: {manifest.bundle_version}",
            f"schema: {manifest.schema_version}",
            f"built: {format_time(manifest.built_at)} ({format_age(now - manifest.built_at)} ago)",
            f"expires: {format_time(manifest.expires_at)}",
            f"builder: {manifest.builder_name} {manifest.builder_version}",
        ]
        lines += [f"provider: {p.name} captured {format_time(p.captured_at)} ({format_age(now - p.captured_at)} "
                  f"ago), {p.records} records, {p.skipped} skipped" for p in manifest.providers]
    if origin is not None:
        lines += [f"bundle sha256: {origin.bundle_sha256}", f"imported: {format_time(origin.imported_at)}"]
        lines += [f"override in effect: {', '.join(origin.overrides)}"] if origin.overrides else []
    for line in lines:
        typer.echo(line)
    try:
        database = load_database(state_dir=state_dir, audit=False)
    except ScannerError:
        typer.echo("verification: FAILED")
        raise  # scanner.cliexit prints the one-line error and exits with its code
    typer.echo(f"signed by: {', '.join(database.key_ids)}")
    typer.echo("verification: ok (signatures, freshness, database digest)")
    _print_warnings(database.warnings)


@db_app.command("verify")
def db_verify(ctx: typer.Context) -> None:
    """Re-check the installed database against its signed manifest and the current trust store."""
    database = load_database(state_dir=global_options(ctx).state_dir)
    typer.echo(f"verified {freshness_summary(database)}")
    typer.echo(f"signed by: {', '.join(database.key_ids)}")
    _print_warnings(database.warnings)


def _parse_provider_ages(values: list[str]) -> dict[str, timedelta]:
    ages = {}
    for value in values:
        name, _, amount = value.partition("=")
        try:
            number = float(amount) if name else None
        except ValueError:
            number = None
        if number is None:
            raise UsageError(f"--provider-max-age {value}: expected NAME=DAYS, e.g. nvd=3")
        ages[name] = days(number, f"--provider-max-age {value}")
    return ages


@db_app.command("policy")
def db_policy(
    ctx: typer.Context,
    max_age: Annotated[float | None, typer.Option(help="Maximum data age in days (build and every provider).")]
    = None,
    no_max_age: Annotated[bool, typer.Option("--no-max-age", help="No global maximum age.")] = False,
    provider_max_age: Annotated[list[str] | None, typer.Option(
        help="NAME=DAYS: a provider's own maximum age (repeatable).")] = None,
    on_stale: Annotated[str | None, typer.Option(help="warn or fail when data is older.")] = None,
) -> None:
    """Show or set the local freshness policy (freshness.json in the state directory)."""
    state = _state(ctx)
    policy = load_freshness(state)
    if on_stale not in (None, "warn", "fail"):
        raise UsageError(f"--on-stale {on_stale}: expected warn or fail")
    if max_age is not None or no_max_age or provider_max_age or on_stale:
        policy = FreshnessPolicy(
            max_age=None if no_max_age else days(max_age, "--max-age") if max_age is not None else policy.max_age,
            provider_max_age={**policy.provider_max_age, **_parse_provider_ages(provider_max_age or [])},
            fail=policy.fail if on_stale is None else on_stale == "fail",
        )
        with state.lock():
            save_freshness(state, policy)
            append(state, "freshness-policy", freshness_document(policy))
    typer.echo(f"max age: {format_age(policy.max_age) if policy.max_age else 'none'}")
    for name, age in sorted(policy.provider_max_age.items()):
        typer.echo(f"max age for {name}: {format_age(age)}")
    typer.echo(f"on stale data: {'fail' if policy.fail else 'warn'}")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Check the audit log's hash chain; print the record count and the head digest to note elsewhere."""
    state = _state(ctx)
    summary = verify_log(state.audit_log)
    typer.echo(f"audit log {state.audit_log}: chain intact, {summary.records} records, "
               f"head sha256 {summary.head_sha256}")


# --- SBOM (scanner.catalog, scanner.report) ------------------------------------------------------


@app.command()
def sbom(
    image_path: Annotated[Path, typer.Argument(
        metavar="IMAGE", help="Image archive: docker-archive tar, OCI archive tar or OCI layout directory.")],
    output: Annotated[str, typer.Option(
        "--output", "-o", help="table, json, cyclonedx-json or spdx-json.")] = "table",
    file: Annotated[Path | None, typer.Option(
        "--file", help="Write the SBOM here (atomically) instead of standard output.")] = None,
    image: Annotated[str | None, typer.Option(help="NAME:TAG to pick in a multi-image archive.")] = None,
    platform: Annotated[str | None, typer.Option(help="os/arch or os/arch/variant to pick in a multi-platform index.")]
    = None,
) -> None:
    """List the packages installed in an image, as a table or an SBOM (deterministic output)."""
    report_format = get_format(SBOM, output)
    timestamp = timestamp_from_environment()
    metadata, catalog = catalog_image(image_path, image=image, platform=platform)
    report = SbomReport(subject=Subject.from_image(image_path, metadata), catalog=catalog, timestamp=timestamp)
    write_output(report_format.render(report), file)
    _print_warnings(catalog.warnings)


# --- scanning (scanner.match, scanner.report) ----------------------------------------------------

_FAIL_ON_CHOICES = ("negligible", "low", "medium", "high", "critical")


def _fail_on(text: str | None) -> Severity | None:
    if text is None:
        return None
    if text.lower() not in _FAIL_ON_CHOICES:
        raise UsageError(f"--fail-on {text}: expected one of {', '.join(_FAIL_ON_CHOICES)}")
    return Severity.parse(text)


@dataclass(frozen=True)
class _Filters:
    rules: tuple[IgnoreRule, ...]
    statements: tuple[VexStatement, ...]

    @classmethod
    def load(cls, ignore: Path | None, vex: Path | None) -> _Filters:
        return cls(load_ignore_file(ignore) if ignore is not None else (), load_vex(vex) if vex is not None else ())


def _scan_one(ctx: typer.Context, target: Path, database: VerifiedDatabase, options: ScanOptions,
              filters: _Filters) -> ScanReport:
    scan_input = read_target(target, image=options.image or None, platform=options.platform or None)
    report = run_scan(scan_input, database_path=database.path, database=database_info(database), options=options,
                      rules=filters.rules, vex=filters.statements)
    record_scan(global_options(ctx).state_dir, report.target.digest, database.bundle_sha256,
                report.severity_counts())
    return report


_DbOption = Annotated[Path | None, typer.Option(
    "--db", metavar="FILE.bundle", help="Verify and use this bundle instead of the installed database.")]
_ImageOption = Annotated[str | None, typer.Option(
    "--image", metavar="NAME:TAG", help="Which image of a multi-image archive.")]
_PlatformOption = Annotated[str | None, typer.Option(
    "--platform", metavar="OS/ARCH[/VARIANT]", help="Which platform of a multi-platform index.")]
_IncludeOwnedOption = Annotated[bool, typer.Option(
    help="Also match language packages whose files an OS package installed (the distro patches those).")]
_CpeOption = Annotated[bool, typer.Option(help="Also match NVD CPE configurations (opt-in: false-positive prone).")]
_IgnoreOption = Annotated[Path | None, typer.Option(
    "--ignore", metavar="FILE", help="Ignore rules, YAML or JSON (docs/scanning.md).")]
_VexOption = Annotated[Path | None, typer.Option(
    "--vex", metavar="FILE", help="OpenVEX document: not_affected and fixed statements suppress findings.")]
_OnlyFixedOption = Annotated[bool, typer.Option(help="Show only findings with a fixed version.")]


@app.command()
def scan(
    ctx: typer.Context,
    target: Annotated[Path, typer.Argument(
        metavar="TARGET", help="Image archive (docker-archive, OCI archive or layout) or SBOM (CycloneDX/SPDX JSON).")],
    db: _DbOption = None,
    output: Annotated[str, typer.Option(
        "--output", "-o", help="table, json, sarif or cyclonedx-json.")] = "table",
    file: Annotated[Path | None, typer.Option(
        "--file", help="Write the report here (atomically) instead of standard output.")] = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", metavar="SEVERITY",
        help="Exit with code 1 when a finding at or above this severity remains after filters.")] = None,
    only_fixed: _OnlyFixedOption = False,
    ignore: _IgnoreOption = None,
    vex: _VexOption = None,
    include_os_owned: _IncludeOwnedOption = False,
    cpe_match: _CpeOption = False,
    image: _ImageOption = None,
    platform: _PlatformOption = None,
) -> None:
    """Scan an image or an SBOM offline against the verified database: what is vulnerable, how to fix it."""
    report_format = get_format(FINDINGS, output)
    options = ScanOptions(only_fixed=only_fixed, include_os_owned=include_os_owned, cpe_match=cpe_match,
                          ignore_file=str(ignore or ""), vex_file=str(vex or ""), fail_on=_fail_on(fail_on),
                          image=image or "", platform=platform or "")
    filters = _Filters.load(ignore, vex)
    database = load_database(state_dir=global_options(ctx).state_dir, bundle=db)
    report = _scan_one(ctx, target, database, options, filters)
    write_output(report_format.render(report), file)
    if file is not None or output != "table":  # the table on the terminal already lists them
        _print_warnings(report.warnings)
    if report.fails(options.fail_on):
        raise typer.Exit(1)


@app.command()
def diff(
    ctx: typer.Context,
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The earlier image (or SBOM).")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The later image (or SBOM).")],
    db: _DbOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
    file: Annotated[Path | None, typer.Option(
        "--file", help="Write the result here (atomically) instead of standard output.")] = None,
    only_fixed: _OnlyFixedOption = False,
    ignore: _IgnoreOption = None,
    vex: _VexOption = None,
    include_os_owned: _IncludeOwnedOption = False,
    cpe_match: _CpeOption = False,
) -> None:
    """Findings added and resolved between two builds of an image, against the same database."""
    report_format = get_format(DIFF, output)
    options = ScanOptions(only_fixed=only_fixed, include_os_owned=include_os_owned, cpe_match=cpe_match,
                          ignore_file=str(ignore or ""), vex_file=str(vex or ""))
    filters = _Filters.load(ignore, vex)  # once for both scans
    database = load_database(state_dir=global_options(ctx).state_dir, bundle=db)
    old_report = _scan_one(ctx, old, database, options, filters)
    new_report = _scan_one(ctx, new, database, options, filters)
    write_output(report_format.render(diff_reports(old_report, new_report)), file)
    _print_warnings(tuple(dict.fromkeys((*old_report.warnings, *new_report.warnings))))


def main() -> None:
    run(app, "scanner")
