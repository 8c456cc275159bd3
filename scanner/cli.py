"""The `scanner` command: parses flags, calls the library, turns our errors into one line and an exit code.

Each command lives in this file as a thin function; the work happens in the library packages.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scanner import __version__
from scanner.batch import INCOMPLETE_COVERAGE_EXIT
from scanner.cliexit import run
from scanner.clock import Clock
from scanner.errors import DatabaseError, InternalError, ScannerError, UsageError
from scanner.report.base import DIFF_FORMATS, FINDINGS_FORMATS, SBOM_FORMATS
from scanner.terminal import printable

# Only what parsing flags needs is imported here: `scanner --version` and `--help` must not pay for
# the whole library (cryptography, rich, zstandard, the matcher, every report format). Each command
# imports what it uses.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from scanner.attest import TargetFile
    from scanner.batch import SummaryRow
    from scanner.db.install import VerifiedDatabase
    from scanner.db.state import StateDir
    from scanner.db.verify import TrustedKey, TrustPolicy
    from scanner.image import ImageMetadata
    from scanner.image.limits import Limits
    from scanner.match.filters import IgnoreRule, VexStatement
    from scanner.match.scan import DatabaseInfo, ScanOptions, ScanReport
    from scanner.model import Severity
    from scanner.overlap import Pending
    from scanner.report.base import ReportFormat
    from scanner.targets import ScanInput

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


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"scanner {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print the scanner's version and exit.")] = False,
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


# Every command that reads an image takes the image limits the error messages name.
_MaxUncompressedOption = Annotated[str | None, typer.Option(
    metavar="SIZE", help="Cap on decompressed layer bytes (default 32G): the guard against decompression bombs.")]


def _image_limits(max_uncompressed_size: str | None) -> Limits:
    from scanner.image.limits import Limits, parse_size

    if max_uncompressed_size is None:
        return Limits()
    try:
        return Limits(max_uncompressed_bytes=parse_size(max_uncompressed_size))
    except ValueError:
        raise UsageError(f"--max-uncompressed-size {max_uncompressed_size!r}: expected a size such as 32G, 512M "
                         "or 1000000") from None


def _say(text: str, *, err: bool = False) -> None:
    """One line naming things from an image, a bundle or the state directory: escaped for the terminal."""
    typer.echo(printable(text), err=err)


def _inspect_table(metadata: ImageMetadata) -> None:
    from rich.console import Console
    from rich.table import Table

    from scanner.image.limits import format_size

    for label, value in (("format", metadata.format), ("tags", ", ".join(metadata.tags) or "(none)"),
                         ("image id", metadata.config_digest), ("platform", metadata.platform),
                         ("created", _without_fraction(metadata.created) or "(unknown)")):
        _say(f"{label + ':':<10} {value}")

    def short(digest: str) -> str:
        return digest[:19]

    table = Table("#", "digest", "diff_id", "size", "uncompressed", "files", box=None, pad_edge=False)
    for layer in metadata.layers:
        table.add_row(str(layer.index), printable(short(layer.digest)), printable(short(layer.diff_id)),
                      format_size(layer.size), format_size(layer.uncompressed_size), str(layer.files))
    Console(width=200, markup=False).print(table)


# An RFC 3339 time with its fraction of a second: nanoseconds say nothing a person reading a table needs.
_FRACTIONAL_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+(Z|[+-]\d\d:\d\d)", re.ASCII)


def _without_fraction(created: str) -> str:
    """`created` without its fraction of a second; any other text (the field is free-form) unchanged."""
    match = _FRACTIONAL_TIME.fullmatch(created)
    return f"{match[1]}{match[2]}" if match else created


@app.command()
def inspect(
    image: Annotated[Path, typer.Argument(help="docker save tarball, OCI archive or OCI layout directory.")],
    output: Annotated[InspectFormat, typer.Option("--output", "-o", help="table or json.")] = InspectFormat.table,
    image_name: Annotated[str | None, typer.Option(
        "--image", metavar="NAME:TAG", help="Which image of a multi-image archive.")] = None,
    platform: Annotated[str | None, typer.Option(
        "--platform", metavar="OS/ARCH[/VARIANT]", help="Which platform of a multi-platform index.")] = None,
    max_uncompressed_size: _MaxUncompressedOption = None,
) -> None:
    """Print an image's metadata: format, tags, image id, platform and layers."""
    from scanner.image import open_image

    with open_image(image, image=image_name, platform=platform,
                    limits=_image_limits(max_uncompressed_size)) as opened:
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
kit_app = typer.Typer(help="Check an install kit before installing or upgrading from it.", no_args_is_help=True)
app.add_typer(kit_app, name="kit")


def _state(ctx: typer.Context) -> StateDir:
    from scanner.db.state import StateDir

    return StateDir.resolve(global_options(ctx).state_dir)


# The one clock of this process: the real time for trust and freshness decisions, and the time reports
# say they were made (SOURCE_DATE_EPOCH when set). Tests replace it.
CLOCK = Clock(os.environ)


def _now() -> datetime:
    return CLOCK.now()


