"""The bundle verification core: pure decisions over bytes and streams, typed refusals.

Nothing here opens a file, reads the clock or touches the state directory: the caller passes the
manifest and signature bytes (and the root documents the bundle carries) with one frozen
`VerificationContext` (trust, time, freshness policy, rollback record, the operator's overrides), and
gets back a `VerifiedManifest` or one of the errors in scanner.db.errors. The payload functions work on
streams the caller opened. `dbbuilder verify` and the scanner's import and load paths share this
module, so both sides refuse exactly the same bundles.

Order (docs/bundle-format.md, "Verification order"): the carried root chain is walked first (when a
root of trust is pinned); signatures are checked over the raw manifest bytes before the manifest is
parsed beyond JSON, so a forged manifest never reaches the field checks; then format, schema, expiry and
age, rollback; payloads last. The order is held by the types: only `verify_manifest` makes a
`VerifiedManifest`; only its `payload` entries can be hashed (`hash_stored_payload`); only what hashing
returns, an `AuthenticatedPayload`, can be decompressed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from scanner.clock import parse_rfc3339_utc, rfc3339
from scanner.db import bundle_format, ed25519
from scanner.db.errors import (
    BadSignatureError,
    ChannelSwitchError,
    DecompressionBombError,
    DecompressionError,
    ExpiredError,
    FormatVersionError,
    ManifestError,
    MemberNameError,
    MissingMemberError,
    NoTrustedKeysError,
    OlderDataError,
    PayloadDigestError,
    PayloadSizeError,
    ReplayError,
    RevokedKeyError,
    RollbackError,
    SchemaVersionError,
    SignaturesError,
    StaleDataError,
    ThresholdError,
    TruncatedBundleError,
    UncompressedDigestError,
    UnknownKeyError,
    WeakKeyError,
)
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.schema import SCHEMA_MODEL, SCHEMA_VERSION
from scanner.errors import BundleError, ScannerError
from scanner.jsonstrict import loads_strict, member

if TYPE_CHECKING:  # scanner.db.root builds on this module; its walk is reached through the object passed in
    from scanner.db.root import TrustedRoots

CHUNK_BYTES = 1024 * 1024
ED25519_SIGNATURE_BYTES = 64
ED25519_PUBLIC_KEY_BYTES = ed25519.ENCODED_BYTES
# Standard base64 of 64 bytes, with its padding.
_SIGNATURE_BASE64_CHARS = 88
# A bundle dated further ahead than this is suspicious (or the clock is wrong): warn, do not refuse.
CLOCK_SKEW = timedelta(days=1)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# ASCII: \d alone also matches other scripts' digits, which int() would then accept.
_SCHEMA = re.compile(r"(\d+)\.(\d+)\.(\d+)", re.ASCII)


@dataclass(frozen=True)
class Provider:
    name: str
    captured_at: datetime
    input_sha256: str
    records: int
    skipped: int
    skipped_reasons: Mapping[str, int]
    # False when the builder found no date in the data (`captured_at_basis: "unknown"`; captured_at is then
    # the epoch): any age policy treats the provider as stale.
    captured_at_known: bool = True


@dataclass(frozen=True)
class PayloadFile:
    name: str
    sha256: str
    size: int
    uncompressed_sha256: str
    uncompressed_size: int


@dataclass(frozen=True)
class Manifest:
    format: str
    format_version: int
    schema_version: str
    channel: str
    bundle_version: int
    built_at: datetime
    expires_at: datetime
    builder_name: str
    builder_version: str
    providers: tuple[Provider, ...]
    files: tuple[PayloadFile, ...]

    def file(self, name: str) -> PayloadFile:
        for entry in self.files:
            if entry.name == name:
                return entry
        raise MissingMemberError(f"the signed manifest lists no file {name}")


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    name: str
    public_key: bytes  # 32 raw Ed25519 bytes


@dataclass(frozen=True)
class RetiredKey:
    """A bundle key a newer root removed from the bundle role (revoked): its signatures count for nothing,
    and a bundle signed only by it is refused as revoked rather than as unknown."""

    public_key: bytes
    removed_in: int  # the root version that removed it


@dataclass(frozen=True)
class TrustPolicy:
    keys: tuple[TrustedKey, ...]
    threshold: int = 1
    retired: Mapping[str, RetiredKey] = field(default_factory=dict)  # key id -> the key and who removed it


class Override(StrEnum):
    """A check the operator waived (an --allow-* flag); each one used is in the verdict and the audit log."""

    EXPIRED = "expired"  # the signed expires_at
    STALE = "stale"  # the local maximum age, when the policy says fail (--allow-expired too)
    DOWNGRADE = "downgrade"  # a lower bundle_version on its channel, or the same version with another manifest
    CHANNEL_SWITCH = "channel-switch"
    OLDER_DATA = "older-data"


@dataclass(frozen=True)
class ChannelRecord:
    """The highest bundle_version accepted on a channel and the sha256 of that manifest."""

    bundle_version: int
    manifest_sha256: str


@dataclass(frozen=True)
class InstalledRecord:
    """The installed database's channel, version and build time: every bundle is compared with it, whatever
    its channel, since there is one installed database however many channels have records."""

    channel: str
    bundle_version: int
    built_at: datetime


@dataclass(frozen=True)
class RollbackRecord:
    """rollback.json: the per-channel records, and the installed database's (None before the first import)."""

    channels: Mapping[str, ChannelRecord] = field(default_factory=dict)
    installed: InstalledRecord | None = None


