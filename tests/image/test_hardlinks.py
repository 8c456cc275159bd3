"""Hard links across layers: a link gets what its target is at that point of the layer, as runtimes unpack it.

The differential tests build the image with the test builders and compare our squashed view with what
`umoci unpack` materialises (umoci links to the path in the filesystem unpacked so far, like
containerd's overlay applier after its copy-up).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from scanner.image import Limits, open_image
from scanner.image.filesystem import EntryKind, FileRequest
from tests.image.builders import (
    Entry,
    ImageSpec,
    directory,
    docker_archive,
    file,
    hardlink,
    oci_layout,
    opaque,
    symlink,
    whiteout,
)

EVERYTHING = FileRequest(("**",))
STATUS = FileRequest(("var/lib/dpkg/status",))
ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
ELF_REQUEST = FileRequest(("**",), magic=b"\x7fELF", executable_only=True)

View = dict[str, tuple[str, bytes | str]]


def our_view(path: Path) -> tuple[View, tuple[str, ...]]:
    """Every entry as (kind, content or symlink target); directories, listed or implied, as ("dir", "")."""
    with open_image(path, requests=[EVERYTHING]) as image:
        fs = image.filesystem
        view: View = {}
        for entry in fs.entries():
            if entry.kind is EntryKind.FILE:
                view[entry.path] = ("file", fs.read_bytes(entry.path))
            elif entry.kind is EntryKind.SYMLINK:
                view[entry.path] = ("symlink", entry.link_target)
            else:
                view[entry.path] = (entry.kind.value, "")
            parent = entry.path.rpartition("/")[0]
            while parent and parent not in view:  # what a runtime creates to hold the entry
                view[parent] = ("dir", "")
                parent = parent.rpartition("/")[0]
        return view, image.warnings


def umoci_view(layers: list[list[Entry]], work: Path) -> View | str:
    """What `umoci unpack` makes of the image; its error message when it refuses to unpack it."""
    if shutil.which("umoci") is None and os.environ.get("CI") != "true":
        pytest.skip("needs umoci")
    layout = work / "umoci-layout"
    layout.mkdir()
    oci_layout(layout, ImageSpec(layers, tags=("test",)), as_tar=False)
    bundle = work / "umoci-bundle"
    done = subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:test", str(bundle)],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode:
        return done.stderr
    rootfs = bundle / "rootfs"
    view: View = {}
    for found in rootfs.rglob("*"):
        name = str(found.relative_to(rootfs))
        if found.is_symlink():
            view[name] = ("symlink", str(found.readlink()))
        elif found.is_file():
            view[name] = ("file", found.read_bytes())
        else:
            view[name] = ("dir", "")
    return view


BASE = [directory("usr"), directory("usr/lib"), file("usr/lib/real", b"lower"), symlink("lib", "usr/lib"),
        symlink("usr/lib/alias", "real"), file("x", b"x0"), file("a", b"a0"), directory("dd"), file("dd/f", b"f")]

UNPACKED = {
    "lower file": [[hardlink("copy", "usr/lib/real")]],
    "target whited out after the link": [[hardlink("b", "a"), whiteout("a")]],
    "target replaced by a later layer": [[hardlink("y", "x")], [file("x", b"x1")]],
    "link to a link of a lower layer": [[hardlink("y", "x")], [hardlink("z", "y"), file("x", b"x1")]],
    "link to a symlink": [[hardlink("h", "usr/lib/alias")]],
    "directory of the target through a symlink": [[hardlink("g", "lib/real")]],
    "same layer, target rewritten after": [[file("n", b"n1"), hardlink("m", "n"), file("n", b"n2")]],
    "link replaced by a later layer": [[hardlink("c", "a")], [file("c", b"own")]],
    "link under an opaque directory": [[hardlink("dd/l", "x")], [opaque("dd"), file("dd/new", b"new")]],
}


@pytest.mark.tools
@pytest.mark.parametrize("upper", list(UNPACKED.values()), ids=list(UNPACKED))
def test_hard_links_across_layers_match_umoci(tmp_path: Path, upper: list[list[Entry]]) -> None:
    layers = [BASE, *upper]
    reference = umoci_view(layers, tmp_path)
    assert isinstance(reference, dict), reference
    view, warnings = our_view(docker_archive(tmp_path / "image.tar", ImageSpec(layers)))
    assert view == reference
    assert warnings == ()


REFUSED = {
    "target whited out before the link": ([whiteout("a"), hardlink("b", "a")], "a missing file b'a'"),
    "target is a directory": ([hardlink("hd", "dd")], "a directory b'dd'"),
    "link to itself": ([hardlink("a", "a")], "a missing file b'a'"),
    "link to a file under itself": ([hardlink("dd", "dd/f")], "a missing file b'dd/f'"),
    "target never existed": ([hardlink("ghost", "nowhere")], "a missing file b'nowhere'"),
}


@pytest.mark.tools
@pytest.mark.parametrize(("upper", "warning"), list(REFUSED.values()), ids=list(REFUSED))
def test_hard_links_umoci_cannot_unpack_are_skipped_with_a_warning(tmp_path: Path, upper: list[Entry],
                                                                   warning: str) -> None:
    assert isinstance(umoci_view([BASE, upper], tmp_path), str)  # umoci fails: no file set to agree with
    view, warnings = our_view(docker_archive(tmp_path / "image.tar", ImageSpec([BASE, upper])))
    assert len(warnings) == 1 and f"skipped hard link {upper[-1][0].name!r} to {warning}" in warnings[0]
    assert view == our_view(docker_archive(tmp_path / "base.tar", ImageSpec([BASE, upper[:-1]])))[0]


def test_requested_file_as_a_hard_link_into_a_lower_layer_gives_the_catalogers_its_content(tmp_path: Path) -> None:
    # The dpkg database of the final image is a hard link to a lower file that nobody requested.
    lower = [file("var/lib/dpkg/status-old", b"Package: openssl\nVersion: 1.1.1\n")]
    upper = [hardlink("var/lib/dpkg/status", "var/lib/dpkg/status-old"), whiteout("var/lib/dpkg/status-old")]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([lower, upper]))
    with open_image(path, requests=[STATUS]) as image:
        fs = image.filesystem
        assert list(fs.captured(STATUS)) == ["var/lib/dpkg/status"]
        assert fs.read_bytes("var/lib/dpkg/status") == b"Package: openssl\nVersion: 1.1.1\n"
        assert fs.entry("var/lib/dpkg/status").layer_index == 1  # type: ignore[union-attr]
        assert fs.entry("var/lib/dpkg/status-old") is None
        assert image.warnings == ()


def test_hard_link_chain_across_three_layers_reads_the_first_layer_once_more(tmp_path: Path) -> None:
    layers = [[file("opt/lib.jar", b"PK jar")], [hardlink("opt/b", "opt/lib.jar")],
              [hardlink("var/lib/dpkg/status", "opt/b"), file("opt/lib.jar", b"replaced")]]
    path = docker_archive(tmp_path / "image.tar", ImageSpec(layers))
    with open_image(path, requests=[STATUS]) as image:
        assert image.filesystem.read_bytes("var/lib/dpkg/status") == b"PK jar"


def test_hard_link_mode_either_way_executable_is_executable(tmp_path: Path) -> None:
    # umoci keeps the target's mode, docker gives the shared file the link header's: an executable by
    # either reading is seen by the ELF catalogers.
    lower = [file("usr/bin/tool", ELF, 0o755), file("usr/lib/plain", ELF, 0o644)]
    link_to_plain = hardlink("usr/bin/run", "usr/lib/plain")
    link_to_plain[0].mode = 0o755
    upper = [hardlink("usr/bin/tool-link", "usr/bin/tool"), link_to_plain]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([lower, upper]))
    with open_image(path, requests=[ELF_REQUEST]) as image:
        fs = image.filesystem
        assert list(fs.captured(ELF_REQUEST)) == ["usr/bin/run", "usr/bin/tool", "usr/bin/tool-link"]
        assert fs.entry("usr/bin/tool-link").mode == 0o755  # type: ignore[union-attr]


def test_hard_links_share_one_stored_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = os.urandom(300_000)
    layers = [[file("a.jar", big)], [hardlink(f"copy{n}.jar", "a.jar") for n in range(20)]]
    path = docker_archive(tmp_path / "image.tar", ImageSpec(layers))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    jars = FileRequest(("*.jar",))
    with open_image(path, requests=[jars], limits=Limits(spool_threshold=1024)) as image:
        fs = image.filesystem
        assert len(list(fs.captured(jars))) == 21
        assert all(fs.read_bytes(p) == big for p in fs.captured(jars))
        [spool] = tmp_path.glob("airgap-scanner-*/spool")
        assert spool.stat().st_size == len(big)
