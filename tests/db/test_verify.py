"""The pure verification core: manifest parsing, signatures, schema, freshness, rollback, payload streams."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import tempfile
from datetime import timedelta

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.db import bundle_format, ed25519, errors
from scanner.db.archive import parse_header, read_bundle
from scanner.db.verify import (
    AuthenticatedPayload,
    ChannelRecord,
    FreshnessPolicy,
    Override,
    PayloadFile,
    RollbackRecord,
    SignedPayload,
    TrustedKey,
    TrustPolicy,
    VerificationContext,
    VerifiedManifest,
    check_freshness,
    check_rollback,
    check_schema,
    decompress_payload,
    format_age,
    hash_stored_payload,
    parse_manifest,
    verify_manifest,
    verify_signatures,
)
from scanner.errors import BundleError
from tests.db.bundles import NOW, Signer, encode, make_parts, manifest_document, signatures


def policy(*signers: Signer, threshold: int = 1) -> TrustPolicy:
    return TrustPolicy(tuple(TrustedKey(s.key_id, f"k{i}", s.raw_public) for i, s in enumerate(signers)), threshold)


def verify(manifest: bytes, sigs: bytes, trust: TrustPolicy) -> VerifiedManifest:
    return verify_manifest(manifest, sigs, VerificationContext(trust, NOW, FreshnessPolicy(), RollbackRecord()))


def test_untrusted_extra_signatures_are_ignored(signer: Signer, other_signer: Signer) -> None:
    parts = make_parts(signer, other_signer)
    verified = verify(parts.manifest, parts.signatures, policy(signer))
    assert verified.key_ids == (signer.key_id,)


def test_unknown_key_message_names_signer_and_trusted_keys(signer: Signer, other_signer: Signer) -> None:
    parts = make_parts(other_signer)
    with pytest.raises(errors.UnknownKeyError) as caught:
        verify_signatures(parts.manifest, parts.signatures, policy(signer))
    assert other_signer.key_id[:16] in str(caught.value) and f"{signer.key_id[:16]} (k0)" in str(caught.value)


def signed(manifest: bytes, *pairs: tuple[Signer, bytes]) -> bytes:
    """signatures.json with, for each (signer, message), the signer's signature over that message."""
    return bundle_format.signatures_document(
        (s.key_id, s.private_key.sign(bundle_format.signed_message(message))) for s, message in pairs)


def test_a_bad_signature_does_not_block_a_met_threshold(signer: Signer, other_signer: Signer) -> None:
    parts = make_parts(signer)
    both = signed(parts.manifest, (signer, parts.manifest), (other_signer, b"other manifest"))
    assert verify_signatures(parts.manifest, both, policy(signer, other_signer)) == (signer.key_id,)
    with pytest.raises(errors.BadSignatureError):
        verify_signatures(parts.manifest, both, policy(signer, other_signer, threshold=2))


SIGNATURE = "A" * 86 + "=="
KEYID = "a" * 64


def document(*entries: object, **extra: object) -> bytes:
    return (json.dumps({"signatures": list(entries), **extra}, indent=2, sort_keys=True) + "\n").encode()