@dataclass(frozen=True)
class FreshnessPolicy:
    """Local maximum data age. `max_age` applies to the build and to every provider without its own limit."""

    max_age: timedelta | None = timedelta(days=7)
    provider_max_age: Mapping[str, timedelta] = field(default_factory=dict)
    fail: bool = False  # False: stale data is a warning; True: a refusal (StaleDataError)


@dataclass(frozen=True)
class DataAge:
    bundle: timedelta  # now - built_at
    providers: Mapping[str, timedelta]  # provider name -> now - captured_at


NO_AGE_LIMIT = FreshnessPolicy(max_age=None)


@dataclass(frozen=True)
class VerificationContext:
    """Everything a verification decides against, fixed for its duration.

    `trust` is the flat trust store's policy, or the pinned root of trust (scanner.db.root.TrustedRoots),
    in which case the bundle's carried chain is walked from it and the newest root's bundle role is the
    policy. `rollback` None skips the rollback checks (re-verifying the installed database itself, or
    `dbbuilder verify`, which has no records).
    """

    trust: TrustPolicy | TrustedRoots
    now: datetime
    freshness: FreshnessPolicy = NO_AGE_LIMIT
    rollback: RollbackRecord | None = None
    overrides: frozenset[Override] = frozenset()

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:  # comparing it with the manifest's aware times would raise TypeError
            raise ValueError(f"now={self.now.isoformat()} has no time zone; pass an aware datetime")


# Only this module makes the types below (verify_manifest, VerifiedManifest.payload, hash_stored_payload):
# holding one is proof that the step before it passed.
_SEAL = object()


def _check_seal(seal: object, what: str) -> None:
    if seal is not _SEAL:
        raise TypeError(f"a {what} is made only by scanner.db.verify, after the checks it stands for")


@dataclass(frozen=True)
class AuthenticatedPayload:
    """A payload whose stored bytes matched its signed size and sha256: the only thing decompression takes."""

    file: PayloadFile
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_seal(self._seal, "AuthenticatedPayload")


@dataclass(frozen=True)
class SignedPayload:
    """A payload entry of a verified manifest: the only thing `hash_stored_payload` takes."""

    file: PayloadFile
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_seal(self._seal, "SignedPayload")


@dataclass(frozen=True)
class VerifiedManifest:
    manifest: Manifest
    manifest_sha256: str
    key_ids: tuple[str, ...]  # trusted keys whose signatures verified, sorted
    age: DataAge
    warnings: tuple[str, ...]
    overrides: tuple[Override, ...]  # checks skipped on the operator's order
    # The root of trust the bundle was verified with (the pinned one, or the newest the carried chain
    # reached); None under the flat trust store.
    roots: TrustedRoots | None = None
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_seal(self._seal, "VerifiedManifest")

    def payload(self, name: str) -> SignedPayload:
        return SignedPayload(self.manifest.file(name), _SEAL)


