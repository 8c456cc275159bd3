"""The Ed25519 checks OpenSSL does not make: weak or non-canonical public keys, and non-canonical signatures.

OpenSSL loads any 32 bytes as a public key and verifies cofactorless (RFC 8032 section 5.1.7). For a
small-order key (the identity point `01 00..00`, for one) a constant signature then verifies for every
message, so whoever got such a key trusted can sign anything. The rule here is the strictest one an
honest signer always meets: a public key is accepted only if it is the canonical encoding of a point of
the prime-order subgroup other than the identity, which is exactly what `[a]B` for any secret scalar `a`
produces. That refuses the eight small-order points in every encoding, every non-canonical encoding
(y >= p, or x = 0 with the sign bit set), bytes that are no curve point, and mixed-order points (a
prime-order point plus a small-order one). libsodium refuses only the small-order points; a mixed-order
key cannot come out of any key generator, and it is what makes verifiers that multiply by the cofactor
and those that do not (OpenSSL) disagree about a signature, so it is refused too. Since one point has
one accepted encoding, the key id (sha256 of that encoding) names a point, and one key cannot be
counted twice towards a threshold under two ids.

Signatures: S must be reduced modulo the group order L (a malleated S + L is refused whatever the
library does), and R must be the canonical encoding of a point that is not of small order (libsodium's
rule; an honest R = [r]B never is).

Plain integer arithmetic on the twisted Edwards curve in extended coordinates (RFC 8032 section 5.1.4),
variable time: it only ever sees public values. [L]P costs about a millisecond, once per trusted key.
"""

from __future__ import annotations

import functools

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the prime-order subgroup
COFACTOR = 8
D = -121665 * pow(121666, -1, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)
ENCODED_BYTES = 32

# Extended homogeneous coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z.
Point = tuple[int, int, int, int]
IDENTITY: Point = (0, 1, 1, 0)


def add(first: Point, second: Point) -> Point:
    """The unified addition law (RFC 8032 section 5.1.4): complete on this curve, doubling included."""
    x1, y1, z1, t1 = first
    x2, y2, z2, t2 = second
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def multiply(scalar: int, point: Point) -> Point:
    result = IDENTITY
    for bit in bin(scalar)[2:]:
        result = add(result, result)
        if bit == "1":
            result = add(result, point)
    return result


def is_identity(point: Point) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def decode_point(encoded: bytes) -> Point | str:
    """The point `encoded` names (RFC 8032 section 5.1.3), or why it names none canonically."""
    if len(encoded) != ENCODED_BYTES:
        return f"{len(encoded)} bytes, an Ed25519 point has {ENCODED_BYTES}"
    number = int.from_bytes(encoded, "little")
    sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= P:
        return "a non-canonical encoding (y >= 2^255 - 19)"
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_MINUS_ONE % P
    if v * x * x % P != u:
        return "not a point on the curve"
    if x == 0 and sign:
        return "a non-canonical encoding (x = 0 with the sign bit set)"
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


@functools.lru_cache(maxsize=64)
def public_key_weakness(raw: bytes) -> str | None:
    """None for a sound public key; otherwise what is wrong with it, as a phrase ("is ...")."""
    point = decode_point(raw)
    if isinstance(point, str):
        return f"is {point}"
    if is_identity(multiply(COFACTOR, point)):
        return "is a small-order point: a constant signature verifies for it over any message"
    if not is_identity(multiply(L, point)):
        return "is not in the prime-order subgroup (it has a small-order component)"
    return None


def signature_weakness(signature: bytes) -> str | None:
    """None for a signature in canonical form (64 bytes R || S); otherwise what is wrong with it."""
    if len(signature) != 2 * ENCODED_BYTES:
        return f"{len(signature)} bytes, an Ed25519 signature has {2 * ENCODED_BYTES}"
    if int.from_bytes(signature[ENCODED_BYTES:], "little") >= L:
        return "S is not reduced modulo the group order (a malleated signature)"
    point = decode_point(signature[:ENCODED_BYTES])
    if isinstance(point, str):
        return f"R is {point}"
    if is_identity(multiply(COFACTOR, point)):
        return "R is a small-order point"
    return None
