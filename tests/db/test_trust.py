from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from scanner.db import bundle_format, ed25519, errors, trust
from scanner.db.state import StateDir
from tests.db.bundles import NOW, Parts, Signer, make_parts, sqlite_database
from tests.db.test_ed25519 import every_encoding, small_order_points


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
NOT_ED25519: dict[str, Callable[[], bytes]] = {
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


def spki_pem(raw: bytes) -> bytes:
    """A SubjectPublicKeyInfo PEM for any 32 bytes, as an attacker would write one."""
    der = bytes.fromhex("302a300506032b6570032100") + raw
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der) + b"\n-----END PUBLIC KEY-----\n"


WEAK_ENCODINGS = sorted(set().union(*(every_encoding(x, y) for x, y in small_order_points())))


@pytest.mark.parametrize("encoded", WEAK_ENCODINGS, ids=[e.hex()[:4] + e.hex()[-2:] for e in WEAK_ENCODINGS])
def test_trust_add_refuses_small_order_keys_in_every_encoding(encoded: bytes, tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with pytest.raises(errors.WeakKeyError, match=r"^weak\.pem: the Ed25519 public key is .*; refusing to trust it$"):
        trust.add_key(state, spki_pem(encoded), "weak", "weak.pem", NOW)
    assert not state.trust_file.exists()


@pytest.mark.parametrize(("encoded", "reason"), [
    ((3 + ed25519.P).to_bytes(32, "little"), "non-canonical encoding"),  # y + p of a curve point
    ((2).to_bytes(32, "little"), "not a point on the curve"),
    ((3).to_bytes(32, "little"), "not in the prime-order subgroup"),
], ids=["y-plus-p", "off-curve", "mixed-order"])
def test_trust_add_refuses_non_canonical_and_mixed_order_keys(encoded: bytes, reason: str, tmp_path: Path) -> None:
    with pytest.raises(errors.WeakKeyError, match=reason):
        trust.add_key(StateDir(tmp_path), spki_pem(encoded), "weak", "weak.pem", NOW)


def test_the_pem_a_real_key_gives_is_accepted(signer: Signer) -> None:
    assert trust.raw_public_key(spki_pem(signer.raw_public), "k.pem") == signer.raw_public


@pytest.mark.parametrize(("field", "value"), [
    ("public_key", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="),  # spare bits set: not canonical base64
    ("public_key", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),  # no padding
    ("public_key", "\u00e9"), ("public_key", 5), ("name", ["x"]), ("key_id", None),
])
def test_a_trust_store_entry_of_the_wrong_type_or_encoding_is_refused(
        tmp_path: Path, signer: Signer, field: str, value: object) -> None:
    state = StateDir(tmp_path)
    trust.add_key(state, signer.public_pem, "a", "a.pem", NOW)
    document = json.loads(state.trust_file.read_text())
    document["keys"][0][field] = value
    state.trust_file.write_text(json.dumps(document))
    with pytest.raises(errors.StateError):
        trust.load_trust(state)


def scanner_cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from scanner.cli import main; main()", "--state-dir", str(state),
                           *args], capture_output=True, text=True, cwd=Path(__file__).parents[2], check=False)


def test_small_order_keys_end_to_end(tmp_path: Path, signer: Signer) -> None:
    """The reported attack: the identity point as a key, a constant signature, an empty database."""
    state = tmp_path / "state"
    identity = bytes.fromhex("01" + "00" * 31)
    for encoded in (identity, identity[:31] + b"\x80"):
        pem = tmp_path / "identity.pub.pem"
        pem.write_bytes(spki_pem(encoded))
        refused = scanner_cli(state, "trust", "add", str(pem))
        assert refused.returncode == errors.WeakKeyError.exit_code == 40
        assert refused.stderr.count("\n") == 1 and "refusing to trust it" in refused.stderr
    # Hand-edited into trust.json, next to a sound key, it still verifies nothing.
    trust.add_key(StateDir(state), signer.public_pem, "release", "release.pub.pem", NOW)
    document = json.loads((state / "trust.json").read_text())
    document["keys"].append({"key_id": bundle_format.key_id(identity), "name": "forger", "added_at": "",
                             "public_key": base64.b64encode(identity).decode()})
    (state / "trust.json").write_text(json.dumps(document))
    now = datetime.now(UTC)
    parts = make_parts(signer, raw=sqlite_database(0), built=now - timedelta(hours=1), expires=now + timedelta(days=1))
    forged = bundle_format.signatures_document([(bundle_format.key_id(identity), identity + bytes(32))])
    bundle = tmp_path / "forged.bundle"
    bundle.write_bytes(Parts(parts.manifest, forged, parts.payload, parts.raw).bundle())
    refused = scanner_cli(state, "db", "import", str(bundle))
    assert refused.returncode == 40 and "small-order point" in refused.stderr and refused.stderr.count("\n") == 1
    assert json.loads((state / "audit.log").read_text().splitlines()[-1])["exit_code"] == 40
    assert not (state / "installed.json").exists()