# --- signatures ----------------------------------------------------------------------------------


def _signature_bytes(encoded: object, where: str) -> bytes:
    """The 64 bytes of a signature in canonical base64 (standard alphabet, padded, zero spare bits)."""
    if not isinstance(encoded, str):
        raise SignaturesError(f"{where}: signature is not a string")
    if not encoded.isascii() or len(encoded) != _SIGNATURE_BASE64_CHARS:
        raise SignaturesError(f"{where}: signature is not {_SIGNATURE_BASE64_CHARS} characters of base64")
    return canonical_base64(encoded, ED25519_SIGNATURE_BYTES, f"{where}: signature", SignaturesError)


def canonical_base64(encoded: str, size: int, what: str, error: type[BundleError]) -> bytes:
    """The `size` bytes `encoded` holds in canonical base64 (standard alphabet, padded, zero spare bits): one
    text per value, so a signed document cannot be altered without breaking its bytes. `error` otherwise."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise error(f"{what} is not base64") from None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != encoded:
        raise error(f"{what} is not the canonical base64 of {size} bytes")
    return raw


def signature_entries(entries: object, what: str, field: str, limit: int,
                      decode: Callable[[object, str], bytes], error: type[ScannerError],
                      ) -> dict[str, bytes]:
    """Key id -> signature from a list of `{"keyid": ..., FIELD: ...}` objects (bundles' signatures.json,
    DSSE envelopes): at least one and at most `limit`, exactly those two fields, a lower-case sha256 key
    id, each key id once; `decode(value, where)` reads the signature or raises."""
    if not isinstance(entries, list) or not entries:
        raise error(f"{what}: no signatures")
    if len(entries) > limit:
        raise error(f"{what}: {len(entries)} signatures, at most {limit}")
    pairs: dict[str, bytes] = {}
    for index, entry in enumerate(entries):
        where = f"{what}: signature {index}"
        if not isinstance(entry, dict) or set(entry) != {"keyid", field}:
            raise error(f'{where}: expected an object with exactly the fields "keyid" and "{field}"')
        keyid = entry["keyid"]
        if not isinstance(keyid, str) or not _SHA256_HEX.fullmatch(keyid):
            raise error(f"{where}: keyid is not a lower-case sha256 hex (the key id of a public key)")
        if keyid in pairs:
            raise error(f"{where}: a second signature by key {short_key_id(keyid)}")
        pairs[keyid] = decode(entry[field], where)
    return pairs


def signature_bytes(encoded: object, where: str, error: type[ScannerError]) -> bytes:
    """`_signature_bytes` for another document's signature list, raising its own error."""
    try:
        return _signature_bytes(encoded, where)
    except SignaturesError as problem:
        raise error(problem.message) from None


def parse_signatures(signatures_bytes: bytes) -> tuple[tuple[str, bytes], ...]:
    """(key id, raw signature) pairs from signatures.json.

    Only the exact document dbbuilder writes is accepted (bundle_format.signatures_document): the
    documented fields and nothing else, each key id once, canonical base64, canonical layout. It is not
    signed, so any freedom in it would let a bundle with the same verified content have another sha256.
    """
    what = bundle_format.SIGNATURES_NAME
    document = loads_strict(signatures_bytes, what, SignaturesError)
    if not isinstance(document, dict) or set(document) != {"signatures"} or not isinstance(
            document["signatures"], list):
        raise SignaturesError(f'{what}: expected an object whose only field is a "signatures" list')
    pairs = signature_entries(document["signatures"], what, "signature", BUNDLE_LIMITS.max_signatures,
                              _signature_bytes, SignaturesError)
    if signatures_bytes != bundle_format.signatures_document(pairs.items()):
        raise SignaturesError(f"{what}: not laid out as dbbuilder writes it (entries ordered by key id, sorted "
                              "keys, two-space indent, trailing newline)")
    return tuple(pairs.items())