# Every one a SignaturesError (exit 19), never another exception: signatures.json is read before
# anything is verified, from whoever carried the bundle.
HOSTILE_SIGNATURES = {
    "not an object": b"[]",
    "no signatures": document(),
    "signatures not a list": b'{"signatures": {"keyid": "a"}}\n',
    "signatures null": b'{"signatures": null}\n',
    "unknown top-level field": document({"keyid": KEYID, "signature": SIGNATURE}, comment="x"),
    "unknown entry field": document({"keyid": KEYID, "signature": SIGNATURE, "alg": "ed25519"}),
    "entry missing signature": document({"keyid": KEYID}),
    "entry a string": document("a" * 64),
    "entry a list": document([KEYID, SIGNATURE]),
    "nested entry": document({"keyid": KEYID, "signature": {"signature": SIGNATURE}}),
    "keyid upper case": document({"keyid": "A" * 64, "signature": SIGNATURE}),
    "keyid short": document({"keyid": "a" * 63, "signature": SIGNATURE}),
    "keyid non-ASCII digits": document({"keyid": "\u0661" * 64, "signature": SIGNATURE}),
    "keyid a number": document({"keyid": 1, "signature": SIGNATURE}),
    "signature a number": document({"keyid": KEYID, "signature": 12}),
    "signature a list": document({"keyid": KEYID, "signature": [SIGNATURE]}),
    "signature null": document({"keyid": KEYID, "signature": None}),
    "signature non-ASCII": document({"keyid": KEYID, "signature": "\u00e9" * 88}),
    "signature non-ASCII digit": document({"keyid": KEYID, "signature": "A" * 85 + "\u0661=="}),
    "signature empty": document({"keyid": KEYID, "signature": ""}),
    "signature not base64": document({"keyid": KEYID, "signature": "not base64!" * 8}),
    "signature unpadded": document({"keyid": KEYID, "signature": "A" * 86}),
    "signature URL-safe alphabet": document({"keyid": KEYID, "signature": "-" * 86 + "=="}),
    "signature with a newline": document({"keyid": KEYID, "signature": "A" * 43 + "\n" + "A" * 42 + "=="}),
    "signature spare bits set": document({"keyid": KEYID, "signature": "A" * 85 + "B=="}),
    "signature of 63 bytes": document({"keyid": KEYID, "signature": base64.b64encode(bytes(63)).decode()}),
    "signature of 65 bytes": document({"keyid": KEYID, "signature": base64.b64encode(bytes(65)).decode()}),
    "huge signature": document({"keyid": KEYID, "signature": "A" * 60000}),
    "same key twice": document(*[{"keyid": KEYID, "signature": SIGNATURE}] * 2),
    "17 signatures": document(*[{"keyid": f"{i:064x}", "signature": SIGNATURE} for i in range(17)]),
    "duplicate JSON key": b'{"signatures": [], "signatures": []}',
    "duplicate JSON key in an entry": b'{"signatures": [{"keyid": "' + KEYID.encode() + b'", "keyid": "'
                                      + KEYID.encode() + b'", "signature": "' + SIGNATURE.encode() + b'"}]}',
    "NaN": b'{"signatures": NaN}',
    "not UTF-8": b"\xff\xfe",
    "UTF-8 byte order mark": b"\xef\xbb\xbf" + document({"keyid": KEYID, "signature": SIGNATURE}),
    "nested too deeply": b'{"signatures": [' * 100000,
    "compact layout": json.dumps({"signatures": [{"keyid": KEYID, "signature": SIGNATURE}]}).encode(),
    "no trailing newline": document({"keyid": KEYID, "signature": SIGNATURE})[:-1],
    "entries not ordered by key id": document({"keyid": "b" * 64, "signature": SIGNATURE},
                                              {"keyid": KEYID, "signature": SIGNATURE}),
    "unicode escape in a key": document({"keyid": KEYID, "signature": SIGNATURE}).replace(b'"keyid"',
                                                                                             b'"\\u006beyid"'),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SIGNATURES))
def test_hostile_signatures_json(case: str, signer: Signer) -> None:
    with pytest.raises(errors.SignaturesError) as caught:
        verify_signatures(b"{}", HOSTILE_SIGNATURES[case], policy(signer))
    assert "\n" not in str(caught.value)


def test_the_canonical_document_parses(signer: Signer) -> None:
    assert bundle_format.signatures_document([(KEYID, bytes(64))]) == document({"keyid": KEYID, "signature": SIGNATURE})
    with pytest.raises(errors.UnknownKeyError):
        verify_signatures(b"{}", document({"keyid": KEYID, "signature": SIGNATURE}), policy(signer))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
                    max_leaves=12))
def test_any_json_in_the_signatures_list_is_a_signatures_error(value: object) -> None:
    with contextlib.suppress(errors.SignaturesError, errors.UnknownKeyError):
        verify_signatures(b"{}", document(value), policy(Signer(VALID_KEY)))


IDENTITY = bytes.fromhex("01" + "00" * 31)
# With a small-order key, R = the identity and S = 0 satisfy [S]B = R + [k]A for every message.
CONSTANT_SIGNATURE = IDENTITY + bytes(32)


def weak_key(public_key: bytes, name: str = "weak") -> TrustedKey:
    return TrustedKey(bundle_format.key_id(public_key), name, public_key)


