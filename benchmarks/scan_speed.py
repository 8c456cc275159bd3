"""Whole-process scan speed on several kinds of image, side by side with Syft, against the decompression floor;
then many images in one run.

    .venv/bin/python -m benchmarks.scan_speed --rootfs DIR [--workdir /tmp/airgap-bench-scan]
        [--syft /tmp/syftvenv/bin/syft] [--runs 5] [--batch 20] [--skip-batch]

`--rootfs` is a Debian root filesystem (`debootstrap --variant=minbase bookworm DIR`). Builds once, in
--workdir, these archives:

| name | layout | layer | content |
|---|---|---|---|
| debian-docker | docker-archive | uncompressed (as `docker save` writes) | the root filesystem as Debian's published images hold it (below) |
| debian-oci-gzip | OCI archive | gzip -6 | the same |
| lang-docker | docker-archive | uncompressed | 2,000 Python distributions, 2,000 npm packages, 300 jars, 5 wars (benchmarks.lang_catalogers) |
| jars-oci-gzip | OCI archive | gzip -6 | 600 jars of about 40 KiB |
| go-oci-zstd | OCI archive | zstd -3 | the Go toolchain's own executables (real Go build info) under usr/local/bin |
| rpm-docker | docker-archive | uncompressed | CBL-Mariner 2.0's rpmdb.sqlite (../shared/data/osdb) and os-release, over the root filesystem's usr/ |

Debian's published images keep no apt package lists and no downloaded packages (their build empties
var/lib/apt/lists and var/cache/apt): the Debian archives leave out the files under those two, which
makes a minbase bookworm tree the issue's minimal Debian image (88 packages, a layer of about 120 MB
rather than 200 MB).

Then, `--runs` rounds, each running on every image, one after the other (interleaved): the floor
(`gzip -dc` / `zstd -dc` of the layer to /dev/null, `openssl sha256` of an uncompressed one: what any
reader of the archive must do), `scanner sbom -o cyclonedx-json`, `syft scan -o cyclonedx-json` (offline, update
check off) and `scanner scan -o json` against a bundle of the shared feeds (benchmarks.matching). It prints
medians of wall time and peak RSS (wait4) per image and tool.

The batch part hard-links `--batch` archives (the images above in turn) into one folder and times
`scanner scan FOLDER --output-dir` (all cores, then `--jobs 1`), the same archives scanned by one
`scanner scan` process each, and Syft then `scanner scan` of Syft's SBOM for each archive in sequence.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import zstandard

from benchmarks import ensure_bytecode
from benchmarks.lang_catalogers import _jar
from benchmarks.lang_catalogers import _members as lang_members
from benchmarks.matching import install_shared_feeds
from benchmarks.os_catalogers import _rootfs_members

ROOT = Path(__file__).resolve().parents[1]
SCANNER = str(ROOT / ".venv" / "bin" / "scanner")
MARINER = ROOT.parent / "shared" / "data" / "osdb" / "rpm-sqlite" / "cbl-mariner-2.0" / "rpmdb.sqlite"
GO_TOOLS = sorted(Path("/usr/lib").glob("go-*/pkg/tool/linux_amd64")) + sorted(Path("/usr/lib").glob("go-*/bin"))
LAYER_TYPES = {"none": "application/vnd.oci.image.layer.v1.tar",
               "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
Members = Iterator[tuple[tarfile.TarInfo, bytes]]


def _member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_600_000_000
    return info, data


def _jars() -> Members:
    for index in range(600):
        name, data = _jar(index)
        yield _member(f"opt/app/lib/{index:03d}-{name}", data)


def _go() -> Members:
    yield _member("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
    for directory in GO_TOOLS:
        for tool in sorted(directory.iterdir()):
            if tool.is_file():
                yield _member(f"usr/local/bin/{directory.parent.name}-{tool.name}", tool.read_bytes(), 0o755)


# What Debian's image build removes (files only: the directories stay, empty).
_APT_STATE = ("var/lib/apt/lists/", "var/cache/apt/")


def _debian(rootfs: Path) -> Members:
    for info, data in _rootfs_members(rootfs):
        if not (info.name.startswith(_APT_STATE) and not info.isdir()):
            yield info, data


def _rpm(rootfs: Path) -> Members:
    yield _member("etc/os-release", b'NAME="Common Base Linux Mariner"\nVERSION="2.0.20230630"\nID=mariner\n'
                                    b'VERSION_ID="2.0"\n')
    yield _member("var/lib/rpm/rpmdb.sqlite", MARINER.read_bytes())
    for info, data in _rootfs_members(rootfs):
        if info.name == "usr" or info.name.startswith("usr/"):
            yield info, data


def _compress(raw: Path, compression: str, out: Path) -> None:
    with raw.open("rb") as source, out.open("wb") as target:
        if compression == "gzip":
            with gzip.GzipFile(fileobj=target, mode="wb", compresslevel=6, mtime=0) as packed:
                shutil.copyfileobj(source, packed, 1 << 20)
        elif compression == "zstd":
            zstandard.ZstdCompressor(level=3).copy_stream(source, target)
        else:
            shutil.copyfileobj(source, target, 1 << 20)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_image(path: Path, members: Members, layout: str, compression: str, tag: str) -> Path:
    """A one-layer image archive: docker-archive or OCI archive, the layer uncompressed, gzip or zstd."""
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        raw, blob = Path(scratch) / "layer.tar", Path(scratch) / "layer.blob"
        with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as archive:
            for info, data in members:
                archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
        _compress(raw, compression, blob)
        diff_id, digest = _sha256(raw), _sha256(blob)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]}}).encode()
        config_digest = hashlib.sha256(config).hexdigest()
        files: dict[str, bytes | Path]
        if layout == "docker":
            files = {f"{config_digest}.json": config, f"{digest}.tar": blob,
                     "manifest.json": json.dumps([{"Config": f"{config_digest}.json", "RepoTags": [tag],
                                                   "Layers": [f"{digest}.tar"]}]).encode()}
        else:
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": f"sha256:{config_digest}", "size": len(config)},
                "layers": [{"mediaType": LAYER_TYPES[compression], "digest": f"sha256:{digest}",
                            "size": blob.stat().st_size}]}).encode()
            manifest_digest = hashlib.sha256(manifest).hexdigest()
            index = json.dumps({"schemaVersion": 2, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{manifest_digest}",
                 "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]}).encode()
            files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": index,
                     f"blobs/sha256/{manifest_digest}": manifest, f"blobs/sha256/{config_digest}": config,
                     f"blobs/sha256/{digest}": blob}
        partial = path.with_suffix(".partial")
        with tarfile.open(partial, "w") as archive:
            if layout == "oci":  # Syft's oci-archive reader needs the directories' own entries
                for directory in ("blobs", "blobs/sha256"):
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_600_000_000
                    archive.addfile(info)
            for name, content in files.items():
                if isinstance(content, Path):
                    archive.add(content, arcname=name)
                else:
                    archive.addfile(_member(name, content)[0], io.BytesIO(content))
        partial.replace(path)
    return path


def build_images(workdir: Path, rootfs: Path) -> dict[str, Path]:
    recipes: dict[str, tuple[Callable[[], Members], str, str]] = {
        "debian-docker": (lambda: _debian(rootfs), "docker", "none"),
        "debian-oci-gzip": (lambda: _debian(rootfs), "oci", "gzip"),
        "lang-docker": (lang_members, "docker", "none"),
        "jars-oci-gzip": (_jars, "oci", "gzip"),
        "go-oci-zstd": (_go, "oci", "zstd"),
        "rpm-docker": (lambda: _rpm(rootfs), "docker", "none"),
    }
    images = {}
    for name, (members, layout, compression) in recipes.items():
        path = workdir / f"{name}.tar"
        if not path.exists():
            started = time.perf_counter()
            write_image(path, members(), layout, compression, f"bench/{name}:1")
            print(f"built {path.name}: {path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
        images[name] = path
    return images


def layer_blobs(image: Path, workdir: Path) -> list[Path]:
    """The layers of a one-image archive written by `write_image`, extracted (once) as
    `NAME.layerN.{gzip,zstd,none}` for the floor's commands."""
    found = sorted(workdir.glob(f"{image.stem}.layer*"))
    if found:
        return found
    with tarfile.open(image) as archive:
        for member in archive.getmembers():
            stream = archive.extractfile(member)
            if stream is None or member.name.endswith(".json") or member.name in ("index.json", "oci-layout"):
                continue
            head = stream.read(512)
            kind = ("gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head[:4] == b"\x28\xb5\x2f\xfd"
                    else "none" if head[257:262] == b"ustar" else "")
            if not kind:
                continue  # a manifest or config blob of an OCI layout
            blob = workdir / f"{image.stem}.layer{len(found)}.{kind}"
            with blob.open("wb") as out:
                out.write(head)
                shutil.copyfileobj(stream, out, 1 << 20)
            found.append(blob)
    return found