def short_key_id(key_id: str) -> str:
    return key_id[:16]


def describe_keys(keys: Iterable[TrustedKey]) -> str:
    return ", ".join(f"{short_key_id(key.key_id)} ({key.name})" if key.name else short_key_id(key.key_id)
                     for key in keys)


def check_public_key(raw: bytes, what: str, remedy: str) -> None:
    """Refuse a public key anyone can sign for, or one not canonically encoded (scanner.db.ed25519)."""
    weakness = ed25519.public_key_weakness(raw)
    if weakness is not None:
        raise WeakKeyError(f"{what} {weakness}; {remedy}")


def signature_verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """The Ed25519 signature verifies and is canonical (S < L, R a sound point: scanner.db.ed25519)."""
    if ed25519.signature_weakness(signature) is not None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verify_signatures(manifest_bytes: bytes, signatures_bytes: bytes, trust: TrustPolicy, *,
                      context: bytes = bundle_format.SIGNATURE_CONTEXT,
                      subject: str = "the manifest") -> tuple[str, ...]:
    """Key ids of the distinct trusted keys that signed the exact manifest bytes; refuses below threshold.

    `context` prefixes what was signed (a bundle manifest's, or an install kit's SHA256SUMS) and
    `subject` names the signed document in refusals.

    Every trusted key is checked first: one anyone can sign for stops all verification until it is
    removed. A key counts once (its id is the sha256 of its one accepted encoding). Signatures by
    untrusted keys are ignored; a signature that claims a trusted key but does not verify, or is not in
    canonical form, counts for nothing, and is named when the threshold is not met.
    """
    if not trust.keys:
        raise NoTrustedKeysError(
            "no trusted keys: add the bundle signer's public key with `scanner trust add PUBLIC.pem`")
    for candidate in trust.keys:
        check_public_key(candidate.public_key,
                         f"trusted key {short_key_id(candidate.key_id)} ({candidate.name}): the public key",
                         f"nothing verifies until it is removed: `scanner trust remove {candidate.key_id}`")
    trusted = {bundle_format.key_id(candidate.public_key): candidate for candidate in trust.keys}
    message = context + manifest_bytes
    verified: set[str] = set()
    failed: set[str] = set()
    untrusted: set[str] = set()
    pairs = parse_signatures(signatures_bytes)
    for keyid, signature in pairs:
        key = trusted.get(keyid)
        if key is None:
            untrusted.add(keyid)
            continue
        if signature_verifies(key.public_key, signature, message):
            verified.add(keyid)
        else:
            failed.add(keyid)
    if len(verified) >= trust.threshold:
        return tuple(sorted(verified))
    revoked = sorted((trust.retired[keyid].removed_in, keyid) for keyid, signature in pairs
                     if keyid in trust.retired and keyid not in trusted
                     and signature_verifies(trust.retired[keyid].public_key, signature, message))
    if revoked and not failed - verified:
        names = ", ".join(f"{short_key_id(keyid)} (removed from the bundle role in root version {version})"
                          for version, keyid in revoked)
        raise RevokedKeyError(
            f"{subject} is signed by revoked key {names}; the root's bundle keys: {describe_keys(trust.keys)}: "
            "the publisher no longer signs with it, so this was signed before the rotation or with a stolen key")
    if failed - verified:
        names = ", ".join(short_key_id(k) for k in sorted(failed - verified))
        raise BadSignatureError(
            f"signature by trusted key {names} does not match {subject}: it was altered after signing")
    if not verified:
        signers = ", ".join(short_key_id(k) for k in sorted(untrusted))
        raise UnknownKeyError(
            f"signed by unknown key {signers}; trusted keys: {describe_keys(trust.keys)}")
    raise ThresholdError(
        f"signed by {len(verified)} trusted key(s) ({', '.join(short_key_id(k) for k in sorted(verified))}), "
        f"the trust policy requires {trust.threshold}")


# --- manifest ------------------------------------------------------------------------------------


def parse_time(text: object, where: str) -> datetime:
    try:
        return parse_rfc3339_utc(text)
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from None


