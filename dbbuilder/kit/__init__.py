"""`dbbuilder kit`: everything an isolated host needs to install the scanner, in one signable directory.

The layout and the checks are the scanner's (scanner.kit); this module fetches wheels with pip on the
connected side, one resolution per target (Python version x platform), and writes the lock files,
`kit.json`, `install.sh`, `SHA256SUMS` and, with signing keys, `SHA256SUMS.sig`.

Only wheels go in (`--only-binary=:all:`): an isolated host has no compiler, and a kit that needs one
would fail there, far from anyone who could fix it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from dbbuilder.bundle.writer import signatures_bytes
from scanner import kit
from scanner.db.bundle_format import key_id
from scanner.db.trust import DEMO_KEY_ID, raw_public_key
from scanner.db.verify import format_time
from scanner.errors import OperatorInputError
from scanner.fileio import read_capped

DEFAULT_PYTHONS = ("3.11", "3.12", "3.13")
DEFAULT_PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64")
PROJECT_NAME = "airgap-scanner"
_PYTHON = re.compile(r"3\.(1[1-9]|[2-9][0-9])")
_PLATFORM = re.compile(r"(manylinux2014|manylinux_2_\d{1,2}|musllinux_1_\d{1,2})_(x86_64|aarch64|ppc64le|s390x)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,80}")
MAX_KEY_FILE_BYTES = 64 * 1024


class KitBuildError(kit.KitError):
    """The kit could not be built: pip failed, a target has no wheels, or the output is in the way."""

    exit_code = 63


@dataclass(frozen=True)
class Target:
    python: str  # "3.12"
    platform: str  # a wheel platform tag, "manylinux2014_x86_64"

    @property
    def lock_path(self) -> str:
        return f"{kit.LOCKS_DIR}/cp{self.python.replace('.', '')}-{self.platform}.txt"


@dataclass(frozen=True)
class KitRequest:
    targets: tuple[Target, ...]
    project_wheel: Path | None = None  # else built from the source tree this dbbuilder runs from
    bundles: tuple[Path, ...] = ()
    trusted_keys: tuple[Path, ...] = ()
    signing_keys: tuple[Ed25519PrivateKey, ...] = ()
    find_links: Path | None = None  # wheels from this folder only (no index): a kit built offline
    allow_demo_key: bool = False  # the shipped demo key among trusted_keys (a demonstration kit)


@dataclass(frozen=True)
class KitResult:
    directory: Path
    project_version: str
    wheels: int
    total_bytes: int
    sums_sha256: str
    signed_by: tuple[str, ...]


Runner = Callable[[Sequence[str]], None]


def targets(pythons: Sequence[str], platforms: Sequence[str]) -> tuple[Target, ...]:
    for python in pythons:
        if not _PYTHON.fullmatch(python):
            raise OperatorInputError(f"--python {python!r}: expected a CPython version 3.11 or later, such as 3.12")
    for platform in platforms:
        if not _PLATFORM.fullmatch(platform):
            raise OperatorInputError(f"--platform {platform!r}: expected a wheel platform tag such as manylinux2014_x86_64, "
                             "manylinux_2_28_aarch64 or musllinux_1_2_x86_64")
    chosen = [Target(python, platform) for python in dict.fromkeys(pythons or DEFAULT_PYTHONS)
              for platform in dict.fromkeys(platforms or DEFAULT_PLATFORMS)]
    return tuple(chosen)


def run_pip(arguments: Sequence[str]) -> None:
    """pip in this interpreter; its own output goes to our stderr, a failure becomes one KitBuildError line."""
    completed = subprocess.run([sys.executable, "-m", "pip", *arguments], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, check=False)
    if completed.returncode != 0:
        lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:] or ["(no output)"]
        raise KitBuildError(f"pip {arguments[0]} failed: {errors[-1]}")


def source_tree() -> Path | None:
    """The checkout this dbbuilder runs from, when it runs from one (an editable or source install)."""
    candidate = Path(__file__).resolve().parents[2]
    pyproject = candidate / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return candidate if re.search(rf'^name\s*=\s*"{PROJECT_NAME}"', text, re.MULTILINE) else None


def _project_wheel(request: KitRequest, scratch: Path, pip: Runner) -> Path:
    if request.project_wheel is not None:
        wheel = request.project_wheel
    else:
        tree = source_tree()
        if tree is None:
            raise OperatorInputError("this dbbuilder is not running from a source checkout: pass --project-wheel "
                             f"with the {PROJECT_NAME} wheel to put in the kit")
        # A copy, so that the build's `build/` and `*.egg-info` stay out of the checkout.
        source = scratch / "source"
        ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(tree / name, source / name)
        for package in ("scanner", "dbbuilder"):
            shutil.copytree(tree / package, source / package, ignore=ignored)
        built = scratch / "project"
        pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(built), str(source)])
        found = sorted(built.glob("*.whl"))
        if len(found) != 1:
            raise KitBuildError(f"building the {PROJECT_NAME} wheel gave {len(found)} wheels, expected one")
        wheel = found[0]
    try:
        name, _, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        raise OperatorInputError(f"--project-wheel {wheel}: not a wheel file name") from None
    if name != PROJECT_NAME:
        raise OperatorInputError(f"--project-wheel {wheel}: a wheel of {name}, not of {PROJECT_NAME}")
    if not wheel.is_file():
        raise OperatorInputError(f"--project-wheel {wheel}: no such file")
    return wheel


def _download(target: Target, project_wheel: Path, into: Path, request: KitRequest, pip: Runner) -> None:
    source = ["--no-index", "--find-links", str(request.find_links)] if request.find_links else []
    pip(["download", "--quiet", "--dest", str(into), "--only-binary=:all:", "--implementation", "cp",
         "--python-version", target.python, "--platform", target.platform, *source, str(project_wheel)])


def _lock_document(target: Target, wheels: Sequence[tuple[str, str, str]]) -> bytes:
    """pip's --require-hashes requirements for one target: every wheel pinned by version and sha256."""
    lines = [f"# {PROJECT_NAME} install kit: CPython {target.python}, {target.platform}",
             "# install with: pip install --no-index --find-links wheels --require-hashes -r THIS_FILE"]
    lines += [f"{name}=={version} --hash=sha256:{digest}" for name, version, digest in sorted(wheels)]
    return ("\n".join(lines) + "\n").encode("ascii")