def child(command: list[str], env: dict[str, str] | None = None, stdin: Path | None = None,
          accept: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one command, whose exit code must be in `accept`.

    The peak comes from GNU time's `%M` of the command it starts: that process is forked from `time`'s
    own small image, so its peak is its own (a process forked from this one would start its count at this
    benchmark's RSS: ru_maxrss is inherited across exec).
    """
    with tempfile.NamedTemporaryFile("r") as report, \
            (stdin.open("rb") if stdin is not None else open(os.devnull, "rb")) as source:
        started = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *command], stdin=source,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode not in accept:
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): "
                             f"{result.stderr.decode(errors='replace')[-1500:]}")
        return elapsed, int(report.read().split()[-1]) / 1024


def floor_command(compression: str) -> list[str]:
    """Decompress to nowhere; an uncompressed layer is only hashed (OpenSSL's SHA-256, as Python's hashlib)."""
    return {"gzip": ["gzip", "-dc"], "zstd": ["zstd", "-dc"], "none": ["openssl", "sha256"]}[compression]


def syft_source(image: Path) -> str:
    with tarfile.open(image) as archive:
        return f"{'oci-archive' if 'oci-layout' in archive.getnames() else 'docker-archive'}:{image}"


def compare(images: dict[str, Path], workdir: Path, syft: str | None, runs: int, env: dict[str, str]) -> None:
    floors = {name: layer_blobs(image, workdir) for name, image in images.items()}
    syft_env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    tools = ["floor", "scanner sbom", *(["syft scan"] if syft else []), "scanner scan"]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    out = workdir / "out.json"
    for _ in range(runs):
        for name, image in images.items():
            for tool in tools:
                if tool == "floor":
                    timing = [child(floor_command(blob.name.rsplit(".", 1)[1]), stdin=blob) for blob in floors[name]]
                    measured = (sum(t for t, _ in timing), max(m for _, m in timing))
                elif tool == "scanner sbom":
                    measured = child([SCANNER, "sbom", str(image), "-o", "cyclonedx-json", "--file", str(out)], env)
                elif tool == "syft scan":
                    assert syft is not None
                    measured = child([syft, "scan", syft_source(image), "-o", f"cyclonedx-json={out}", "-q"], syft_env)
                else:
                    measured = child([SCANNER, "scan", str(image), "-o", "json", "--file", str(out)], env,
                                     accept=(0, 1))
                results.setdefault((name, tool), []).append(measured)
    print(f"\n{runs} interleaved rounds; medians of wall time (peak RSS):\n")
    print("| image | archive | floor | scanner sbom | " + ("syft scan | syft / sbom | " if syft else "")
          + "scanner scan | scan / floor |")
    print("|---|---|---|---|" + ("---|---|" if syft else "") + "---|---|")
    def median(name: str, tool: str) -> tuple[float, float]:
        values = results[(name, tool)]
        return statistics.median(t for t, _ in values), statistics.median(m for _, m in values)

    for name, image in images.items():
        floor, _ = median(name, "floor")
        sbom, sbom_rss = median(name, "scanner sbom")
        scan, scan_rss = median(name, "scanner scan")
        cells = [name, f"{image.stat().st_size / 2**20:.0f} MiB", f"{floor:.2f} s",
                 f"{sbom:.2f} s ({sbom_rss:.0f} MiB)"]
        if syft:
            syft_time, syft_rss = median(name, "syft scan")
            cells += [f"{syft_time:.2f} s ({syft_rss:.0f} MiB)", f"{syft_time / sbom:.1f}x"]
        cells += [f"{scan:.2f} s ({scan_rss:.0f} MiB)", f"{scan / floor:.2f}x" if floor >= 0.05 else "-"]
        print("| " + " | ".join(cells) + " |")


def batch(images: dict[str, Path], workdir: Path, syft: str | None, count: int, env: dict[str, str]) -> None:
    folder = workdir / f"batch-{count}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    names = list(images)
    archives = []
    for number in range(count):
        kind = names[number % len(names)]
        archive = folder / f"{number:02d}-{kind}.tar"
        os.link(images[kind], archive)
        archives.append(archive)
    reports = workdir / "batch-reports"

    def one_run(jobs: int | None) -> str:
        if reports.exists():
            shutil.rmtree(reports)
        elapsed, peak = child([SCANNER, "scan", str(folder), "-o", "json", "--output-dir", str(reports),
                               *(["--jobs", str(jobs)] if jobs else [])], env, accept=(0, 1))
        return f"{elapsed:.1f} s | {peak:.0f} MiB per process ({len(list(reports.iterdir()))} reports)"

    print(f"\n{count} archives ({', '.join(names)} in turn), {sum(a.stat().st_size for a in archives) / 2**20:.0f} MiB:\n")
    print("| how | wall time | peak RSS |")
    print("|---|---|---|")
    print(f"| `scanner scan DIR --output-dir` (all {os.cpu_count()} cores) | {one_run(None)} |")
    print(f"| `scanner scan DIR --output-dir --jobs 1` | {one_run(1)} |")
    out = workdir / "single.json"
    started = time.perf_counter()
    for archive in archives:
        child([SCANNER, "scan", str(archive), "-o", "json", "--file", str(out)], env, accept=(0, 1))
    print(f"| {count} x `scanner scan ARCHIVE` | {time.perf_counter() - started:.1f} s | |")
    if syft:
        sbom = workdir / "syft-sbom.json"
        syft_env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
        started = time.perf_counter()
        for archive in archives:
            child([syft, "scan", syft_source(archive), "-o", f"cyclonedx-json={sbom}", "-q"], syft_env)
            child([SCANNER, "scan", str(sbom), "-o", "json", "--file", str(out)], env, accept=(0, 1))
        print(f"| {count} x (`syft scan ARCHIVE` then `scanner scan SBOM`) | {time.perf_counter() - started:.1f} s | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rootfs", type=Path, required=True, help="a Debian root filesystem (debootstrap)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/airgap-bench-scan"))
    parser.add_argument("--syft", default="/tmp/syftvenv/bin/syft")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    ensure_bytecode()
    args.workdir.mkdir(parents=True, exist_ok=True)
    syft = args.syft if Path(args.syft).exists() else None
    if syft is None:
        print(f"syft not found at {args.syft}: Syft columns skipped", file=sys.stderr)
    images = build_images(args.workdir, args.rootfs)
    env = install_shared_feeds(args.workdir)
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}; Python {sys.version.split()[0]}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}")
    compare(images, args.workdir, syft, args.runs, env)
    if not args.skip_batch:
        batch(images, args.workdir, syft, args.batch, env)


if __name__ == "__main__":
    main()