format_time = rfc3339  # every time the verifier's callers write (status, audit, state records)


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    return member(obj, key, kind, where, ManifestError)  # `true` is not a version number: bool is no int


def _count(obj: Mapping[str, Any], key: str, where: str) -> int:
    value: int = _field(obj, key, int, where)
    if value < 0:
        raise ManifestError(f"{where}: field {key!r} is negative")
    return value


def _digest(obj: Mapping[str, Any], key: str, where: str) -> str:
    value: str = _field(obj, key, str, where)
    if not _SHA256_HEX.fullmatch(value):
        raise ManifestError(f"{where}: field {key!r} is not a lower-case sha256 hex")
    return value


def _parse_provider(entry: object, index: int) -> Provider:
    where = f"manifest.json providers[{index}]"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: not an object")
    reasons = _field(entry, "skipped_reasons", dict, where)
    if not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in reasons.items()):
        raise ManifestError(f"{where}: skipped_reasons must map text to counts")
    return Provider(
        name=_field(entry, "name", str, where),
        captured_at=parse_time(entry.get("captured_at"), f"{where}.captured_at"),
        input_sha256=_digest(entry, "input_sha256", where),
        records=_count(entry, "records", where),
        skipped=_count(entry, "skipped", where),
        skipped_reasons=dict(reasons),
        captured_at_known=_capture_basis(entry, where) != "unknown",
    )


_CAPTURE_BASES = frozenset({"given", "feed", "records", "unknown"})


def _capture_basis(entry: Mapping[str, Any], where: str) -> str | None:
    """`captured_at_basis` (schema 1.1 bundles; absent before): how the builder knows the capture time."""
    if "captured_at_basis" not in entry:
        return None
    basis = entry["captured_at_basis"]
    if not isinstance(basis, str) or basis not in _CAPTURE_BASES:
        raise ManifestError(f"{where}: captured_at_basis must be one of {', '.join(sorted(_CAPTURE_BASES))}")
    return basis


def _parse_file(entry: object, index: int) -> PayloadFile:
    where = f"manifest.json files[{index}]"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: not an object")
    return PayloadFile(
        name=_field(entry, "name", str, where),
        sha256=_digest(entry, "sha256", where),
        size=_count(entry, "size", where),
        uncompressed_sha256=_digest(entry, "uncompressed_sha256", where),
        uncompressed_size=_count(entry, "uncompressed_size", where),
    )


def parse_manifest(manifest_bytes: bytes) -> Manifest:
    """Parse the manifest's fields; the format name and version are checked first (FormatVersionError)."""
    where = bundle_format.MANIFEST_NAME
    document = loads_strict(manifest_bytes, where, ManifestError)
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: not a JSON object")
    if document.get("format") != bundle_format.FORMAT_NAME:
        raise FormatVersionError(
            f"not an {bundle_format.FORMAT_NAME} manifest (format {document.get('format')!r})")
    version = document.get("format_version")
    if type(version) is not int or version != bundle_format.FORMAT_VERSION:
        raise FormatVersionError(
            f"bundle format version {version!r}; this scanner reads version "
            f"{bundle_format.FORMAT_VERSION}: use a scanner release that reads it, or a bundle built for this one")
    channel = _field(document, "channel", str, where)
    if not _CHANNEL.fullmatch(channel):
        raise ManifestError(f"{where}: channel {channel!r} is not a plain name (letters, digits, . _ -)")
    builder = _field(document, "builder", dict, where)
    providers = _field(document, "providers", list, where)
    files = _field(document, "files", list, where)
    parsed_providers = tuple(_parse_provider(entry, index) for index, entry in enumerate(providers))
    if len({p.name for p in parsed_providers}) != len(parsed_providers):
        raise ManifestError(f"{where}: a provider is listed twice")
    parsed_files = tuple(_parse_file(entry, index) for index, entry in enumerate(files))
    if len({f.name for f in parsed_files}) != len(parsed_files):
        raise ManifestError(f"{where}: a file is listed twice")
    return Manifest(
        format=document["format"],
        format_version=document["format_version"],
        schema_version=_field(document, "schema_version", str, where),
        channel=channel,
        bundle_version=_count(document, "bundle_version", where),
        built_at=parse_time(document.get("built_at"), f"{where} built_at"),
        expires_at=parse_time(document.get("expires_at"), f"{where} expires_at"),
        builder_name=_field(builder, "name", str, f"{where} builder"),
        builder_version=_field(builder, "version", str, f"{where} builder"),
        providers=parsed_providers,
        files=parsed_files,
    )