def _add_wheels(target: Target, downloaded: Path, wheels_dir: Path) -> list[tuple[str, str, str]]:
    pinned: list[tuple[str, str, str]] = []
    for path in sorted(downloaded.iterdir()):
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            raise KitBuildError(f"{target.python}/{target.platform}: pip fetched {path.name}, which is not a "
                                "wheel; a kit carries wheels only (the isolated host has no compiler)") from None
        digest = kit.file_sha256(path)
        kept = wheels_dir / path.name
        if kept.exists():
            if kit.file_sha256(kept) != digest:
                raise KitBuildError(f"{path.name}: two different files under one wheel name")
        else:
            shutil.copyfile(path, kept)
        pinned.append((str(name), str(version), digest))
    if not pinned:
        raise KitBuildError(f"no wheels for CPython {target.python} on {target.platform}")
    return pinned


def _copy_named(sources: Sequence[Path], folder: Path, suffix: str, what: str) -> list[tuple[str, Path]]:
    """Copies into `folder` under a kit-safe name; (kit path, source) for each."""
    copied: list[tuple[str, Path]] = []
    for source in sources:
        name = source.name if source.name.endswith(suffix) else source.name + suffix
        if not kit.is_kit_path(f"{folder.name}/{name}"):
            raise OperatorInputError(f"{what} {source}: rename it to letters, digits, '.', '_', '+' and '-' only")
        target = folder / name
        if target.exists():
            raise OperatorInputError(f"{what} {source}: a second file named {name}")
        try:
            shutil.copyfile(source, target)
        except OSError as error:
            raise OperatorInputError(f"{what} {source}: cannot read it ({error.strerror or error})") from None
        copied.append((f"{folder.name}/{name}", source))
    return copied


