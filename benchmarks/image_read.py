"""Image reading benchmark: full read time against the `gzip -dc` floor, peak memory, file-count scaling.

    .venv/bin/python -m benchmarks.image_read            # everything (about 3 minutes on 2 cores)
    .venv/bin/python -m benchmarks.image_read --quick    # smaller sizes, for a smoke run

Images are generated in a temporary directory and removed afterwards. Each read runs in a fresh
subprocess so that its peak RSS (VmHWM) is its own. The requests are the registered catalogers'
real ones, so the captured set is what a scan captures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_MTIME = 1_640_995_200


def _corpus(size: int, seed: int) -> bytes:
    """Text-like bytes that gzip compresses about 3:1, like typical layer content."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 12))) for _ in range(5000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=64)) + b"\n"
        out += rng.randbytes(48)
    return bytes(out[:size])


def _member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _MTIME
    return info, data


def _layer_members(layer: int, files: int, total_bytes: int, corpus: bytes, seed: int) -> Iterator[
        tuple[tarfile.TarInfo, bytes]]:
    rng = random.Random(seed)
    average = max(1, total_bytes // max(files, 1))
    if layer == 0:
        yield _member("etc/os-release", b'ID=debian\nVERSION_ID="11"\n')
        yield _member("var/lib/dpkg/status", b"Package: libc6\nStatus: install ok installed\nVersion: 2.31-13\n\n" * 200)
    for number in range(files):
        directory = f"usr/share/layer{layer}/d{number // 500:04d}"
        size = min(len(corpus) - 1, int(rng.expovariate(1 / average)))
        offset = rng.randrange(0, len(corpus) - size)
        kind = number % 50
        if kind == 0:
            yield _member(f"usr/lib/python3/dist-packages/p{layer}_{number}.dist-info/METADATA",
                          b"Metadata-Version: 2.1\nName: p%d\nVersion: 1.0\n" % number)
        elif kind == 1:
            yield _member(f"{directory}/bin{number}", b"\x7fELF" + corpus[offset:offset + size], 0o755)
        else:
            yield _member(f"{directory}/f{number}.txt", corpus[offset:offset + size])


def _write_gzip_layer(path: Path, members: Iterator[tuple[tarfile.TarInfo, bytes]]) -> None:
    with open(path, "wb") as raw:
        gzip_process = subprocess.Popen(["gzip", "-6", "-n", "-c"], stdin=subprocess.PIPE, stdout=raw)
        assert gzip_process.stdin is not None
        with tarfile.open(fileobj=gzip_process.stdin, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            for info, data in members:
                archive.addfile(info, io.BytesIO(data))
        gzip_process.stdin.close()
        if gzip_process.wait() != 0:
            raise RuntimeError("gzip failed")


def _sha256_file(path: Path, uncompressed: bool) -> str:
    import hashlib

    digest = hashlib.sha256()
    if uncompressed:
        process = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
        assert process.stdout is not None
        while chunk := process.stdout.read(1 << 20):
            digest.update(chunk)
        process.wait()
    else:
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def make_image(directory: Path, layers: int, files: int, total_bytes: int) -> tuple[Path, list[Path]]:
    """An OCI layout directory with `layers` gzip layers; the blobs double as the floor's input."""
    corpus = _corpus(32 * 1024 * 1024, 1)
    blobs_dir = directory / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)
    layer_paths = [directory / f"layer{n}.tar.gz" for n in range(layers)]
    per_layer_files, per_layer_bytes = files // layers, total_bytes // layers
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: _write_gzip_layer(
            layer_paths[n], _layer_members(n, per_layer_files, per_layer_bytes, corpus, n)), range(layers)))
    descriptors, diff_ids = [], []
    for path in layer_paths:
        digest = _sha256_file(path, uncompressed=False)
        diff_ids.append(_sha256_file(path, uncompressed=True))
        target = blobs_dir / digest[7:]
        os.link(path, target)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                            "size": path.stat().st_size})

    def blob(data: bytes) -> dict[str, object]:
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        (blobs_dir / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **blob(config.encode())},
                           "layers": descriptors})
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                **blob(manifest.encode())}]}
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return directory, layer_paths


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor_seconds(layer_paths: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of `gzip -dc` over every layer, one after the other."""
    start, cpu = time.perf_counter(), _children_cpu()
    for path in layer_paths:
        subprocess.run(["gzip", "-dc", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start, _children_cpu() - cpu


def read_in_subprocess(image: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-m", "benchmarks.image_read", "--child", str(image)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _peak_rss_mib() -> float:
    """VmHWM: unlike ru_maxrss, Linux resets it at exec, so the parent's memory does not leak in."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(image: Path) -> None:
    from scanner.catalog import all_requests, load_catalogers
    from scanner.image import open_image

    requests = all_requests(load_catalogers())
    baseline = _peak_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    with open_image(image, requests=requests) as opened:
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        captured = len({path for request in requests for path in opened.filesystem.captured(request)})
        entries = sum(layer.files for layer in opened.metadata.layers)
        uncompressed = sum(layer.uncompressed_size for layer in opened.metadata.layers)
    peak = _peak_rss_mib()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mib": peak, "baseline_mib": baseline,
                      "captured": captured, "entries": entries, "uncompressed": uncompressed}))


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--skip-scaling", action="store_true")
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
        return
    scale = 10 if arguments.quick else 1
    print(f"machine: {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}", flush=True)
    with tempfile.TemporaryDirectory(prefix="image-bench-") as temporary:
        root = Path(temporary)
        image, layers = make_image(root / "large", 4, 100_000 // scale, 1024 ** 3 // scale)
        floor, floor_cpu = min(floor_seconds(layers) for _ in range(2))
        ours = min((read_in_subprocess(image) for _ in range(2)), key=lambda r: r["seconds"])
        print("\n### Full read (4 gzip layers)\n")
        print(_row("uncompressed", "tar entries", "captured files", "gzip -dc floor: wall / CPU (s)",
                   "our read: wall / CPU (s)", "ratio wall / CPU", "peak RSS (MiB)", "RSS after imports (MiB)"))
        print(_row(*["---"] * 8))
        print(_row(f"{ours['uncompressed'] / 1024**2:.0f} MiB", int(ours["entries"]), int(ours["captured"]),
                   f"{floor:.2f} / {floor_cpu:.2f}", f"{ours['seconds']:.2f} / {ours['cpu']:.2f}",
                   f"{ours['seconds'] / floor:.2f}x / {ours['cpu'] / floor_cpu:.2f}x",
                   f"{ours['peak_mib']:.0f}", f"{ours['baseline_mib']:.0f}"), flush=True)
        if arguments.skip_scaling:
            return
        print("\n### File-count scaling (small files, 2 gzip layers)\n")
        print(_row("files", "uncompressed", "gzip -dc floor: wall / CPU (s)", "our read: wall / CPU (s)",
                   "CPU per file (µs)", "peak RSS (MiB)"))
        print(_row(*["---"] * 6))
        for count in (10_000, 100_000, 1_000_000):
            count //= scale
            directory = root / f"files{count}"
            image, layers = make_image(directory, 2, count, count * 200)
            floor, floor_cpu = floor_seconds(layers)
            ours = read_in_subprocess(image)
            print(_row(count, f"{ours['uncompressed'] / 1024**2:.0f} MiB", f"{floor:.2f} / {floor_cpu:.2f}",
                       f"{ours['seconds']:.2f} / {ours['cpu']:.2f}", f"{ours['cpu'] / count * 1e6:.1f}",
                       f"{ours['peak_mib']:.0f}"), flush=True)
            import shutil

            shutil.rmtree(directory)


if __name__ == "__main__":
    main()
