"""Write a bundle: compress the database, write and sign the manifest, lay out the tar.

Deterministic: the same database, identity, keys and compression level give the same bytes (the tar
layout is scanner.db.bundle_format's, which the scanner checks byte for byte: ustar headers with fixed
owner, mode and mtime, zero padding, a fixed end of archive; manifest serialised once; Ed25519 is
deterministic; zstd in multi-threaded mode is independent of the thread count). The output appears
only when complete: every byte goes to a temporary file in the output directory, which is fsynced and
renamed over the target.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.compress import DEFAULT_LEVEL, CompressedPayload, compress_file
from dbbuilder.bundle.errors import BuildOptionError, BundleWriteError
from dbbuilder.bundle.keys import public_key_id
from dbbuilder.bundle.manifest import BundleIdentity, manifest_bytes, manifest_document, read_database_facts
from dbbuilder.bundle.root import check_bundle_signers
from scanner.db import bundle_format
from scanner.db.limits import BUNDLE_LIMITS


@dataclass(frozen=True)
class BundleResult:
    path: Path
    manifest: dict[str, Any]
    manifest_bytes: bytes
    key_ids: tuple[str, ...]
    payload: CompressedPayload
    size: int  # the bundle file's size


def signatures_bytes(manifest: bytes, keys: Sequence[Ed25519PrivateKey], *,
                     context: bytes = bundle_format.SIGNATURE_CONTEXT) -> tuple[bytes, tuple[str, ...]]:
    """signatures.json for `manifest`, one entry per key, ordered by key id (independent of --key order).

    Each key signs `context` + the exact document bytes; install kits sign their SHA256SUMS with a
    context of their own (scanner.kit), so neither signature can stand for the other.
    """
    if not keys:
        raise BuildOptionError("at least one signing key is needed")
    if len(keys) > BUNDLE_LIMITS.max_signatures:
        raise BuildOptionError(f"{len(keys)} signing keys; a bundle carries at most {BUNDLE_LIMITS.max_signatures}")
    by_id = {public_key_id(key.public_key()): key for key in keys}
    if len(by_id) != len(keys):
        raise BuildOptionError("the same signing key is given twice")
    message = context + manifest
    data = bundle_format.signatures_document((kid, key.sign(message)) for kid, key in by_id.items())
    return data, tuple(sorted(by_id))


def _write_member(bundle: BinaryIO, name: str, size: int, mtime: int, data: BinaryIO) -> None:
    try:
        header = bundle_format.member_header(name, size, mtime)
    except ValueError as error:  # a built_at after the year 2242, or a payload of 8 GiB or more
        raise BundleWriteError(f"cannot write bundle member {name}: {error}") from error
    bundle.write(header)
    shutil.copyfileobj(data, bundle)
    bundle.write(bytes(bundle_format.padding_bytes(size)))


@contextlib.contextmanager
def _temporary(directory: Path, name: str, suffix: str) -> Iterator[tuple[Path, BinaryIO]]:
    descriptor, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=suffix)
    try:
        with os.fdopen(descriptor, "w+b") as handle:
            yield Path(path), handle
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def write_bundle(
    out: Path,
    database: Path,
    identity: BundleIdentity,
    keys: Sequence[Ed25519PrivateKey],
    *,
    level: int = DEFAULT_LEVEL,
    threads: int | None = None,
    roots: Sequence[tuple[str, bytes]] = (),
) -> BundleResult:
    """Write the signed bundle for `database` to `out` (atomically: complete or not there at all).

    `roots` is the root of trust's chain (dbbuilder.bundle.root.read_chain), carried as members
    `N.root.json` between signatures.json and the database; its newest root's bundle role must accept `keys`.
    """
    schema_version, providers = read_database_facts(database)
    directory = out.parent
    try:
        with (
            _temporary(directory, out.name, ".zst.tmp") as (_, compressed),
            _temporary(directory, out.name, ".tmp") as (bundle_path, bundle),
        ):
            payload = compress_file(database, compressed, level=level, threads=threads)
            document = manifest_document(identity, schema_version, providers, payload)
            manifest = manifest_bytes(document)
            signatures, key_ids = signatures_bytes(manifest, keys)
            if roots:
                check_bundle_signers(roots, key_ids)
            mtime = bundle_format.member_mtime(identity.built_at)
            compressed.seek(0)
            _write_member(bundle, bundle_format.MANIFEST_NAME, len(manifest), mtime, io.BytesIO(manifest))
            _write_member(bundle, bundle_format.SIGNATURES_NAME, len(signatures), mtime, io.BytesIO(signatures))
            for name, data in roots:
                _write_member(bundle, name, len(data), mtime, io.BytesIO(data))
            _write_member(bundle, bundle_format.DATABASE_NAME, payload.size, mtime, compressed)
            bundle.write(bytes(bundle_format.end_of_archive_bytes(bundle.tell())))
            bundle.flush()
            os.fchmod(bundle.fileno(), bundle_format.MEMBER_MODE)
            os.fsync(bundle.fileno())
            size = bundle.tell()
            os.replace(bundle_path, out)
    except OSError as error:
        raise BundleWriteError(f"cannot write bundle {out}: {error.strerror or error}") from error
    return BundleResult(out, document, manifest, key_ids, payload, size)
