"""Differential tests: the files we see in an image against what the runtimes' tar reader unpacks.

Layers are crafted header by header (tests/image/tarcraft.py) in every header type and field
encoding of v7, ustar, star, GNU and pax (GNU.sparse.* included), wrapped in an OCI layout,
unpacked by `umoci unpack --rootless` (Go's archive/tar, as in docker, containerd and podman) and
read by `open_image`. The rule: either both see the same files with the same contents, or we
refuse the image. Where umoci refuses and we do not, `DIVERGENCES` says why that is fine. A seeded
fuzzer mutates header fields of valid layers and checks the same rule. The outer archive is
checked against skopeo, which reads a docker-archive with Go's archive/tar.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.errors import ImageError
from scanner.image import open_image
from scanner.image.filesystem import EntryKind, FileRequest
from tests.image.tarcraft import (
    BLOCK,
    GNU,
    STAR,
    V7,
    archive,
    checksums,
    data,
    gnu_long,
    header,
    member,
    pax,
    pax_record,
)
from tests.image.test_real_tools import _require

pytestmark = pytest.mark.tools

EVERYTHING = FileRequest(("**",), max_size=1 << 20)


@dataclass(frozen=True)
class View:
    """What an image holds: non-directories with their content digest or link target, and directories."""

    files: dict[str, tuple[str, str]]
    dirs: frozenset[str]


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _blob(blobs: Path, content: bytes) -> dict[str, object]:
    (blobs / _digest(content)).write_bytes(content)
    return {"digest": "sha256:" + _digest(content), "size": len(content)}


def oci_layout(directory: Path, layer: bytes) -> Path:
    """An OCI layout, tag "t", whose one uncompressed layer is `layer` exactly as given."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + _digest(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(blobs, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **_blob(blobs, layer)}],
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(blobs, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]}
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return directory


def umoci_view(layout: Path, bundle: Path) -> View | str:
    """The unpacked rootfs, or umoci's error."""
    result = subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:t", str(bundle)],
                            capture_output=True, text=True, timeout=60)
    if result.returncode:
        return result.stderr.strip() or f"umoci exit {result.returncode}"
    root = bundle / "rootfs"
    files: dict[str, tuple[str, str]] = {}
    dirs = set()
    for path in root.rglob("*"):
        name = str(path.relative_to(root))
        if path.is_symlink():
            files[name] = ("symlink", os.readlink(path))
        elif path.is_dir():
            dirs.add(name)
        elif path.is_file():
            files[name] = ("file", _digest(path.read_bytes()))
        else:
            files[name] = ("other", "")
    return View(files, frozenset(dirs))


def our_view(layout: Path) -> View | str:
    """What open_image sees, or its refusal."""
    try:
        with open_image(layout, requests=[EVERYTHING]) as image:
            files: dict[str, tuple[str, str]] = {}
            dirs = set()
            for entry in image.filesystem.entries():
                if entry.kind is EntryKind.DIR:
                    dirs.add(entry.path)
                elif entry.kind is EntryKind.SYMLINK:
                    files[entry.path] = ("symlink", entry.link_target)
                elif entry.kind is EntryKind.FILE:
                    files[entry.path] = ("file", _digest(image.filesystem.read_bytes(entry.path)))
                else:
                    files[entry.path] = ("other", "")
            return View(files, frozenset(dirs))
    except ImageError as error:
        return f"refused: {error}"


def views(layer: bytes, tmp_path: Path) -> tuple[View | str, View | str]:
    """(ours, umoci's) for an image of this one layer."""
    work = tmp_path / _digest(layer)[:16]
    layout = oci_layout(work / "image", layer)
    theirs = umoci_view(layout, work / "bundle")
    ours = our_view(layout)
    shutil.rmtree(work)
    return ours, theirs


