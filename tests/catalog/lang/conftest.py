"""Real artifacts from the registries this project reaches, downloaded once and cached.

The cache lives in ~/.cache/airgap-scanner-tests/lang (AIRGAP_TEST_CACHE overrides it). A download
that cannot run (no network, no npm) skips outside CI and fails in CI, where .ci/run provides them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
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
        try:
            os.replace(work, target)
        except OSError:
            if not target.exists():  # else a parallel worker got there first with the same content
                raise
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


# The cargo-auditable format: crates with name, version, source, kind, dependency indices, root flag.
AUDIT = {"packages": [
    {"name": "hello", "version": "0.1.0", "source": "local", "dependencies": [1, 2], "root": True},
    {"name": "smallvec", "version": "1.6.0", "source": "crates.io"},
    {"name": "cc", "version": "1.0.79", "source": "crates.io", "kind": "build"},
    {"name": "noversion", "source": "crates.io"},
]}


def _write_module(proxy: Path, path: str, version: str, package: str) -> None:
    folder = proxy / path / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    go_mod = f"module {path}\n\ngo 1.19\n"
    with (folder / "list").open("a") as listing:
        listing.write(version + "\n")
    (folder / f"{version}.info").write_text(json.dumps({"Version": version}))
    (folder / f"{version}.mod").write_text(go_mod)
    with zipfile.ZipFile(folder / f"{version}.zip", "w") as archive:
        archive.writestr(f"{path}@{version}/go.mod", go_mod)
        archive.writestr(f"{path}@{version}/{package}.go", f'package {package}\n\nfunc Name() string {{ return "{path}" }}\n')


def _build_go_app(work: Path) -> None:
    if shutil.which("go") is None:
        raise OSError("go not installed (Debian package golang-go)")
    proxy = work / "proxy"
    _write_module(proxy, "example.com/lib", "v1.4.0", "lib")
    _write_module(proxy, "example.com/fork", "v1.0.1", "old")
    _write_module(proxy, "example.com/old", "v1.0.0", "old")
    (work / "local").mkdir()
    (work / "local" / "go.mod").write_text("module example.com/local\n\ngo 1.19\n")
    (work / "local" / "local.go").write_text('package local\n\nfunc Name() string { return "local" }\n')
    app = work / "app"
    app.mkdir()
    (app / "go.mod").write_text(
        "module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/lib v1.4.0\n\texample.com/old v1.0.0\n"
        "\texample.com/local v0.0.0\n)\n\nreplace example.com/old v1.0.0 => example.com/fork v1.0.1\n\n"
        "replace example.com/local => ../local\n")
    (app / "main.go").write_text('package main\n\nimport (\n\t"example.com/lib"\n\t"example.com/local"\n'
                                 '\t"example.com/old"\n)\n\nfunc main() { println(lib.Name(), old.Name(), local.Name()) }\n')
    env = {**os.environ, "GOPROXY": f"file://{proxy}", "GOSUMDB": "off", "GOFLAGS": "-mod=mod",
           "GOCACHE": str(work / "cache"), "GOPATH": str(work / "gopath"), "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "build", "-o", str(work / "bin" / "app"), "."], cwd=app, env=env, check=True,
                   capture_output=True, timeout=300)
    subprocess.run(["chmod", "-R", "u+w", str(work / "gopath")], check=False)
    for name in ("proxy", "local", "app", "cache", "gopath"):
        shutil.rmtree(work / name)


def _build_stamped_go_binary(work: Path) -> None:
    """A main module without dependencies, its version stamped by the linker as release scripts do."""
    if shutil.which("go") is None:
        raise OSError("go not installed (Debian package golang-go)")
    (work / "go.mod").write_text("module example.com/tool\n\ngo 1.19\n")
    (work / "main.go").write_text('package main\n\nvar version = "dev"\n\nfunc main() { println(version) }\n')
    env = {**os.environ, "GOFLAGS": "", "GOCACHE": str(work / "cache"), "GOPATH": str(work / "gopath"),
           "GOTOOLCHAIN": "local", "GOPROXY": "off"}
    subprocess.run(["go", "build", "-o", str(work / "bin" / "tool"), "-ldflags",
                    "-s -w -X 'main.version=1.18.1' -X main.commit=0123abc", "."],
                   cwd=work, env=env, check=True, capture_output=True, timeout=300)
    for name in ("cache", "gopath"):
        shutil.rmtree(work / name, ignore_errors=True)


def _build_auditable_binary(work: Path) -> None:
    """A real rustc-built executable with a real-format `.dep-v0` section added by objcopy.

    cargo-auditable itself comes only from crates.io, which is out of reach; the section it would
    write is the same zlib-compressed JSON, so objcopy puts exactly that into a cargo-built binary.
    """
    for tool in ("cargo", "objcopy"):
        if shutil.which(tool) is None:
            raise OSError(f"{tool} not installed")
    subprocess.run(["cargo", "new", "-q", "--bin", "hello"], cwd=work, check=True, capture_output=True)
    subprocess.run(["cargo", "build", "-q", "--release", "--offline"], cwd=work / "hello", check=True,
                   capture_output=True, timeout=300)
    (work / "deps.zlib").write_bytes(zlib.compress(json.dumps(AUDIT).encode()))
    (work / "bin").mkdir()
    subprocess.run(["objcopy", "--add-section", f".dep-v0={work / 'deps.zlib'}",
                    "--set-section-flags", ".dep-v0=noload,readonly",
                    str(work / "hello" / "target" / "release" / "hello"), str(work / "bin" / "hello")],
                   check=True, capture_output=True)
    shutil.rmtree(work / "hello")


@pytest.fixture(scope="session")
def go_app_binary() -> Path:
    """A Go executable built by the Debian toolchain from a module with a proxy dependency and replacements."""
    return cached("go-app", _build_go_app) / "bin" / "app"


@pytest.fixture(scope="session")
def go_stamped_binary() -> Path:
    """A Go executable built by the Debian toolchain with `-ldflags "-X 'main.version=1.18.1'"`."""
    return cached("go-stamped", _build_stamped_go_binary) / "bin" / "tool"


@pytest.fixture(scope="session")
def rust_audit_binary() -> Path:
    """A cargo-built Rust executable carrying a cargo-auditable `.dep-v0` section."""
    return cached("rust-hello", _build_auditable_binary) / "bin" / "hello"