def test_a_constant_signature_for_a_small_order_key_is_refused(signer: Signer) -> None:
    manifest = make_parts(signer).manifest
    forged = bundle_format.signatures_document([(bundle_format.key_id(IDENTITY), CONSTANT_SIGNATURE)])
    with pytest.raises(errors.WeakKeyError, match="small-order point"):
        verify_signatures(manifest, forged, TrustPolicy((weak_key(IDENTITY),)))
    # A weak key anywhere in the store stops verification, even of a bundle a sound key signed.
    with pytest.raises(errors.WeakKeyError, match=r"trusted key [0-9a-f]{16} \(weak\)"):
        verify_signatures(manifest, make_parts(signer).signatures, TrustPolicy((*policy(signer).keys,
                                                                                weak_key(IDENTITY))))


def test_two_encodings_of_one_point_cannot_meet_a_threshold_of_two(signer: Signer) -> None:
    manifest = make_parts(signer).manifest
    with_sign_bit = IDENTITY[:31] + b"\x80"
    assert bundle_format.key_id(with_sign_bit) != bundle_format.key_id(IDENTITY)
    forged = bundle_format.signatures_document(
        [(bundle_format.key_id(key), CONSTANT_SIGNATURE) for key in (IDENTITY, with_sign_bit)])
    for keys in ((IDENTITY, with_sign_bit), (with_sign_bit,)):
        with pytest.raises(errors.WeakKeyError):
            verify_signatures(manifest, forged, TrustPolicy(tuple(weak_key(key) for key in keys), threshold=2))


def test_one_key_under_two_names_counts_once(signer: Signer) -> None:
    parts = make_parts(signer)
    twice = TrustPolicy((TrustedKey(signer.key_id, "a", signer.raw_public), TrustedKey("f" * 64, "b", signer.raw_public)),
                        threshold=2)
    with pytest.raises(errors.ThresholdError, match="requires 2"):
        verify_signatures(parts.manifest, parts.signatures, twice)


def test_non_canonical_signatures_by_a_trusted_key_count_for_nothing(signer: Signer) -> None:
    parts = make_parts(signer)
    signature = signer.private_key.sign(bundle_format.signed_message(parts.manifest))
    malleated = signature[:32] + (int.from_bytes(signature[32:], "little") + ed25519.L).to_bytes(32, "little")
    for bad in (malleated, IDENTITY + signature[32:]):
        document_bytes = bundle_format.signatures_document([(signer.key_id, bad)])
        with pytest.raises(errors.BadSignatureError):
            verify_signatures(parts.manifest, document_bytes, policy(signer))


@pytest.mark.parametrize(("change", "match"), [
    ({"bundle_version": True}, "bundle_version"),
    ({"bundle_version": -1}, "negative"),
    ({"built_at": "2026-11-29 00:00:00"}, "RFC 3339"),
    ({"built_at": "2026-13-45T00:00:00Z"}, "not a valid time"),
    ({"channel": "../etc"}, "plain name"),
    ({"providers": [{"name": "osv"}]}, "providers\\[0\\]"),
    ({"files": [{"name": "vulns.sqlite.zst", "sha256": "XYZ"}]}, "files\\[0\\]"),
    ({"builder": "dbbuilder"}, "builder"),
])
def test_manifest_fields_are_checked(change: dict[str, object], match: str) -> None:
    document = manifest_document(b"x", b"y")
    document.update(change)
    with pytest.raises(errors.ManifestError, match=match):
        parse_manifest(encode(document))


@pytest.mark.parametrize("document", [b'{"format": ' + b"1" * 5000 + b"}", b"[" * 100000, b"\xff"])
def test_hostile_json_is_a_manifest_error(document: bytes) -> None:
    with pytest.raises(errors.ManifestError):
        parse_manifest(document)


def test_format_version_must_be_an_integer() -> None:
    document = manifest_document(b"x", b"y")
    document["format_version"] = True
    with pytest.raises(errors.FormatVersionError):
        parse_manifest(encode(document))


def test_manifest_with_duplicate_keys_or_nan_is_refused() -> None:
    with pytest.raises(errors.ManifestError, match="duplicate key"):
        parse_manifest(b'{"format": "a", "format": "b"}')
    nested = encode(manifest_document(b"x", b"y")).replace(b'"name": "tests",', b'"name": "tests", "name": "x",')
    with pytest.raises(errors.ManifestError, match="duplicate key"):
        parse_manifest(nested)
    with pytest.raises(errors.ManifestError, match="NaN"):
        parse_manifest(b'{"format": NaN}')


