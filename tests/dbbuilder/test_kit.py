"""`dbbuilder kit` and the kit's install.sh: layout, locks, signatures, refusals; a real offline install.

Most tests replace pip with a stand-in that drops prepared wheel files, so they run without a network.
The end-to-end test downloads real wheels from the package index (CI has it), then installs them in a
network namespace with no interfaces, imports the demo bundle and scans the demo image.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dbbuilder.bundle.keys import public_key_pem
from dbbuilder.kit import KitBuildError, KitRequest, Target, build_kit, targets
from scanner import kit
from scanner.db.errors import BadSignatureError, UnknownKeyError
from scanner.db.verify import TrustedKey, TrustPolicy
from scanner.errors import OperatorInputError
from tests.scanner_cli import run_program

REPO = Path(__file__).resolve().parents[2]
CREATED = datetime(2026, 12, 1, tzinfo=UTC)
FAKE_WHEELS = {
    "airgap_scanner-0.1.0-py3-none-any.whl": b"project",
    "typer-0.12.0-py3-none-any.whl": b"typer",
    "zstandard-0.22.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": b"zstd 312",
}


class FakePip:
    """Stands in for pip: `wheel` writes the project wheel, `download` drops the prepared wheels."""

    def __init__(self, wheels: dict[str, bytes]) -> None:
        self.wheels = wheels
        self.calls: list[list[str]] = []

    def __call__(self, arguments: Sequence[str]) -> None:
        self.calls.append(list(arguments))
        into = Path(arguments[arguments.index("--wheel-dir" if arguments[0] == "wheel" else "--dest") + 1])
        into.mkdir(parents=True, exist_ok=True)
        for name, content in self.wheels.items():
            if arguments[0] == "download" or name.startswith("airgap_scanner"):
                (into / name).write_bytes(content)


def _policy(*keys: Ed25519PrivateKey, threshold: int = 1) -> TrustPolicy:
    from scanner.db.bundle_format import key_id
    from scanner.db.trust import raw_public_key

    trusted = []
    for number, private in enumerate(keys):
        raw = raw_public_key(public_key_pem(private.public_key()), f"key {number}")
        trusted.append(TrustedKey(key_id(raw), f"key{number}", raw))
    return TrustPolicy(tuple(trusted), threshold)


def _build(tmp_path: Path, **changes: object) -> tuple[Path, Ed25519PrivateKey]:
    signer = Ed25519PrivateKey.generate()
    request = KitRequest(targets=(Target("3.12", "manylinux2014_x86_64"),), signing_keys=(signer,))
    fields = {**request.__dict__, **changes}
    out = tmp_path / "kit"
    build_kit(out, KitRequest(**fields), CREATED, pip=FakePip(FAKE_WHEELS))
    return out, signer


def test_layout_locks_and_signature(tmp_path: Path) -> None:
    public = tmp_path / "publisher.pub.pem"
    public.write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    bundle = tmp_path / "stable-1.bundle"
    bundle.write_bytes(b"a bundle")
    out, signer = _build(tmp_path, bundles=(bundle,), trusted_keys=(public,))
    listed = kit.parse_sums((out / kit.SUMS_NAME).read_bytes())
    assert sorted(listed) == sorted([
        "bundles/stable-1.bundle", "install.sh", "keys/publisher.pub.pem", "kit.json",
        "locks/cp312-manylinux2014_x86_64.txt", *(f"wheels/{name}" for name in FAKE_WHEELS)])
    lock = (out / "locks/cp312-manylinux2014_x86_64.txt").read_text()
    for content in FAKE_WHEELS.values():
        assert f"--hash=sha256:{hashlib.sha256(content).hexdigest()}" in lock
    assert "airgap-scanner==0.1.0 --hash=sha256:" in lock and "zstandard==0.22.0 --hash=" in lock
    manifest = json.loads((out / kit.MANIFEST_NAME).read_text())
    assert manifest["targets"] == [{"python": "3.12", "platform": "manylinux2014_x86_64",
                                    "lock": "locks/cp312-manylinux2014_x86_64.txt"}]
    assert manifest["keys"][0]["name"] == "publisher" and manifest["bundles"] == ["bundles/stable-1.bundle"]
    assert os.access(out / "install.sh", os.X_OK)
    result = kit.verify_kit(out, _policy(signer))
    assert len(result.files) == len(listed)
    assert not list(tmp_path.glob(".kit.*")), "the staging folder is removed"


def test_signature_context_is_not_a_bundle_manifest_context(tmp_path: Path) -> None:
    from scanner.db.bundle_format import SIGNATURE_CONTEXT as BUNDLE_CONTEXT

    assert kit.SIGNATURE_CONTEXT != BUNDLE_CONTEXT
    assert not kit.SIGNATURE_CONTEXT.startswith(BUNDLE_CONTEXT) and not BUNDLE_CONTEXT.startswith(kit.SIGNATURE_CONTEXT)


@pytest.mark.parametrize("damage", ["altered wheel", "extra file", "missing file", "symlink", "edited sums"])
def test_every_damage_is_refused(tmp_path: Path, damage: str) -> None:
    out, signer = _build(tmp_path)
    wheel = out / "wheels" / "typer-0.12.0-py3-none-any.whl"
    if damage == "altered wheel":
        wheel.write_bytes(b"typer, backdoored")
    elif damage == "extra file":
        (out / "wheels" / "evil-1.0-py3-none-any.whl").write_bytes(b"evil")
    elif damage == "missing file":
        wheel.unlink()
    elif damage == "symlink":
        wheel.unlink()
        wheel.symlink_to(tmp_path / "elsewhere")
    else:
        sums = out / kit.SUMS_NAME
        sums.write_bytes(sums.read_bytes().replace(b"0", b"1", 1))
    expected = BadSignatureError if damage == "edited sums" else kit.KitError
    with pytest.raises(expected):
        kit.verify_kit(out, _policy(signer))


def test_unsigned_and_wrong_signer_are_refused(tmp_path: Path) -> None:
    out, _ = _build(tmp_path, signing_keys=())
    with pytest.raises(kit.UnsignedKitError):
        kit.verify_kit(out, _policy(Ed25519PrivateKey.generate()))
    (tmp_path / "other").mkdir()
    signed, _ = _build(tmp_path / "other")
    with pytest.raises(UnknownKeyError):
        kit.verify_kit(signed, _policy(Ed25519PrivateKey.generate()))


@pytest.mark.parametrize("text", [
    b"", b"x\n", b"0" * 64 + b" install.sh\n", b"0" * 64 + b"  ../etc/passwd\n", b"0" * 64 + b"  /abs\n",
    b"0" * 64 + b"  a/b/c\n", ("0" * 64 + "  install.sh\n").encode() * 2, b"0" * 64 + b"  install.sh",
    b"0" * 64 + b"  z\n" + b"0" * 64 + b"  a\n", ("0" * 64 + "  caf\u00e9\n").encode(), b"A" * 64 + b"  x\n",
])
def test_sums_grammar_is_strict(text: bytes) -> None:
    with pytest.raises(kit.KitError):
        kit.parse_sums(text)


def test_bad_targets_are_usage_errors() -> None:
    assert len(targets([], [])) == 6
    for pythons, platforms in ((["2.7"], []), (["3.12; rm -rf /"], []), ([], ["win_amd64"]), ([], ["any"])):
        with pytest.raises(OperatorInputError):
            targets(pythons, platforms)


def test_an_sdist_from_pip_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "kit"
    pip = FakePip({**FAKE_WHEELS, "needs-a-compiler-1.0.tar.gz": b"sdist"})
    with pytest.raises(KitBuildError, match="wheels only"):
        build_kit(out, KitRequest(targets=(Target("3.12", "manylinux2014_x86_64"),)), CREATED, pip=pip)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_demo_key_needs_demo(tmp_path: Path) -> None:
    with pytest.raises(OperatorInputError, match="demo key"):
        _build(tmp_path, trusted_keys=(REPO / "bundles/demo-key.pub.pem",))
    assert not (tmp_path / "kit").exists()


def test_existing_output_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "kit").mkdir()
    with pytest.raises(OperatorInputError, match="already exists"):
        _build(tmp_path)


# --- install.sh ------------------------------------------------------------------------------------


def _host_target() -> Target:
    return Target(f"{sys.version_info.major}.{sys.version_info.minor}", f"manylinux2014_{platform.machine()}")


def _install(out: Path, venv: Path, *extra: str, network: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["sh", str(out / "install.sh"), str(venv), *extra]
    if not network:
        command = ["unshare", "--net", *command]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "VIRTUAL_ENV"))}
    return subprocess.run(command, capture_output=True, text=True, check=False, env=environment, timeout=600)


def test_install_refuses_an_altered_wheel_before_installing(tmp_path: Path) -> None:
    out, _ = _build(tmp_path)
    (out / "wheels" / "typer-0.12.0-py3-none-any.whl").write_bytes(b"typer, backdoored")
    venv = tmp_path / "venv"
    result = _install(out, venv)
    assert result.returncode == 3
    assert "typer-0.12.0-py3-none-any.whl does not match its sha256" in result.stderr
    assert not venv.exists()


def test_install_refuses_an_unlisted_file(tmp_path: Path) -> None:
    out, _ = _build(tmp_path)
    (out / "keys").mkdir()
    (out / "keys" / "attacker.pub.pem").write_bytes(b"not listed")
    result = _install(out, tmp_path / "venv")
    assert result.returncode == 3 and "keys/attacker.pub.pem is in the kit but not in SHA256SUMS" in result.stderr


def test_install_says_which_hosts_the_kit_is_for(tmp_path: Path) -> None:
    out, _ = _build(tmp_path, targets=(Target("3.99", "manylinux2014_s390x"),))
    venv = tmp_path / "venv"
    result = _install(out, venv)
    assert result.returncode == 4
    assert "this kit has no wheels for this host" in result.stderr and "CPython 3.99 manylinux2014_s390x" in result.stderr
    assert result.stderr.count("\n") == 3  # the SHA256SUMS digest, "all files match", and the one refusal
    assert not venv.exists()


def test_install_usage(tmp_path: Path) -> None:
    out, _ = _build(tmp_path)
    result = subprocess.run(["sh", str(out / "install.sh")], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.startswith("install.sh: usage:")


# --- the real thing: wheels from the index, an install with no network --------------------------------

_CAN_UNSHARE = shutil.which("unshare") is not None and os.geteuid() == 0


@pytest.mark.slow
@pytest.mark.skipif(not _CAN_UNSHARE and not os.environ.get("CI"), reason="needs root and unshare(1)")
def test_offline_install_imports_the_demo_bundle_and_scans(tmp_path: Path) -> None:
    out = tmp_path / "kit"
    request = KitRequest(targets=(_host_target(),), bundles=(REPO / "bundles/demo.bundle",),
                         trusted_keys=(REPO / "bundles/demo-key.pub.pem",), allow_demo_key=True)
    build_kit(out, request, CREATED)
    names = [path.name for path in (out / "wheels").iterdir()]
    assert any(name.startswith("cryptography-") for name in names)
    assert not any(name.startswith("sqlite_utils-") for name in names), "builder-only packages stay out"
    venv, state = tmp_path / "venv", tmp_path / "state"
    installed = _install(out, venv, "--state-dir", str(state), network=False)
    assert installed.returncode == 0, installed.stderr
    assert "Imported 1 bundle(s) from the kit." in installed.stdout
    scan = subprocess.run(["unshare", "--net", str(venv / "bin/scanner"), "--state-dir", str(state), "scan",
                           str(REPO / "bundles/demo-image.tar"), "-o", "json"],
                          capture_output=True, text=True, check=False, timeout=300)
    assert scan.returncode == 0, scan.stderr
    assert json.loads(scan.stdout)["findings"]
    builder = subprocess.run([str(venv / "bin/dbbuilder"), "--version"], capture_output=True, text=True, check=False)
    assert builder.returncode == 0, "dbbuilder starts without the builder extra; only `build` needs it"


@pytest.mark.slow
def test_a_kit_for_other_hosts_is_built_and_listed(tmp_path: Path) -> None:
    out = tmp_path / "kit"
    build_kit(out, KitRequest(targets=(Target("3.13", "manylinux2014_aarch64"),)), CREATED)
    lock = (out / "locks/cp313-manylinux2014_aarch64.txt").read_text()
    wheels = sorted(path.name for path in (out / "wheels").iterdir())
    assert any(name.startswith("zstandard-") and "cp313" in name and "aarch64" in name for name in wheels)
    assert any(name.startswith("cryptography-") and "aarch64" in name for name in wheels)
    for name in ("airgap-scanner", "typer", "zstandard", "cryptography", "packaging", "rich"):
        assert f"\n{name}==" in lock
    assert all(line.count("--hash=sha256:") == 1 for line in lock.splitlines() if not line.startswith("#"))


# --- the command lines -------------------------------------------------------------------------------


def test_scanner_kit_verify_command(tmp_path: Path) -> None:
    out, signer = _build(tmp_path)
    publisher = tmp_path / "kit-key.pub.pem"
    publisher.write_bytes(public_key_pem(signer.public_key()))
    stranger = tmp_path / "stranger.pub.pem"
    stranger.write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    good = run_program("scanner", "kit", "verify", str(out), "--trust", str(publisher))
    assert good.returncode == 0, good.stderr
    assert "signature ok (signed by kit-key.pub.pem" in good.stdout
    assert hashlib.sha256((out / kit.SUMS_NAME).read_bytes()).hexdigest() in good.stdout
    assert run_program("scanner", "kit", "verify", str(out), "--trust", str(stranger)).returncode == UnknownKeyError.exit_code
    too_many = run_program("scanner", "kit", "verify", str(out), "--trust", str(publisher), "--threshold", "2")
    assert too_many.returncode == 2 and "only 1 distinct --trust key" in too_many.stderr
    (out / "wheels" / "typer-0.12.0-py3-none-any.whl").write_bytes(b"swapped")
    altered = run_program("scanner", "kit", "verify", str(out), "--trust", str(publisher))
    assert altered.returncode == kit.KitDigestError.exit_code
    assert altered.stderr.count("\n") == 1 and "typer-0.12.0-py3-none-any.whl: sha256 differs" in altered.stderr


def test_dbbuilder_kit_flags_are_checked_before_any_download(tmp_path: Path) -> None:
    result = run_program("dbbuilder", "kit", "--out", str(tmp_path / "kit"), "--python", "2.7")
    assert result.returncode == 2 and "--python '2.7'" in result.stderr
    assert not (tmp_path / "kit").exists()


def test_both_programs_print_their_version() -> None:
    for program in ("scanner", "dbbuilder"):
        result = run_program(program, "--version")
        assert result.returncode == 0 and result.stdout.startswith(f"{program} ")