@trust_app.command("add")
def trust_add(
    ctx: typer.Context,
    public_key: Annotated[Path, typer.Argument(help="Ed25519 public key, SubjectPublicKeyInfo PEM.")],
    name: Annotated[str | None, typer.Option(help="Label shown in listings (default: the file name).")] = None,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Allow the shipped demo key, whose private half is public: for demonstrations only, "
                       "in a state directory of their own.")] = False,
) -> None:
    """Trust a bundle signing key."""
    from scanner.db import trust

    label = name if name is not None else public_key.name.removesuffix(".pem").removesuffix(".pub")
    key, added = trust.add_key(_state(ctx), trust.read_key_file(public_key), label, str(public_key), _now(),
                               allow_demo=demo)
    _say(f"{'trusted' if added else 'already trusted, renamed'}: {key.key_id} ({key.name})")
    if key.key_id == trust.DEMO_KEY_ID:
        typer.echo("scanner: warning: this store now trusts the demo key: anyone can sign bundles it accepts",
                   err=True)


def _key_marks(key: TrustedKey) -> str:
    from scanner.db import trust
    from scanner.db.ed25519 import public_key_weakness

    marks = []
    if key.key_id == trust.DEMO_KEY_ID:
        marks.append("DEMO KEY: its private half is public, anyone can sign")
    weakness = public_key_weakness(key.public_key)
    if weakness:
        marks.append(f"WEAK KEY: it {weakness}; nothing verifies until it is removed")
    return f"  [{'; '.join(marks)}]" if marks else ""


def _threshold_warning(policy: TrustPolicy) -> None:
    if policy.keys and len(policy.keys) < policy.threshold:
        typer.echo(f"scanner: warning: the threshold is {policy.threshold} but only {len(policy.keys)} key(s) are "
                   "trusted: this store can verify nothing", err=True)


@trust_app.command("list")
def trust_list(ctx: typer.Context) -> None:
    """List trusted keys and the signature threshold."""
    from scanner.db import trust

    policy = trust.load_trust(_state(ctx))
    for key in policy.keys:
        _say(f"{key.key_id}  {key.name}{_key_marks(key)}")
    typer.echo(f"threshold: {policy.threshold} of {len(policy.keys)} trusted key(s)")
    _threshold_warning(policy)
    if not policy.keys:
        typer.echo("nothing is trusted: add a signing key with `scanner trust add PUBLIC.pem`", err=True)


@trust_app.command("remove")
def trust_remove(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id, or a unique prefix of at least 8 hex digits.")],
) -> None:
    """Stop trusting a key; bundles it signed stop verifying unless other keys meet the threshold."""
    from scanner.db import trust

    key, remaining = trust.remove_key(_state(ctx), key_id, _now())
    _say(f"removed: {key.key_id} ({key.name})")
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
    from scanner.db import trust

    state = _state(ctx)
    policy = trust.set_threshold(state, threshold, _now()) if threshold is not None else trust.load_trust(state)
    typer.echo(f"threshold: {policy.threshold} of {len(policy.keys)} trusted key(s)")
    _threshold_warning(policy)


@trust_app.command("init")
def trust_init(
    ctx: typer.Context,
    root_document: Annotated[Path, typer.Argument(metavar="N.root.json", help="The root of trust to pin.")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace the pinned root by hand: the emergency procedure after a root key compromise "
                          "(docs/trust.md).")] = False,
) -> None:
    """Pin a root of trust: from now on its bundle keys verify bundles, and bundles carry its rotations."""
    from scanner.db import trust

    roots, previous = trust.init_root(_state(ctx), trust.read_root_file(root_document), str(root_document), _now(),
                                      replace_pinned=replace)
    replaced = f", replacing version {previous.root.version}" if previous is not None else ""
    _say(f"pinned root version {roots.root.version} (sha256 {roots.root.sha256}){replaced}")
    typer.echo("compare this sha256 with the one the publisher gave you by another channel", err=True)


@trust_app.command("status")
def trust_status(ctx: typer.Context) -> None:
    """Show the pinned root of trust: version, keys and roles, thresholds, expiry."""
    from scanner.db import trust
    from scanner.db.root import ROLES
    from scanner.db.verify import format_time

    state = _state(ctx)
    roots = trust.load_roots(state)
    if roots is None:
        policy = trust.load_trust(state)
        typer.echo(f"no root of trust pinned: the flat trust list decides ({len(policy.keys)} key(s), threshold "
                   f"{policy.threshold}); pin one with `scanner trust init 1.root.json`")
        return
    root = roots.root
    typer.echo(f"root version: {root.version}")
    typer.echo(f"root sha256: {root.sha256}")
    typer.echo(f"expires: {format_time(root.expires_at)}")
    for name in ROLES:
        role = root.role(name)
        typer.echo(f"role {name}: threshold {role.threshold} of {len(role.key_ids)}")
        for key_id in role.key_ids:
            typer.echo(f"  {key_id}")
    for key_id, retired in sorted(roots.retired.items()):
        typer.echo(f"revoked bundle key: {key_id} (removed in root version {retired.removed_in})")
    problem = trust.root_expiry_problem(roots, _now())
    if problem is not None:
        typer.echo(f"scanner: warning: {problem}", err=True)


