"""`dbbuilder root init` / `root rotate` and bundles that carry the chain (`write_bundle(roots=...)`, what
`build --roots` passes): what the connected side writes walks on the scanner side, and what a scanner
would refuse is never written."""

from __future__ import annotations

import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.errors import BuildOptionError
from dbbuilder.bundle.keys import save_key_pair
from dbbuilder.bundle.root import RoleChange, init_root, read_chain, rotate_root
from dbbuilder.bundle.writer import write_bundle
from scanner.db.archive import verify_bundle
from scanner.db.limits import BUNDLE_LIMITS
from scanner.db.root import pin_root
from scanner.db.verify import VerificationContext
from tests.dbbuilder.bundle.conftest import BUILT_AT, IDENTITY
from tests.dbbuilder.test_cli import run as run_dbbuilder

NOW = BUILT_AT + timedelta(hours=1)
EXPIRES = BUILT_AT + timedelta(days=365)


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_init_and_rotations_walk_and_the_bundle_verifies_under_the_pinned_first_version(
        tmp_path: Path, database: Path) -> None:
    r1, r2, b1, b2 = (Ed25519PrivateKey.generate() for _ in range(4))
    first = init_root([raw(r1)], [raw(b1)], 1, 1, [r1], EXPIRES)
    second = rotate_root(first, "1.root.json", RoleChange(), RoleChange(add=[raw(b2)], remove=[raw(b1)]), [r1],
                         EXPIRES)
    third = rotate_root(second, "2.root.json", RoleChange(add=[raw(r2)], remove=[raw(r1)]), RoleChange(), [r1, r2],
                        EXPIRES)
    roots = tmp_path / "roots"
    roots.mkdir()
    for version, document in enumerate((first, second, third), start=1):
        (roots / f"{version}.root.json").write_bytes(document)
    (roots / "README").write_text("not part of the chain")
    chain = read_chain(roots, NOW)
    assert [name for name, _ in chain] == ["1.root.json", "2.root.json", "3.root.json"]
    out = tmp_path / "x.bundle"
    write_bundle(out, database, IDENTITY, [b2], level=3, roots=chain)
    with tarfile.open(out) as archive:
        assert archive.getnames() == ["manifest.json", "signatures.json", "1.root.json", "2.root.json",
                                      "3.root.json", "vulns.sqlite.zst"]
    pinned = pin_root(first, NOW, "1.root.json")
    with out.open("rb") as stream:
        contents, verified = verify_bundle(stream, VerificationContext(pinned, NOW))
    assert verified.roots is not None and verified.roots.root.version == 3
    assert contents.roots == chain
    with pytest.raises(BuildOptionError, match="0 of the signing keys are bundle keys of root version 3"):
        write_bundle(tmp_path / "y.bundle", database, IDENTITY, [b1], level=3, roots=chain)
    assert not (tmp_path / "y.bundle").exists()


def test_what_a_scanner_would_refuse_is_not_written() -> None:
    r1, r2, b1 = (Ed25519PrivateKey.generate() for _ in range(3))
    with pytest.raises(BuildOptionError, match=r"a scanner would refuse it: .*signed by 0 of its root keys"):
        init_root([raw(r1)], [raw(b1)], 1, 1, [r2], EXPIRES)
    with pytest.raises(BuildOptionError, match="--threshold-root 2: between 1 and the 1 root key"):
        init_root([raw(r1)], [raw(b1)], 2, 1, [r1], EXPIRES)
    first = init_root([raw(r1)], [raw(b1)], 1, 1, [r1], EXPIRES)
    with pytest.raises(BuildOptionError, match="by the keys of version 1: signed by 0"):  # only the new key signed
        rotate_root(first, "1.root.json", RoleChange(add=[raw(r2)], remove=[raw(r1)]), RoleChange(), [r2], EXPIRES)
    with pytest.raises(BuildOptionError, match="is no bundle key of version 1"):
        rotate_root(first, "1.root.json", RoleChange(), RoleChange(remove=[raw(r2)]), [r1], EXPIRES)


