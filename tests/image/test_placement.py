"""Members named under a symlinked directory land where the link leads, as runtimes unpack them.

umoci and containerd resolve a member's parent directory inside the root (following symlinks the
layers made so far), then create the entry there; so does docker, through its chroot. A scanner that
kept `lib/x` apart from `usr/lib/x` would read a different file than the container runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.errors import ImageError
from scanner.image import Limits, open_image
from scanner.image.filesystem import FileRequest
from tests.image.builders import Entry, ImageSpec, directory, docker_archive, file, symlink, whiteout
from tests.image.test_hardlinks import our_view, umoci_view

CASES = {
    "same layer": [[file("usr/lib/x", b"real"), symlink("lib", "usr/lib"), file("lib/x", b"through")]],
    "directory replaced by a symlink": [
        [file("var/lib/dpkg/status", b"lower"), directory("opt/fake")],
        [symlink("var/lib/dpkg", "/opt/fake")],
        [file("var/lib/dpkg/status", b"through")]],
    "whiteout through a symlink": [[file("usr/lib/x", b"x"), file("usr/lib/y", b"y"), symlink("lib", "usr/lib")],
                                   [whiteout("lib/x")]],
    "absolute target with dot-dot": [[directory("usr/lib"), symlink("a", "/usr/../usr/lib"), file("a/b/c", b"c")]],
    "chain of symlinks": [[directory("usr/lib"), symlink("l2", "usr/lib"), symlink("lib", "l2"),
                           file("lib/sub/x", b"x")]],
    "dangling symlink": [[symlink("d", "nowhere/yet"), file("d/x", b"x")]],
    "target climbing above the root": [[directory("etc"), symlink("up", "../../../etc"), file("up/passwd", b"p")]],
}


@pytest.mark.tools
@pytest.mark.parametrize("layers", list(CASES.values()), ids=list(CASES))
def test_members_under_symlinked_directories_match_umoci(tmp_path: Path, layers: list[list[Entry]]) -> None:
    reference = umoci_view(layers, tmp_path)
    assert isinstance(reference, dict), reference
    view, warnings = our_view(docker_archive(tmp_path / "image.tar", ImageSpec(layers)))
    assert view == reference
    assert warnings == ()


def test_a_package_database_written_through_a_symlink_is_the_one_read(tmp_path: Path) -> None:
    # The first status is a decoy; the runtime's var/lib/dpkg/status is the one written through "v".
    status = FileRequest(("var/lib/dpkg/status",))
    layer = [file("var/lib/dpkg/status", b"Package: openssl\nVersion: 3.0.99\n"), symlink("v", "var/lib/dpkg"),
             file("v/status", b"Package: openssl\nVersion: 3.0.2\n")]
    with open_image(docker_archive(tmp_path / "image.tar", ImageSpec([layer])), requests=[status]) as image:
        assert list(image.filesystem.captured(status)) == ["var/lib/dpkg/status"]
        assert image.filesystem.read_bytes("var/lib/dpkg/status") == b"Package: openssl\nVersion: 3.0.2\n"


def test_a_symlink_loop_above_a_member_skips_it(tmp_path: Path) -> None:
    layer = [symlink("a", "b"), symlink("b", "a"), file("a/x", b"x")]
    with open_image(docker_archive(tmp_path / "image.tar", ImageSpec([layer]))) as image:
        assert image.filesystem.entry("a/x") is None
        assert any("skipped member 'a/x': its directories are a symlink loop" in w for w in image.warnings)


def test_symlink_lookups_are_capped(tmp_path: Path) -> None:
    layer = [directory("usr/lib"), symlink("lib", "usr/lib"), *(file(f"lib/d{n}/x", b"") for n in range(20))]
    path = docker_archive(tmp_path / "image.tar", ImageSpec([layer]))
    with open_image(path, limits=Limits(max_link_lookups=100)) as image:
        assert image.filesystem.entry("usr/lib/d19/x") is not None
    with pytest.raises(ImageError, match=r"layer 0 \(.*\): more than 10 symlink lookups placing members under "
                                         r"symlinked directories \(max_link_lookups\); not read further\Z"):
        open_image(path, limits=Limits(max_link_lookups=10))
