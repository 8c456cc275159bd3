"""The tamper suite: every way a bundle can be wrong is refused with its own error and exit code, and the
installed database, rollback record and audit chain are untouched."""

from __future__ import annotations

import base64
import json
import tarfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard

from scanner.db import bundle_format, errors, trust
from scanner.db.audit import verify_log
from scanner.db.install import import_bundle, load_database
from scanner.db.state import StateDir, save_freshness
from scanner.db.verify import FreshnessPolicy
from scanner.errors import BundleError
from tests.db.bundles import (
    NOW,
    Parts,
    Signer,
    encode,
    make_parts,
    signatures,
    sqlite_database,
    tar,
)
from tests.db.conftest import snapshot

INSTALLED_VERSION = 5


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def resign(parts: Parts, signer: Signer, **changes: object) -> Parts:
    """The same payload under a manifest changed by `changes`, properly signed."""
    document = json.loads(parts.manifest)
    document.update(changes)
    manifest = encode(document)
    return Parts(manifest, signatures(manifest, signer), parts.payload, parts.raw)


def member(name: str, kind: bytes, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def flip_signature(signatures_bytes: bytes) -> bytes:
    document = json.loads(signatures_bytes)
    entry = document["signatures"][0]
    entry["signature"] = base64.b64encode(flip(base64.b64decode(entry["signature"]), 10)).decode()
    return encode(document)


def bomb(signer: Signer) -> bytes:
    """A zstd stream of 64 MiB of zeros, signed as if it were 1000 bytes."""
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    zeros = bytes(1024 * 1024)
    payload = b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    raw = bytes(1000)
    return make_parts(signer, raw=raw, payload=payload, version=INSTALLED_VERSION + 1).bundle()


def trailing(parts: Parts) -> bytes:
    return parts.bundle() + b"junk" * 5000


def padded_with(parts: Parts, byte: bytes) -> bytes:
    """The bundle with the last padding byte after the manifest replaced."""
    data = parts.bundle()
    end = 512 + -(-len(parts.manifest) // 512) * 512
    assert len(parts.manifest) % 512, "the manifest fills its last block: no padding to alter"
    return data[:end - 1] + byte + data[end:]


def with_uname(data: bytes, uname: str) -> bytes:
    """The first header with a user name, its checksum recomputed: what `tar` itself would accept."""
    header = bytearray(data[:512])
    header[265:297] = uname.encode().ljust(32, b"\0")
    header[148:156] = b" " * 8
    header[148:155] = b"%06o\0" % sum(header)
    return bytes(header) + data[512:]


def header_flip(parts: Parts) -> bytes:
    data = parts.bundle()
    signatures_header = 512 + -(-len(parts.manifest) // 512) * 512
    return flip(data, signatures_header + 100)  # the mode field: the header checksum no longer matches


# Each case: (bundle bytes from (parts of a valid v6 bundle, signer, other signer), expected error).
CASES: dict[str, tuple[Callable[[Parts, Signer, Signer], bytes], type[BundleError]]] = {
    "manifest byte flipped": (lambda p, s, o: Parts(flip(p.manifest, 40), p.signatures, p.payload, p.raw).bundle(),
                              errors.BadSignatureError),
    "signature byte flipped": (lambda p, s, o: Parts(p.manifest, flip_signature(p.signatures), p.payload,
                                                     p.raw).bundle(), errors.BadSignatureError),
    "signatures JSON broken": (lambda p, s, o: Parts(p.manifest, flip(p.signatures, 0), p.payload, p.raw).bundle(),
                               errors.SignaturesError),
    "payload byte flipped": (lambda p, s, o: Parts(p.manifest, p.signatures, flip(p.payload, len(p.payload) // 2),
                                                   p.raw).bundle(), errors.PayloadDigestError),
    "tar header byte flipped": (lambda p, s, o: header_flip(p), errors.BundleArchiveError),
    "payload swapped from another bundle": (
        lambda p, s, o: Parts(p.manifest, p.signatures, make_parts(s, raw=sqlite_database(50, "other")).payload,
                              p.raw).bundle(), errors.PayloadSizeError),
    "file dropped": (lambda p, s, o: tar([(bundle_format.MANIFEST_NAME, p.manifest),
                                          (bundle_format.DATABASE_NAME, p.payload)]), errors.MissingMemberError),
    "file added": (lambda p, s, o: tar([(bundle_format.MANIFEST_NAME, p.manifest),
                                        (bundle_format.SIGNATURES_NAME, p.signatures),
                                        (bundle_format.DATABASE_NAME, p.payload), ("extra.txt", b"hello")]),
                   errors.MemberNameError),
    "unknown key": (lambda p, s, o: Parts(p.manifest, signatures(p.manifest, o), p.payload, p.raw).bundle(),
                    errors.UnknownKeyError),
    "expired": (lambda p, s, o: resign(p, s, expires_at="2026-11-01T00:00:00Z").bundle(), errors.ExpiredError),
    "older version": (lambda p, s, o: resign(p, s, bundle_version=INSTALLED_VERSION - 1).bundle(),
                      errors.RollbackError),
    "same version, other content": (lambda p, s, o: resign(p, s, bundle_version=INSTALLED_VERSION,
                                                           builder={"name": "x", "version": "1"}).bundle(),
                                    errors.ReplayError),
    "schema model 2": (lambda p, s, o: resign(p, s, schema_version="2.0.0").bundle(), errors.SchemaVersionError),
    "wrong format": (lambda p, s, o: resign(p, s, format_version=2).bundle(), errors.FormatVersionError),
    "manifest field missing": (lambda p, s, o: resign(p, s, channel=None).bundle(), errors.ManifestError),
    "truncated file": (lambda p, s, o: p.bundle()[: 1536 + len(p.manifest) + len(p.payload) // 2],
                       errors.TruncatedBundleError),
    "zstd bomb": (lambda p, s, o: bomb(s), errors.DecompressionBombError),
    "payload not zstd": (lambda p, s, o: make_parts(s, payload=b"not zstd at all" * 100,
                                                    version=INSTALLED_VERSION + 1).bundle(),
                         errors.DecompressionError),
    "manifest lists a file the bundle lacks": (lambda p, s, o: resign(p, s, files=[
        *json.loads(p.manifest)["files"], {**json.loads(p.manifest)["files"][0], "name": "extra.bin"}]).bundle(),
        errors.MissingMemberError),
    "uncompressed digest wrong": (lambda p, s, o: resign(p, s, files=[{
        **json.loads(p.manifest)["files"][0], "uncompressed_sha256": "ab" * 32}]).bundle(),
        errors.UncompressedDigestError),
    "symbolic link member": (lambda p, s, o: tar([member(bundle_format.MANIFEST_NAME, tarfile.SYMTYPE,
                                                         linkname="/etc/passwd")]), errors.MemberTypeError),
    "directory member": (lambda p, s, o: tar([member("db", tarfile.DIRTYPE)]), errors.MemberTypeError),
    "hard link member": (lambda p, s, o: tar([(bundle_format.MANIFEST_NAME, p.manifest), member(
        bundle_format.SIGNATURES_NAME, tarfile.LNKTYPE, linkname=bundle_format.MANIFEST_NAME)]),
        errors.MemberTypeError),
    "device member": (lambda p, s, o: tar([member("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)]),
                      errors.MemberTypeError),
    "duplicate member": (lambda p, s, o: tar([(bundle_format.MANIFEST_NAME, p.manifest),
                                              (bundle_format.MANIFEST_NAME, p.manifest)]),
                         errors.DuplicateMemberError),
    "dot-dot name": (lambda p, s, o: tar([("../manifest.json", p.manifest)]), errors.MemberNameError),
    "absolute name": (lambda p, s, o: tar([("/manifest.json", p.manifest)]), errors.MemberNameError),
    "members out of order": (lambda p, s, o: tar([(bundle_format.SIGNATURES_NAME, p.signatures),
                                                  (bundle_format.MANIFEST_NAME, p.manifest),
                                                  (bundle_format.DATABASE_NAME, p.payload)]),
                             errors.MemberOrderError),
    "data after the archive": (lambda p, s, o: trailing(p), errors.NonCanonicalBundleError),
    "non-zero tar padding": (lambda p, s, o: padded_with(p, b"\x01"), errors.NonCanonicalBundleError),
    "text in an unused header field": (lambda p, s, o: with_uname(p.bundle(), "root"),
                                       errors.NonCanonicalBundleError),
    "not a tar file": (lambda p, s, o: b"\x28\xb5\x2f\xfd" + bytes(2000), errors.BundleArchiveError),
}


@pytest.fixture
def installed(state: StateDir, signer: Signer, tmp_path: Path) -> StateDir:
    path = tmp_path / "installed.bundle"
    path.write_bytes(make_parts(signer, version=INSTALLED_VERSION).bundle())
    import_bundle(path, state_dir=state.root, now=NOW)
    return state


def assert_refused(state: StateDir, bundle: Path, expected: type[BundleError], **options: object) -> BundleError:
    before = snapshot(state)
    with pytest.raises(BundleError) as caught:
        import_bundle(bundle, state_dir=state.root, now=NOW, **options)  # type: ignore[arg-type]
    assert type(caught.value) is expected, caught.value
    assert snapshot(state) == before
    load_database(state_dir=state.root, now=NOW)  # the old database is still in service
    last = json.loads(state.audit_log.read_text().splitlines()[-1])
    assert last["event"] == "refusal" and last["exit_code"] == expected.exit_code
    assert verify_log(state).records >= 3
    return caught.value


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_bundle_is_refused(case: str, installed: StateDir, signer: Signer, other_signer: Signer,
                                    tmp_path: Path) -> None:
    build, expected = CASES[case]
    bundle = tmp_path / "tampered.bundle"
    bundle.write_bytes(build(make_parts(signer, version=INSTALLED_VERSION + 1), signer, other_signer))
    error = assert_refused(installed, bundle, expected)
    assert "\n" not in str(error)


def test_every_case_has_its_own_exit_code_per_reason() -> None:
    by_code: dict[int, set[type[BundleError]]] = {}
    for _, expected in CASES.values():
        by_code.setdefault(expected.exit_code, set()).add(expected)
    assert all(len(classes) == 1 for classes in by_code.values())
    assert len(by_code) >= 20


def test_manifest_of_100_mb_is_refused_from_its_header(installed: StateDir, tmp_path: Path) -> None:
    bundle = tmp_path / "huge.bundle"
    header = tar([(bundle_format.MANIFEST_NAME, b"")])[:512]
    info = tarfile.TarInfo(bundle_format.MANIFEST_NAME)
    info.size = 100 * 1024 * 1024
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with open(bundle, "wb") as out:  # sparse: the 100 MB are never written, so never readable either
        out.write(header)
        out.truncate(len(header) + info.size + 1024)
    started = time.perf_counter()
    error = assert_refused(installed, bundle, errors.OversizeError)
    assert time.perf_counter() - started < 1.0
    assert "104857600 bytes" in str(error)


def test_too_few_signatures_for_the_threshold(state: StateDir, signer: Signer, other_signer: Signer,
                                              tmp_path: Path) -> None:
    installed = state
    trust.add_key(installed, other_signer.public_pem, "second", "second.pem", NOW)
    trust.set_threshold(installed, 2, NOW)
    baseline = tmp_path / "two.bundle"
    baseline.write_bytes(make_parts(signer, other_signer, version=INSTALLED_VERSION).bundle())
    import_bundle(baseline, state_dir=installed.root, now=NOW)
    parts = make_parts(signer, version=INSTALLED_VERSION + 1)
    bundle = tmp_path / "one.bundle"
    bundle.write_bytes(parts.bundle())
    assert_refused(installed, bundle, errors.ThresholdError)
    twice = Parts(parts.manifest, signatures(parts.manifest, signer, signer), parts.payload, parts.raw)
    bundle.write_bytes(twice.bundle())
    assert "a second signature by key" in str(assert_refused(installed, bundle, errors.SignaturesError))
    both = Parts(parts.manifest, signatures(parts.manifest, signer, other_signer), parts.payload, parts.raw)
    bundle.write_bytes(both.bundle())
    result = import_bundle(bundle, state_dir=installed.root, now=NOW)
    assert set(result.database.key_ids) == {signer.key_id, other_signer.key_id}


def test_stale_data_under_a_failing_policy(installed: StateDir, signer: Signer, tmp_path: Path) -> None:
    save_freshness(installed, FreshnessPolicy(max_age=timedelta(days=7), fail=True))
    bundle = tmp_path / "old.bundle"
    bundle.write_bytes(make_parts(signer, version=INSTALLED_VERSION + 1, built=NOW - timedelta(days=9)).bundle())
    assert_refused(installed, bundle, errors.StaleDataError)


def test_empty_trust_store(tmp_path: Path, signer: Signer) -> None:
    state = StateDir(tmp_path / "empty")
    bundle = tmp_path / "b.bundle"
    bundle.write_bytes(make_parts(signer).bundle())
    with pytest.raises(errors.NoTrustedKeysError, match="scanner trust add"):
        import_bundle(bundle, state_dir=state.root, now=NOW)
    assert not state.installed_pointer.exists()


SMALL_ORDER_KEY = bytes.fromhex("01" + "00" * 31)  # the identity point


def forged_by_small_order_key(parts: Parts) -> Parts:
    """`parts` "signed" by the identity point: R = identity and S = 0 verify for any message under it."""
    forged = bundle_format.signatures_document([(bundle_format.key_id(SMALL_ORDER_KEY), SMALL_ORDER_KEY + bytes(32))])
    return Parts(parts.manifest, forged, parts.payload, parts.raw)


def test_a_small_order_key_edited_into_the_trust_store_stops_imports(installed: StateDir, signer: Signer,
                                                                     tmp_path: Path) -> None:
    # `trust add` refuses the key (test_trust.py); here it got into trust.json by hand.
    document = json.loads(installed.trust_file.read_text())
    document["keys"].append({"key_id": bundle_format.key_id(SMALL_ORDER_KEY), "name": "forger",
                             "added_at": "2026-11-29T00:00:00Z",
                             "public_key": base64.b64encode(SMALL_ORDER_KEY).decode()})
    installed.trust_file.write_text(json.dumps(document))
    bundle = tmp_path / "forged.bundle"
    empty = make_parts(signer, raw=sqlite_database(0), version=INSTALLED_VERSION + 1)
    bundle.write_bytes(forged_by_small_order_key(empty).bundle())
    sound = tmp_path / "sound.bundle"
    sound.write_bytes(make_parts(signer, version=INSTALLED_VERSION + 1).bundle())
    before = snapshot(installed)
    for path in (bundle, sound):  # while the key is trusted, nothing verifies: fail closed
        with pytest.raises(errors.WeakKeyError, match=r"\(forger\): the public key is a small-order point.*"
                                                      r"`scanner trust remove [0-9a-f]{64}`"):
            import_bundle(path, state_dir=installed.root, now=NOW)
        last = json.loads(installed.audit_log.read_text().splitlines()[-1])
        assert (last["event"], last["exit_code"]) == ("refusal", errors.WeakKeyError.exit_code)
    with pytest.raises(errors.WeakKeyError):
        load_database(state_dir=installed.root, now=NOW)
    assert snapshot(installed) == before
    trust.remove_key(installed, bundle_format.key_id(SMALL_ORDER_KEY), NOW)
    load_database(state_dir=installed.root, now=NOW)
    with pytest.raises(errors.UnknownKeyError):
        import_bundle(bundle, state_dir=installed.root, now=NOW)
