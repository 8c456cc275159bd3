"""`dbbuilder root init` and `dbbuilder root rotate`: the root of trust's documents (docs/trust.md,
"Root of trust"). Public keys are given with `--*-key PUB.pem`, private keys sign with `--sign-with`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.errors import BuildOptionError, BundleWriteError
from dbbuilder.bundle.keys import load_private_key, read_passphrase_file
from dbbuilder.bundle.manifest import build_time, parse_duration
from dbbuilder.bundle.root import RoleChange, init_root, rotate_root
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.root import parse_root
from scanner.db.trust import raw_public_key, read_key_file
from scanner.db.verify import format_time
from scanner.fileio import read_capped, write_atomically

root_app = typer.Typer(help="Make and rotate the root of trust that names the bundle signing keys.",
                       no_args_is_help=True)

PublicKeys = Annotated[list[Path] | None, typer.Option(metavar="PUB.pem")]
SignWith = Annotated[list[Path], typer.Option(
    "--sign-with", metavar="PRIVATE.pem", help="Sign with this root key (repeat for a threshold; a rotation needs "
    "a threshold of the old root keys and one of the new).")]
ExpiresIn = Annotated[str, typer.Option(help="Validity from now (or SOURCE_DATE_EPOCH): 12h, 30d, 2w, 1y.")]
Out = Annotated[Path, typer.Option(metavar="N.root.json", help="The root document to write (never overwritten).")]
PassphraseFile = Annotated[Path | None, typer.Option(metavar="FILE", help="Passphrase for encrypted private keys.")]


def _public_keys(paths: list[Path] | None) -> list[bytes]:
    return [raw_public_key(read_key_file(path), str(path)) for path in paths or ()]


def _signers(paths: list[Path], passphrase_file: Path | None) -> list[Ed25519PrivateKey]:
    passphrase = None if passphrase_file is None else read_passphrase_file(passphrase_file)
    return [load_private_key(path, passphrase) for path in paths]


def _write(out: Path, document: bytes) -> None:
    if out.exists():
        raise BuildOptionError(f"--out {out}: already exists; root documents are never overwritten")
    try:
        write_atomically(out, document, mode=0o644)
    except OSError as error:
        raise BundleWriteError(f"cannot write {out}: {error.strerror or error}") from error
    root = parse_root(document, out.name)
    typer.echo(f"wrote {out}: root version {root.version}, expires {format_time(root.expires_at)}; give its sha256 "
               "to the isolated hosts' operators to compare", err=True)
    typer.echo(root.sha256)


@root_app.command("init")
def init(
    out: Out,
    sign_with: SignWith,
    root_key: Annotated[list[Path], typer.Option(metavar="PUB.pem", help="A root key (repeatable).")],
    bundle_key: Annotated[list[Path], typer.Option(metavar="PUB.pem", help="A bundle signing key (repeatable).")],
    threshold_root: Annotated[int, typer.Option(help="Root keys that must sign the next version.")] = 1,
    threshold_bundle: Annotated[int, typer.Option(help="Bundle keys that must sign a bundle.")] = 1,
    expires_in: ExpiresIn = "1y",
    passphrase_file: PassphraseFile = None,
) -> None:
    """Write root version 1, signed by a threshold of its root keys; print its sha256."""
    expires_at = build_time() + parse_duration(expires_in)
    signers = _signers(sign_with, passphrase_file)
    _write(out, init_root(_public_keys(root_key), _public_keys(bundle_key), threshold_root, threshold_bundle,
                          signers, expires_at))


@root_app.command("rotate")
def rotate(
    from_: Annotated[Path, typer.Option("--from", metavar="N.root.json", help="The current root version.")],
    out: Out,
    sign_with: SignWith,
    add_root_key: PublicKeys = None,
    remove_root_key: PublicKeys = None,
    add_bundle_key: PublicKeys = None,
    remove_bundle_key: PublicKeys = None,
    threshold_root: Annotated[int | None, typer.Option(help="New root threshold (default: unchanged).")] = None,
    threshold_bundle: Annotated[int | None, typer.Option(help="New bundle threshold (default: unchanged).")] = None,
    expires_in: ExpiresIn = "1y",
    passphrase_file: PassphraseFile = None,
) -> None:
    """Write root version N+1 from version N with the given changes; print its sha256."""
    expires_at = build_time() + parse_duration(expires_in)
    previous = read_capped(from_, BUNDLE_LIMITS.max_root_bytes, "root document", BuildOptionError)
    signers = _signers(sign_with, passphrase_file)
    _write(out, rotate_root(
        previous, from_.name,
        RoleChange(_public_keys(add_root_key), _public_keys(remove_root_key), threshold_root),
        RoleChange(_public_keys(add_bundle_key), _public_keys(remove_bundle_key), threshold_bundle),
        signers, expires_at))
