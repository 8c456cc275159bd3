"""The root of trust: a signed, versioned document naming the keys that may sign bundles (role `bundle`)
and the keys that may sign the next root (role `root`), each role with its threshold. Specified in
docs/trust.md, "Root of trust".

Pure, like scanner.db.verify: bytes and times in, a `TrustedRoots` or a typed refusal out; nothing here
opens a file or reads the clock. A host pins one root (`scanner trust init`); a bundle carries the chain
(`N.root.json` members), which is walked forward one version at a time from the pinned one: version N+1
counts only when a threshold of version N's root keys AND a threshold of its own root keys signed it.
Only the newest root's expiry matters (a chain may pass through roots that expired since). Every
signature on a root document must verify, and each byte of a document is its canonical serialisation,
so any change to a carried document is refused, never accepted on the signatures that remain.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scanner.db import bundle_format, ed25519
from scanner.db.errors import (
    ManifestError,
    RootDocumentError,
    RootExpiredError,
    RootForkError,
    RootOwnThresholdError,
    RootPreviousThresholdError,
    RootVersionError,
)
from scanner.db.limits import BUNDLE_LIMITS, BundleLimits
from scanner.db.verify import (
    ED25519_PUBLIC_KEY_BYTES,
    RetiredKey,
    TrustedKey,
    TrustPolicy,
    canonical_base64,
    format_time,
    parse_time,
    short_key_id,
    signature_bytes,
    signature_entries,
    signature_verifies,
)
from scanner.jsonstrict import expect, list_of, loads_strict, member

ROOT_TYPE = "airgap-scanner-root"
SPEC_VERSION = 1
ROOT_ROLE = "root"
BUNDLE_ROLE = "bundle"
ROLES = (BUNDLE_ROLE, ROOT_ROLE)
KEY_TYPE = "ed25519"
_SIGNED_FIELDS = {"type", "spec_version", "version", "expires", "keys", "roles"}


@dataclass(frozen=True)
class Role:
    key_ids: tuple[str, ...]  # sorted
    threshold: int


@dataclass(frozen=True)
class Root:
    """One parsed root document. Its signatures are checked by `self_signed_root` and `walk_chain`."""

    version: int
    expires_at: datetime
    keys: Mapping[str, bytes]  # key id -> 32 raw public key bytes
    roles: Mapping[str, Role]
    signatures: tuple[tuple[str, bytes], ...]  # (key id, raw signature), ordered by key id
    signed_bytes: bytes  # the canonical `signed` object: what each signature covers (after the context)
    document: bytes  # the whole file, byte for byte
    sha256: str  # of `document`

    def role(self, name: str) -> Role:
        return self.roles[name]


@dataclass(frozen=True)
class TrustedRoots:
    """A host's root of trust: the newest root it accepted, the sha256 of every version it accepted (a
    different document for one of them is a fork), and the bundle keys later versions removed (revoked)."""

    root: Root
    digests: Mapping[int, str] = field(default_factory=dict)
    retired: Mapping[str, RetiredKey] = field(default_factory=dict)

    def bundle_policy(self) -> TrustPolicy:
        """The trust policy bundles are verified with: the bundle role of the newest root."""
        role = self.root.role(BUNDLE_ROLE)
        return TrustPolicy(
            keys=tuple(TrustedKey(key_id, f"root v{self.root.version} bundle key", self.root.keys[key_id])
                       for key_id in role.key_ids),
            threshold=role.threshold, retired=self.retired)

    def walk(self, carried: Sequence[tuple[str, bytes]], now: datetime) -> TrustedRoots:
        return walk_chain(self, carried, now)

    def advanced(self, root: Root) -> TrustedRoots:
        """These roots with `root` (verified as the next version) pinned."""
        kept = set(root.role(BUNDLE_ROLE).key_ids)
        retired = {key_id: key for key_id, key in self.retired.items() if key_id not in kept}
        retired.update({key_id: RetiredKey(self.root.keys[key_id], root.version)
                        for key_id in self.root.role(BUNDLE_ROLE).key_ids if key_id not in kept})
        return TrustedRoots(root, {**self.digests, root.version: root.sha256}, retired)


# --- the document ----------------------------------------------------------------------------------


def canonical_json(document: object) -> bytes:
    """The project's one serialisation of a signed document (as manifest.json): keys sorted, two-space
    indent, trailing newline; here ASCII only (every field of a root is ASCII)."""
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode("ascii")


def signed_object(version: int, expires_at: datetime, keys: Mapping[str, bytes],
                  roles: Mapping[str, Role]) -> dict[str, Any]:
    """The `signed` part of a root document."""
    return {
        "type": ROOT_TYPE, "spec_version": SPEC_VERSION, "version": version, "expires": format_time(expires_at),
        "keys": {key_id: {"keytype": KEY_TYPE, "public": base64.b64encode(raw).decode("ascii")}
                 for key_id, raw in keys.items()},
        "roles": {name: {"keyids": sorted(role.key_ids), "threshold": role.threshold} for name, role in roles.items()},
    }


def root_document(signed: Mapping[str, Any], signatures: Iterable[tuple[str, bytes]]) -> bytes:
    """The file: `{"signatures": [...], "signed": {...}}`, signatures ordered by key id, canonical JSON."""
    entries = [{"keyid": key_id, "signature": base64.b64encode(signature).decode("ascii")}
               for key_id, signature in sorted(signatures)]
    return canonical_json({"signatures": entries, "signed": signed})


def signed_message(signed_bytes: bytes) -> bytes:
    return bundle_format.ROOT_SIGNATURE_CONTEXT + signed_bytes


def _object(value: object, fields: set[str], where: str) -> dict[str, Any]:
    document = expect(value, dict, where, RootDocumentError)
    if set(document) != fields:
        raise RootDocumentError(f"{where}: expected an object with exactly the fields {', '.join(sorted(fields))}")
    return document


def _integer(value: object, where: str, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise RootDocumentError(f"{where}: expected an integer of at least {minimum}")
    return value


def _public_key(key_id: str, entry: object, where: str) -> bytes:
    fields = _object(entry, {"keytype", "public"}, where)
    if fields["keytype"] != KEY_TYPE:
        raise RootDocumentError(f'{where}: keytype must be "{KEY_TYPE}"')
    public = member(fields, "public", str, where, RootDocumentError)
    raw = canonical_base64(public, ED25519_PUBLIC_KEY_BYTES, f"{where}: public", RootDocumentError)
    if bundle_format.key_id(raw) != key_id:
        raise RootDocumentError(f"{where}: the key id is not the sha256 of the public key")
    weakness = ed25519.public_key_weakness(raw)
    if weakness is not None:
        raise RootDocumentError(f"{where}: the public key {weakness}; no root may list it")
    return raw


def _role(value: object, keys: Mapping[str, bytes], where: str) -> Role:
    fields = _object(value, {"keyids", "threshold"}, where)
    key_ids = list_of(fields["keyids"], str, f"{where} keyids", RootDocumentError)
    if not key_ids:
        raise RootDocumentError(f"{where}: keyids must be a non-empty list of key ids")
    if key_ids != sorted(set(key_ids)):
        raise RootDocumentError(f"{where}: keyids must be sorted, each once")
    unknown = [k for k in key_ids if k not in keys]
    if unknown:
        raise RootDocumentError(f"{where}: key {short_key_id(unknown[0])} is not among the document's keys")
    threshold = _integer(fields["threshold"], f"{where} threshold", 1)
    if threshold > len(key_ids):
        raise RootDocumentError(f"{where}: threshold {threshold} but only {len(key_ids)} key(s): nothing could sign")
    return Role(tuple(key_ids), threshold)


def parse_root(data: bytes, where: str, limits: BundleLimits = BUNDLE_LIMITS) -> Root:
    """A root document read strictly: the exact fields, canonical keys and base64, each key used by a role,
    and the bytes exactly `root_document` of what was parsed. Signatures are NOT checked here."""
    if len(data) > limits.max_root_bytes:
        raise RootDocumentError(f"{where}: {len(data)} bytes, more than the {limits.max_root_bytes} a root may have")
    document = _object(loads_strict(data, where, RootDocumentError), {"signatures", "signed"}, where)
    signed = _object(document["signed"], _SIGNED_FIELDS, f"{where} signed")
    if signed["type"] != ROOT_TYPE or type(signed["spec_version"]) is not int or signed["spec_version"] != SPEC_VERSION:
        raise RootDocumentError(f'{where}: not a root document of this format (type "{ROOT_TYPE}", spec_version '
                                f"{SPEC_VERSION})")
    version = _integer(signed["version"], f"{where} version", 1)
    try:
        expires_at = parse_time(signed["expires"], f"{where} expires")
    except ManifestError as error:
        raise RootDocumentError(error.message) from None
    entries = expect(signed["keys"], dict, f"{where} keys", RootDocumentError)
    if not 0 < len(entries) <= limits.max_root_keys:
        raise RootDocumentError(f"{where}: keys must be an object of 1 to {limits.max_root_keys} keys")
    keys = {key_id: _public_key(key_id, entry, f"{where} key {short_key_id(key_id)}")
            for key_id, entry in entries.items()}
    roles_field = _object(signed["roles"], set(ROLES), f"{where} roles")
    roles = {name: _role(roles_field[name], keys, f"{where} role {name}") for name in ROLES}
    unused = set(keys) - {key_id for role in roles.values() for key_id in role.key_ids}
    if unused:
        raise RootDocumentError(f"{where}: key {short_key_id(min(unused))} is listed but has no role")
    pairs = signature_entries(document["signatures"], where, "signature", limits.max_root_signatures,
                              lambda value, at: signature_bytes(value, at, RootDocumentError), RootDocumentError)
    if data != root_document(signed, pairs.items()):
        raise RootDocumentError(f"{where}: not laid out as dbbuilder writes it (canonical JSON: sorted keys, "
                                "two-space indent, ASCII, signatures ordered by key id, trailing newline)")
    return Root(version, expires_at, keys, roles, tuple(pairs.items()), canonical_json(signed), data,
                hashlib.sha256(data).hexdigest())


# --- signatures and the chain ------------------------------------------------------------------------


def _signed_by(root: Root, previous: Root | None, where: str) -> set[str]:
    """Key ids whose signatures on `root` verify. Every signature must verify, by a key of this root or
    of the previous one: an altered document is refused, not accepted on the signatures that remain.

    Without a previous root (a root pinned by hand, or read back from the state directory) the signatures
    of the version before, which it carries from its own rotation, cannot be checked: they count for
    nothing, and the document's own keys must meet its threshold.
    """
    message = signed_message(root.signed_bytes)
    known = {**(previous.keys if previous is not None else {}), **root.keys}
    previous_root_keys = set(previous.role(ROOT_ROLE).key_ids) if previous is not None else set()
    signers: set[str] = set()
    for key_id, signature in root.signatures:
        raw = known.get(key_id)
        if raw is None and previous is None:
            continue
        if raw is None:
            raise RootDocumentError(f"{where}: signed by key {short_key_id(key_id)}, which is no key of root "
                                    f"version {root.version}" + (f" or {previous.version}" if previous else ""))
        if not signature_verifies(raw, signature, message):
            error = RootPreviousThresholdError if key_id in previous_root_keys else RootOwnThresholdError
            raise error(f"{where}: the signature by key {short_key_id(key_id)} does not verify: the document was "
                        "altered after signing")
        signers.add(key_id)
    return signers


def _check_threshold(signers: set[str], role: Role, error: type[RootOwnThresholdError | RootPreviousThresholdError],
                     what: str) -> None:
    count = len(signers & set(role.key_ids))
    if count < role.threshold:
        raise error(f"{what}: signed by {count} of its root keys, the threshold is {role.threshold}")


def self_signed_root(data: bytes, where: str) -> Root:
    """A root document signed by a threshold of its own root keys (what a host pins by hand)."""
    root = parse_root(data, where)
    _check_threshold(_signed_by(root, None, where), root.role(ROOT_ROLE), RootOwnThresholdError,
                     f"{where} (root version {root.version})")
    return root


def check_expiry(roots: TrustedRoots, now: datetime) -> None:
    if now >= roots.root.expires_at:
        raise RootExpiredError(
            f"root version {roots.root.version} expired on {format_time(roots.root.expires_at)}: carry in a bundle "
            "whose chain holds a newer root, or, if the publisher has one, pin it by hand (docs/trust.md)")


def pin_root(data: bytes, now: datetime, where: str) -> TrustedRoots:
    """The root of trust of a host that pins the document `data` by hand: self-signed and not expired."""
    root = self_signed_root(data, where)
    roots = TrustedRoots(root, {root.version: root.sha256})
    check_expiry(roots, now)
    return roots


def check_step(previous: Root, root: Root, where: str) -> Root:
    """`root` verified as the version after `previous`: a threshold of previous's root keys and a threshold of
    its own signed it."""
    if root.version != previous.version + 1:
        raise RootVersionError(f"{where}: root version {root.version} does not follow version {previous.version}")
    signers = _signed_by(root, previous, where)
    _check_threshold(signers, previous.role(ROOT_ROLE), RootPreviousThresholdError,
                     f"{where}: root version {root.version} by the keys of version {previous.version}")
    _check_threshold(signers, root.role(ROOT_ROLE), RootOwnThresholdError,
                     f"{where}: root version {root.version} by its own keys")
    return root


def walk_chain(trusted: TrustedRoots, carried: Sequence[tuple[str, bytes]], now: datetime,
               limits: BundleLimits = BUNDLE_LIMITS) -> TrustedRoots:
    """Walk the carried chain, (member name, bytes) in bundle order, forward from the pinned root.

    The carried versions must be consecutive and ascending, each in the member named after it. A version
    this host already accepted must be the same document (else a fork); the next ones must each be signed
    by a threshold of the previous version's root keys and of their own. The newest root reached must not
    have expired. Returns the roots with the newest version pinned; `trusted` itself when nothing is new.
    """
    if len(carried) > limits.max_roots:
        raise RootDocumentError(f"the bundle carries {len(carried)} root documents, more than {limits.max_roots}")
    current = trusted
    previous_version: int | None = None
    for name, data in carried:
        match = bundle_format.ROOT_MEMBER.fullmatch(name)
        root = parse_root(data, name, limits)
        if match is None or int(match.group(1)) != root.version:
            raise RootVersionError(f"{name} holds root version {root.version}; each version is carried as "
                                   f"{bundle_format.root_member_name(root.version)}")
        if previous_version is not None and root.version != previous_version + 1:
            change = "repeats" if root.version == previous_version else (
                "goes back" if root.version < previous_version else "skips")
            raise RootVersionError(f"{name}: the carried chain {change} from root version {previous_version} to "
                                   f"{root.version}; each version must follow the one before")
        previous_version = root.version
        pinned = current.root.version
        if root.version <= pinned:
            known = current.digests.get(root.version)
            if known is not None and known != root.sha256:
                raise RootForkError(
                    f"{name}: root version {root.version} (sha256 {root.sha256[:16]}..) differs from the version "
                    f"{root.version} this host accepted (sha256 {known[:16]}..): two roots claim one version; "
                    "refusing both is safer than guessing (docs/trust.md, \"Emergency\")")
            continue
        if root.version != pinned + 1:
            raise RootVersionError(f"{name}: the carried chain skips from the pinned root version {pinned} to "
                                   f"{root.version}; it must carry every version after {pinned}")
        current = current.advanced(check_step(current.root, root, name))
    check_expiry(current, now)
    return current
