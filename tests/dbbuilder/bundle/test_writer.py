from __future__ import annotations

import base64
import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.errors import BuildOptionError, BundleWriteError
from dbbuilder.bundle.keys import public_key_id
from dbbuilder.bundle.manifest import BundleIdentity
from dbbuilder.bundle.writer import write_bundle
from scanner.db import bundle_format
from scanner.db.archive import verify_bundle
from scanner.db.bundle_format import MEMBER_ORDER
from scanner.db.verify import FreshnessPolicy, TrustedKey, TrustPolicy, VerificationContext
from tests.dbbuilder.bundle.conftest import BUILT_AT, IDENTITY, make_database


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {info.name: archive.extractfile(info).read() for info in archive.getmembers()}  # type: ignore[union-attr]


def test_tar_layout(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey) -> None:
    out = tmp_path / "x.bundle"
    write_bundle(out, database, IDENTITY, [signing_key], level=3, threads=1)
    with tarfile.open(out) as archive:
        infos = archive.getmembers()
    assert tuple(info.name for info in infos) == MEMBER_ORDER
    for info in infos:
        assert info.isreg()
        assert (info.mode, info.uid, info.gid, info.uname, info.gname) == (0o644, 0, 0, "", "")
        assert info.mtime == int(BUILT_AT.timestamp())
    if shutil.which("tar"):
        listing = subprocess.run(["tar", "tf", str(out)], check=True, capture_output=True, text=True).stdout
        assert listing.split() == list(MEMBER_ORDER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vulns.sqlite", "x.bundle"]  # no temporaries left


def test_manifest_content_and_serialisation(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey) -> None:
    out = tmp_path / "x.bundle"
    result = write_bundle(out, database, IDENTITY, [signing_key], level=3, threads=1)
    manifest_bytes = members(out)[bundle_format.MANIFEST_NAME]
    assert manifest_bytes == result.manifest_bytes
    document = json.loads(manifest_bytes)
    assert manifest_bytes == (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    assert document["channel"] == "test"
    assert document["bundle_version"] == 7
    assert (document["built_at"], document["expires_at"]) == ("2026-11-29T00:00:00Z", "2026-12-29T00:00:00Z")
    assert [p["name"] for p in document["providers"]] == ["nvd", "osv"]
    osv = document["providers"][1]
    assert osv["skipped_reasons"] == {"invalid JSON": 2}
    assert osv["ecosystems"] == {"PyPI": 200}
    assert osv["withdrawn"] == 1
    [entry] = document["files"]
    assert entry["uncompressed_size"] == database.stat().st_size
    assert entry["size"] == len(members(out)[bundle_format.DATABASE_NAME])


def test_every_signature_verifies(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey,
                                  second_key: Ed25519PrivateKey) -> None:
    out = tmp_path / "x.bundle"
    result = write_bundle(out, database, IDENTITY, [signing_key, second_key], level=3, threads=1)
    stored = members(out)
    signatures = json.loads(stored[bundle_format.SIGNATURES_NAME])["signatures"]
    keys = {public_key_id(k.public_key()): k.public_key() for k in (signing_key, second_key)}
    assert [s["keyid"] for s in signatures] == sorted(keys) == list(result.key_ids)
    for entry in signatures:
        keys[entry["keyid"]].verify(base64.b64decode(entry["signature"]),
                                    bundle_format.SIGNATURE_CONTEXT + stored[bundle_format.MANIFEST_NAME])


def test_scanner_verifier_accepts_it(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey) -> None:
    out = tmp_path / "x.bundle"
    write_bundle(out, database, IDENTITY, [signing_key], level=3)
    public = signing_key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sink = io.BytesIO()
    with out.open("rb") as stream:
        _, verified = verify_bundle(
            stream, VerificationContext(TrustPolicy(keys=(TrustedKey(public_key_id(public), "k", raw),)),
                                        BUILT_AT + timedelta(hours=1), FreshnessPolicy()), sink=sink)
    assert verified.manifest.bundle_version == 7
    assert sink.getvalue() == database.read_bytes()


def test_reproducible(tmp_path: Path, signing_key: Ed25519PrivateKey, second_key: Ed25519PrivateKey) -> None:
    first_db = make_database(tmp_path / "a.sqlite")
    second_db = make_database(tmp_path / "b.sqlite")
    first = tmp_path / "first.bundle"
    second = tmp_path / "second.bundle"
    write_bundle(first, first_db, IDENTITY, [signing_key, second_key], level=3, threads=1)
    write_bundle(second, second_db, IDENTITY, [second_key, signing_key], level=3, threads=3)
    assert first.read_bytes() == second.read_bytes()
    third = tmp_path / "third.bundle"
    write_bundle(third, first_db, replace(IDENTITY, bundle_version=8), [signing_key, second_key], level=3)
    assert third.read_bytes() != first.read_bytes()


def test_replaces_existing_output_atomically(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey) -> None:
    out = tmp_path / "x.bundle"
    out.write_bytes(b"old")
    write_bundle(out, database, IDENTITY, [signing_key], level=3)
    assert out.read_bytes()[:257] != b"old"
    assert tarfile.is_tarfile(out)


def test_failure_leaves_nothing(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    not_a_database = tmp_path / "junk.sqlite"
    not_a_database.write_bytes(b"not sqlite" * 100)
    with pytest.raises(BundleWriteError, match="not a usable vulnerability database"):
        write_bundle(tmp_path / "x.bundle", not_a_database, IDENTITY, [signing_key])
    with pytest.raises(BundleWriteError, match="cannot write bundle"):
        write_bundle(tmp_path / "absent" / "x.bundle", make_database(tmp_path / "db.sqlite"), IDENTITY,
                     [signing_key])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite", "junk.sqlite"]


def test_key_count_rules(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey) -> None:
    with pytest.raises(BuildOptionError, match="twice"):
        write_bundle(tmp_path / "x.bundle", database, IDENTITY, [signing_key, signing_key])
    with pytest.raises(BuildOptionError, match="at least one"):
        write_bundle(tmp_path / "x.bundle", database, IDENTITY, [])
    with pytest.raises(BuildOptionError, match="at most"):
        write_bundle(tmp_path / "x.bundle", database, IDENTITY, [Ed25519PrivateKey.generate() for _ in range(17)])
    assert not (tmp_path / "x.bundle").exists()


@pytest.mark.parametrize(("channel", "version", "days"), [("", 1, 1), ("../x", 1, 1), ("a" * 65, 1, 1),
                                                          ("ok", 0, 1), ("ok", 1, 0)])
def test_identity_is_validated(channel: str, version: int, days: int) -> None:
    built = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(BuildOptionError):
        BundleIdentity(channel, version, built, built + timedelta(days=days))


def test_corrupt_provider_row_is_refused(tmp_path: Path, database: Path, signing_key: Ed25519PrivateKey) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE providers SET skipped_reasons = '{broken' WHERE name = 'osv'")
    with pytest.raises(BundleWriteError, match="provider osv: bad JSON"):
        write_bundle(tmp_path / "x.bundle", database, IDENTITY, [signing_key])
    assert not (tmp_path / "x.bundle").exists()


def test_layout_is_byte_for_byte_what_tarfile_writes(tmp_path: Path, database: Path,
                                                     signing_key: Ed25519PrivateKey) -> None:
    # The writer lays the archive out with scanner.db.bundle_format (the rule the verifier checks byte for
    # byte); this pins it to what `tar` and Python's tarfile read and write.
    out = tmp_path / "x.bundle"
    write_bundle(out, database, IDENTITY, [signing_key], level=3, threads=1)
    stored = members(out)
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in MEMBER_ORDER:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(stored[name]), int(BUILT_AT.timestamp()), 0o644
            archive.addfile(info, io.BytesIO(stored[name]))
    assert out.read_bytes() == expected.getvalue()


def test_a_build_time_beyond_the_tar_mtime_field_is_a_write_error(tmp_path: Path, database: Path,
                                                                  signing_key: Ed25519PrivateKey) -> None:
    far = datetime(2300, 1, 1, tzinfo=UTC)
    with pytest.raises(BundleWriteError, match=r"cannot write bundle member manifest\.json: \d+ does not fit"):
        write_bundle(tmp_path / "x.bundle", database, BundleIdentity("test", 1, far, far + timedelta(days=1)),
                     [signing_key], level=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vulns.sqlite"]
