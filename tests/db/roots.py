"""Test helper: root documents made with the format's own primitives (scanner.db.root), independent of
dbbuilder's writer, and the rotation scenario of issue 17: 1 -> 2 (bundle key replaced) -> 3 (root key
replaced)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scanner.db import bundle_format
from scanner.db.root import (
    BUNDLE_ROLE,
    ROOT_ROLE,
    Role,
    canonical_json,
    root_document,
    signed_message,
    signed_object,
)
from tests.db.bundles import NOW, Signer

ROOT_EXPIRES = NOW + timedelta(days=365)


def make_root(version: int, root_keys: Sequence[Signer], bundle_keys: Sequence[Signer], signers: Sequence[Signer],
              *, threshold_root: int = 1, threshold_bundle: int = 1,
              expires: datetime = ROOT_EXPIRES) -> tuple[str, bytes]:
    """(member name, document) of a root version signed by `signers`."""
    keys = {signer.key_id: signer.raw_public for signer in (*root_keys, *bundle_keys)}
    roles = {ROOT_ROLE: Role(tuple(sorted({s.key_id for s in root_keys})), threshold_root),
             BUNDLE_ROLE: Role(tuple(sorted({s.key_id for s in bundle_keys})), threshold_bundle)}
    signed = signed_object(version, expires, keys, roles)
    message = signed_message(canonical_json(signed))
    document = root_document(signed, [(s.key_id, s.private_key.sign(message)) for s in signers])
    return bundle_format.root_member_name(version), document


@dataclass(frozen=True)
class Rotation:
    """Root keys R1 then R2, bundle keys B1 then B2: version 2 replaces B1 by B2, version 3 R1 by R2."""

    r1: Signer = field(default_factory=Signer)
    r2: Signer = field(default_factory=Signer)
    b1: Signer = field(default_factory=Signer)
    b2: Signer = field(default_factory=Signer)

    def v1(self, expires: datetime = ROOT_EXPIRES) -> tuple[str, bytes]:
        return make_root(1, [self.r1], [self.b1], [self.r1], expires=expires)

    def v2(self, expires: datetime = ROOT_EXPIRES) -> tuple[str, bytes]:
        return make_root(2, [self.r1], [self.b2], [self.r1], expires=expires)

    def v3(self, signers: Sequence[Signer] | None = None, expires: datetime = ROOT_EXPIRES) -> tuple[str, bytes]:
        return make_root(3, [self.r2], [self.b2], [self.r1, self.r2] if signers is None else signers,
                         expires=expires)

    def chain(self) -> tuple[tuple[str, bytes], ...]:
        return self.v1(), self.v2(), self.v3()