def _print_warnings(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        _say(f"scanner: warning: {warning}", err=True)


def _write_report(report_format: ReportFormat[Any], document: Any, file: Path | None) -> None:
    """Render and write `document`: a table shown on a terminal fits the terminal's width; files and
    pipes get the fixed-width rendering (the same bytes for the same input)."""
    from scanner.report import write_output

    if file is None and sys.stdout.isatty() and report_format.render_for_terminal is not None:
        write_output(report_format.render_for_terminal(document, shutil.get_terminal_size().columns), None)
    else:
        write_output(report_format.render(document), file)


# The rollback overrides, on `db import` and on `scan`/`diff --db` (the same checks, the same flags).
_AllowDowngradeOption = Annotated[bool, typer.Option(
    help="Accept an older bundle_version on its channel (or the same version with other content); audited.")]
_AllowChannelSwitchOption = Annotated[bool, typer.Option(
    help="Accept a bundle on another channel than the installed database's; audited.")]
_AllowExpiredOption = Annotated[bool, typer.Option(
    help="Use a database past its signed expiry or the local maximum age; audited.")]
_AllowOlderDataOption = Annotated[bool, typer.Option(
    help="Accept a bundle built before the installed database, whatever its channel; audited.")]


@db_app.command("import")
def db_import(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(help="The bundle file to verify and install.")],
    allow_downgrade: _AllowDowngradeOption = False,
    allow_channel_switch: _AllowChannelSwitchOption = False,
    allow_older_data: _AllowOlderDataOption = False,
    allow_expired: _AllowExpiredOption = False,
) -> None:
    """Verify a bundle and install it atomically; the previous database stays until the new one is complete."""
    from scanner.db.install import freshness_summary, import_bundle

    result = import_bundle(bundle, state_dir=global_options(ctx).state_dir, allow_expired=allow_expired,
                           allow_downgrade=allow_downgrade, allow_channel_switch=allow_channel_switch,
                           allow_older_data=allow_older_data)
    database = result.database
    replaced = f", replacing v{result.previous.bundle_version}" if result.previous else ""
    _say(f"installed {freshness_summary(database)}{replaced}")
    typer.echo(f"signed by: {', '.join(database.key_ids)}")
    _print_warnings(database.warnings)


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the installed database and re-verify it (exit code as `db verify`)."""
    from scanner.db.install import DATABASE_FILE, NO_DATABASE, installed_info, load_database
    from scanner.db.store import VulnStore
    from scanner.db.verify import format_age, format_time
    from scanner.match.coverage import source_lines

    state_dir = global_options(ctx).state_dir
    info = installed_info(state_dir)
    if info is None:
        raise DatabaseError(NO_DATABASE)
    manifest, origin = info.manifest, info.origin
    overrides = origin.overrides if origin is not None else ()
    # An override changes what "verification: ok" means, so it is said first, not last.
    lines = [f"OVERRIDE IN EFFECT: {', '.join(overrides)} (accepted at import with --allow-*; audited)"] \
        if overrides else []
    lines += [f"path: {info.directory / DATABASE_FILE}"]
    if manifest is not None:
        now = _now()
        lines += [
            f"channel: {manifest.channel}", f"bundle version: {manifest.bundle_version}",
            f"schema: {manifest.schema_version}",
            f"built: {format_time(manifest.built_at)} ({format_age(now - manifest.built_at)} ago)",
            f"expires: {format_time(manifest.expires_at)}",
            f"builder: {manifest.builder_name} {manifest.builder_version}",
        ]
        lines += [f"provider: {p.name} captured "
                  + (f"{format_time(p.captured_at)} ({format_age(now - p.captured_at)} ago)" if p.captured_at_known
                     else "at an unknown time (no date in its feed: treated as stale)")
                  + f", {p.records} records, {p.skipped} skipped" for p in manifest.providers]
    if origin is not None:
        lines += [f"bundle sha256: {origin.bundle_sha256}", f"imported: {format_time(origin.imported_at)}"]
    for line in lines:
        _say(line)
    try:
        database = load_database(state_dir=state_dir, audit=False)
    except ScannerError:
        typer.echo("verification: FAILED")
        raise  # scanner.cliexit prints the one-line error and exits with its code
    typer.echo(f"signed by: {', '.join(database.key_ids)}")
    if overrides:
        typer.echo(f"verification: ok only under the override ({', '.join(overrides)}): signatures and database "
                   "digest verify; without the override it would be refused")
    else:
        typer.echo("verification: ok (signatures, freshness, database digest)")
    with VulnStore(database.path) as store:  # verified above: the coverage comes from signed data
        coverage = source_lines(store.coverage())
    _say("coverage (per ecosystem: complete when a provider holds a whole export of it):")
    for line in coverage or ["(none recorded)"]:
        _say(f"  {line}")
    _print_warnings(database.warnings)


@db_app.command("verify")
def db_verify(ctx: typer.Context, allow_expired: _AllowExpiredOption = False) -> None:
    """Re-check the installed database against its signed manifest and the current trust store."""
    from scanner.db.install import freshness_summary, load_database

    database = load_database(state_dir=global_options(ctx).state_dir, allow_expired=allow_expired)
    _say(f"verified {freshness_summary(database)}")
    typer.echo(f"signed by: {', '.join(database.key_ids)}")
    _print_warnings(database.warnings)


def _parse_provider_ages(values: list[str]) -> dict[str, timedelta]:
    from scanner.db.state import days

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
    from scanner.db.audit import append
    from scanner.db.state import days, freshness_document, load_freshness, save_freshness
    from scanner.db.verify import FreshnessPolicy, format_age

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
        _say(f"max age for {name}: {format_age(age)}")
    typer.echo(f"on stale data: {'fail' if policy.fail else 'warn'}")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Check the audit log's hash chain; print the record count and the head digest to note elsewhere."""
    from scanner.db.audit import verify_log

    state = _state(ctx)
    summary = verify_log(state)
    _say(f"audit log {state.audit_log}: chain intact, {summary.records} records, "
         f"head sha256 {summary.head_sha256}")


# --- SBOM (scanner.catalog, scanner.report) ------------------------------------------------------