def test_a_broken_chain_directory_is_refused(tmp_path: Path) -> None:
    r1, b1 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    first = init_root([raw(r1)], [raw(b1)], 1, 1, [r1], EXPIRES)
    third = rotate_root(rotate_root(first, "1", RoleChange(), RoleChange(), [r1], EXPIRES), "2", RoleChange(),
                        RoleChange(), [r1], EXPIRES)
    (tmp_path / "1.root.json").write_bytes(first)
    (tmp_path / "3.root.json").write_bytes(third)
    with pytest.raises(BuildOptionError, match="skips from root version 1 to 3"):
        read_chain(tmp_path, NOW)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BuildOptionError, match=r"no N\.root\.json"):
        read_chain(empty, NOW)


def test_a_chain_larger_than_scanners_accept_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found in review: each document was capped but not the chain, which scanners refuse as a whole.
    import dataclasses

    from dbbuilder.bundle import root as root_module

    r1, b1 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    first = init_root([raw(r1)], [raw(b1)], 1, 1, [r1], EXPIRES)
    (tmp_path / "1.root.json").write_bytes(first)
    (tmp_path / "2.root.json").write_bytes(rotate_root(first, "1", RoleChange(), RoleChange(), [r1], EXPIRES))
    assert len(read_chain(tmp_path, NOW)) == 2
    small = dataclasses.replace(BUNDLE_LIMITS, max_chain_bytes=len(first) + 1)
    monkeypatch.setattr(root_module, "BUNDLE_LIMITS", small)
    with pytest.raises(BuildOptionError, match="a bundle carries at most"):
        read_chain(tmp_path, NOW)


def test_root_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        return run_dbbuilder(monkeypatch, capsys, *args)

    keys = {name: save_key_pair(Ed25519PrivateKey.generate(), tmp_path, name, None) for name in ("r1", "r2", "b1")}
    code, out, err = run("root", "init", "--root-key", str(keys["r1"].public_key), "--bundle-key",
                         str(keys["b1"].public_key), "--threshold-root", "1", "--threshold-bundle", "1",
                         "--sign-with", str(keys["r1"].private_key), "--expires-in", "1y",
                         "--out", str(tmp_path / "1.root.json"))
    assert code == 0, err
    assert "root version 1" in err and len(out.strip()) == 64
    code, out, err = run("root", "rotate", "--from", str(tmp_path / "1.root.json"), "--add-root-key",
                         str(keys["r2"].public_key), "--remove-root-key", str(keys["r1"].public_key),
                         "--sign-with", str(keys["r1"].private_key), "--sign-with", str(keys["r2"].private_key),
                         "--expires-in", "1y", "--out", str(tmp_path / "2.root.json"))
    assert code == 0, err
    assert "root version 2" in err
    code, _, err = run("root", "rotate", "--from", str(tmp_path / "2.root.json"), "--threshold-root", "2",
                       "--sign-with", str(keys["r2"].private_key), "--out", str(tmp_path / "3.root.json"))
    assert code == 2 and "between 1 and the 1 root key" in err
    code, _, err = run("root", "init", "--root-key", str(keys["r1"].public_key), "--bundle-key",
                       str(keys["b1"].public_key), "--sign-with", str(keys["r1"].private_key),
                       "--out", str(tmp_path / "1.root.json"))
    assert code == 2 and "already exists" in err
    assert read_chain(tmp_path, NOW + timedelta(days=1))[-1][0] == "2.root.json"
    feeds = Path(__file__).resolve().parents[4] / "shared" / "data" / "feeds" / "osv" / "npm"
    build = ["build", "--osv", str(feeds), "--channel", "c", "--bundle-version", "1", "--roots", str(tmp_path)]
    code, _, err = run(*build, "--key", str(keys["b1"].private_key), "--out", str(tmp_path / "x.bundle"))
    assert code == 0, err
    with tarfile.open(tmp_path / "x.bundle") as archive:
        assert archive.getnames()[2:4] == ["1.root.json", "2.root.json"]
    code, _, err = run(*build, "--key", str(keys["r2"].private_key), "--out", str(tmp_path / "y.bundle"))
    assert code == 2 and "0 of the signing keys are bundle keys of root version 2" in err
