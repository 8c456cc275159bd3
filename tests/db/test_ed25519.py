"""Weak and non-canonical Ed25519 keys and signatures (scanner.db.ed25519), derived from the curve itself."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.db import ed25519
from scanner.db.ed25519 import L, P

D = -121665 * pow(121666, -1, P) % P

# The eight points of order dividing 8, canonically encoded, as published in libsodium's blacklist and
# "Taming the many EdDSAs" (2020); test_small_order_points_are_these_eight derives them from the curve.
SMALL_ORDER = {
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity (order 1)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1) (order 2)
    "0000000000000000000000000000000000000000000000000000000000000000",  # (sqrt(-1), 0) (order 4)
    "0000000000000000000000000000000000000000000000000000000000000080",  # (-sqrt(-1), 0) (order 4)
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
}


def square_roots(value: int) -> list[int]:
    """Both square roots of `value` mod p (p = 5 mod 8), or none; independent of the module under test."""
    candidate = pow(value, (P + 3) // 8, P)
    if candidate * candidate % P != value % P:
        candidate = candidate * pow(2, (P - 1) // 4, P) % P
    if candidate * candidate % P != value % P:
        return []
    return sorted({candidate, -candidate % P})


def encode(x: int, y: int, sign: int | None = None) -> bytes:
    """`y` (any value below 2^255, canonical or not) with the sign bit of `x`, or the given one."""
    return (y | ((x & 1) if sign is None else sign) << 255).to_bytes(32, "little")


def small_order_points() -> set[tuple[int, int]]:
    """Affine points with [8]P = identity, from the curve equation -x^2 + y^2 = 1 + d x^2 y^2.

    Orders 1 and 2: x = 0, y = +-1. Order 4: y = 0, so -x^2 = 1. Order 8: doubling gives y = 0, i.e.
    x^2 = -y^2; substituted into the curve, d y^4 + 2 y^2 - 1 = 0.
    """
    points = {(0, 1), (0, P - 1)}
    points |= {(x, 0) for x in square_roots(P - 1)}
    for root in square_roots(1 + D):
        y_squared = (root - 1) * pow(D, -1, P) % P
        for y in square_roots(y_squared):
            points |= {(x, y) for x in square_roots(-y_squared % P)}
    return points


def every_encoding(x: int, y: int) -> set[bytes]:
    """Each sign bit, with y itself and with y + p where that still fits 255 bits."""
    return {encode(x, candidate, sign) for candidate in (y, y + P) if candidate < 2**255 for sign in (0, 1)}


def raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_small_order_points_are_these_eight() -> None:
    derived = small_order_points()
    assert len(derived) == 8
    assert {encode(x, y).hex() for x, y in derived} == SMALL_ORDER
    for x, y in derived:
        assert (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def test_every_encoding_of_every_small_order_point_is_refused() -> None:
    encodings = set().union(*(every_encoding(x, y) for x, y in small_order_points()))
    # 8 canonical, x = 0 with the sign bit set (2), y + p for y = 0 and y = 1 with either sign (4).
    assert len(encodings) == 14
    for encoded in encodings:
        weakness = ed25519.public_key_weakness(encoded)
        assert weakness is not None and ("small-order" in weakness or "non-canonical" in weakness), encoded.hex()
    assert ed25519.public_key_weakness(bytes.fromhex("01" + "00" * 30 + "80")) == (
        "is a non-canonical encoding (x = 0 with the sign bit set)")


def test_y_at_or_above_p_is_refused_even_for_a_point_on_the_curve() -> None:
    on_curve = [y for y in range(2, 19) if not isinstance(ed25519.decode_point(encode(0, y, 0)), str)]
    assert on_curve  # y = 3, for one: its y + p encoding names the same point
    for y in on_curve:
        for sign in (0, 1):
            assert ed25519.public_key_weakness(encode(0, y + P, sign)) == (
                "is a non-canonical encoding (y >= 2^255 - 19)")


def test_bytes_that_are_no_curve_point_are_refused() -> None:
    # OpenSSL loads them without complaint; only the signature check would fail later.
    not_a_point = encode(0, 2, 0)
    Ed25519PublicKey.from_public_bytes(not_a_point)
    assert ed25519.public_key_weakness(not_a_point) == "is not a point on the curve"
    assert ed25519.public_key_weakness(bytes(31)) == "is 31 bytes, an Ed25519 point has 32"


def affine_encoding(point: ed25519.Point) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, -1, P)
    return encode(x * inverse % P, y * inverse % P)


def test_a_real_key_plus_a_small_order_point_is_refused() -> None:
    real = ed25519.decode_point(raw(Ed25519PrivateKey.generate().public_key()))
    assert not isinstance(real, str)
    for x, y in small_order_points() - {(0, 1)}:
        mixed = affine_encoding(ed25519.add(real, (x, y, 1, x * y % P)))
        assert ed25519.public_key_weakness(mixed) == (
            "is not in the prime-order subgroup (it has a small-order component)")


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=64))
def test_every_real_key_and_its_signatures_are_accepted(seed: bytes, message: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert ed25519.public_key_weakness(raw(key.public_key())) is None
    assert ed25519.signature_weakness(key.sign(message)) is None


def test_generated_keys_are_accepted() -> None:
    for _ in range(20):
        assert ed25519.public_key_weakness(raw(Ed25519PrivateKey.generate().public_key())) is None


def test_a_malleated_s_is_refused_here_and_by_openssl() -> None:
    key = Ed25519PrivateKey.generate()
    signature = key.sign(b"manifest")
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + L).to_bytes(32, "little")
    assert ed25519.signature_weakness(malleated) == "S is not reduced modulo the group order (a malleated signature)"
    with pytest.raises(InvalidSignature):  # RFC 8032 5.1.7: OpenSSL checks 0 <= S < L too
        key.public_key().verify(malleated, b"manifest")


@pytest.mark.parametrize("encoded", sorted(SMALL_ORDER))
def test_a_small_order_r_is_refused(encoded: str) -> None:
    assert ed25519.signature_weakness(bytes.fromhex(encoded) + bytes(32)) == "R is a small-order point"


def test_a_non_canonical_r_is_refused() -> None:
    assert ed25519.signature_weakness(encode(0, 1 + P, 0) + bytes(32)) == (
        "R is a non-canonical encoding (y >= 2^255 - 19)")
    assert ed25519.signature_weakness(bytes(63)) == "63 bytes, an Ed25519 signature has 64"
