"""Root documents on the connected side: make version 1, rotate N to N+1, gather a chain for a bundle.

The document format and its one serialisation are the scanner's (scanner.db.root); every document
written here is first verified with the scanner's own checks (self-signed for version 1, the step from
the previous version for a rotation), so dbbuilder never writes a root a scanner would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.errors import BuildOptionError
from dbbuilder.bundle.keys import public_key_id
from scanner.db import bundle_format
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.root import (
    BUNDLE_ROLE,
    ROOT_ROLE,
    Role,
    Root,
    TrustedRoots,
    canonical_json,
    check_step,
    parse_root,
    root_document,
    self_signed_root,
    signed_message,
    signed_object,
    walk_chain,
)
from scanner.db.verify import short_key_id
from scanner.errors import BundleError
from scanner.fileio import read_capped


@dataclass(frozen=True)
class RoleChange:
    """Keys (raw public bytes) added to and removed from a role, and its new threshold (None: unchanged)."""

    add: Sequence[bytes] = ()
    remove: Sequence[bytes] = ()
    threshold: int | None = None


def _role(name: str, keys: Sequence[bytes], threshold: int) -> Role:
    key_ids = sorted({bundle_format.key_id(raw) for raw in keys})
    if not key_ids:
        raise BuildOptionError(f"the {name} role needs at least one key")
    if not 1 <= threshold <= len(key_ids):
        raise BuildOptionError(f"--threshold-{name} {threshold}: between 1 and the {len(key_ids)} {name} key(s)")
    return Role(tuple(key_ids), threshold)


def _signed(version: int, expires_at: datetime, root_keys: Sequence[bytes], bundle_keys: Sequence[bytes],
            threshold_root: int, threshold_bundle: int) -> dict[str, object]:
    keys = {bundle_format.key_id(raw): raw for raw in (*root_keys, *bundle_keys)}
    if len(keys) > BUNDLE_LIMITS.max_root_keys:
        raise BuildOptionError(f"{len(keys)} distinct keys; a root lists at most {BUNDLE_LIMITS.max_root_keys}")
    roles = {ROOT_ROLE: _role(ROOT_ROLE, root_keys, threshold_root),
             BUNDLE_ROLE: _role(BUNDLE_ROLE, bundle_keys, threshold_bundle)}
    return signed_object(version, expires_at, dict(sorted(keys.items())), roles)


def _sign(signed: Mapping[str, object], signers: Sequence[Ed25519PrivateKey]) -> bytes:
    by_id = {public_key_id(key.public_key()): key for key in signers}
    if len(by_id) != len(signers):
        raise BuildOptionError("the same --sign-with key is given twice")
    if len(by_id) > BUNDLE_LIMITS.max_root_signatures:
        raise BuildOptionError(f"{len(by_id)} --sign-with keys; a root carries at most "
                               f"{BUNDLE_LIMITS.max_root_signatures} signatures")
    message = signed_message(canonical_json(signed))
    return root_document(signed, ((key_id, key.sign(message)) for key_id, key in by_id.items()))


def _checked(what: str, check: Callable[[], object]) -> None:
    """Run the scanner's own check on what was made; its refusal is the operator's error here."""
    try:
        check()
    except BundleError as error:
        raise BuildOptionError(f"{what}: a scanner would refuse it: {error.message}") from None


def init_root(root_keys: Sequence[bytes], bundle_keys: Sequence[bytes], threshold_root: int, threshold_bundle: int,
              signers: Sequence[Ed25519PrivateKey], expires_at: datetime) -> bytes:
    """Version 1, signed by `signers` (a threshold of its root keys)."""
    document = _sign(_signed(1, expires_at, root_keys, bundle_keys, threshold_root, threshold_bundle), signers)
    _checked("root version 1", lambda: self_signed_root(document, "root version 1"))
    return document


def rotate_root(previous: bytes, where: str, root: RoleChange, bundle: RoleChange,
                signers: Sequence[Ed25519PrivateKey], expires_at: datetime) -> bytes:
    """Version N+1 from version N (`previous`): the role changes applied, signed by `signers`, who must be
    a threshold of N's root keys and a threshold of N+1's."""
    try:
        old = parse_root(previous, where)
    except BundleError as error:
        raise BuildOptionError(f"--from {where}: {error.message}") from None

    def keys(role: str, change: RoleChange) -> list[bytes]:
        removed = {bundle_format.key_id(raw) for raw in change.remove}
        current = {key_id: old.keys[key_id] for key_id in old.role(role).key_ids}
        missing = removed - set(current)
        if missing:
            raise BuildOptionError(f"--remove-{role}-key: key {short_key_id(min(missing))} is no {role} key of "
                                   f"version {old.version}")
        kept = [raw for key_id, raw in current.items() if key_id not in removed]
        return kept + [raw for raw in change.add if bundle_format.key_id(raw) not in current]

    def threshold(role: str, change: RoleChange) -> int:
        return change.threshold if change.threshold is not None else old.role(role).threshold

    signed = _signed(old.version + 1, expires_at, keys(ROOT_ROLE, root), keys(BUNDLE_ROLE, bundle),
                     threshold(ROOT_ROLE, root), threshold(BUNDLE_ROLE, bundle))
    document = _sign(signed, signers)
    name = bundle_format.root_member_name(old.version + 1)
    _checked(f"root version {old.version + 1}", lambda: check_step(old, parse_root(document, name), name))
    return document


def read_chain(directory: Path, now: datetime) -> tuple[tuple[str, bytes], ...]:
    """Every N.root.json in `directory`, by version: consecutive, each step valid, the newest not expired
    (the checks a scanner pinned at the first of them makes). Other files are not part of the chain."""
    try:
        names = sorted((int(match.group(1)), path.name) for path in directory.iterdir()
                       if (match := bundle_format.ROOT_MEMBER.fullmatch(path.name)) is not None)
    except OSError as error:
        raise BuildOptionError(f"--roots {directory}: cannot list it ({error.strerror or error})") from None
    if not names:
        raise BuildOptionError(f"--roots {directory}: no N.root.json in it")
    if len(names) > BUNDLE_LIMITS.max_roots:
        raise BuildOptionError(f"--roots {directory}: {len(names)} root documents, a bundle carries at most "
                               f"{BUNDLE_LIMITS.max_roots}")
    chain = tuple((name, read_capped(directory / name, BUNDLE_LIMITS.max_root_bytes, "root document",
                                     BuildOptionError)) for _, name in names)
    total = sum(len(data) for _, data in chain)
    if total > BUNDLE_LIMITS.max_chain_bytes:  # scanners refuse such a bundle (OversizeError): never write one
        raise BuildOptionError(f"--roots {directory}: the root documents hold {total} bytes, a bundle carries at "
                               f"most {BUNDLE_LIMITS.max_chain_bytes}")
    first_name, first = chain[0]
    try:
        root = self_signed_root(first, first_name)
        walk_chain(TrustedRoots(root, {root.version: root.sha256}), chain, now)
    except BundleError as error:
        raise BuildOptionError(f"--roots {directory}: {error.message}") from None
    return chain


def newest_root(chain: Sequence[tuple[str, bytes]]) -> Root:
    name, data = chain[-1]
    return parse_root(data, name)


def check_bundle_signers(chain: Sequence[tuple[str, bytes]], key_ids: Sequence[str]) -> None:
    """The bundle's signing keys meet the bundle role of the newest root it carries."""
    root = newest_root(chain)
    role = root.role(BUNDLE_ROLE)
    count = len(set(key_ids) & set(role.key_ids))
    if count < role.threshold:
        raise BuildOptionError(
            f"{count} of the signing keys are bundle keys of root version {root.version}, which requires "
            f"{role.threshold}: a scanner would refuse the bundle")
