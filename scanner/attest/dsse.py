"""DSSE v1 envelopes (secure-systems-lab/dsse, protocol 1.0.0): signing and strict verification.

A signature is Ed25519 over PAE(payloadType, payload), the pre-authentication encoding
`"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body` with lengths in ASCII decimal. The type is signed
with the body, so a signature over an in-toto statement cannot stand for any other kind of document,
and since PAE starts with "DSSEv1 " it can never be mistaken for a signature over a bundle manifest or
a kit's SHA256SUMS (scanner.db.bundle_format, scanner.kit), whose signed messages start otherwise.

The envelope is JSON with `payload` (base64 of the statement), `payloadType` and `signatures`
(`keyid`, `sig`). DSSE lets verifiers accept either base64 alphabet and ignore unknown fields; this
verifier accepts only the one layout `envelope_bytes` writes (sorted keys, two-space indent, standard
padded base64, signatures ordered by key id, a final newline) and refuses any other, so that one
attestation has one sha256 (the digest the audit log records) and every byte of the file is checked:
a changed byte changes the signed payload, a signature, a key id, or the layout. Every signature must
be by a trusted key and verify; key ids are the sha256 of the raw public key, as for bundles.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.attest.errors import AttestationError, AttestationSignatureError, UntrustedAttestationError
from scanner.db.verify import TrustedKey, describe_keys, short_key_id, signature_entries, signature_verifies
from scanner.jsonstrict import loads_strict
from scanner.keyfiles import public_key_id

PAYLOAD_TYPE = "application/vnd.in-toto+json"
# A statement carries every finding, about 1.9 KB each once in the envelope (benchmarks.attestation): this
# is some 70,000 findings. The signer refuses to write more than the verifier reads.
MAX_ENVELOPE_BYTES = 128 * 1024 * 1024
MAX_SIGNATURES = 16
_FIELDS = {"payload", "payloadType", "signatures"}


def pae(payload_type: str, payload: bytes) -> bytes:
    """The bytes a DSSE signature signs."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope_bytes(payload: bytes, signatures: Iterable[tuple[str, bytes]], payload_type: str = PAYLOAD_TYPE) -> bytes:
    """The one serialisation of an envelope: the bytes written, hashed and, when verifying, required."""
    document = {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode("ascii")}
                       for keyid, signature in sorted(signatures)],
    }
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode("ascii")


def sign(payload: bytes, key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """An envelope holding `payload`, signed by `key`; AttestationError when it would be over the size cap."""
    envelope = envelope_bytes(payload, [(public_key_id(key.public_key()), key.sign(pae(payload_type, payload)))],
                              payload_type)
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise AttestationError(f"the attestation would be {len(envelope)} bytes, more than the {MAX_ENVELOPE_BYTES} "
                               "a verifier reads (narrow the scan with --only-fixed, --ignore or --vex)")
    return envelope


@dataclass(frozen=True)
class VerifiedEnvelope:
    payload: bytes
    payload_type: str
    key_ids: tuple[str, ...]  # of the trusted keys that signed, sorted
    sha256: str  # of the envelope file


def _base64(value: object, what: str) -> bytes:
    """The bytes of canonical standard base64 (padded, no spare bits set); AttestationError otherwise."""
    if not isinstance(value, str) or not value.isascii():
        raise AttestationError(f"{what} is not a base64 string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError(f"{what} is not standard base64") from None
    if base64.b64encode(decoded).decode("ascii") != value:
        raise AttestationError(f"{what} is not canonical base64")
    return decoded


def parse_envelope(data: bytes, what: str) -> tuple[bytes, str, tuple[tuple[str, bytes], ...]]:
    """(payload, payloadType, (key id, signature) pairs) of an envelope laid out as `envelope_bytes` writes it."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise AttestationError(f"{what}: larger than {MAX_ENVELOPE_BYTES} bytes")
    document = loads_strict(data, what, AttestationError)
    if not isinstance(document, dict) or set(document) != _FIELDS:
        raise AttestationError(f'{what}: not a DSSE envelope (an object of "payload", "payloadType" and '
                               '"signatures", and nothing else)')
    payload = _base64(document["payload"], f"{what}: payload")
    payload_type = document["payloadType"]
    if not isinstance(payload_type, str):
        raise AttestationError(f"{what}: payloadType is not a string")
    signatures = signature_entries(document["signatures"], what, "sig", MAX_SIGNATURES,
                                   lambda value, where: _base64(value, f"{where}: sig"), AttestationError)
    if envelope_bytes(payload, signatures.items(), payload_type) != data:
        raise AttestationError(f"{what}: not laid out as the scanner writes it (sorted keys, two-space indent, "
                               "signatures ordered by key id, a final newline): altered after signing")
    return payload, payload_type, tuple(signatures.items())


def verify(data: bytes, trusted: Mapping[str, TrustedKey], what: str) -> VerifiedEnvelope:
    """The envelope's payload, once every signature in it verified with a trusted key (by key id).

    Keys are checked for weakness when loaded (scanner.db.trust.raw_public_key). Raises AttestationError
    (layout), AttestationSignatureError (a trusted key's signature does not verify) or
    UntrustedAttestationError (a signature by another key); the payload type is checked after the
    signatures, as DSSE orders it.
    """
    payload, payload_type, signatures = parse_envelope(data, what)
    message = pae(payload_type, payload)
    failed = [keyid for keyid, signature in signatures
              if keyid in trusted and not signature_verifies(trusted[keyid].public_key, signature, message)]
    if failed:
        raise AttestationSignatureError(
            f"{what}: the signature by trusted key {', '.join(short_key_id(k) for k in failed)} does not match: "
            "the attestation was altered after signing")
    untrusted = [keyid for keyid, _ in signatures if keyid not in trusted]
    if untrusted:
        raise UntrustedAttestationError(
            f"{what}: signed by key {', '.join(short_key_id(k) for k in untrusted)}, which is not a --trust key "
            f"(given: {describe_keys(trusted.values()) or 'none'})")
    if payload_type != PAYLOAD_TYPE:
        raise AttestationError(f"{what}: payload type {payload_type[:80]!r}, expected {PAYLOAD_TYPE!r}")
    return VerifiedEnvelope(payload, payload_type, tuple(sorted(keyid for keyid, _ in signatures)),
                            hashlib.sha256(data).hexdigest())