def test_schema_rules() -> None:
    check_schema("1.0.0")
    check_schema("1.7.12")  # newer REVISION and ADDITION of our MODEL are readable
    with pytest.raises(errors.SchemaVersionError, match="needs a newer scanner"):
        check_schema("2.0.0")
    with pytest.raises(errors.SchemaVersionError, match="older"):
        check_schema("0.9.0")
    with pytest.raises(errors.SchemaVersionError, match=r"MODEL\.REVISION\.ADDITION"):
        check_schema("one")
    with pytest.raises(errors.SchemaVersionError, match=r"MODEL\.REVISION\.ADDITION"):
        check_schema("\u0661.0.0")  # ARABIC-INDIC DIGIT ONE: int() reads it as 1


def test_rollback_rules(signer: Signer) -> None:
    manifest = parse_manifest(make_parts(signer, version=7).manifest)
    def record(version: int, digest: str) -> RollbackRecord:
        return RollbackRecord({"stable": ChannelRecord(version, digest)})

    assert check_rollback(manifest, "a" * 64, RollbackRecord(), frozenset()) == ()
    assert check_rollback(manifest, "a" * 64, record(7, "a" * 64), frozenset()) == ()
    assert check_rollback(manifest, "a" * 64, record(6, "b" * 64), frozenset()) == ()
    assert check_rollback(manifest, "a" * 64, RollbackRecord({"testing": ChannelRecord(9, "b" * 64)}), frozenset()) == ()
    with pytest.raises(errors.RollbackError, match="bundle_version 7 is older than installed 8 on channel stable"):
        check_rollback(manifest, "a" * 64, record(8, "b" * 64), frozenset())
    with pytest.raises(errors.ReplayError):
        check_rollback(manifest, "a" * 64, record(7, "b" * 64), frozenset())
    assert check_rollback(manifest, "a" * 64, record(8, "b" * 64), frozenset({Override.DOWNGRADE})) == (
        Override.DOWNGRADE,)


def test_future_build_time_warns(signer: Signer) -> None:
    parts = make_parts(signer, built=NOW + timedelta(days=3), expires=NOW + timedelta(days=30))
    verified = verify(parts.manifest, parts.signatures, policy(signer))
    assert any("in the future" in w for w in verified.warnings)


def test_format_age() -> None:
    assert format_age(timedelta(days=1, hours=1)) == "1 day 1 hour"
    assert format_age(timedelta(minutes=5)) == "0 hours 5 minutes"
    assert format_age(timedelta(hours=-2)) == "-2 hours 0 minutes"


def payload_entry(raw: bytes, compressed: bytes, claimed: int | None = None) -> AuthenticatedPayload:
    """The database entry of a manifest signed for these bytes, verified, and its stored bytes hashed: the
    one way to get something decompression accepts."""
    signer = Signer()
    document = manifest_document(compressed, raw)
    if claimed is not None:
        document["files"][0]["uncompressed_size"] = claimed
    manifest = encode(document)
    verified = verify(manifest, signatures(manifest, signer), policy(signer))
    return hash_stored_payload(io.BytesIO(compressed), verified.payload(bundle_format.DATABASE_NAME),
                               len(compressed))


def test_verified_types_are_made_only_by_the_checks_they_stand_for(signer: Signer) -> None:
    # The order signatures -> stored digest -> decompression is held by the types: an entry of an unverified
    # manifest cannot be hashed, and nothing but a hashed payload can be decompressed.
    parts = make_parts(signer)
    entry = parse_manifest(parts.manifest).file(bundle_format.DATABASE_NAME)
    with pytest.raises(TypeError, match=r"made only by scanner\.db\.verify"):
        SignedPayload(entry)
    with pytest.raises(TypeError, match=r"made only by scanner\.db\.verify"):
        AuthenticatedPayload(entry)
    verified = verify(parts.manifest, parts.signatures, policy(signer))
    with pytest.raises(TypeError, match=r"made only by scanner\.db\.verify"):
        VerifiedManifest(verified.manifest, verified.manifest_sha256, (), verified.age, (), ())
    with pytest.raises(errors.PayloadDigestError):
        hash_stored_payload(io.BytesIO(b"x" * len(parts.payload)), verified.payload(bundle_format.DATABASE_NAME),
                            len(parts.payload))
    assert isinstance(entry, PayloadFile)


