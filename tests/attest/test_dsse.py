"""DSSE envelopes: the spec's PAE, the envelope's shape, and every kind of tampering refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.attest import dsse
from scanner.attest.errors import AttestationError, AttestationSignatureError, UntrustedAttestationError
from scanner.db import ed25519
from scanner.db.verify import TrustedKey
from tests.db.bundles import Signer

SCHEMA = json.loads((Path(__file__).parent / "dsse-envelope.schema.json").read_text())
PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1","subject":[]}'


def trusted(*signers: Signer) -> dict[str, TrustedKey]:
    return {signer.key_id: TrustedKey(signer.key_id, f"key{index}", signer.raw_public)
            for index, signer in enumerate(signers)}


def test_pae_is_the_specifications() -> None:
    # The worked example of secure-systems-lab/dsse protocol.md.
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "
    # Lengths count bytes, not characters.
    assert dsse.pae("t\u00e9", b"\xff") == "DSSEv1 3 t\u00e9 1 ".encode() + b"\xff"


def test_signed_envelope_is_a_dsse_envelope_and_verifies() -> None:
    signer = Signer()
    envelope = dsse.sign(PAYLOAD, signer.private_key)
    document = json.loads(envelope)
    jsonschema.validate(document, SCHEMA)
    assert document["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(document["payload"]) == PAYLOAD
    assert document["signatures"][0]["keyid"] == signer.key_id
    signature = base64.b64decode(document["signatures"][0]["sig"])
    signer.private_key.public_key().verify(signature, dsse.pae(dsse.PAYLOAD_TYPE, PAYLOAD))  # raises when wrong
    verified = dsse.verify(envelope, trusted(signer), "att.json")
    assert verified.payload == PAYLOAD and verified.key_ids == (signer.key_id,)
    assert dsse.sign(PAYLOAD, signer.private_key) == envelope  # Ed25519 and the layout are deterministic


def test_every_changed_byte_is_refused() -> None:
    signer = Signer()
    envelope = dsse.sign(PAYLOAD, signer.private_key)
    keys = trusted(signer)
    for position in range(len(envelope)):
        # 0x07 turns a newline into a CR and 0x29 a space into a tab: still JSON, caught by the layout check.
        for flip in (0x01, 0x07, 0x20, 0x29, 0x80):
            altered = bytearray(envelope)
            altered[position] ^= flip
            with pytest.raises(AttestationError):
                dsse.verify(bytes(altered), keys, "att.json")
    for cut in (0, 1, len(envelope) // 2, len(envelope) - 1):
        with pytest.raises(AttestationError):
            dsse.verify(envelope[:cut], keys, "att.json")
    with pytest.raises(AttestationError):
        dsse.verify(envelope + b"\n", keys, "att.json")


def rebuilt(envelope: bytes, **changes: object) -> bytes:
    """The envelope with fields replaced, laid out as the scanner writes it (so only the change is wrong)."""
    document = json.loads(envelope)
    document.update(changes)
    return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode()


def test_wrong_key_altered_payload_altered_signature() -> None:
    signer, other = Signer(), Signer()
    envelope = dsse.sign(PAYLOAD, signer.private_key)
    with pytest.raises(UntrustedAttestationError, match="not a --trust key"):
        dsse.verify(envelope, trusted(other), "att.json")
    altered_payload = rebuilt(envelope, payload=base64.b64encode(PAYLOAD.replace(b"[]", b"[1]")).decode())
    with pytest.raises(AttestationSignatureError, match="altered after signing"):
        dsse.verify(altered_payload, trusted(signer), "att.json")
    document = json.loads(envelope)
    signature = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    signature[10] ^= 1
    altered_signature = rebuilt(envelope, signatures=[{"keyid": signer.key_id,
                                                       "sig": base64.b64encode(bytes(signature)).decode()}])
    with pytest.raises(AttestationSignatureError):
        dsse.verify(altered_signature, trusted(signer), "att.json")
    # A signature by another key claiming the trusted key's id does not verify either.
    forged = dsse.sign(PAYLOAD, other.private_key)
    claimed = rebuilt(forged, signatures=[{"keyid": signer.key_id, "sig": json.loads(forged)["signatures"][0]["sig"]}])
    with pytest.raises(AttestationSignatureError):
        dsse.verify(claimed, trusted(signer), "att.json")


def test_malleated_signature_is_refused() -> None:
    """S + L verifies in libraries that do not reduce S; the scanner refuses it (scanner.db.ed25519)."""
    signer = Signer()
    envelope = dsse.sign(PAYLOAD, signer.private_key)
    signature = base64.b64decode(json.loads(envelope)["signatures"][0]["sig"])
    s = int.from_bytes(signature[32:], "little") + ed25519.L
    malleated = signature[:32] + s.to_bytes(32, "little")
    with pytest.raises(AttestationSignatureError):
        dsse.verify(rebuilt(envelope, signatures=[{"keyid": signer.key_id,
                                                   "sig": base64.b64encode(malleated).decode()}]),
                    trusted(signer), "att.json")


def test_every_signature_must_be_by_a_trusted_key() -> None:
    signer, stranger = Signer(), Signer()
    message = dsse.pae(dsse.PAYLOAD_TYPE, PAYLOAD)
    both = dsse.envelope_bytes(PAYLOAD, [(signer.key_id, signer.private_key.sign(message)),
                                         (stranger.key_id, stranger.private_key.sign(message))])
    with pytest.raises(UntrustedAttestationError):
        dsse.verify(both, trusted(signer), "att.json")
    assert dsse.verify(both, trusted(signer, stranger), "att.json").key_ids == tuple(
        sorted((signer.key_id, stranger.key_id)))


def test_other_payload_type_is_refused_even_when_signed() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Signer(key)
    envelope = dsse.sign(PAYLOAD, key, payload_type="application/json")
    with pytest.raises(AttestationError, match="payload type"):
        dsse.verify(envelope, trusted(signer), "att.json")
    # The type is signed: relabelling a good envelope breaks its signature.
    relabelled = rebuilt(dsse.sign(PAYLOAD, key), payloadType="application/vnd.in-toto.vulns+json")
    with pytest.raises(AttestationSignatureError):
        dsse.verify(relabelled, trusted(signer), "att.json")


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(extra=1),
    lambda d: d.pop("payloadType"),
    lambda d: d.update(signatures=[]),
    lambda d: d.update(signatures={}),
    lambda d: d["signatures"][0].pop("keyid"),
    lambda d: d["signatures"][0].update(keyid="ABC"),
    lambda d: d["signatures"][0].update(sig=d["signatures"][0]["sig"].replace("=", "")),
    lambda d: d.update(payload=d["payload"].replace("+", "-").replace("/", "_")),  # URL-safe alphabet
    lambda d: d.update(payload=d["payload"] + "\n"),
    lambda d: d.update(payloadType=7),
    lambda d: d.update(signatures=[d["signatures"][0]] * 2),
    lambda d: d.update(signatures=[d["signatures"][0]] * (dsse.MAX_SIGNATURES + 1)),
])
def test_malformed_envelopes_are_refused(mutate: object) -> None:
    signer = Signer()
    document = json.loads(dsse.sign(PAYLOAD.replace(b"[]", b"[\">?\"]"), signer.private_key))
    assert callable(mutate)
    mutate(document)
    with pytest.raises(AttestationError):
        dsse.verify((json.dumps(document, sort_keys=True, indent=2) + "\n").encode(), trusted(signer), "att.json")


def test_json_that_reads_two_ways_and_other_layouts_are_refused() -> None:
    signer = Signer()
    envelope = dsse.sign(PAYLOAD, signer.private_key)
    document = json.loads(envelope)
    compact = json.dumps(document).encode()
    with pytest.raises(AttestationError, match="laid out"):
        dsse.verify(compact, trusted(signer), "att.json")
    duplicated = envelope.replace(b'  "payloadType"', b'  "payloadType": "x",\n  "payloadType"', 1)
    with pytest.raises(AttestationError, match="duplicate key"):
        dsse.verify(duplicated, trusted(signer), "att.json")
    for junk in (b"", b"[]", b"\xff\xfe", b"NaN", b'{"payload": NaN}'):
        with pytest.raises(AttestationError):
            dsse.verify(junk, trusted(signer), "att.json")


def test_oversized_envelope_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer()
    envelope = dsse.sign(PAYLOAD, signer.private_key)
    monkeypatch.setattr(dsse, "MAX_ENVELOPE_BYTES", len(envelope) - 1)
    with pytest.raises(AttestationError, match="larger than"):
        dsse.verify(envelope, trusted(signer), "att.json")
    with pytest.raises(AttestationError, match=r"more than the \d+ a verifier reads"):
        dsse.sign(PAYLOAD, signer.private_key)  # never written when it could not be verified