def _key_entries(sources: Sequence[Path], folder: Path, allow_demo: bool) -> list[dict[str, str | bool]]:
    entries: list[dict[str, str | bool]] = []
    for source in sources:
        pem = read_capped(source, MAX_KEY_FILE_BYTES, "public key", OperatorInputError)
        raw = raw_public_key(pem, str(source))  # refuses what `scanner trust add` would refuse
        demo = key_id(raw) == DEMO_KEY_ID
        if demo and not allow_demo:
            raise OperatorInputError(f"--trust {source}: the shipped demo key, whose private half is public; a kit "
                             "carries it only for a demonstration, with --demo")
        stem = source.name.removesuffix(".pem").removesuffix(".pub")
        name = stem if _NAME.fullmatch(stem) else key_id(raw)[:16]
        entries.append({"path": f"{kit.KEYS_DIR}/{name}.pub.pem", "name": name, "keyid": key_id(raw), "demo": demo})
        target = folder / f"{name}.pub.pem"
        if target.exists():
            raise OperatorInputError(f"--trust {source}: a second key named {name}")
        target.write_bytes(pem)
    return entries


def build_kit(out: Path, request: KitRequest, created_at: datetime, pip: Runner = run_pip) -> KitResult:
    """Write the kit to `out` (which must not exist): complete, or not there at all."""
    if out.exists() or out.is_symlink():
        raise OperatorInputError(f"--out {out}: already exists; give a new folder")
    if not out.parent.is_dir():
        raise OperatorInputError(f"--out {out}: {out.parent} is not a folder")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staging, scratch = work / "kit", work / "scratch"
        for folder in (staging / kit.WHEELS_DIR, staging / kit.LOCKS_DIR, scratch):
            folder.mkdir(parents=True)
        project_wheel = _project_wheel(request, scratch, pip)
        _, project_version, _, _ = parse_wheel_filename(project_wheel.name)
        target_entries = []
        for index, target in enumerate(request.targets):
            downloaded = scratch / f"target-{index}"
            _download(target, project_wheel, downloaded, request, pip)
            pinned = _add_wheels(target, downloaded, staging / kit.WHEELS_DIR)
            (staging / target.lock_path).write_bytes(_lock_document(target, pinned))
            target_entries.append({"python": target.python, "platform": target.platform,
                                   "lock": target.lock_path})
        bundles: list[tuple[str, Path]] = []
        if request.bundles:
            (staging / kit.BUNDLES_DIR).mkdir()
            bundles = _copy_named(request.bundles, staging / kit.BUNDLES_DIR, ".bundle", "--bundle")
        keys: list[dict[str, str | bool]] = []
        if request.trusted_keys:
            (staging / kit.KEYS_DIR).mkdir()
            keys = _key_entries(request.trusted_keys, staging / kit.KEYS_DIR, request.allow_demo_key)
        manifest = {"format": kit.FORMAT_NAME, "format_version": kit.FORMAT_VERSION,
                    "project": {"name": PROJECT_NAME, "version": str(project_version)},
                    "created_at": format_time(created_at), "targets": target_entries,
                    "keys": keys, "bundles": [path for path, _ in bundles]}
        (staging / kit.MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                                 encoding="ascii")
        installer = staging / kit.INSTALLER_NAME
        installer.write_bytes(resources.files(__package__).joinpath("install.sh").read_bytes())
        os.chmod(installer, 0o755)
        digests = {path: kit.file_sha256(staging / path) for path in kit.kit_files(staging)}
        sums = kit.sums_document(digests)
        (staging / kit.SUMS_NAME).write_bytes(sums)
        signed_by: tuple[str, ...] = ()
        if request.signing_keys:
            document, signed_by = signatures_bytes(sums, request.signing_keys, context=kit.SIGNATURE_CONTEXT)
            (staging / kit.SIGNATURE_NAME).write_bytes(document)
        total = sum((staging / path).stat().st_size for path in digests)
        wheels = len(list((staging / kit.WHEELS_DIR).iterdir()))
        os.rename(staging, out)
        return KitResult(out, str(project_version), wheels, total, hashlib.sha256(sums).hexdigest(), signed_by)
    finally:
        shutil.rmtree(work, ignore_errors=True)