def compare(layer: bytes, tmp_path: Path) -> str:
    """"same"; "refused" (by both); or "stricter" (refused by us only, which is always allowed).
    Fails where we read a layer umoci refuses, or see other files than it unpacks."""
    ours, theirs = views(layer, tmp_path)
    if isinstance(ours, str):
        return "refused" if isinstance(theirs, str) else "stricter"
    if isinstance(theirs, str):
        pytest.fail(f"umoci refuses what we read as {ours}: {theirs}")
    assert_same(ours, theirs)
    return "same"


def assert_same(ours: View, theirs: View) -> None:
    """The same files and contents; umoci's extra directories are the parents it creates implicitly."""
    # Rootless umoci cannot create device nodes and leaves an empty file in their place.
    placeholder = ("file", _digest(b""))
    seen = {path: theirs.files[path] if kind == ("other", "") and theirs.files.get(path) == placeholder else kind
            for path, kind in ours.files.items()}
    assert seen == theirs.files, f"we see {ours.files}, umoci unpacks {theirs.files}"
    parents = {str(parent) for name in [*theirs.files, *theirs.dirs] for parent in Path(name).parents}
    assert ours.dirs <= theirs.dirs and theirs.dirs - ours.dirs <= parents


SPARSE_0X1 = [(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"), (b"GNU.sparse.name", b"usr/sparse"),
              (b"GNU.sparse.realsize", b"3000"), (b"GNU.sparse.numblocks", b"2"),
              (b"GNU.sparse.map", b"0,5,2990,10")]
SPARSE_STORED = b"head!" + b"tail!tail!"

# Every header type and field encoding, as (layer, what we expect against umoci).
LAYERS = {
    # v7: no magic; names only from the name field; "\0" with a slash is a directory.
    "v7 members": (archive(member(b"etc/v7", b"v7 file", layout=V7), header(b"d/", typeflag=b"\0", layout=V7),
                           header(b"link", typeflag=b"2", linkname=b"etc/v7", layout=V7),
                           header(b"hard", typeflag=b"1", linkname=b"etc/v7", layout=V7),
                           member(b"plain", b"x", typeflag=b"\0", layout=V7, devmajor=b"nonsense")), "same"),
    # ustar: 155-byte prefix, numeric encodings Go accepts.
    "ustar prefix": (archive(header(b"name", size=2, prefix=b"p" * 155), data(b"ok")), "same"),
    "ustar numeric forms": (archive(
        header(b"leading-nul", size=b"\0\0\0" + b"00000005\0"), data(b"hello"),
        header(b"spaces", size=b"  5  ", mode=b" 644 \0"), data(b"12345"),
        header(b"after-nul", size=b"3\0garbage"), data(b"abc"),
        header(b"base256", size=b"\x80" + (4).to_bytes(11, "big"), mtime=b"\xff" * 12), data(b"b256"),
        header(b"\xc3\xa9t\xc3\xa9", size=1, checksum="signed"), data(b"s"),
        header(b"checksum-spaces", size=1, checksum=b"  %o\0"), data(b"c")), "same"),
    "ustar bad numeric": (archive(header(b"a", size=b"0000 0005\0"), data(b"hello")), "refused"),
    "old-style directory hides a member": (archive(header(b"d/", typeflag=b"\0", size=BLOCK),
                                                   member(b"inside", b"seen")), "same"),
    "regular with trailing slash": (archive(member(b"f/", b"file, not dir")), "same"),
    "fifo and device": (archive(header(b"p", typeflag=b"6"), header(b"c", typeflag=b"3", devmajor=1, devminor=3)),
                        "same"),
    "header-only with size": (archive(header(b"l", typeflag=b"2", linkname=b"t", size=700), member(b"after", b"a")),
                              "same"),
    # star: 131-byte prefix, atime and ctime after it.
    "star prefix": (archive(header(b"n", size=3, layout=STAR, star_prefix=b"q" * 131, star_atime=1, star_ctime=2),
                            data(b"abc")), "same"),
    "star prefix into atime": (archive(header(b"n", size=3, layout=STAR, star_prefix=b"q" * 131,
                                              star_atime=b"q" * 12), data(b"abc")), "refused"),
    # GNU: long names and link names, no prefix unless atime/ctime do not parse.
    "gnu long names": (archive(gnu_long(b"L", b"usr/" + b"l" * 250 + b"/" + b"m" * 200 + b"\0"),
                               gnu_long(b"K", b"t" * 200 + b"\0"), header(b"short", typeflag=b"2", layout=GNU),
                               gnu_long(b"L", b"first\0"), gnu_long(b"L", b"second\0junk"),
                               member(b"x", b"2", layout=GNU),
                               gnu_long(b"L", b"\0"), member(b"kept", b"3", layout=GNU)), "same"),
    "name component over NAME_MAX": (archive(gnu_long(b"L", b"usr/" + b"l" * 256 + b"\0"), member(b"x", b"1")),
                                      "refused"),
    "gnu times and prefix": (archive(header(b"t", size=1, layout=GNU, atime=5, ctime=6), data(b"t"),
                                     header(b"n", size=1, layout=GNU, prefix=b"usr"), data(b"n")), "same"),
    "gnu base-256 size": (archive(header(b"big", size=b"\x80" + (3).to_bytes(11, "big"), layout=GNU), data(b"abc")),
                          "same"),
    # pax: records, and how they meet GNU long names.
    "pax records": (archive(pax([(b"path", b"usr/pax-name"), (b"size", b"+4"), (b"mtime", b"1.25"), (b"uid", b"7"),
                                 (b"SCHILY.xattr.user.x", b"v")]), header(b"ignored", size=0), data(b"pax!"),
                            pax([(b"linkpath", b"usr/pax-name"), (b"path", b"")]), header(b"lnk", typeflag=b"2")),
                    "same"),
    "gnu long name beats pax path": (archive(pax([(b"path", b"etc/pax")]), gnu_long(b"L", b"etc/gnu\0"),
                                             member(b"h", b"content")), "same"),
    "second pax header replaces the first": (archive(pax([(b"path", b"from-first")]), pax([(b"mtime", b"1")]),
                                                     member(b"header-name", b"c")), "same"),
    "pax record with NUL": (archive(pax(b"\0" * 20), member(b"a", b"x")), "refused"),
    "pax bad size": (archive(pax([(b"size", b" 4")]), member(b"a", b"abcd")), "refused"),
    # GNU sparse files in pax: holes read as zeros.
    "sparse 0.1": (archive(pax(SPARSE_0X1), member(b"GNUSparseFile.0/sparse", SPARSE_STORED)), "same"),
    "sparse 0.0": (archive(pax([(b"GNU.sparse.size", b"3000"), (b"GNU.sparse.numblocks", b"2"),
                                (b"GNU.sparse.offset", b"0"), (b"GNU.sparse.numbytes", b"5"),
                                (b"GNU.sparse.offset", b"2990"), (b"GNU.sparse.numbytes", b"10")]),
                           member(b"usr/sparse00", SPARSE_STORED)), "same"),
    "sparse 1.0": (archive(pax([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                                (b"GNU.sparse.name", b"usr/sparse10"), (b"GNU.sparse.realsize", b"3000")]),
                           member(b"GNUSparseFile.0/x", data(b"2\n0\n5\n2990\n10\n") + SPARSE_STORED)), "same"),
    "sparse unknown version": (archive(pax([(b"GNU.sparse.major", b"3"), (b"GNU.sparse.map", b"0,1")]),
                                       member(b"plain", b"abc")), "same"),
    "sparse map short of data": (archive(pax(SPARSE_0X1), member(b"s", SPARSE_STORED + b"x")), "refused"),
    # Typeflags the runtimes do not unpack.
    "old GNU sparse": (archive(header(b"s", typeflag=b"S", layout=GNU, size=4, realsize=10) + data(b"abcd")),
                       "refused"),
    "contiguous file": (archive(member(b"c", b"abc", typeflag=b"7")), "refused"),
    "volume label": (archive(header(b"label", typeflag=b"V", layout=GNU)), "refused"),
    # End of archive.
    "garbage after the end": (archive(member(b"a", b"x"), end=bytes(2 * BLOCK) + b"junk" * 300), "same"),
    "zero block then a header": (archive(member(b"a", b"x"), end=bytes(BLOCK) + member(b"b", b"y")), "refused"),
    "end inside padding": (header(b"a", size=5) + b"hello", "same"),
}


@pytest.fixture(scope="module")
def tools() -> None:
    _require("umoci")


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_reads_as_umoci_unpacks_it(tools: None, tmp_path: Path, case: str) -> None:
    layer, expected = LAYERS[case]
    assert compare(layer, tmp_path) == expected


@pytest.mark.parametrize(("extra", "umoci_says"), [
    # docker and containerd skip a pax global header ("PAX Global Extended Headers found and
    # ignored"); umoci fails on its typeflag. Go applies it to no member, and neither do we.
    (pax([(b"path", b"global"), (b"size", b"1")], kind=b"g", name=b"pax_global_header"), "typeflag '\\x67'"),
    # A file naming the root: umoci refuses, docker fails to create it (EISDIR). We skip it; no
    # runtime puts a file there, so nothing is hidden.
    (member(b"./", b"x"), "refusing to change type of root directory"),
], ids=["global header", "root entry"])
def test_where_umoci_alone_refuses_we_see_what_docker_unpacks(tools: None, tmp_path: Path, extra: bytes,
                                                              umoci_says: str) -> None:
    rest = archive(member(b"etc/a", b"a"), header(b"etc/l", typeflag=b"2", linkname=b"a"))
    ours, theirs = views(extra + rest, tmp_path)
    assert isinstance(theirs, str) and umoci_says in theirs
    without_it, reference = views(rest, tmp_path)
    assert isinstance(ours, View) and isinstance(reference, View)
    assert ours == without_it
    assert_same(ours, reference)


def test_the_issues_examples_are_read_as_go_reads_them(tools: None, tmp_path: Path) -> None:
    # The three differentials from the review, where we used to show other files than the runtime.
    status = b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.11\n\n"
    fake = b"Package: zlib1g\nStatus: install ok installed\nVersion: 9:9\n\n"
    layer = archive(gnu_long(b"L", b"var/lib/dpkg/status\0"), pax([(b"path", b"var/lib/dpkg/decoy")]),
                    member(b"x", status),
                    header(b"var/lib/dpkg/status.d/zlib", size=b"\0\0\0" + b"%o\0" % len(status)), data(status),
                    # 131 bytes of prefix: read as 155, atime's digits would join the name
                    header(b"star", size=len(fake), layout=STAR, star_prefix=b"var/lib/dpkg" + b"/" * 119,
                           star_atime=0, star_ctime=0), data(fake))
    assert compare(layer, tmp_path) == "same"


# The fuzzer: header fields of valid layers mutated, 200 seeded cases.

def _seeds() -> list[tuple[bytes, list[int]]]:
    """Valid layers with the offsets of their header blocks."""
    seeds = []
    for parts in (
        [member(b"a/file", b"hello world"), header(b"a/link", typeflag=b"2", linkname=b"file"),
         header(b"dir/", typeflag=b"5"), member(b"z", b"z" * 600)],
        [gnu_long(b"L", b"long/" + b"n" * 150 + b"\0"), member(b"x", b"long", layout=GNU),
         header(b"g", size=2, layout=GNU, atime=1, ctime=2) + data(b"gg")],
        [pax([(b"path", b"pax/path"), (b"mtime", b"5.5")]), member(b"p", b"pax data"),
         member(b"v7", b"v7", layout=V7, typeflag=b"\0")],
        [header(b"s", size=3, layout=STAR, star_prefix=b"s" * 131, star_atime=1, star_ctime=2) + data(b"abc"),
         member(b"after", b"1")],
        [pax(SPARSE_0X1), member(b"GNUSparseFile.0/s", SPARSE_STORED), member(b"t", b"t")],
    ):
        offsets = [sum(len(part) for part in parts[:index]) for index in range(len(parts))]
        seeds.append((archive(*parts), offsets))
    return seeds


_FIELD_VALUES = [0, 0x20, 0x30, 0x31, 0x35, 0x37, 0x80, 0xFF, ord("x"), ord("L"), ord("K"), ord("S"), ord("7"),
                 ord("5"), ord("2"), ord("+"), 0x0A]
_NAME_VALUES = [0, 0x20, ord("a"), ord("b")]  # names stay ASCII and clean: the fuzzer is about headers
_REGIONS = [(100, 156), (156, 157), (157, 257), (257, 265), (329, 345), (345, 500), (476, 512), (1, 100)]


def _mutate(layer: bytes, offsets: list[int], rng: random.Random) -> bytes:
    out = bytearray(layer)
    for _ in range(rng.choice((1, 1, 2))):
        block = rng.choice(offsets)
        low, high = rng.choice(_REGIONS)
        position = block + rng.randrange(low, high)
        name_like = low in (1, 157, 345) and high != 512
        out[position] = rng.choice(_NAME_VALUES if name_like else _FIELD_VALUES)
        if rng.random() < 0.85:  # usually keep the checksum right, so the mutation itself is read
            unsigned, signed = checksums(out[block : block + BLOCK])
            out[block + 148 : block + 156] = b"%06o\0 " % (unsigned if rng.random() < 0.9 else signed)
    return bytes(out)


def test_fuzzed_headers_read_as_umoci_unpacks_them_or_are_refused(tools: None, tmp_path: Path) -> None:
    rng = random.Random(20240611)
    seeds = _seeds()
    outcomes: dict[str, int] = {}
    for _ in range(200):
        layer, offsets = rng.choice(seeds)
        outcome = compare(_mutate(layer, offsets, rng), tmp_path)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Both kinds of outcome are exercised, not only refusals.
    assert outcomes.get("same", 0) > 40 and outcomes.get("refused", 0) > 20, outcomes
    assert outcomes.keys() <= {"same", "refused", "stricter"}, outcomes


def test_fuzzed_pax_records_read_as_umoci_reads_them_or_are_refused(tools: None, tmp_path: Path) -> None:
    rng = random.Random(7)
    for _ in range(40):
        record = bytearray(pax_record(b"path", b"usr/fuzzed"))
        position = rng.randrange(len(record))
        record[position] = rng.choice(b"0123456789 =\n\0+-")
        compare(archive(pax(bytes(record)), member(b"m", b"x")), tmp_path)


# The outer archive: skopeo reads a docker-archive with Go's archive/tar (docker load does too).

def _image_members(content: bytes) -> tuple[dict[str, bytes], bytes]:
    """The layer and config of a one-file image (members by name), and its manifest.json."""
    layer = archive(member(b"etc/os-release", content))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + _digest(layer)]}}).encode()
    names = {f"{_digest(layer)}.tar": layer, f"{_digest(config)}.json": config}
    manifest = json.dumps([{"Config": f"{_digest(config)}.json", "RepoTags": ["example/x:1"],
                            "Layers": [f"{_digest(layer)}.tar"]}]).encode()
    return names, manifest


