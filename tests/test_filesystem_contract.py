from hypothesis import given
from hypothesis import strategies as st

from scanner.image.filesystem import FileRequest, MemoryFilesystem, normalize_path, resolve_path


def test_glob_double_star_matches_any_depth() -> None:
    request = FileRequest(("**/*.dist-info/METADATA",))
    assert request.matches_path("usr/lib/python3/dist-packages/PyYAML-5.4.dist-info/METADATA")
    assert request.matches_path("x.dist-info/METADATA")
    assert not request.matches_path("x.dist-info/RECORD")


def test_single_star_stays_in_one_segment() -> None:
    request = FileRequest(("var/lib/dpkg/status.d/*",))
    assert request.matches_path("var/lib/dpkg/status.d/base")
    assert not request.matches_path("var/lib/dpkg/status.d/a/b")


def test_normalize_refuses_escape() -> None:
    assert normalize_path("./etc/passwd") == "etc/passwd"
    assert normalize_path("/etc//passwd") == "etc/passwd"
    assert normalize_path("../etc/passwd") is None
    assert normalize_path("a/../../b") is None
    assert normalize_path("a/b/../c") == "a/c"


def test_resolve_absolute_and_relative_links_stay_in_root() -> None:
    links = {"etc/os-release": "../usr/lib/os-release", "escape": "../../../../etc/shadow", "abs": "/usr/lib"}
    assert resolve_path("etc/os-release", links.get) == "usr/lib/os-release"
    assert resolve_path("escape", links.get) == "etc/shadow"
    assert resolve_path("abs/os-release", links.get) == "usr/lib/os-release"


def test_resolve_loop_gives_none() -> None:
    links = {"a": "b", "b": "a"}
    assert resolve_path("a", links.get) is None


def test_memory_filesystem_follows_symlinks() -> None:
    fs = MemoryFilesystem(files={"usr/lib/os-release": b"ID=debian\n"}, symlinks={"etc/os-release": "../usr/lib/os-release"})
    assert fs.read_bytes("etc/os-release") == b"ID=debian\n"
    assert list(fs.captured(FileRequest(("etc/os-release",)))) == ["etc/os-release"]


@given(st.lists(st.sampled_from(["a", "b", "..", ".", ""]), max_size=12))
def test_normalized_paths_never_escape(parts: list[str]) -> None:
    result = normalize_path("/".join(parts))
    assert result is None or (".." not in result.split("/") and not result.startswith("/"))
