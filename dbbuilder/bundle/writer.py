"""Write a bundle: compress the database, write and sign the manifest, lay out the tar.

Deterministic: the same database, identity, keys and compression level give the same bytes (ustar
headers with fixed owner, mode and mtime; manifest serialised once; Ed25519 is deterministic; zstd in
multi-threaded mode is independent of the thread count). The output appears only when complete: every
byte goes to a temporary file in the output directory, which is fsynced and renamed over the target.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.compress import DEFAULT_LEVEL, CompressedPayload, compress_file
from dbbuilder.bundle.errors import BundleWriteError
from dbbuilder.bundle.keys import public_key_id
from dbbuilder.bundle.manifest import BundleIdentity, manifest_bytes, manifest_document, read_database_facts
from scanner.db import bundle_format
from scanner.errors import UsageError

MEMBER_MODE = 0o644


@dataclass(frozen=True)
class BundleResult:
    path: Path
    manifest: dict[str, Any]
    manifest_bytes: bytes
    key_ids: tuple[str, ...]
    payload: CompressedPayload
    size: int  # the bundle file's size


def signatures_bytes(manifest: bytes, keys: Sequence[Ed25519PrivateKey]) -> tuple[bytes, tuple[str, ...]]:
    """signatures.json for `manifest`, one entry per key, ordered by key id (independent of --key order)."""
    if not keys:
        raise UsageError("at least one signing key is needed")
    if len(keys) > bundle_format.MAX_SIGNATURES:
        raise UsageError(f"{len(keys)} signing keys; a bundle carries at most {bundle_format.MAX_SIGNATURES}")
    by_id = {public_key_id(key.public_key()): key for key in keys}
    if len(by_id) != len(keys):
        raise UsageError("the same signing key is given twice")
    message = bundle_format.signed_message(manifest)
    entries = [{"keyid": kid, "signature": base64.b64encode(by_id[kid].sign(message)).decode("ascii")}
               for kid in sorted(by_id)]
    data = (json.dumps({"signatures": entries}, sort_keys=True, indent=2) + "\n").encode("ascii")
    return data, tuple(sorted(by_id))


def _member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = MEMBER_MODE
    info.type = tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


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
) -> BundleResult:
    """Write the signed bundle for `database` to `out` (atomically: complete or not there at all)."""
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
            mtime = int(identity.built_at.timestamp())
            compressed.seek(0)
            with tarfile.open(fileobj=bundle, mode="w", format=tarfile.USTAR_FORMAT) as archive:
                archive.addfile(_member(bundle_format.MANIFEST_NAME, len(manifest), mtime), io.BytesIO(manifest))
                archive.addfile(_member(bundle_format.SIGNATURES_NAME, len(signatures), mtime),
                                io.BytesIO(signatures))
                archive.addfile(_member(bundle_format.DATABASE_NAME, payload.size, mtime), compressed)
            bundle.flush()
            os.fchmod(bundle.fileno(), MEMBER_MODE)
            os.fsync(bundle.fileno())
            size = bundle.tell()
            os.replace(bundle_path, out)
    except OSError as error:
        raise BundleWriteError(f"cannot write bundle {out}: {error.strerror or error}") from error
    return BundleResult(out, document, manifest, key_ids, payload, size)