def check_schema(schema_version: str) -> None:
    match = _SCHEMA.fullmatch(schema_version)
    if match is None:
        raise SchemaVersionError(f"schema_version {schema_version!r} is not MODEL.REVISION.ADDITION")
    model = int(match.group(1))
    if model > SCHEMA_MODEL:
        raise SchemaVersionError(
            f"database schema {schema_version} (model {model}) needs a newer scanner; this scanner reads "
            f"schema model {SCHEMA_MODEL} ({SCHEMA_VERSION}): upgrade the scanner, or import a bundle "
            f"built for schema model {SCHEMA_MODEL}")
    if model < SCHEMA_MODEL:
        raise SchemaVersionError(
            f"database schema {schema_version} (model {model}) is older than this scanner reads "
            f"(model {SCHEMA_MODEL}, {SCHEMA_VERSION}): build the bundle with a matching dbbuilder")


def check_payload_listing(manifest: Manifest, payload_names: Iterable[str]) -> None:
    """Every payload member is listed in the signed manifest, and every listed file is present."""
    present = set(payload_names)
    listed = {entry.name for entry in manifest.files}
    if present - listed:
        raise MemberNameError(
            f"bundle member {', '.join(sorted(present - listed))} is not listed in the signed manifest")
    if listed - present:
        raise MissingMemberError(
            f"the signed manifest lists {', '.join(sorted(listed - present))} but the bundle does not contain it")


# --- freshness and rollback ----------------------------------------------------------------------


def format_age(age: timedelta) -> str:
    """Human age: '3 days 4 hours', '5 hours 2 minutes', '-2 hours' for a date in the future."""
    seconds = int(age.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} day{'s' * (days != 1)} {hours} hour{'s' * (hours != 1)}"
    return f"{sign}{hours} hour{'s' * (hours != 1)} {minutes} minute{'s' * (minutes != 1)}"


def data_age(manifest: Manifest, now: datetime) -> DataAge:
    return DataAge(
        bundle=now - manifest.built_at,
        providers={p.name: now - p.captured_at for p in manifest.providers},
    )


def check_freshness(
    manifest: Manifest, now: datetime, policy: FreshnessPolicy, allowed: frozenset[Override]
) -> tuple[DataAge, tuple[str, ...], tuple[Override, ...]]:
    """(age, warnings, overrides used). Expiry is a hard stop; the local age policy warns or refuses."""
    warnings: list[str] = []
    overrides: list[Override] = []
    age = data_age(manifest, now)
    if now >= manifest.expires_at:
        if Override.EXPIRED not in allowed:
            raise ExpiredError(
                f"bundle expired on {format_time(manifest.expires_at)}; carry in a newer one (this is "
                f"channel {manifest.channel} version {manifest.bundle_version}), or pass --allow-expired "
                "to use it anyway")
        overrides.append(Override.EXPIRED)
        warnings.append(f"bundle expired on {format_time(manifest.expires_at)}; used under --allow-expired")
    if manifest.built_at > now + CLOCK_SKEW:
        warnings.append(f"bundle built_at {format_time(manifest.built_at)} is in the future: check the clock")
    stale = []
    if policy.max_age is not None and age.bundle > policy.max_age:
        stale.append(f"bundle built {format_age(age.bundle)} ago (maximum {format_age(policy.max_age)})")
    for provider in manifest.providers:
        limit = policy.provider_max_age.get(provider.name, policy.max_age)
        provider_age = age.providers[provider.name]
        if limit is not None and not provider.captured_at_known:
            stale.append(f"provider {provider.name} data captured at an unknown time (its feed carries no "
                         f"date; maximum age {format_age(limit)})")
        elif limit is not None and provider_age > limit:
            stale.append(f"provider {provider.name} data captured {format_age(provider_age)} ago "
                         f"(maximum {format_age(limit)})")
    if stale and policy.fail and Override.STALE not in allowed:
        raise StaleDataError(
            "data older than the freshness policy allows: " + "; ".join(stale)
            + "; carry in a newer bundle, or pass --allow-expired to use it anyway")
    if stale and policy.fail:
        overrides.append(Override.STALE)
    warnings.extend(f"stale data: {line}" for line in stale)
    return age, tuple(warnings), tuple(overrides)