@app.command()
def sbom(
    image_path: Annotated[Path, typer.Argument(
        metavar="IMAGE", help="Image archive: docker-archive tar, OCI archive tar or OCI layout directory.")],
    output: Annotated[str, typer.Option(
        "--output", "-o", help=SBOM_FORMATS.help("The SBOM format"))] = "table",
    file: Annotated[Path | None, typer.Option(
        "--file", help="Write the SBOM here (atomically) instead of standard output.")] = None,
    image: _ImageOption = None,
    platform: _PlatformOption = None,
    max_uncompressed_size: _MaxUncompressedOption = None,
) -> None:
    """List the packages installed in an image, as a table or an SBOM (deterministic output)."""
    from scanner.catalog import catalog_image
    from scanner.report.sbom import SbomReport, Subject

    report_format = SBOM_FORMATS.get(output)
    timestamp = CLOCK.stamp()
    metadata, catalog = catalog_image(image_path, image=image, platform=platform,
                                      limits=_image_limits(max_uncompressed_size))
    report = SbomReport(subject=Subject.from_image(image_path, metadata), catalog=catalog, timestamp=timestamp)
    _write_report(report_format, report, file)
    if file is not None or output != "table":  # the table lists them
        _print_warnings(catalog.warnings)


# --- scanning (scanner.match, scanner.report) ----------------------------------------------------

_FAIL_ON_CHOICES = ("negligible", "low", "medium", "high", "critical")


def _severity_option(flag: str, text: str | None) -> Severity | None:
    """`--fail-on` and `--unknown-as`: a level; "unknown" is none, since unknowns trip every level already."""
    from scanner.model import Severity

    if text is None:
        return None
    if text.lower() not in _FAIL_ON_CHOICES:
        raise UsageError(f"{flag} {text}: expected one of {', '.join(_FAIL_ON_CHOICES)}"
                         + (" (findings of unknown severity trip every --fail-on level unless --unknown-as "
                            "ranks them)" if text.lower() == "unknown" else ""))
    return Severity.parse(text)


def _gate_message(report: ScanReport, threshold: Severity) -> str:
    """Why `--fail-on` failed, in one line: how many findings, and how many only because nobody rated them."""
    from scanner.model import Severity

    failing = report.gate_failures(threshold)
    unknown = sum(1 for f in failing if f.vulnerability.severity is Severity.UNKNOWN)
    text = f"--fail-on {threshold.label}: {len(failing)} finding(s) at or above {threshold.label}"
    ranked = report.options.unknown_as
    if unknown and ranked is None:
        text += f", {unknown} of them of unknown severity (unrated findings fail closed; --unknown-as LEVEL ranks them)"
    elif unknown and ranked is not None:
        text += f", {unknown} of them of unknown severity ranked {ranked.label} by --unknown-as"
    return text


@dataclass(frozen=True)
class _Filters:
    rules: tuple[IgnoreRule, ...]
    statements: tuple[VexStatement, ...]

    @classmethod
    def load(cls, ignore: Path | None, vex: Path | None) -> _Filters:
        from scanner.match.filters import load_ignore_file, load_vex

        return cls(load_ignore_file(ignore) if ignore is not None else (), load_vex(vex) if vex is not None else ())


def _read_target(target: Path, image: str | None, platform: str | None, limits: Limits) -> ScanInput:
    from scanner.targets import read_target

    return read_target(target, image=image or None, platform=platform or None, limits=limits)


def _scan_one(ctx: typer.Context, reading: Pending[ScanInput], started: datetime, database: VerifiedDatabase,
              options: ScanOptions, filters: _Filters) -> ScanReport:
    """Match the target `reading` gives; the matcher is imported while the target is still being read."""
    from scanner.db.audit import record_scan
    from scanner.match.scan import database_info, run_scan

    report = run_scan(reading.result(), database_path=database.path, database=database_info(database), options=options,
                      rules=filters.rules, vex=filters.statements, started_at=started, clock=CLOCK)
    record_scan(global_options(ctx).state_dir, report.target.digest, database.bundle_sha256,
                report.severity_counts())
    return report


def _verdict(report: ScanReport) -> tuple[int, str, str]:
    """(exit code, status word, the one line saying why) of a finished scan under its own options."""
    from scanner.match.coverage import gap_text
    from scanner.match.exploitation import in_kev

    options = report.options
    # Before --fail-on: with data missing, the findings themselves are incomplete evidence.
    if options.require_complete and not report.coverage_complete:
        return INCOMPLETE_COVERAGE_EXIT, "incomplete", f"{gap_text(report.coverage)} (--require-complete)"
    if options.fail_on is not None and report.fails(options.fail_on):
        return 1, "fail-on", _gate_message(report, options.fail_on)
    if options.fail_on_kev and in_kev(report.findings):
        return 1, "fail-on-kev", (f"--fail-on-kev: {len(in_kev(report.findings))} finding(s) in CISA's Known "
                                  "Exploited Vulnerabilities catalog")
    return 0, "ok", ""


class SortOrder(StrEnum):
    severity = "severity"
    risk = "risk"


