"""The `dbbuilder` command: thin wrapper over dbbuilder.sources, dbbuilder.compile and dbbuilder.bundle."""

from __future__ import annotations

import inspect as pyinspect
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from dbbuilder.bundle.compress import DEFAULT_LEVEL
from dbbuilder.bundle.inspect import inspect_bundle
from dbbuilder.bundle.keys import generate_key_pair, load_private_key, read_passphrase_file
from dbbuilder.bundle.manifest import BundleIdentity, parse_duration
from dbbuilder.bundle.root import read_chain
from dbbuilder.bundle.writer import BundleResult, write_bundle
from dbbuilder.compile import CompileSummary, compile_database
from dbbuilder.compile.database import CAPTURE_UNKNOWN
from dbbuilder.fetch import NVD_BASE_URL, OSV_BASE_URL, SOURCES, FetchSource, HttpClient, fetch_nvd, fetch_osv
from dbbuilder.fetch.distro import (
    ALPINE_SECDB_URL,
    DEBIAN_LISTS_URL,
    DEBIAN_TRACKER_URL,
    fetch_alpine,
    fetch_debian,
)
from dbbuilder.fetch.nvd import INTERVAL_WITH_KEY, INTERVAL_WITHOUT_KEY
from dbbuilder.fetch.state import FetchState
from dbbuilder.root import root_app
from dbbuilder.sources import PROVIDERS, Provider
from scanner import __version__
from scanner.cliexit import run
from scanner.clock import Clock
from scanner.db.archive import verify_bundle
from scanner.db.errors import BundleArchiveError
from scanner.db.trust import keys_from_files
from scanner.db.verify import Override, TrustPolicy, VerificationContext, format_time, short_key_id
from scanner.errors import FeedError, UsageError
from scanner.fileio import open_regular_file
from scanner.match.coverage import source_lines
from scanner.terminal import printable

app = typer.Typer(
    name="dbbuilder",
    help="Compile OSV, NVD and distro feeds into a signed vulnerability bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(root_app, name="root")

# The one clock of this process: the real time for expiry and verification, and the time a bundle or a
# kit says it was built (SOURCE_DATE_EPOCH when set, for reproducible builds). Tests replace it.
CLOCK = Clock(os.environ)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"dbbuilder {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print dbbuilder's version and exit.")] = False,
) -> None:
    """Compile OSV, NVD and distro feeds into a signed vulnerability bundle."""


# --- keys and bundles (dbbuilder.bundle) ----------------------------------------------------------

def _feed_parameter(provider: Provider) -> pyinspect.Parameter:
    annotation = Annotated[list[Path] | None, typer.Option(
        f"--{provider.name}", metavar="PATH", help=provider.flag_help)]
    return pyinspect.Parameter(provider.name.replace("-", "_"), pyinspect.Parameter.POSITIONAL_OR_KEYWORD,
                             default=None, annotation=annotation)


