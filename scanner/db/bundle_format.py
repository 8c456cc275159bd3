"""The bundle file format: the contract between dbbuilder (signer) and scanner (verifier).

Specified in docs/bundle-format.md. Pure constants and helpers; no I/O.
"""

from __future__ import annotations

import hashlib

FORMAT_NAME = "airgap-scanner-bundle"
FORMAT_VERSION = 1

MANIFEST_NAME = "manifest.json"
SIGNATURES_NAME = "signatures.json"
DATABASE_NAME = "vulns.sqlite.zst"
# Tar member order: the manifest and signatures come first so a verifier reads them before any payload.
MEMBER_ORDER = (MANIFEST_NAME, SIGNATURES_NAME, DATABASE_NAME)

# Ed25519 signs SIGNATURE_CONTEXT + exact manifest bytes, so a signature over a manifest can never be
# replayed as a signature over some other document signed with the same key.
SIGNATURE_CONTEXT = b"airgap-scanner bundle manifest v1\x00"

# Caps applied before parsing anything (defence against endless data).
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_SIGNATURES_BYTES = 64 * 1024
MAX_SIGNATURES = 16


def key_id(raw_public_key: bytes) -> str:
    """Key id: lower-case hex sha256 of the 32-byte raw Ed25519 public key."""
    return hashlib.sha256(raw_public_key).hexdigest()


def signed_message(manifest_bytes: bytes) -> bytes:
    return SIGNATURE_CONTEXT + manifest_bytes