@dataclass(frozen=True)
class _Attestation:
    """`scan --attest KEY --attestation-out FILE`: the loaded host key and where the envelope goes."""

    key: Ed25519PrivateKey
    out: Path

    @classmethod
    def load(cls, key: Path | None, out: Path | None, passphrase_file: Path | None) -> _Attestation | None:
        if key is None and out is None:
            if passphrase_file is not None:
                raise UsageError("--attest-passphrase-file is the passphrase of the --attest key; no --attest given")
            return None
        if key is None or out is None:
            raise UsageError("--attest KEY.pem and --attestation-out FILE go together")
        from scanner.attest import load_attestation_key  # here: cryptography and the statement cost start-up

        return cls(load_attestation_key(key, passphrase_file), out)

    def write(self, ctx: typer.Context, report: ScanReport, target: TargetFile | None) -> ScanReport:
        """Sign the scan, write the envelope, record its digest in the audit log; the report, naming it."""
        from scanner.attest import attest, check_unchanged
        from scanner.db.audit import append
        from scanner.db.state import StateDir
        from scanner.keyfiles import public_key_id
        from scanner.report import write_output

        if target is not None:
            check_unchanged(target)
        envelope = attest(report, self.key, target)
        write_output(envelope, self.out)
        digest = hashlib.sha256(envelope).hexdigest()
        with StateDir.resolve(global_options(ctx).state_dir) as state:
            append(state, "attestation", {"attestation_sha256": digest, "image_digest": report.target.digest,
                                          "bundle_sha256": report.database.bundle_sha256,
                                          "key_id": public_key_id(self.key.public_key())})
        _say(f"attestation {self.out}: sha256:{digest}", err=True)
        return dataclasses.replace(report, attestation_sha256=digest)

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


def _check_kev(database: VerifiedDatabase, fail_on_kev: bool) -> None:
    from scanner.db.schema import KEV_PROVIDER

    if fail_on_kev and KEV_PROVIDER not in {provider.name for provider in database.manifest.providers}:
        raise DatabaseError("--fail-on-kev: the database holds no CISA KEV catalog (dbbuilder build --kev), so no "
                            "finding could ever fail it")


def _scan_database(ctx: typer.Context, db: Path | None, allow_downgrade: bool, allow_channel_switch: bool,
                   allow_older_data: bool, allow_expired: bool = False) -> VerifiedDatabase:
    from scanner.db.install import load_database

    if db is None and (allow_downgrade or allow_channel_switch or allow_older_data):
        raise UsageError("--allow-downgrade, --allow-channel-switch and --allow-older-data apply to a bundle "
                         "given with --db")
    return load_database(state_dir=global_options(ctx).state_dir, bundle=db, allow_downgrade=allow_downgrade,
                         allow_channel_switch=allow_channel_switch, allow_older_data=allow_older_data,
                         allow_expired=allow_expired)


