"""The pure verification core: manifest parsing, signatures, schema, freshness, rollback, payload streams."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
from datetime import timedelta

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.db import errors
from scanner.db.archive import parse_header, read_bundle
from scanner.db.verify import (
    ChannelRecord,
    FreshnessPolicy,
    PayloadFile,
    TrustedKey,
    TrustPolicy,
    check_rollback,
    check_schema,
    decompress_payload,
    format_age,
    parse_manifest,
    verify_manifest,
    verify_signatures,
)
from scanner.errors import BundleError
from tests.db.bundles import NOW, Signer, encode, make_parts, manifest_document, signatures


def policy(*signers: Signer, threshold: int = 1) -> TrustPolicy:
    return TrustPolicy(tuple(TrustedKey(s.key_id, f"k{i}", s.raw_public) for i, s in enumerate(signers)), threshold)


def verify(manifest: bytes, sigs: bytes, trust: TrustPolicy, **options: object) -> object:
    return verify_manifest(manifest, sigs, trust=trust, now=NOW, freshness=FreshnessPolicy(), rollback={},
                           **options)  # type: ignore[arg-type]


def test_untrusted_extra_signatures_are_ignored(signer: Signer, other_signer: Signer) -> None:
    parts = make_parts(signer, other_signer)
    verified = verify(parts.manifest, parts.signatures, policy(signer))
    assert verified.key_ids == (signer.key_id,)  # type: ignore[attr-defined]


def test_unknown_key_message_names_signer_and_trusted_keys(signer: Signer, other_signer: Signer) -> None:
    parts = make_parts(other_signer)
    with pytest.raises(errors.UnknownKeyError) as caught:
        verify_signatures(parts.manifest, parts.signatures, policy(signer))
    assert other_signer.key_id[:16] in str(caught.value) and f"{signer.key_id[:16]} (k0)" in str(caught.value)


def test_a_bad_signature_does_not_block_a_met_threshold(signer: Signer, other_signer: Signer) -> None:
    parts = make_parts(signer)
    forged = json.loads(signatures(b"other manifest", other_signer))["signatures"]
    both = json.dumps({"signatures": json.loads(parts.signatures)["signatures"] + forged}).encode()
    assert verify_signatures(parts.manifest, both, policy(signer, other_signer)) == (signer.key_id,)
    with pytest.raises(errors.BadSignatureError):
        verify_signatures(parts.manifest, both, policy(signer, other_signer, threshold=2))


@pytest.mark.parametrize("document", [
    b"[]", b'{"signatures": []}', b'{"signatures": [{"keyid": "AB", "signature": ""}]}',
    b'{"signatures": [{"keyid": "' + b"a" * 64 + b'", "signature": "not base64!"}]}',
    b'{"signatures": [{"keyid": "' + b"a" * 64 + b'", "signature": "AAAA"}]}',
    b'{"signatures": [], "signatures": []}', b"\xff\xfe", b'{"signatures": [' * 100000,
    json.dumps({"signatures": [{"keyid": "a" * 64, "signature": "A" * 88}] * 17}).encode(),
])
def test_malformed_signatures_json(document: bytes, signer: Signer) -> None:
    with pytest.raises(errors.SignaturesError):
        verify_signatures(b"{}", document, policy(signer))


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
    assert check_rollback(manifest, "a" * 64, None, allow_downgrade=False) == ()
    assert check_rollback(manifest, "a" * 64, ChannelRecord(7, "a" * 64), allow_downgrade=False) == ()
    assert check_rollback(manifest, "a" * 64, ChannelRecord(6, "b" * 64), allow_downgrade=False) == ()
    with pytest.raises(errors.RollbackError, match="bundle_version 7 is older than installed 8 on channel stable"):
        check_rollback(manifest, "a" * 64, ChannelRecord(8, "b" * 64), allow_downgrade=False)
    with pytest.raises(errors.ReplayError):
        check_rollback(manifest, "a" * 64, ChannelRecord(7, "b" * 64), allow_downgrade=False)
    assert check_rollback(manifest, "a" * 64, ChannelRecord(8, "b" * 64), allow_downgrade=True) == ("downgrade",)


def test_future_build_time_warns(signer: Signer) -> None:
    parts = make_parts(signer, built=NOW + timedelta(days=3), expires=NOW + timedelta(days=30))
    verified = verify(parts.manifest, parts.signatures, policy(signer))
    assert any("in the future" in w for w in verified.warnings)  # type: ignore[attr-defined]


def test_format_age() -> None:
    assert format_age(timedelta(days=1, hours=1)) == "1 day 1 hour"
    assert format_age(timedelta(minutes=5)) == "0 hours 5 minutes"
    assert format_age(timedelta(hours=-2)) == "-2 hours 0 minutes"


def payload_entry(raw: bytes, compressed: bytes, claimed: int | None = None) -> PayloadFile:
    return PayloadFile("vulns.sqlite.zst", hashlib.sha256(compressed).hexdigest(), len(compressed),
                       hashlib.sha256(raw).hexdigest(), len(raw) if claimed is None else claimed)


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


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=512, max_size=512))
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
