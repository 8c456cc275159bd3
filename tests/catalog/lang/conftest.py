"""Real artifacts from the registries this project reaches, downloaded once and cached.

The cache lives in ~/.cache/airgap-scanner-tests/lang (AIRGAP_TEST_CACHE overrides it). A download
that cannot run (no network, no npm) skips outside CI and fails in CI, where .ci/run provides them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.image.filesystem import MemoryFilesystem

CACHE = Path(os.environ.get("AIRGAP_TEST_CACHE", Path.home() / ".cache" / "airgap-scanner-tests")) / "lang"


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def tree_filesystem(root: Path, prefix: str = "") -> MemoryFilesystem:
    """Files, symlinks and modes under `root` (an unpacked package), placed at `prefix` + relative path."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    modes: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        image_path = prefix + path.relative_to(root).as_posix()
        if path.is_symlink():
            links[image_path] = os.readlink(path)
        elif path.is_file():
            files[image_path] = path.read_bytes()
            modes[image_path] = path.stat().st_mode & 0o7777
    return MemoryFilesystem(files=files, symlinks=links, modes=modes)


def cached(name: str, fetch: Callable[[Path], None]) -> Path:
    """CACHE/name, made by `fetch(tmpdir)` on first use (atomically, so parallel workers may race)."""
    target = CACHE / name
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=CACHE))
    try:
        fetch(work)
        if not target.exists():
            os.replace(work, target)
    except (OSError, subprocess.CalledProcessError) as error:
        unavailable(f"cannot fetch {name}: {error}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _run(args: list[str], cwd: Path) -> None:
    if shutil.which(args[0]) is None and not Path(args[0]).exists():
        raise OSError(f"{args[0]} not installed")
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def wheels_site() -> Path:
    """urllib3 1.24.1 and six 1.10.0, as pip installs them: a site-packages folder from their wheels."""
    def fetch(work: Path) -> None:
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "urllib3==1.24.1", "six==1.10.0",
              "-d", str(work / "dl")], work)
        for wheel in sorted((work / "dl").glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(work / "site")
        shutil.rmtree(work / "dl")
    return cached("wheels", fetch) / "site"


@pytest.fixture(scope="session")
def lodash_package() -> Path:
    """lodash 4.17.15 from the npm registry, unpacked (its `package/` folder)."""
    def fetch(work: Path) -> None:
        _run(["npm", "pack", "-q", "lodash@4.17.15"], work)
        with tarfile.open(next(work.glob("lodash-*.tgz"))) as archive:
            archive.extractall(work, filter="data")
    return cached("lodash", fetch) / "package"


def _debian_package(name: str) -> Callable[[Path], None]:
    def fetch(work: Path) -> None:
        _run(["apt-get", "download", "-q", name], work)
        _run(["dpkg-deb", "-x", str(next(work.glob(f"{name}_*.deb"))), "root"], work)
    return fetch


@pytest.fixture(scope="session")
def log4j_deb_root() -> Path:
    """Debian's liblog4j1.2-java unpacked: the upstream log4j 1.2.17 jar and its maven-repo links."""
    return cached("liblog4j1.2-java", _debian_package("liblog4j1.2-java")) / "root"


@pytest.fixture(scope="session")
def gosu_deb_root() -> Path:
    """Debian's gosu unpacked: a Go 1.19 executable."""
    return cached("gosu", _debian_package("gosu")) / "root"