@app.command()
def scan(
    ctx: typer.Context,
    targets: Annotated[list[Path], typer.Argument(
        metavar="TARGET", help="Image archive (docker-archive, OCI archive or layout) or SBOM (CycloneDX/SPDX JSON); "
                               "several, or a directory of image archives, are scanned in parallel (--jobs) with "
                               "one summary table.")],
    db: _DbOption = None,
    allow_downgrade: _AllowDowngradeOption = False,
    allow_channel_switch: _AllowChannelSwitchOption = False,
    allow_older_data: _AllowOlderDataOption = False,
    allow_expired: _AllowExpiredOption = False,
    output: Annotated[str, typer.Option(
        "--output", "-o", help=FINDINGS_FORMATS.help("The report format"))] = "table",
    file: Annotated[Path | None, typer.Option(
        "--file", help="Write the report here (atomically) instead of standard output.")] = None,
    sort: Annotated[SortOrder, typer.Option(
        help="Findings order: severity (most severe first), or risk (in CISA KEV first, then by EPSS score, "
             "then severity).")] = SortOrder.severity,
    fail_on_kev: Annotated[bool, typer.Option(
        help="Exit with code 1 when a finding remaining after filters is in CISA's Known Exploited "
             "Vulnerabilities catalog (a database without the catalog is refused).")] = False,
    attest_key: Annotated[Path | None, typer.Option(
        "--attest", metavar="KEY.pem",
        help="Sign an in-toto attestation of this scan with this host key (scanner attest keygen); "
             "with --attestation-out.")] = None,
    attestation_out: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Where to write the signed attestation (DSSE envelope, docs/attestations.md).")] = None,
    attest_passphrase_file: Annotated[Path | None, typer.Option(
        metavar="FILE", help="The passphrase of the --attest key.")] = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", metavar="SEVERITY",
        help="Exit with code 1 when a finding at or above this severity remains after filters; "
             "findings of unknown severity count as at or above every level unless --unknown-as ranks them.")]
    = None,
    unknown_as: Annotated[str | None, typer.Option(
        "--unknown-as", metavar="SEVERITY",
        help="Rank findings of unknown severity at this level for --fail-on and SARIF levels "
             "(default: they trip every --fail-on level).")] = None,
    only_fixed: _OnlyFixedOption = False,
    ignore: _IgnoreOption = None,
    vex: _VexOption = None,
    include_os_owned: _IncludeOwnedOption = False,
    cpe_match: _CpeOption = False,
    image: _ImageOption = None,
    platform: _PlatformOption = None,
    max_uncompressed_size: _MaxUncompressedOption = None,
    require_complete: Annotated[bool, typer.Option(
        help=f"Exit with code {INCOMPLETE_COVERAGE_EXIT} when an ecosystem with packages was checked against "
             "partial or no data (the report says which).")] = False,
    jobs: Annotated[int | None, typer.Option(
        min=1, metavar="N", help="Several targets: scan N at a time, each in its own process (default: the "
                                 "number of cores).")] = None,
    output_dir: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Write each target's report to DIR, named after its file (a.tar -> a.json); an "
                            "existing report there is never replaced. The summary table goes to standard "
                            "output.")] = None,
) -> None:
    """Scan an image or an SBOM offline against the verified database: what is vulnerable, how to fix it.

    With several targets (or a directory of image archives) the database is verified once, the targets
    are scanned in parallel, and a summary table (packages, findings by severity, fixable, coverage, exit
    code) comes before the reports; the exit code is the worst of the targets' (docs/scanning.md).
    """
    from scanner.batch import is_batch_directory

    batch = output_dir is not None or len(targets) > 1 or is_batch_directory(targets[0])
    if batch and file is not None:
        raise UsageError("--file writes one report: with several targets use --output-dir DIR")
    if batch and (attest_key is not None or attestation_out is not None):
        raise UsageError("--attest signs the scan of one target: give one target, without --output-dir")
    target = targets[0]
    attestation = _Attestation.load(attest_key, attestation_out, attest_passphrase_file)  # before minutes of work
    limits = _image_limits(max_uncompressed_size)

    def scan_options() -> tuple[ScanOptions, _Filters]:
        from scanner.match.scan import ScanOptions  # the matcher's modules: loaded beside the child's reading

        options = ScanOptions(only_fixed=only_fixed, include_os_owned=include_os_owned, cpe_match=cpe_match,
                              ignore_file=str(ignore or ""), vex_file=str(vex or ""),
                              fail_on=_severity_option("--fail-on", fail_on),
                              unknown_as=_severity_option("--unknown-as", unknown_as),
                              require_complete=require_complete, image=image or "", platform=platform or "",
                              sort=sort.value, fail_on_kev=fail_on_kev)
        return options, _Filters.load(ignore, vex)

    if batch:
        FINDINGS_FORMATS.get(output)  # an unknown format is refused before any work
        options, filters = scan_options()
        database = _scan_database(ctx, db, allow_downgrade, allow_channel_switch, allow_older_data, allow_expired)
        _check_kev(database, fail_on_kev)
        raise typer.Exit(_scan_batch(ctx, targets, database, options, filters, limits, output, output_dir, jobs))
    from scanner.overlap import Pending

    started = CLOCK.stamp()
    # The target is read in a forked child while this process checks the remaining options, verifies the
    # database and loads the matcher: Python work, which one process would do one after the other
    # (docs/performance.md). A refusal here stops the child.
    with Pending(functools.partial(_read_target, target, image, platform, limits), f"{target}: reading") as reading:
        report_format = FINDINGS_FORMATS.get(output)  # a format's module may load the matcher's
        options, filters = scan_options()
        database = _scan_database(ctx, db, allow_downgrade, allow_channel_switch, allow_older_data, allow_expired)
        _check_kev(database, fail_on_kev)
        target_file = None
        if attestation is not None:
            from scanner.attest import hash_target

            target_file = hash_target(target)
        report = _scan_one(ctx, reading, started, database, options, filters)
    if attestation is not None:
        report = attestation.write(ctx, report, target_file)
    _write_report(report_format, report, file)
    if file is not None or output != "table":  # the table on standard output already lists them
        _print_warnings(report.warnings)
    code, _, message = _verdict(report)
    if code:
        typer.echo(f"scanner: {message}", err=True)
        raise typer.Exit(code)


@dataclass(frozen=True)
class _BatchJob:
    """One target of `scanner scan A B DIR/ ...`: what a worker process needs to scan it and write its report."""

    target: Path
    report_file: Path  # in --output-dir, or in the run's spool directory for standard output
    database_path: Path
    database: DatabaseInfo
    options: ScanOptions
    filters: _Filters
    limits: Limits
    output: str  # the -o format
    columns: int  # lay a table out for a terminal this wide; 0: the fixed-width rendering


@dataclass(frozen=True)
class _BatchOutcome:
    row: SummaryRow
    digest: str = ""  # the target's, for the audit record; "" when it could not be scanned
    counts: tuple[tuple[str, int], ...] = ()  # per severity, for the audit record
    message: str = ""  # why the gate failed
    warnings: tuple[str, ...] = ()


def _batch_scan(job: _BatchJob) -> _BatchOutcome:
    """Scan one target in a worker process and write its report; a target that cannot be read is an outcome."""
    from scanner.batch import SEVERITY_COLUMNS, SummaryRow
    from scanner.match.coverage import CoverageStatus
    from scanner.match.scan import run_scan
    from scanner.model import FixState
    from scanner.report import write_output

    name = str(job.target)
    try:
        started = CLOCK.stamp()
        scan_input = _read_target(job.target, job.options.image, job.options.platform, job.limits)
        report = run_scan(scan_input, database_path=job.database_path, database=job.database, options=job.options,
                          rules=job.filters.rules, vex=job.filters.statements, started_at=started, clock=CLOCK)
        report_format = FINDINGS_FORMATS.get(job.output)
        terminal = report_format.render_for_terminal if job.columns else None
        write_output(terminal(report, job.columns) if terminal is not None else report_format.render(report),
                     job.report_file)
    except ScannerError as error:
        return _BatchOutcome(SummaryRow(name, error.exit_code, status=str(error)))
    except Exception as error:  # a bug one image hit must not cost the other images their results
        return _BatchOutcome(SummaryRow(name, InternalError.exit_code,
                                        status=f"internal error: {type(error).__name__}: {error}"))
    code, status, message = _verdict(report)
    counts = report.severity_counts()
    statuses = {entry.status for entry in report.coverage}
    coverage = ("" if not statuses else "complete" if statuses == {CoverageStatus.COMPLETE}
                else "none" if statuses == {CoverageStatus.NONE} else "partial")
    row = SummaryRow(name, code, report.packages, tuple(counts.get(label, 0) for label in SEVERITY_COLUMNS),
                     sum(1 for f in report.findings if f.fix.state is FixState.FIXED), coverage, status)
    return _BatchOutcome(row, report.target.digest, tuple(counts.items()), message,
                         tuple(w for w in report.warnings if w not in job.database.warnings))


