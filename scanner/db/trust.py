"""The operator's trust store: which Ed25519 keys may sign bundles, and how many must (threshold).

Stored in the state directory as trust.json. Nothing is trusted by default, the demo key included.
Key rotation: add the new key, import a bundle signed by it, then remove the old key (docs/trust.md).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from scanner.db import audit
from scanner.db.bundle_format import key_id
from scanner.db.errors import PolicyError, StateError, TrustStoreError
from scanner.db.state import StateDir, read_json, write_json_atomic
from scanner.db.verify import ED25519_PUBLIC_KEY_BYTES, TrustedKey, TrustPolicy, format_time
from scanner.fileio import read_capped

MAX_KEY_FILE_BYTES = 64 * 1024
# A prefix shorter than this could match keys the operator did not mean.
MIN_KEY_ID_PREFIX = 8


def raw_public_key(pem: bytes, source: str) -> bytes:
    """The 32 raw bytes of an Ed25519 SubjectPublicKeyInfo PEM; TrustStoreError for anything else."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise TrustStoreError(f"{source}: not a PEM public key (expected SubjectPublicKeyInfo PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustStoreError(f"{source}: a {type(key).__name__.lstrip('_')}, bundles are signed with Ed25519")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def read_key_file(path: Path) -> bytes:
    return read_capped(path, MAX_KEY_FILE_BYTES, "public key file", TrustStoreError)


def load_trust(state: StateDir) -> TrustPolicy:
    state.check_private(state.trust_file)
    document = read_json(state.trust_file)
    if document is None:
        return TrustPolicy(keys=())
    try:
        keys = tuple(
            TrustedKey(key_id=entry["key_id"], name=entry["name"], public_key=base64.b64decode(entry["public_key"]))
            for entry in document["keys"]
        )
        threshold = document["threshold"]
    except (KeyError, TypeError, ValueError):
        raise StateError(f"{state.trust_file} is corrupt; restore it from a backup") from None
    for key in keys:
        if len(key.public_key) != ED25519_PUBLIC_KEY_BYTES or key_id(key.public_key) != key.key_id:
            raise StateError(f"{state.trust_file}: key {key.key_id[:16]} does not match its public key")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise StateError(f"{state.trust_file}: threshold {threshold!r} is not a positive integer")
    return TrustPolicy(keys=keys, threshold=threshold)


def _load_added_times(state: StateDir) -> dict[str, str]:
    document = read_json(state.trust_file) or {}
    return {entry["key_id"]: entry.get("added_at", "") for entry in document.get("keys", [])}


def save_trust(state: StateDir, policy: TrustPolicy, now: datetime) -> None:
    added = _load_added_times(state)
    write_json_atomic(state.trust_file, {
        "threshold": policy.threshold,
        "keys": [
            {"key_id": key.key_id, "name": key.name, "added_at": added.get(key.key_id) or format_time(now),
             "public_key": base64.b64encode(key.public_key).decode()}
            for key in policy.keys
        ],
    })


def add_key(state: StateDir, pem: bytes, name: str, source: str, now: datetime) -> tuple[TrustedKey, bool]:
    """Trust the key in `pem`; (key, False) when it was already trusted (its name is then updated)."""
    raw = raw_public_key(pem, source)
    new = TrustedKey(key_id=key_id(raw), name=name, public_key=raw)
    with state.lock():
        policy = load_trust(state)
        existing = [key for key in policy.keys if key.key_id == new.key_id]
        others = tuple(key for key in policy.keys if key.key_id != new.key_id)
        save_trust(state, replace(policy, keys=(*others, new)), now)
        audit.append(state, "trust-add", {"key_id": new.key_id, "name": name, "source": source}, now)
    return new, not existing


def find_key(policy: TrustPolicy, wanted: str) -> TrustedKey:
    """The trusted key whose id is `wanted` or starts with it (at least 8 hex digits)."""
    wanted = wanted.lower()
    matches = [key for key in policy.keys if key.key_id == wanted] or (
        [key for key in policy.keys if key.key_id.startswith(wanted)] if len(wanted) >= MIN_KEY_ID_PREFIX else [])
    if len(matches) == 1:
        return matches[0]
    trusted = ", ".join(key.key_id[:16] for key in policy.keys) or "none"
    if matches:
        raise TrustStoreError(f"key id prefix {wanted} matches {len(matches)} keys; give more digits")
    raise TrustStoreError(f"no trusted key with id {wanted} (at least {MIN_KEY_ID_PREFIX} hex digits); "
                          f"trusted keys: {trusted}")


def remove_key(state: StateDir, wanted: str, now: datetime) -> tuple[TrustedKey, TrustPolicy]:
    """Remove a key; returns it and the policy that remains."""
    with state.lock():
        policy = load_trust(state)
        key = find_key(policy, wanted)
        remaining = replace(policy, keys=tuple(k for k in policy.keys if k.key_id != key.key_id))
        save_trust(state, remaining, now)
        audit.append(state, "trust-remove", {"key_id": key.key_id, "name": key.name}, now)
    return key, remaining


def set_threshold(state: StateDir, threshold: int, now: datetime) -> TrustPolicy:
    if threshold < 1:
        raise PolicyError(f"threshold {threshold}: at least one signature is always required")
    with state.lock():
        policy = replace(load_trust(state), threshold=threshold)
        save_trust(state, policy, now)
        audit.append(state, "trust-policy", {"threshold": threshold}, now)
    return policy
