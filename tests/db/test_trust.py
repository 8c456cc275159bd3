from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from scanner.db import errors, trust
from scanner.db.state import StateDir
from tests.db.bundles import NOW, Signer


def test_nothing_is_trusted_by_default(tmp_path: Path) -> None:
    policy = trust.load_trust(StateDir(tmp_path))
    assert policy.keys == () and policy.threshold == 1


def test_add_list_rename_remove(tmp_path: Path, signer: Signer, other_signer: Signer) -> None:
    state = StateDir(tmp_path / "s")
    key, added = trust.add_key(state, signer.public_pem, "release", "a.pem", NOW)
    assert added and key.key_id == signer.key_id
    _, added_again = trust.add_key(state, signer.public_pem, "renamed", "a.pem", NOW)
    assert not added_again
    trust.add_key(state, other_signer.public_pem, "backup", "b.pem", NOW)
    assert [(k.key_id, k.name) for k in trust.load_trust(state).keys] == [
        (signer.key_id, "renamed"), (other_signer.key_id, "backup")]
    removed, remaining = trust.remove_key(state, other_signer.key_id[:12].upper(), NOW)
    assert removed.key_id == other_signer.key_id and len(remaining.keys) == 1
    with pytest.raises(errors.TrustStoreError, match="no trusted key"):
        trust.remove_key(state, other_signer.key_id, NOW)
    with pytest.raises(errors.TrustStoreError, match="at least 8"):
        trust.remove_key(state, signer.key_id[:4], NOW)


def test_threshold(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert trust.set_threshold(state, 2, NOW).threshold == 2
    assert trust.load_trust(state).threshold == 2
    with pytest.raises(errors.PolicyError):
        trust.set_threshold(state, 0, NOW)


def spki(key: ec.EllipticCurvePublicKey | ed448.Ed448PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# Built inside the test: parameters are compared across xdist workers, and fresh keys differ every time.
NOT_ED25519 = {
    "not a PEM": lambda: b"not a pem",
    "truncated PEM": lambda: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "ECDSA P-256": lambda: spki(ec.generate_private_key(ec.SECP256R1()).public_key()),
    "Ed448": lambda: spki(ed448.Ed448PrivateKey.generate().public_key()),
}


@pytest.mark.parametrize("kind", sorted(NOT_ED25519))
def test_only_ed25519_public_keys_are_accepted(kind: str, tmp_path: Path) -> None:
    with pytest.raises(errors.TrustStoreError):
        trust.add_key(StateDir(tmp_path), NOT_ED25519[kind](), "x", "x.pem", NOW)


def test_key_file_reading(tmp_path: Path) -> None:
    with pytest.raises(errors.TrustStoreError, match="cannot read"):
        trust.read_key_file(tmp_path / "missing.pem")
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (trust.MAX_KEY_FILE_BYTES + 1))
    with pytest.raises(errors.TrustStoreError, match="larger than"):
        trust.read_key_file(big)


def test_edited_trust_store_is_refused(tmp_path: Path, signer: Signer, other_signer: Signer) -> None:
    state = StateDir(tmp_path)
    trust.add_key(state, signer.public_pem, "a", "a.pem", NOW)
    text = state.trust_file.read_text().replace(signer.key_id, other_signer.key_id)
    state.trust_file.write_text(text)
    with pytest.raises(errors.StateError, match="does not match its public key"):
        trust.load_trust(state)


@pytest.mark.parametrize("shared", ["root", "trust.json"])
def test_a_trust_store_others_can_write_is_refused(tmp_path: Path, signer: Signer, shared: str) -> None:
    state = StateDir(tmp_path / "s")
    trust.add_key(state, signer.public_pem, "release", "a.pem", NOW)
    target = state.root if shared == "root" else state.trust_file
    target.chmod(target.stat().st_mode | 0o002)
    with pytest.raises(errors.StateError, match="writable by other users"):
        trust.load_trust(state)
    target.chmod(target.stat().st_mode & ~0o022)
    assert trust.load_trust(state).keys