def _lost_scan(job: _BatchJob, why: str) -> _BatchOutcome:
    from scanner.batch import SummaryRow

    return _BatchOutcome(SummaryRow(str(job.target), InternalError.exit_code, status=f"not scanned: {why}"))


def _scan_batch(ctx: typer.Context, arguments: list[Path], database: VerifiedDatabase, options: ScanOptions,
                filters: _Filters, limits: Limits, output: str, output_dir: Path | None, jobs: int | None) -> int:
    """`scanner scan A B DIR/ ...`: every target scanned, the summary, then the reports; the run's exit code."""
    import tempfile

    from scanner.batch import (
        SUFFIXES,
        check_output_dir,
        default_jobs,
        expand_targets,
        report_names,
        run_parallel,
        summary_table,
        worst_exit_code,
    )
    from scanner.db.audit import record_scan
    from scanner.match.scan import database_info

    expanded = expand_targets(arguments)
    for path in expanded.skipped:
        _say(f"scanner: skipped {path}: not an image archive", err=True)
    for path in expanded.repeated:
        _say(f"scanner: {path} is named more than once: scanned once", err=True)
    names = report_names(expanded.targets, SUFFIXES[output])
    if output_dir is not None:
        check_output_dir(output_dir, names)
    spool = None if output_dir is not None else Path(tempfile.mkdtemp(prefix="airgap-scanner-batch-"))
    columns = shutil.get_terminal_size().columns if output_dir is None and sys.stdout.isatty() else 0
    info = database_info(database)
    batch = [_BatchJob(target, (output_dir or spool or Path()) / name, database.path, info, options, filters, limits,
                       output, columns) for target, name in zip(expanded.targets, names, strict=True)]
    try:
        outcomes = []
        for job, outcome in zip(batch, run_parallel(_batch_scan, batch, jobs or default_jobs(), _lost_scan),
                                strict=True):
            outcomes.append(outcome)
            if outcome.digest:
                record_scan(global_options(ctx).state_dir, outcome.digest, database.bundle_sha256,
                            dict(outcome.counts))
            if output_dir is not None or output != "table":  # a table on standard output lists them
                _print_warnings(tuple(f"{job.target}: {warning}" for warning in outcome.warnings))
        _print_warnings(database.warnings)
        typer.echo(summary_table([outcome.row for outcome in outcomes]), nl=False)
        for job, outcome in zip(batch, outcomes, strict=True):
            if outcome.message:
                _say(f"scanner: {job.target}: {outcome.message}", err=True)
            if spool is not None and outcome.digest:
                typer.echo("")
                _say(f"==> {job.target} <==")
                with job.report_file.open("rb") as report:
                    shutil.copyfileobj(report, sys.stdout.buffer)
                sys.stdout.flush()
    finally:
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)
    return worst_exit_code(outcome.row.exit_code for outcome in outcomes)


@app.command()
def diff(
    ctx: typer.Context,
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The earlier image (or SBOM).")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The later image (or SBOM).")],
    db: _DbOption = None,
    allow_downgrade: _AllowDowngradeOption = False,
    allow_channel_switch: _AllowChannelSwitchOption = False,
    allow_older_data: _AllowOlderDataOption = False,
    allow_expired: _AllowExpiredOption = False,
    output: Annotated[str, typer.Option("--output", "-o", help=DIFF_FORMATS.help("The result format"))] = "table",
    file: Annotated[Path | None, typer.Option(
        "--file", help="Write the result here (atomically) instead of standard output.")] = None,
    only_fixed: _OnlyFixedOption = False,
    ignore: _IgnoreOption = None,
    vex: _VexOption = None,
    include_os_owned: _IncludeOwnedOption = False,
    cpe_match: _CpeOption = False,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", metavar="SEVERITY",
        help="Exit with code 1 when NEW brings a finding OLD did not have at or above this severity (an "
             "upgrade gate); unknown severities count as at or above every level unless --unknown-as ranks them.")]
    = None,
    unknown_as: Annotated[str | None, typer.Option(
        "--unknown-as", metavar="SEVERITY", help="Rank findings of unknown severity at this level for --fail-on.")]
    = None,
    max_uncompressed_size: _MaxUncompressedOption = None,
) -> None:
    """Findings added and resolved between two builds of an image, against the same database."""
    report_format = DIFF_FORMATS.get(output)
    limits = _image_limits(max_uncompressed_size)
    from scanner.overlap import Pending

    started = CLOCK.stamp()
    # Both targets are read in forked children, beside each other and beside the checks of the other options,
    # the database's verification and the matcher's imports.
    with Pending(functools.partial(_read_target, old, None, None, limits), f"{old}: reading") as old_reading, \
            Pending(functools.partial(_read_target, new, None, None, limits), f"{new}: reading") as new_reading:
        from scanner.match.scan import ScanOptions, diff_reports
        from scanner.match.severity import gate_severity

        options = ScanOptions(only_fixed=only_fixed, include_os_owned=include_os_owned, cpe_match=cpe_match,
                              ignore_file=str(ignore or ""), vex_file=str(vex or ""),
                              fail_on=_severity_option("--fail-on", fail_on),
                              unknown_as=_severity_option("--unknown-as", unknown_as))
        filters = _Filters.load(ignore, vex)  # once for both scans
        database = _scan_database(ctx, db, allow_downgrade, allow_channel_switch, allow_older_data, allow_expired)
        old_report = _scan_one(ctx, old_reading, started, database, options, filters)
        new_report = _scan_one(ctx, new_reading, started, database, options, filters)
    changes = diff_reports(old_report, new_report)
    _write_report(report_format, changes, file)
    _print_warnings(tuple(dict.fromkeys((*old_report.warnings, *new_report.warnings))))
    if options.fail_on is not None:
        added = [f for f in changes.added
                 if gate_severity(f.vulnerability.severity, options.unknown_as) >= options.fail_on]
        if added:
            typer.echo(f"scanner: --fail-on {options.fail_on.label}: {len(added)} new finding(s) at or above "
                       f"{options.fail_on.label} in {new}", err=True)
            raise typer.Exit(1)