def test_a_context_needs_an_aware_time(signer: Signer) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        VerificationContext(policy(signer), NOW.replace(tzinfo=None))


def test_payload_decompresses_into_the_sink_and_stops_at_the_member_end() -> None:
    raw = b"database " * 50000
    compressed = zstandard.ZstdCompressor().compress(raw)
    sink = io.BytesIO()
    decompress_payload(io.BytesIO(compressed + b"next member"), payload_entry(raw, compressed), sink)
    assert sink.getvalue() == raw


def test_frame_claiming_a_small_size_is_capped() -> None:
    raw = b"A" * 100
    compressor = zstandard.ZstdCompressor(write_content_size=True)
    honest = compressor.compress(raw)  # its header says 100 bytes
    growing = zstandard.ZstdCompressor().compressobj()
    endless = growing.compress(bytes(32 * 1024 * 1024)) + growing.flush()
    for compressed in (honest + endless, endless):
        with pytest.raises((errors.DecompressionBombError, errors.DecompressionError)):
            decompress_payload(io.BytesIO(compressed), payload_entry(raw, compressed), None)
    with pytest.raises(errors.DecompressionBombError):
        decompress_payload(io.BytesIO(endless), payload_entry(raw, endless), None)


def test_short_output_is_refused() -> None:
    raw = b"x" * 1000
    compressed = zstandard.ZstdCompressor().compress(raw)
    with pytest.raises(errors.UncompressedDigestError, match="1000 bytes, the signed manifest says 2000"):
        decompress_payload(io.BytesIO(compressed), payload_entry(raw, compressed, claimed=2000), None)


def _checksummed(block: bytes, magic: bytes, typeflag: bytes) -> bytes:
    """`block` as a ustar header whose checksum is right: random bytes almost never pass that check,
    so they would test the checksum only, never the fields behind it."""
    header = bytearray(block)
    header[257:263] = magic
    header[156:157] = typeflag
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(min_size=512, max_size=512),
                 st.builds(_checksummed, st.binary(min_size=512, max_size=512),
                           st.sampled_from([b"ustar\x00", b"ustar "]), st.sampled_from([b"0", b"\0", b"5", b"x"]))))
def test_tar_header_parser_never_crashes(block: bytes) -> None:
    with contextlib.suppress(BundleError):
        parse_header(block, 0)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corrupted_bundles_only_raise_bundle_errors(data: st.DataObject) -> None:
    bundle = bytearray(VALID_BUNDLE)
    for _ in range(data.draw(st.integers(1, 8))):
        bundle[data.draw(st.integers(0, len(bundle) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(bundle)))
    with tempfile.TemporaryFile() as handle:
        handle.write(bytes(bundle[:cut]))
        handle.seek(0)
        with contextlib.suppress(BundleError):
            read_bundle(handle)


VALID_BUNDLE = make_parts(Signer()).bundle()
VALID_KEY = Signer().private_key


def test_a_provider_captured_at_an_unknown_time_is_stale_under_any_limit(signer: Signer) -> None:
    """dbbuilder writes captured_at_basis "unknown" (and the epoch) for a feed without dates (issue 12)."""
    document = manifest_document(b"x", b"y")
    document["providers"][0].update(captured_at="1970-01-01T00:00:00Z", captured_at_basis="unknown")
    manifest = parse_manifest(encode(document))
    assert not manifest.providers[0].captured_at_known
    _, warnings, _ = check_freshness(manifest, NOW, FreshnessPolicy(max_age=timedelta(days=3650)), frozenset())
    assert any("provider osv data captured at an unknown time" in warning for warning in warnings)
    with pytest.raises(errors.StaleDataError, match="unknown time"):
        check_freshness(manifest, NOW, FreshnessPolicy(max_age=timedelta(days=3650), fail=True), frozenset())
    assert check_freshness(manifest, NOW, FreshnessPolicy(max_age=None), frozenset())[1] == ()
    for basis in ("records", "feed", "given"):
        document["providers"][0]["captured_at_basis"] = basis
        assert parse_manifest(encode(document)).providers[0].captured_at_known
    for bad in ("mtime", None, ["unknown"]):
        document["providers"][0]["captured_at_basis"] = bad
        with pytest.raises(errors.ManifestError, match="captured_at_basis"):
            parse_manifest(encode(document))
