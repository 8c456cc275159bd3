from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dbbuilder.bundle.errors import SigningKeyError
from dbbuilder.bundle.keys import generate_key_pair, load_private_key, public_key_id, read_passphrase_file
from scanner.db.trust import raw_public_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_writes_private_0600_and_spki_public(tmp_path: Path) -> None:
    files = generate_key_pair(tmp_path / "keys", "release")
    assert files.private_key == tmp_path / "keys" / "release.pem"
    assert mode(files.private_key) == 0o600
    assert mode(files.public_key) == 0o644
    assert files.public_key.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert b"BEGIN PRIVATE KEY" in files.private_key.read_bytes()
    raw = raw_public_key(files.public_key.read_bytes(), "test")
    assert files.key_id == hashlib.sha256(raw).hexdigest()
    assert public_key_id(load_private_key(files.private_key).public_key()) == files.key_id
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["release.pem", "release.pub.pem"]


def test_passphrase_encrypts_and_is_required(tmp_path: Path) -> None:
    files = generate_key_pair(tmp_path, "k", b"correct horse")
    pem = files.private_key.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert public_key_id(load_private_key(files.private_key, b"correct horse").public_key()) == files.key_id
    with pytest.raises(SigningKeyError, match="needs a passphrase"):
        load_private_key(files.private_key)
    with pytest.raises(SigningKeyError, match="wrong passphrase"):
        load_private_key(files.private_key, b"battery staple")


def test_unencrypted_key_with_passphrase_is_refused(tmp_path: Path) -> None:
    files = generate_key_pair(tmp_path, "k")
    with pytest.raises(SigningKeyError, match="not encrypted"):
        load_private_key(files.private_key, b"pass")


def test_never_overwrites(tmp_path: Path) -> None:
    first = generate_key_pair(tmp_path, "k")
    before = first.private_key.read_bytes()
    with pytest.raises(SigningKeyError, match="already exists"):
        generate_key_pair(tmp_path, "k")
    assert first.private_key.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("content", [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                     b"x" * 100_000])
def test_hostile_key_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(content)
    with pytest.raises(SigningKeyError):
        load_private_key(path)


def test_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match="not an Ed25519"):
        load_private_key(path)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_private_key(tmp_path / "absent.pem")


def test_passphrase_file(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_bytes(b"s3cret \n")
    assert read_passphrase_file(path) == b"s3cret "
    path.write_bytes(b"\n")
    with pytest.raises(SigningKeyError, match="empty"):
        read_passphrase_file(path)
