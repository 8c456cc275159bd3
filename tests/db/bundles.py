"""Test helper: assemble bundles byte by byte (valid ones, and every kind of broken one).

Independent of dbbuilder's writer on purpose: tamper tests need to build what no correct writer would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import sqlite3
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import zstandard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.db import bundle_format
from scanner.db.schema import DDL, SCHEMA_VERSION

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def raw_public(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return bundle_format.key_id(self.raw_public)

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, manifest: bytes) -> dict[str, str]:
        signature = self.private_key.sign(bundle_format.signed_message(manifest))
        return {"keyid": self.key_id, "signature": base64.b64encode(signature).decode()}


def sqlite_database(rows: int = 10, seed: str = "") -> bytes:
    """A real database with the project's schema and `rows` vulnerabilities."""
    connection = sqlite3.connect(":memory:")
    connection.executescript(DDL)
    connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
    connection.executemany(
        "INSERT INTO vulnerabilities (id, provider, group_id, summary) VALUES (?, 'osv', ?, ?)",
        [(f"CVE-2026-{i:05d}", f"CVE-2026-{i:05d}", f"summary {seed} {i}") for i in range(rows)])
    connection.commit()
    data = connection.serialize()
    connection.close()
    return bytes(data)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_document(
    compressed: bytes, raw: bytes, *, version: int = 1, channel: str = "stable", built: datetime = NOW - timedelta(
        hours=2), expires: datetime = NOW + timedelta(days=30), **changes: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": bundle_format.FORMAT_NAME, "format_version": bundle_format.FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION, "channel": channel, "bundle_version": version,
        "built_at": stamp(built), "expires_at": stamp(expires),
        "builder": {"name": "tests", "version": "0"},
        "providers": [{"name": "osv", "captured_at": stamp(built - timedelta(hours=1)), "input_sha256": "0" * 64,
                       "records": 10, "skipped": 0, "skipped_reasons": {}}],
        "files": [{"name": bundle_format.DATABASE_NAME, "sha256": hashlib.sha256(compressed).hexdigest(),
                   "size": len(compressed), "uncompressed_sha256": hashlib.sha256(raw).hexdigest(),
                   "uncompressed_size": len(raw)}],
    }
    document.update(changes)
    return document


def encode(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def signatures(manifest: bytes, *signers: Signer) -> bytes:
    """signatures.json in the one layout a verifier accepts (a signer given twice appears twice)."""
    entries = sorted((signer.sign(manifest) for signer in signers), key=lambda entry: entry["keyid"])
    return (json.dumps({"signatures": entries}, indent=2, sort_keys=True) + "\n").encode()


def tar(members: Sequence[tarfile.TarInfo | tuple[str, bytes]], mtime: int = 0) -> bytes:
    """A ustar archive; a TarInfo entry is written as given (links, directories, devices)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, mtime
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass(frozen=True)
class Parts:
    """The three members of a bundle, ready to be tampered with and assembled."""

    manifest: bytes
    signatures: bytes
    payload: bytes
    raw: bytes
    roots: tuple[tuple[str, bytes], ...] = ()  # carried root documents (member name, bytes)

    @property
    def mtime(self) -> int:
        """The manifest's built_at, every member's mtime in a canonical bundle (0 if it has none)."""
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            built_at = datetime.fromisoformat(json.loads(self.manifest)["built_at"].replace("Z", "+00:00"))
            return bundle_format.member_mtime(built_at)
        return 0

    def bundle(self) -> bytes:
        return tar([(bundle_format.MANIFEST_NAME, self.manifest), (bundle_format.SIGNATURES_NAME, self.signatures),
                    *self.roots, (bundle_format.DATABASE_NAME, self.payload)], self.mtime)


def make_parts(*signers: Signer, raw: bytes | None = None, payload: bytes | None = None,
               roots: tuple[tuple[str, bytes], ...] = (), **manifest: Any) -> Parts:
    raw = sqlite_database() if raw is None else raw
    compressed = zstandard.ZstdCompressor(level=3).compress(raw) if payload is None else payload
    manifest_bytes = encode(manifest_document(compressed, raw, **manifest))
    return Parts(manifest_bytes, signatures(manifest_bytes, *signers), compressed, raw, roots)


def write_bundle(path: Path, *signers: Signer, **options: Any) -> Path:
    path.write_bytes(make_parts(*signers, **options).bundle())
    return path