# --- signed scan attestations (scanner.attest) ------------------------------------------------------

attest_app = typer.Typer(help="Make a host attestation key; check a signed scan attestation.", no_args_is_help=True)
app.add_typer(attest_app, name="attest")


@attest_app.command("keygen")
def attest_keygen(
    out: Annotated[Path, typer.Option(metavar="DIR", help="Directory for NAME.pem and NAME.pub.pem.")],
    passphrase_file: Annotated[Path, typer.Option(
        metavar="FILE", help="Encrypt the private key with the passphrase in FILE (required).")],
    name: Annotated[str, typer.Option(help="File name stem of the key pair.")] = "attestation-key",
) -> None:
    """Make this host's attestation key pair: encrypted PKCS#8 private key (0600), public key to hand out."""
    from scanner.attest import generate_attestation_key

    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"--name {name!r} must be a plain file name")
    files = generate_attestation_key(out, name, passphrase_file)
    _say(f"wrote {files.private_key} (private, encrypted, mode 0600) and {files.public_key} (public: give it to "
         "whoever verifies this host's attestations)", err=True)
    typer.echo(files.key_id)


@attest_app.command("verify")
def attest_verify(
    attestation: Annotated[Path, typer.Argument(metavar="FILE", help="The attestation (DSSE envelope).")],
    trusted: Annotated[list[Path], typer.Option(
        "--trust", metavar="PUBLIC.pem", help="A host attestation key to accept (repeatable).")],
    image: Annotated[Path | None, typer.Option(
        "--image", metavar="TARGET", help="Also check that this image archive, OCI layout or SBOM is the "
                                          "attestation's subject.")] = None,
) -> None:
    """Check an attestation's signature, and with --image its subject; print who signed what, when, with which bundle."""
    from scanner.attest import check_subject, read_attestation, verify_attestation
    from scanner.db import trust

    keys = trust.keys_from_files(trusted)
    verified = verify_attestation(read_attestation(attestation), list(keys.values()), str(attestation))
    scan = verified.scan
    signers = ", ".join(f"{key.name} ({key.key_id[:16]})" for key in verified.signers)
    counts = ", ".join(f"{count} {label}" for label, count in scan.counts.items() if count)
    lines = [
        f"attestation {attestation}: signature ok, signed by {signers}",
        f"attestation sha256: {verified.envelope.sha256}",
        *(f"subject: {subject.kind} sha256:{subject.sha256} ({subject.name})" for subject in scan.subjects),
        f"scanned: {scan.target} by airgap-scanner {scan.scanner_version}, {scan.started} to {scan.finished}",
        f"database: {scan.channel} v{scan.bundle_version}, bundle sha256 {scan.bundle_sha256}, signed by "
        + (", ".join(k[:16] for k in scan.database_key_ids) or "no key"),
        f"findings: {scan.findings}" + (f" ({counts})" if counts else "")
        + f", {scan.known_exploited} in CISA KEV" + ("; clean" if scan.clean else ""),
    ]
    for line in lines:
        _say(line)
    if image is not None:
        _say(check_subject(scan, image))


# --- install kits (scanner.kit) --------------------------------------------------------------------


@kit_app.command("verify")
def kit_verify(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The install kit folder.")],
    trusted: Annotated[list[Path], typer.Option(
        "--trust", metavar="PUBLIC.pem", help="A key allowed to sign kits (repeatable).")],
    threshold: Annotated[int, typer.Option(min=1, help="How many of the --trust keys must have signed.")] = 1,
) -> None:
    """Check a kit's signature over SHA256SUMS, then every file against SHA256SUMS; nothing unlisted."""
    from scanner.db import trust
    from scanner.db.verify import TrustPolicy
    from scanner.kit import verify_kit

    keys = trust.keys_from_files(trusted)
    if threshold > len(keys):
        raise UsageError(f"--threshold {threshold}: only {len(keys)} distinct --trust key(s) given")
    result = verify_kit(directory, TrustPolicy(tuple(keys.values()), threshold))
    signers = ", ".join(f"{keys[k].name} ({k[:16]})" for k in result.signers)
    _say(f"kit {directory}: signature ok (signed by {signers}); {len(result.files)} files match SHA256SUMS")
    typer.echo(f"SHA256SUMS sha256: {result.sums_sha256}")


def main() -> None:
    run(app, "scanner")