def check_rollback(
    manifest: Manifest, manifest_sha256: str, rollback: RollbackRecord, allowed: frozenset[Override]
) -> tuple[Override, ...]:
    """Overrides used, of DOWNGRADE, CHANNEL_SWITCH and OLDER_DATA (each the flag --allow-NAME).

    On the bundle's channel (the record for it): a lower bundle_version is a downgrade, the same version
    with another manifest a replay. Against the installed database (`rollback.installed`), whatever the
    channel: another channel is a channel switch, an earlier built_at older data. Re-importing the
    installed bundle needs nothing. A refusal is the error of the first override missing, and names every
    reason and every flag needed.
    """
    channel, version = manifest.channel, manifest.bundle_version
    record, installed = rollback.channels.get(channel), rollback.installed
    overrides: list[Override] = []
    refusals: list[tuple[type[BundleError], str, Override]] = []  # (error, reason, override)

    def needs(override: Override, error: type[BundleError], reason: str) -> None:
        if override in allowed:
            overrides.append(override)
        else:
            refusals.append((error, reason, override))

    if record is not None and version == record.bundle_version and manifest_sha256 != record.manifest_sha256:
        if Override.DOWNGRADE not in allowed:
            raise ReplayError(
                f"bundle_version {version} on channel {channel} was already accepted with a different manifest "
                f"(sha256 {record.manifest_sha256[:16]}.., this one {manifest_sha256[:16]}..): two bundles "
                "signed with the same version; refusing both is safer than guessing")
        overrides.append(Override.DOWNGRADE)
    if record is not None and version < record.bundle_version:
        needs(Override.DOWNGRADE, RollbackError,
              f"bundle_version {version} is older than installed {record.bundle_version} on channel {channel}")
    if installed is not None and channel != installed.channel:
        needs(Override.CHANNEL_SWITCH, ChannelSwitchError,
              f"bundle channel {channel} is not the installed database's ({installed.channel} "
              f"v{installed.bundle_version})")
    if installed is not None and manifest.built_at < installed.built_at:
        needs(Override.OLDER_DATA, OlderDataError,
              f"bundle {channel} v{version} was built {format_time(manifest.built_at)}, before the installed "
              f"database ({installed.channel} v{installed.bundle_version}, built {format_time(installed.built_at)})")
    if refusals:
        flags = " ".join(f"--allow-{override}" for _, _, override in refusals)
        raise refusals[0][0](f"{'; '.join(reason for _, reason, _ in refusals)}; carry in a newer bundle, or "
                             f"pass {flags} (recorded in the audit log)")
    return tuple(overrides)


def verify_manifest(
    manifest_bytes: bytes,
    signatures_bytes: bytes,
    context: VerificationContext,
    roots: Sequence[tuple[str, bytes]] = (),
) -> VerifiedManifest:
    """Everything about a bundle that can be decided before reading its payload.

    `roots` are the root documents the bundle carries, (member name, bytes) in bundle order: walked from
    the pinned root when `context.trust` is one (scanner.db.root), ignored under a flat trust store.
    """
    trust, reached = context.trust, None
    if not isinstance(trust, TrustPolicy):
        reached = trust.walk(roots, context.now)
        trust = reached.bundle_policy()
    key_ids = verify_signatures(manifest_bytes, signatures_bytes, trust)
    manifest = parse_manifest(manifest_bytes)
    check_schema(manifest.schema_version)
    manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    age, warnings, overrides = check_freshness(manifest, context.now, context.freshness, context.overrides)
    if context.rollback is not None:
        overrides += check_rollback(manifest, manifest_sha256, context.rollback, context.overrides)
    return VerifiedManifest(manifest, manifest_sha256, key_ids, age, warnings, overrides, reached, _SEAL)


