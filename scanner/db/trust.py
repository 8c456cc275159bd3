"""The operator's trust store: which Ed25519 keys may sign bundles, and how many must (threshold).

Two forms (docs/trust.md): the flat list in trust.json (keys and a threshold, edited by hand), or a
pinned root of trust in root.json (scanner.db.root: versioned, signed, rotated by the publisher through
the chain bundles carry). Once a root is pinned it alone decides; the flat list is no longer consulted
for bundles and cannot be edited but for removals. Nothing is trusted by default, the demo key included.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from scanner.db import audit
from scanner.db.bundle_format import key_id
from scanner.db.errors import PolicyError, StateError, TrustStoreError
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.root import TrustedRoots, check_expiry, pin_root, self_signed_root
from scanner.db.state import ROOT_FILE, TRUST_FILE, StateDir
from scanner.db.verify import (
    ED25519_PUBLIC_KEY_BYTES,
    RetiredKey,
    TrustedKey,
    TrustPolicy,
    check_public_key,
    format_time,
)
from scanner.errors import BundleError
from scanner.fileio import read_capped

MAX_KEY_FILE_BYTES = 64 * 1024
# The key whose private half ships in the repository (bundles/demo-key.pem) to sign the demo bundle:
# anyone can sign with it, so a store trusts it only when told so explicitly (`trust add --demo`).
DEMO_KEY_ID = "d6b632adb329d8fbe193b307ba720a24693a0a43f350c745a9c8dfdbc7f1e802"
# A prefix shorter than this could match keys the operator did not mean.
MIN_KEY_ID_PREFIX = 8


def raw_public_key(pem: bytes, source: str) -> bytes:
    """The 32 raw bytes of an Ed25519 SubjectPublicKeyInfo PEM; TrustStoreError for anything else, and
    WeakKeyError for a key anyone can sign for or one not canonically encoded (scanner.db.ed25519)."""
    # Imported here: cryptography's PEM reader brings every cipher and SSH key format with it (~10 ms), and
    # only reading a key file needs it; verifying against the trust store uses its raw keys.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise TrustStoreError(f"{source}: not a PEM public key (expected SubjectPublicKeyInfo PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustStoreError(f"{source}: a {type(key).__name__.lstrip('_')}, bundles are signed with Ed25519")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    check_public_key(raw, f"{source}: the Ed25519 public key", "refusing to trust it")
    return raw


def read_key_file(path: Path) -> bytes:
    return read_capped(path, MAX_KEY_FILE_BYTES, "public key file", TrustStoreError)


def keys_from_files(paths: Iterable[Path]) -> dict[str, TrustedKey]:
    """`--trust PUBLIC.pem` files by key id, each named by its file name; weak keys refused.

    The same key given twice counts once (a threshold counts distinct keys).
    """
    keys = {}
    for path in paths:
        raw = raw_public_key(read_key_file(path), str(path))
        keys[key_id(raw)] = TrustedKey(key_id=key_id(raw), name=path.name, public_key=raw)
    return keys


def _trusted_key(entry: dict[str, object]) -> TrustedKey:
    """One trust.json entry; TypeError or ValueError when a field is of the wrong type or not canonical
    base64. Whether the key itself is sound is checked at every use (verify.verify_signatures), so that
    `trust remove` can still take out a key that is not."""
    key_id, name, encoded = entry["key_id"], entry["name"], entry["public_key"]
    if not (isinstance(key_id, str) and isinstance(name, str) and isinstance(encoded, str)):
        raise TypeError(entry)
    public_key = base64.b64decode(encoded, validate=True)
    if base64.b64encode(public_key).decode("ascii") != encoded:
        raise ValueError(encoded)
    return TrustedKey(key_id=key_id, name=name, public_key=public_key)


def load_trust(state: StateDir) -> TrustPolicy:
    state.check()
    document = state.read_json(TRUST_FILE)
    if document is None:
        return TrustPolicy(keys=())
    try:
        keys = tuple(_trusted_key(entry) for entry in document["keys"])
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
    document = state.read_json(TRUST_FILE) or {}
    return {entry["key_id"]: entry.get("added_at", "") for entry in document.get("keys", [])}


def save_trust(state: StateDir, policy: TrustPolicy, now: datetime) -> None:
    added = _load_added_times(state)
    state.write_json(TRUST_FILE, {
        "threshold": policy.threshold,
        "keys": [
            {"key_id": key.key_id, "name": key.name, "added_at": added.get(key.key_id) or format_time(now),
             "public_key": base64.b64encode(key.public_key).decode()}
            for key in policy.keys
        ],
    })


def add_key(state: StateDir, pem: bytes, name: str, source: str, now: datetime, *,
            allow_demo: bool = False) -> tuple[TrustedKey, bool]:
    """Trust the key in `pem`; (key, False) when it was already trusted (its name is then updated).

    The shipped demo key is refused unless `allow_demo`: its private half is public.
    """
    raw = raw_public_key(pem, source)
    _refuse_with_root(state, "trust add")
    new = TrustedKey(key_id=key_id(raw), name=name, public_key=raw)
    if new.key_id == DEMO_KEY_ID and not allow_demo:
        raise TrustStoreError(
            f"{source} is the shipped demo key: its private half is public in the airgap-scanner repository, "
            "so anyone can sign bundles with it. Trust it only in a state directory of its own, "
            "for a demonstration: `scanner --state-dir DIR trust add --demo KEY.pub.pem`")
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
    _refuse_with_root(state, "trust policy")
    with state.lock():
        policy = replace(load_trust(state), threshold=threshold)
        save_trust(state, policy, now)
        audit.append(state, "trust-policy", {"threshold": threshold}, now)
    return policy


# --- the pinned root of trust (root.json) -----------------------------------------------------------


def _refuse_with_root(state: StateDir, command: str) -> None:
    roots = load_roots(state)
    if roots is not None:
        raise TrustStoreError(
            f"`scanner {command}` edits the flat trust list, but root version {roots.root.version} is pinned and "
            "decides which keys sign bundles: the publisher rotates keys with `dbbuilder root rotate`")


def load_roots(state: StateDir) -> TrustedRoots | None:
    """The pinned root of trust, or None when the flat trust list is in use.

    The pinned document is checked again (self-signed, canonical) each time: the record is only as good
    as the state directory, but a corrupt one must stop verification, not weaken it.
    """
    document = state.read_json(ROOT_FILE)
    if document is None:
        return None
    where = str(state.root_file)
    try:
        text, digests, retired = document["root"], document["digests"], document["retired"]
        root = self_signed_root(text.encode("ascii"), where)
        roots = TrustedRoots(
            root,
            {int(version): str(digest) for version, digest in digests.items()},
            {str(kid): RetiredKey(base64.b64decode(entry["public_key"], validate=True), int(entry["removed_in"]))
             for kid, entry in retired.items()})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StateError(f"{where} is corrupt ({type(error).__name__}); re-pin the root: "
                         "`scanner trust init --replace N.root.json`") from None
    except BundleError as error:
        raise StateError(f"{where} is corrupt: {error.message}; re-pin the root: "
                         "`scanner trust init --replace N.root.json`") from None
    if roots.digests.get(root.version) != root.sha256:
        raise StateError(f"{where} is corrupt: the pinned document is not the one recorded for its version; "
                         "re-pin the root: `scanner trust init --replace N.root.json`")
    return roots


def save_roots(state: StateDir, roots: TrustedRoots, now: datetime) -> None:
    """Replace root.json atomically (scanner.db.state): a crash leaves the old root pinned or the new."""
    state.write_json(ROOT_FILE, {
        "root": roots.root.document.decode("ascii"),
        "pinned_at": format_time(now),
        "digests": {str(version): digest for version, digest in sorted(roots.digests.items())},
        "retired": {kid: {"public_key": base64.b64encode(key.public_key).decode(), "removed_in": key.removed_in}
                    for kid, key in sorted(roots.retired.items())},
    })


def load_verification_trust(state: StateDir) -> TrustPolicy | TrustedRoots:
    """What bundles are verified against: the pinned root of trust if there is one, else the flat list."""
    state.check()  # trust is decided at every use: the whole state directory is checked again first
    roots = load_roots(state)
    return roots if roots is not None else load_trust(state)


def read_root_file(path: Path) -> bytes:
    return read_capped(path, BUNDLE_LIMITS.max_root_bytes, "root document", TrustStoreError)


def init_root(state: StateDir, document: bytes, source: str, now: datetime, *,
              replace_pinned: bool = False) -> tuple[TrustedRoots, TrustedRoots | None]:
    """Pin the root `document` by hand: (the new roots, the ones it replaced).

    It must be signed by a threshold of its own root keys and not expired. Without `replace_pinned` a
    pinned root is never replaced (walking the chain moves it); with it, this is the emergency procedure
    after a compromise of the root keys (docs/trust.md): the history of accepted versions starts again.
    """
    with state.lock():
        replaced_corrupt = False
        try:
            previous = load_roots(state)
        except StateError:
            if not replace_pinned:
                raise
            # The recovery load_roots names for a corrupt root.json: what it recorded is unknown.
            previous, replaced_corrupt = None, True
        if previous is not None and not replace_pinned:
            raise TrustStoreError(
                f"root version {previous.root.version} is already pinned; newer versions arrive with bundles. "
                "Re-pinning by hand is the emergency procedure after a root key compromise: "
                "`scanner trust init --replace NEW.root.json` (docs/trust.md)")
        try:
            roots = pin_root(document, now, source)
        except BundleError as error:
            audit.record_refusal(state, "trust init", source, error, len(document), now)
            raise
        save_roots(state, roots, now)
        replaced = previous is not None or replaced_corrupt
        audit.append(state, "trust-root-replace" if replaced else "trust-root-init", {
            "source": source, "version": roots.root.version, "root_sha256": roots.root.sha256,
            "previous_version": previous.root.version if previous is not None else None,
            "previous_sha256": previous.root.sha256 if previous is not None else None}, now)
    return roots, previous


def root_expiry_problem(roots: TrustedRoots, now: datetime) -> str | None:
    """Why the pinned root cannot verify anything now (for `trust status`), or None."""
    try:
        check_expiry(roots, now)
    except BundleError as error:
        return error.message
    return None
