"""OS catalogers at scale, side by side with Syft on the same image archives.

    .venv/bin/python -m benchmarks.os_catalogers [--workdir DIR] [--rootfs DIR] [--syft PATH]

Builds (once, cached in --workdir) a docker-archive with 5,000 dpkg packages (status file, one
`info/NAME.list` and 8 owned files per package, and a DEP-5 copyright file each), and, when
--rootfs names a Debian root filesystem (e.g. `debootstrap --variant=minbase bookworm DIR`), an
image of that tree. Times `scanner sbom -o json` and `syft scan` on each in subprocesses (wall
time and peak RSS of the child) and compares the deb package sets (name, version, arch).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks import ensure_bytecode
from benchmarks.lang_catalogers import per_cataloger_seconds, timed, write_docker_archive

PACKAGES = 5000
FILES_PER_PACKAGE = 8


def _synthetic_members() -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    def member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 1_600_000_000
        return info, data

    yield member("etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
                                   b"VERSION_CODENAME=bookworm\n")
    status = io.StringIO()
    for index in range(PACKAGES):
        name = f"bench-lib{index:04d}"
        status.write(f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
                     f"Installed-Size: {100 + index}\nMaintainer: Bench Maintainers <bench@example.org>\n"
                     f"Architecture: amd64\nMulti-Arch: same\nSource: bench-src{index // 4:04d} "
                     f"(1.{index % 10}-1)\nVersion: 1.{index % 10}-1+b1\nDepends: libc6 (>= 2.34)\n"
                     f"Description: benchmark library {index}\n" + " more text about the library.\n" * 3 + "\n")
        paths = [f"usr/lib/x86_64-linux-gnu/{name}/file{n}.so" for n in range(FILES_PER_PACKAGE - 1)]
        paths.append(f"usr/share/doc/{name}/copyright")
        directories = ["/usr", "/usr/lib", "/usr/lib/x86_64-linux-gnu", f"/usr/lib/x86_64-linux-gnu/{name}",
                       "/usr/share", "/usr/share/doc", f"/usr/share/doc/{name}"]
        listing = "\n".join(["/.", *directories, *(f"/{path}" for path in paths)]) + "\n"
        yield member(f"var/lib/dpkg/info/{name}:amd64.list", listing.encode())
        for path in paths[:-1]:
            yield member(path, hashlib.sha256(path.encode()).digest() * 8)
        yield member(paths[-1], f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                                f"Files: *\nCopyright: 2020 Bench\nLicense: {('MIT', 'GPL-2+', 'BSD-3-clause')[index % 3]}"
                                f"\n".encode())
    yield member("var/lib/dpkg/status", status.getvalue().encode())


def _rootfs_members(rootfs: Path) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(), mode="w") as scratch:  # only for gettarinfo
        for directory, subdirectories, names in os.walk(rootfs):
            subdirectories.sort()
            for name in sorted([*subdirectories, *names]):
                path = Path(directory) / name
                info = scratch.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
                # As Docker's and containerd's archivers write layers: whole-second times, so a pax
                # header appears only where ustar cannot hold a field (long names, large numbers).
                info.mtime = int(info.mtime)
                if info.isreg():
                    yield info, path.read_bytes()
                elif info.isdir() or info.issym() or info.islnk():
                    yield info, b""


def _debs_ours(sbom: Path) -> set[tuple[str, str, str]]:
    packages = json.loads(sbom.read_text())["packages"]
    return {(p["name"], p["version"], p["arch"]) for p in packages if p["type"] == "deb"}


def _debs_syft(sbom: Path) -> set[tuple[str, str, str]]:
    artifacts = json.loads(sbom.read_text())["artifacts"]
    return {(a["name"], a["version"], a.get("metadata", {}).get("architecture", ""))
            for a in artifacts if a["type"] == "deb"}


def compare(image: Path, label: str, syft: str) -> list[str]:
    """Markdown table rows for one image: scanner, then Syft when it is installed."""
    ours_out = image.with_suffix(".ours.json")
    scanner = str(Path(sys.executable).parent / "scanner")
    ours_time, ours_rss = timed([scanner, "sbom", str(image), "-o", "json", "--file", str(ours_out)])
    ours = _debs_ours(ours_out)
    size = f"{image.stat().st_size / 2**20:.1f} MiB"
    rows = [f"| {label} ({size}) | scanner sbom | {ours_time:.2f} s | {ours_rss:.0f} MiB | {len(ours)} | |"]
    if Path(syft).exists():
        syft_out = image.with_suffix(".syft.json")
        env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
        syft_time, syft_rss = timed([syft, "scan", f"docker-archive:{image}", "-o", f"syft-json={syft_out}", "-q"],
                                    env)
        theirs = _debs_syft(syft_out)
        same = "same set" if theirs == ours else f"only scanner {len(ours - theirs)}, only syft {len(theirs - ours)}"
        rows.append(f"| {label} ({size}) | syft {syft_version(syft)} | {syft_time:.2f} s | {syft_rss:.0f} MiB | "
                    f"{len(theirs)} | {same} |")
    return rows


def syft_version(syft: str) -> str:
    output = subprocess.run([syft, "version"], capture_output=True, text=True, check=False).stdout
    return next((line.split()[-1] for line in output.splitlines() if line.startswith("Version:")), "?")


def build_images(workdir: Path, rootfs: Path | None) -> dict[str, Path]:
    images = {"synthetic 5,000 debs": workdir / "dpkg-5000.tar"}
    if rootfs is not None:
        images["debootstrap bookworm minbase"] = workdir / "debian-rootfs.tar"
    for label, image in images.items():
        if not image.exists():
            start = time.perf_counter()
            members = _synthetic_members() if image.name == "dpkg-5000.tar" else _rootfs_members(Path(str(rootfs)))
            write_docker_archive(image, members, f"bench/{image.stem}:1")
            print(f"built {label} in {time.perf_counter() - start:.1f} s")
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/airgap-bench-os"))
    parser.add_argument("--rootfs", type=Path, help="a Debian root filesystem to image (debootstrap output)")
    parser.add_argument("--syft", default="/tmp/syftvenv/bin/syft")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ensure_bytecode()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.build_only:
        build_images(args.workdir, args.rootfs)
        return
    # Built in a child: a parent grown by building would inflate the children's peak RSS.
    rootfs = ["--rootfs", str(args.rootfs)] if args.rootfs else []
    subprocess.run([sys.executable, "-m", "benchmarks.os_catalogers", "--build-only", "--workdir",
                    str(args.workdir), *rootfs], check=True)
    images = build_images(args.workdir, args.rootfs)
    print("| image | tool | wall time | peak RSS | deb packages | package sets |")
    print("|---|---|---|---|---|---|")
    for label, image in images.items():
        for row in compare(image, label, args.syft):
            print(row)
    print()
    print("| image | image read (in-process) | dpkg cataloger | apk | rpm |")
    print("|---|---|---|---|---|")
    for label, image in images.items():
        seconds = per_cataloger_seconds(image)
        print(f"| {label} | {seconds['(image read)']:.2f} s | {seconds['dpkg']:.2f} s | {seconds['apk']:.2f} s | "
              f"{seconds['rpm']:.2f} s |")


if __name__ == "__main__":
    main()