# --- payload -------------------------------------------------------------------------------------


class _BoundedReader:
    """Reads at most `remaining` bytes of a stream, so the decompressor cannot run past its member."""

    def __init__(self, source: BinaryIO, size: int) -> None:
        self.source = source
        self.remaining = size

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self.source.read(size)
        self.remaining -= len(data)
        return data


def hash_stored_payload(
    source: BinaryIO, signed: SignedPayload, stored_size: int, keep: Callable[[bytes], None] | None = None
) -> AuthenticatedPayload:
    """Check a payload's stored bytes (read from `source`'s current position) against the verified manifest.

    Runs before decompression, so zstd never sees unauthenticated bytes; `keep` receives each chunk as
    read, so the caller can decompress that copy rather than read the source a second time.
    """
    entry = signed.file
    if stored_size != entry.size:
        raise PayloadSizeError(
            f"{entry.name}: {stored_size} bytes in the bundle, the signed manifest says {entry.size}")
    digest = hashlib.sha256()
    remaining = entry.size
    while remaining:
        chunk = source.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            raise TruncatedBundleError(f"{entry.name}: the bundle ends {remaining} bytes early")
        digest.update(chunk)
        if keep is not None:
            keep(chunk)
        remaining -= len(chunk)
    if digest.hexdigest() != entry.sha256:
        raise PayloadDigestError(
            f"{entry.name}: sha256 {digest.hexdigest()[:16]}.. differs from the signed {entry.sha256[:16]}..: "
            "the payload was altered or swapped")
    return AuthenticatedPayload(entry, _SEAL)


def decompress_payload(source: BinaryIO, payload: AuthenticatedPayload, sink: BinaryIO | None) -> None:
    """Stream-decompress an authenticated payload into `sink` (None: discard), capped and hashed.

    `source` holds the bytes `hash_stored_payload` authenticated (the caller's copy of them). The output
    cap is the signed uncompressed size: one byte more and decompression stops.
    """
    # Imported here: only an import or `scan --db` decompresses; a scan of the installed database re-hashes
    # the file decompressed at import (check_installed_digest) and need not load zstd.
    import zstandard

    entry = payload.file
    limit = entry.uncompressed_size
    digest = hashlib.sha256()
    produced = 0
    # zstandard only calls read() on its source; the cast satisfies its IO[bytes] annotation.
    bounded = cast(BinaryIO, _BoundedReader(source, entry.size))
    reader = zstandard.ZstdDecompressor().stream_reader(bounded, read_size=CHUNK_BYTES, read_across_frames=True)
    try:
        while True:
            chunk = reader.read(min(CHUNK_BYTES, limit - produced + 1))
            if not chunk:
                break
            produced += len(chunk)
            if produced > limit:
                raise DecompressionBombError(
                    f"{entry.name}: decompresses to more than the signed {limit} bytes; refused")
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
    except zstandard.ZstdError as exc:
        raise DecompressionError(f"{entry.name}: not a valid zstd stream: {exc}") from None
    if produced != limit:
        raise UncompressedDigestError(
            f"{entry.name}: decompresses to {produced} bytes, the signed manifest says {limit}")
    if digest.hexdigest() != entry.uncompressed_sha256:
        raise UncompressedDigestError(
            f"{entry.name}: decompressed sha256 {digest.hexdigest()[:16]}.. differs from the signed "
            f"{entry.uncompressed_sha256[:16]}..")


def check_installed_digest(source: BinaryIO, signed: SignedPayload) -> str | None:
    """Re-hash an installed (decompressed) database; None when it matches, else what differs."""
    entry = signed.file
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    if size != entry.uncompressed_size:
        return f"{size} bytes, the signed manifest says {entry.uncompressed_size}"
    if digest.hexdigest() != entry.uncompressed_sha256:
        return f"sha256 {digest.hexdigest()[:16]}.. differs from the signed {entry.uncompressed_sha256[:16]}.."
    return None