def _skopeo_view(path: Path, work: Path) -> View | str:
    work.mkdir()
    result = subprocess.run(["skopeo", "copy", f"docker-archive:{path}", f"oci:{work / 'oci'}:t"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode:
        return result.stderr.strip()
    return umoci_view(work / "oci", work / "bundle")


def _outer(tmp_path: Path, *parts: bytes) -> tuple[View | str, View | str]:
    path = tmp_path / "image.tar"
    path.write_bytes(archive(*parts))
    return _skopeo_view(path, tmp_path / "skopeo"), our_view(path)


def test_outer_manifest_named_as_go_names_it(tmp_path: Path) -> None:
    _require("skopeo", "umoci")
    real, real_manifest = _image_members(b"ID=real\n")
    decoy, decoy_manifest = _image_members(b"ID=decoy\n")
    blobs = [member(name.encode(), content) for name, content in {**real, **decoy}.items()]
    theirs, ours = _outer(
        tmp_path, *blobs,
        # Go: the GNU long name wins over the pax path, and a size with leading NULs is read.
        gnu_long(b"L", b"manifest.json\0"), pax([(b"path", b"not-the-manifest.json")]),
        header(b"m1", size=b"\0\0" + b"%o\0" % len(real_manifest)), data(real_manifest),
        gnu_long(b"L", b"unused.json\0"), pax([(b"path", b"manifest.json")]), member(b"m2", decoy_manifest))
    assert isinstance(ours, View) and isinstance(theirs, View), (ours, theirs)
    assert_same(ours, theirs)
    assert ours.files["etc/os-release"] == ("file", _digest(b"ID=real\n"))


def test_outer_blob_behind_a_star_prefix(tmp_path: Path) -> None:
    _require("skopeo", "umoci")
    names, manifest = _image_members(b"ID=star\n")
    [layer_name] = [name for name in names if name.endswith(".tar")]
    directory = b"d" * 131
    manifest = manifest.replace(layer_name.encode(), directory + b"/" + layer_name.encode())
    layer = names.pop(layer_name)
    theirs, ours = _outer(
        tmp_path, *[member(name.encode(), content) for name, content in names.items()],
        header(layer_name.encode(), size=len(layer), layout=STAR, star_prefix=directory, star_atime=1, star_ctime=1),
        data(layer), member(b"manifest.json", manifest))
    assert isinstance(ours, View) and isinstance(theirs, View), (ours, theirs)
    assert_same(ours, theirs)


@pytest.mark.parametrize("form", ["duplicate", "hard link", "symlink mode bits", "sparse"])
def test_outer_members_the_tools_disagree_on_are_refused(tmp_path: Path, form: str) -> None:
    # skopeo takes the first of two manifest.json, reads a hard link as an empty file and follows a
    # regular member whose mode says symlink; docker load takes the last, follows the hard link and
    # extracts a regular file. We refuse rather than pick one.
    _require("skopeo", "umoci")
    names, manifest = _image_members(b"ID=x\n")
    decoy_names, decoy = _image_members(b"ID=decoy\n")
    manifests = {
        "duplicate": [member(b"manifest.json", manifest), member(b"manifest.json", decoy)],
        "hard link": [member(b"real-manifest.json", manifest),
                      header(b"manifest.json", typeflag=b"1", linkname=b"real-manifest.json")],
        "symlink mode bits": [member(b"decoy.json", decoy),
                              member(b"manifest.json", manifest, mode=0o120644, linkname=b"decoy.json")],
        "sparse": [pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"), (b"GNU.sparse.numblocks", b"1"),
                        (b"GNU.sparse.map", b"0,%d" % len(manifest)), (b"GNU.sparse.realsize", b"%d" % len(manifest))]),
                   member(b"manifest.json", manifest)],
    }[form]
    blobs = [member(name.encode(), content) for name, content in {**names, **decoy_names}.items()]
    theirs, ours = _outer(tmp_path, *blobs, *manifests)
    assert isinstance(ours, str) and ("refused as ambiguous" in ours or "sparse" in ours), ours
    if form == "symlink mode bits":
        assert isinstance(theirs, View) and theirs.files["etc/os-release"] == ("file", _digest(b"ID=decoy\n"))