def _with_feed_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` one repeatable `--NAME PATH` option per feed provider, placed before its first optional
    parameter; typer reads the signature, and the command receives them in `**feeds`."""
    signature = pyinspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not pyinspect.Parameter.VAR_KEYWORD]
    first_optional = next(i for i, p in enumerate(fixed) if p.default is not pyinspect.Parameter.empty)
    feeds = [_feed_parameter(provider) for provider in PROVIDERS.values()]
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*fixed[:first_optional], *feeds, *fixed[first_optional:]])
    command.__annotations__.update({p.name: p.annotation for p in feeds})
    return command


def _feed_inputs(given: dict[str, list[Path] | None]) -> dict[str, list[Path]]:
    return {name: paths for name in PROVIDERS if (paths := given.get(name.replace("-", "_")))}


def _passphrase(path: Path | None) -> bytes | None:
    return None if path is None else read_passphrase_file(path)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(metavar="DIR", help="Directory for NAME.pem and NAME.pub.pem.")],
    name: Annotated[str, typer.Option(help="File name stem of the key pair.")] = "bundle-key",
    passphrase_file: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Encrypt the private key with the passphrase in FILE.")] = None,
) -> None:
    """Generate an Ed25519 signing key pair; print its key id."""
    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"--name {name!r} must be a plain file name")
    files = generate_key_pair(out, name, _passphrase(passphrase_file))
    typer.echo(f"wrote {files.private_key} (private, mode 0600) and {files.public_key} (public)", err=True)
    typer.echo(files.key_id)


@contextmanager
def _scratch_database(out: Path) -> Iterator[Path]:
    """A temporary path beside the bundle for the uncompressed database, removed afterwards."""
    directory = out.parent
    if not directory.is_dir():
        raise UsageError(f"--out {out}: directory {directory} does not exist")
    descriptor, name = tempfile.mkstemp(dir=directory, prefix=f".{out.name}.", suffix=".sqlite")
    os.close(descriptor)
    try:
        yield Path(name)
    finally:
        with suppress(FileNotFoundError):
            Path(name).unlink()


def _add_row(table: Table, *cells: str) -> None:
    """Cells name feed records, providers and bundle members: escaped for the terminal (the console has
    markup off, so a "[" in them is text too)."""
    table.add_row(*(printable(cell) for cell in cells))


# The per-ecosystem rows need not add up to "(all)": a reader must not take the difference for lost data.
_SUMMARY_UNITS = (
    "records: distinct vulnerability ids kept. A provider's (all) row counts each once; an ecosystem row counts "
    "those naming a package in that ecosystem, so one record may count in several ecosystems (or in none) and "
    "the ecosystem rows need not add up to (all). withdrawn: records kept but marked withdrawn, counted in "
    "records. skipped: input records not compiled, by reason.")


def _summary_table(summary: CompileSummary) -> Table:
    # Names and numbers are never cut; the long free-text columns (ecosystem, coverage basis, reasons) wrap.
    table = Table(Column("provider", no_wrap=True), Column("captured (from)", no_wrap=True),
                  Column("ecosystem", overflow="fold", min_width=12), Column("records", no_wrap=True, justify="right"),
                  Column("newest", no_wrap=True), Column("coverage", min_width=24),
                  Column("withdrawn", no_wrap=True, justify="right"), Column("skipped", no_wrap=True, justify="right"),
                  Column("skip reasons", min_width=12), title="bundle contents",
                  caption=_SUMMARY_UNITS, caption_justify="left")
    for provider in summary.providers:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(provider.skipped_reasons.items()))
        captured = ("UNKNOWN (no date in the feed)" if provider.captured_at_basis == CAPTURE_UNKNOWN
                    else f"{provider.captured_at} ({provider.captured_at_basis})")
        _add_row(table, provider.name, captured, "(all)",
                 str(provider.records), "", "", str(provider.withdrawn), str(provider.skipped), reasons)
        for entry in provider.coverage:
            status = "complete" if entry.complete else "partial"
            _add_row(table, "", "", entry.ecosystem, str(entry.records), (entry.newest or "undated")[:10],
                     f"{status}: {entry.basis}", "", "", "")
    return table


def _undated_warnings(summary: CompileSummary) -> list[str]:
    return [f"provider {provider.name}: its data carries no date, so its capture time is unknown and scanners "
            f"treat it as stale; give it with --captured-at {provider.name}=TIME"
            for provider in summary.providers if provider.captured_at_basis == CAPTURE_UNKNOWN]


def _sizes_table(result: BundleResult) -> Table:
    payload = result.payload
    ratio = payload.uncompressed_size / payload.size if payload.size else 0.0
    table = Table("", "", title="sizes", show_header=False)
    table.add_row("database (uncompressed)", f"{payload.uncompressed_size:,} bytes")
    table.add_row("database (zstd)", f"{payload.size:,} bytes ({ratio:.1f}x)")
    table.add_row("bundle file", f"{result.size:,} bytes")
    table.add_row("signed by", ", ".join(short_key_id(k) for k in result.key_ids))
    return table


def _capture_times(pairs: list[str]) -> dict[str, str]:
    times: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in PROVIDERS or not value:
            raise UsageError(f"--captured-at {pair!r}: expected PROVIDER=TIME with PROVIDER one of "
                             f"{', '.join(PROVIDERS)}")
        times[name] = value
    return times


@app.command()
@_with_feed_options
def build(
    out: Annotated[Path, typer.Option(metavar="FILE.bundle", help="The bundle to write.")],
    key: Annotated[list[Path], typer.Option(
        metavar="PRIVATE.pem", help="Signing key (repeat for several signatures).")],
    channel: Annotated[str, typer.Option(help="Channel name; bundle versions only go up within it.")],
    bundle_version: Annotated[int, typer.Option(help="This bundle's version on its channel (>= 1).")],
    kev: Annotated[Path | None, typer.Option(
        metavar="FILE", help="CISA Known Exploited Vulnerabilities catalog (known_exploited_vulnerabilities.json): "
        "findings of the CVEs in it are marked known exploited.")] = None,
    epss: Annotated[Path | None, typer.Option(
        metavar="FILE", help="FIRST EPSS scores (epss_scores-DATE.csv, or .csv.gz): each CVE's probability of "
        "exploitation, shown with findings.")] = None,
    expires_in: Annotated[str, typer.Option(help="Validity after built_at: 12h, 30d, 2w, 1y.")] = "30d",
    passphrase_file: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Passphrase for encrypted signing keys.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail on the first malformed record instead of skipping it.")] = False,
    level: Annotated[int, typer.Option(min=1, max=22, help="zstd compression level.")] = DEFAULT_LEVEL,
    threads: Annotated[int | None, typer.Option(
        min=1, help="zstd worker threads (default: all cores; the output does not depend on it).")] = None,
    allow_empty: Annotated[bool, typer.Option(
        help="Sign even when a provider given on the command line kept no record.")] = False,
    captured_at: Annotated[list[str] | None, typer.Option(
        metavar="PROVIDER=TIME", help="When a provider's feed was captured (RFC 3339), e.g. "
        "alpine=2026-11-28T06:00:00Z; default: the feed's own timestamp, else its newest record, else unknown "
        "(scanners treat unknown as stale).")] = None,
    complete: Annotated[list[str] | None, typer.Option(
        metavar="ECOSYSTEM", help="Declare the inputs a whole export of ECOSYSTEM (e.g. Debian:12), though they "
        "are loose records (repeatable; recorded in the manifest).")] = None,
    roots: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Carry the root of trust's chain, every N.root.json in DIR, in the bundle "
        "(docs/trust.md); the newest root's bundle role must accept --key.")] = None,
    **given_feeds: list[Path] | None,
) -> None:
    """Compile feeds into a database and write it as a signed, compressed bundle."""
    feeds = _feed_inputs(given_feeds)
    if not feeds:
        raise UsageError(f"no feed given: pass at least one of {', '.join('--' + name for name in PROVIDERS)}")
    capture_times = _capture_times(captured_at or [])
    built_at = CLOCK.stamp()
    identity = BundleIdentity(channel, bundle_version, built_at, built_at + parse_duration(expires_in))
    if identity.expires_at <= CLOCK.now():
        # A back-dated build (SOURCE_DATE_EPOCH) would sign a bundle no scanner accepts without an override.
        raise UsageError(f"the bundle would expire at {format_time(identity.expires_at)}, which has passed "
                         f"(built_at {format_time(built_at)} + --expires-in {expires_in}); give a longer --expires-in")
    passphrase = _passphrase(passphrase_file)
    keys = [load_private_key(path, passphrase) for path in key]
    chain = read_chain(roots, CLOCK.now()) if roots is not None else ()
    console = Console(stderr=True)
    with _scratch_database(out) as database, Progress(
        SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(), console=console,
        transient=True,
        disable=not console.is_terminal,  # no stray blank line in logs when stderr is a file
    ) as progress:
        task = progress.add_task("reading feeds")

        def report(*, stage: str, provider: str, count: int, **_: Any) -> None:
            detail = f" {provider}" if provider else ""
            counted = f": {count:,} records" if count else ""
            progress.update(task, description=f"{stage}{detail}{counted}")

        summary = compile_database(database, feeds, kev=kev, epss=epss, strict=strict, captured_at=capture_times,
                                   complete=complete or (), progress=report)
        if not allow_empty:
            summary.refuse_empty()
        progress.update(task, description=f"compressing {summary.database_size:,} bytes (zstd level {level})")
        result = write_bundle(out, database, identity, keys, level=level, threads=threads, roots=chain)
    output = Console(width=160, markup=False)
    output.print(_summary_table(summary))
    output.print(_sizes_table(result))
    for warning in _undated_warnings(summary):
        typer.echo(f"dbbuilder: warning: {warning}", err=True)
    typer.echo(printable(f"wrote {out}: channel {channel}, version {bundle_version}, "
                         f"expires {format_time(identity.expires_at)}"))


@app.command()
def inspect(bundle: Annotated[Path, typer.Argument(metavar="FILE.bundle")]) -> None:
    """Show a bundle's manifest, providers, files and signers. Verifies nothing: use `verify` for that."""
    found = inspect_bundle(bundle)
    manifest = found.manifest
    typer.echo("UNVERIFIED: nothing below is checked against a trusted key")
    for label, value in (
        ("format", f"{manifest.format} {manifest.format_version}"),
        ("schema", manifest.schema_version), ("channel", manifest.channel),
        ("version", str(manifest.bundle_version)), ("built", format_time(manifest.built_at)),
        ("expires", format_time(manifest.expires_at)),
        ("builder", f"{manifest.builder_name} {manifest.builder_version}"),
    ):
        typer.echo(printable(f"{label + ':':<9} {value}"))
    output = Console(width=160, markup=False)
    providers = Table("provider", "captured", "records", "skipped", "input sha256", title="providers")
    for provider in manifest.providers:
        captured = format_time(provider.captured_at) if provider.captured_at_known else "unknown (no date in the feed)"
        _add_row(providers, provider.name, captured, str(provider.records), str(provider.skipped),
                 provider.input_sha256)
    output.print(providers)
    typer.echo("coverage (per ecosystem: complete when a provider holds a whole export of it):")
    for line in source_lines(found.coverage) or ["(none recorded)"]:
        typer.echo(printable(f"  {line}"))
    files = Table("member", "size", "sha256 (signed)", "uncompressed", title="files")
    listed = {entry.name: entry for entry in manifest.files}
    for member in found.members:
        entry = listed.get(member.name)
        _add_row(files, member.name, str(member.size), entry.sha256 if entry else "",
                 str(entry.uncompressed_size) if entry else "")
    output.print(files)
    for keyid in found.signature_key_ids:
        typer.echo(f"signature claims key {keyid}")


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(metavar="FILE.bundle")],
    trust: Annotated[list[Path], typer.Option(metavar="PUBLIC.pem", help="Trusted public key (repeatable).")],
    threshold: Annotated[int, typer.Option(min=1, help="Distinct trusted keys that must have signed.")] = 1,
    allow_expired: Annotated[bool, typer.Option(help="Report an expired bundle as a warning, not a refusal.")] = False,
) -> None:
    """Verify a bundle as the scanner would: signatures, format, schema, expiry, payload digests."""
    keys = keys_from_files(trust)
    policy = TrustPolicy(keys=tuple(keys.values()), threshold=threshold)
    try:
        with open_regular_file(bundle) as stream:
            _, verified = verify_bundle(stream, VerificationContext(
                trust=policy, now=CLOCK.now(),
                overrides=frozenset({Override.EXPIRED}) if allow_expired else frozenset()))
    except OSError as error:
        raise BundleArchiveError(f"{bundle}: cannot read bundle: {error.strerror or error}") from error
    for warning in verified.warnings:
        typer.echo(printable(f"dbbuilder: warning: {warning}"), err=True)
    manifest = verified.manifest
    typer.echo(printable(f"{bundle}: verified: channel {manifest.channel}, version {manifest.bundle_version}, "
                         f"built {format_time(manifest.built_at)}, expires {format_time(manifest.expires_at)}, "
                         f"signed by {', '.join(short_key_id(k) for k in verified.key_ids)}"))


# --- fetching feeds (dbbuilder.fetch) -------------------------------------------------------------


def _since(text: str | None, state: FetchState) -> datetime | None:
    if text is None:
        return None
    if text == "last":
        last = state.nvd.get("last_until")
        if not isinstance(last, str):
            raise UsageError("--since last: no completed NVD fetch is recorded in this --dest")
        try:
            moment = datetime.fromisoformat(last)
        except ValueError:
            raise FeedError(f"{state.path}: nvd.last_until {last[:80]!r} is not a time; delete the file to start "
                            "afresh") from None
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(f"--since {text!r}: expected a date (2026-11-01), a time (2026-11-01T12:00:00Z) "
                             "or 'last'") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _source_parameters(source: FetchSource) -> list[pyinspect.Parameter]:
    """`--NAME/--no-NAME`, `--NAME-base-url` and, for a source with items, `--NAME-ITEM` (repeatable)."""
    key = source.name.replace("-", "_")
    options: list[tuple[str, Any, Any]] = [
        (key, Annotated[bool, typer.Option(f"--{source.name}/--no-{source.name}", help=source.help)],
         source.on_by_default),
        (f"{key}_base_url", Annotated[str, typer.Option(f"--{source.name}-base-url", metavar="URL")], source.base_url)]
    if source.item_flag:
        options.append((f"{key}_{source.item_flag}", Annotated[list[str] | None, typer.Option(
            f"--{source.name}-{source.item_flag}", metavar=source.item_flag.upper(),
            help=f"{source.item_help}; default: {', '.join(source.items)}.")], None))
    return [pyinspect.Parameter(name, pyinspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, annotation, default in options]


def _with_fetch_source_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the options of every registered fetch source (dbbuilder.fetch.SOURCES) in `**sources`."""
    signature = pyinspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not pyinspect.Parameter.VAR_KEYWORD]
    added = [parameter for source in SOURCES.values() for parameter in _source_parameters(source)]
    command.__signature__ = signature.replace(parameters=[*fixed, *added])  # type: ignore[attr-defined]
    command.__annotations__.update({p.name: p.annotation for p in added})
    return command


@app.command()
@_with_fetch_source_options
def fetch(
    dest: Annotated[Path, typer.Option(metavar="DIR", help="Where feeds go: DIR/osv/<Ecosystem>/all.zip, DIR/nvd/, DIR/debian/, DIR/alpine/, DIR/<source>/.")],
    ecosystems: Annotated[list[str] | None, typer.Option(
        metavar="NAME[,NAME...]", help="OSV ecosystems to fetch (repeatable or comma-separated); default: all.")] = None,
    since: Annotated[str | None, typer.Option(
        metavar="DATE", help="NVD: only CVEs modified since DATE, or 'last' (the end of the last complete fetch).")]
    = None,
    nvd_api_key: Annotated[str | None, typer.Option(
        envvar="NVD_API_KEY", help="NVD API key (raises the rate limit from 5 to 50 requests per 30 s).")] = None,
    osv_base_url: Annotated[str, typer.Option(metavar="URL")] = OSV_BASE_URL,
    nvd_base_url: Annotated[str, typer.Option(metavar="URL")] = NVD_BASE_URL,
    osv: Annotated[bool, typer.Option(help="Fetch OSV archives.")] = True,
    nvd: Annotated[bool, typer.Option(help="Fetch NVD pages.")] = True,
    debian: Annotated[bool, typer.Option(
        help="Fetch the Debian security tracker's JSON export and its DSA and DLA lists.")] = True,
    alpine: Annotated[bool, typer.Option(help="Fetch the Alpine secdb.")] = True,
    alpine_branches: Annotated[list[str] | None, typer.Option(
        "--alpine-branch", metavar="BRANCH", help="Alpine branch to fetch, v3.20 or edge (repeatable); "
                                                  "default: every branch the secdb lists.")] = None,
    debian_tracker_url: Annotated[str, typer.Option(metavar="URL")] = DEBIAN_TRACKER_URL,
    debian_lists_url: Annotated[str, typer.Option(metavar="URL")] = DEBIAN_LISTS_URL,
    alpine_base_url: Annotated[str, typer.Option(metavar="URL")] = ALPINE_SECDB_URL,
    **sources: Any,
) -> None:
    """Download OSV archives, NVD CVE API 2.0 pages and every distro's security data (connected host)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--dest {dest}: cannot create it: {error.strerror or error}") from error
    state = FetchState.load(dest)
    names = None if not ecosystems else [n.strip() for item in ecosystems for n in item.split(",") if n.strip()]
    if osv:
        for archive in fetch_osv(HttpClient(), osv_base_url, dest, names, state):
            what = f"{archive.download.size:,} bytes" if archive.download.changed else "unchanged"
            typer.echo(printable(f"osv {archive.ecosystem}: {what} ({archive.download.path})"))  # names from the feed
    if nvd:
        headers = {"apiKey": nvd_api_key} if nvd_api_key else {}
        client = HttpClient(min_interval=INTERVAL_WITH_KEY if nvd_api_key else INTERVAL_WITHOUT_KEY, headers=headers)
        run = fetch_nvd(client, nvd_base_url, dest, state, since=_since(since, state), now=CLOCK.now())
        resumed = " (resumed)" if run.resumed else ""
        typer.echo(f"nvd: {run.pages} pages{resumed}, {run.total_results:,} CVEs, in {run.directory}")
    distro_files = []
    if debian:
        distro_files += fetch_debian(HttpClient(), dest, state, tracker_url=debian_tracker_url,
                                     lists_url=debian_lists_url)
    if alpine:
        distro_files += fetch_alpine(HttpClient(), dest, state, alpine_branches or None, base_url=alpine_base_url)
    for source in SOURCES.values():
        key = source.name.replace("-", "_")
        if sources[key]:
            chosen = sources.get(f"{key}_{source.item_flag}") or source.items
            distro_files += source.fetch(HttpClient(), sources[f"{key}_base_url"], dest, state, chosen)
    for fetched in distro_files:
        what = f"{fetched.download.size:,} bytes" if fetched.download.changed else "unchanged"
        typer.echo(f"{fetched.name}: {what}")


# --- install kits (dbbuilder.kit) -------------------------------------------------------------------


@app.command()
def kit(
    out: Annotated[Path, typer.Option(metavar="DIR", help="New folder for the kit (must not exist).")],
    python: Annotated[list[str] | None, typer.Option(
        metavar="X.Y", help="CPython version of the isolated hosts (repeatable; default 3.11, 3.12, 3.13).")] = None,
    platform: Annotated[list[str] | None, typer.Option(
        metavar="TAG", help="Wheel platform tag of the isolated hosts (repeatable; default manylinux2014_x86_64 "
                            "and manylinux2014_aarch64).")] = None,
    bundle: Annotated[list[Path] | None, typer.Option(
        metavar="FILE.bundle", help="A bundle for install.sh to import (repeatable).")] = None,
    trust: Annotated[list[Path] | None, typer.Option(
        metavar="PUBLIC.pem", help="A bundle signer's public key for install.sh to trust (repeatable).")] = None,
    key: Annotated[list[Path] | None, typer.Option(
        metavar="PRIVATE.pem", help="Sign SHA256SUMS with this key (repeatable).")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Passphrase for encrypted signing keys.")] = None,
    project_wheel: Annotated[Path | None, typer.Option(
        metavar="FILE.whl", help="The airgap-scanner wheel to ship (default: built from this source tree).")] = None,
    find_links: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Take every wheel from DIR instead of the package index.")] = None,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Allow the shipped demo key among --trust (a demonstration kit only).")] = False,
) -> None:
    """Write an install kit: the scanner and its dependencies as wheels, install.sh, SHA256SUMS."""
    from dbbuilder.kit import KitRequest, build_kit, targets  # pip and packaging only for this command

    passphrase = _passphrase(passphrase_file)
    request = KitRequest(
        targets=targets(python or [], platform or []), project_wheel=project_wheel,
        bundles=tuple(bundle or ()), trusted_keys=tuple(trust or ()),
        signing_keys=tuple(load_private_key(path, passphrase) for path in key or ()), find_links=find_links,
        allow_demo_key=demo)
    result = build_kit(out, request, created_at=CLOCK.stamp())
    typer.echo(f"wrote {result.directory}: airgap-scanner {result.project_version}, {result.wheels} wheels for "
               f"{len(request.targets)} target(s), {result.total_bytes:,} bytes", err=True)
    signed = ", ".join(short_key_id(k) for k in result.signed_by) or "not signed"
    typer.echo(f"SHA256SUMS sha256: {result.sums_sha256} ({signed}); give this digest to the isolated side",
               err=True)
    typer.echo(result.sums_sha256)


def main() -> None:
    run(app, "dbbuilder")
