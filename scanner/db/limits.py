"""Caps on what a bundle (and the root of trust it carries) may make a verifier read, applied before
parsing: the defence against endless data. The peer of scanner/image/limits.py for bundles.

These are part of the bundle format's contract: dbbuilder refuses to write what a verifier with the
default limits would refuse (docs/bundle-format.md).
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class BundleLimits:
    # manifest.json: the signed document (refused from its tar header when larger).
    max_manifest_bytes: int = 1 * MIB
    # signatures.json, and the signatures in it.
    max_signatures_bytes: int = 64 * KIB
    max_signatures: int = 16
    # One root document (N.root.json), in a bundle, a state directory or given to `trust init`.
    max_root_bytes: int = 64 * KIB
    # Root documents one bundle carries, and their bytes together (all are read before any is verified).
    max_roots: int = 1000
    max_chain_bytes: int = 8 * MIB
    # Keys one root document lists, and signatures it carries (a rotation is signed by two key sets).
    max_root_keys: int = 32
    max_root_signatures: int = 32


BUNDLE_LIMITS = BundleLimits()
