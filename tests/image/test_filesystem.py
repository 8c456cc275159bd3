"""Path resolution and request matching of the filesystem contract, including hostile path shapes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from scanner.image.filesystem import FileRequest, MemoryFilesystem, link_depth, resolve_path

SEGMENTS = 10_000
DEEP = "/".join(["a"] * SEGMENTS)
# Generous: these resolutions take milliseconds; the quadratic joins they replace took seconds.
TIME_BOUND = 5.0


def counting(links: Mapping[str, str]) -> tuple[Callable[[str], str | None], list[str]]:
    asked: list[str] = []

    def symlink_target(candidate: str) -> str | None:
        asked.append(candidate)
        return links.get(candidate)

    return symlink_target, asked


def test_glob_semantics_with_the_literal_tail_prefilter() -> None:
    copyright_files = FileRequest(("usr/share/doc/*/copyright",))
    assert copyright_files.matches_path("usr/share/doc/libc6/copyright")
    assert not copyright_files.matches_path("usr/share/doc/libc6/x/copyright")
    assert not copyright_files.matches_path("usr/share/doc/libc6/copyright.gz")
    jars = FileRequest(("**/*.jar", "status.d/*"))
    assert jars.matches_path("a.jar") and jars.matches_path("opt/x/b.jar") and jars.matches_path("status.d/y")
    assert not jars.matches_path("a.jar/x") and not jars.matches_path("status.d/y/z")
    assert FileRequest(("**",)).matches_path("any/thing")
    assert FileRequest(("var/lib/dpkg/status",)).matches_path("var/lib/dpkg/status")
    assert not FileRequest(("var/lib/dpkg/status",)).matches_path("x/var/lib/dpkg/status")


def test_resolution_is_unchanged_for_ordinary_links() -> None:
    links = {"lib": "usr/lib", "usr/lib/os-release": "../../etc/real", "loop": "loop", "abs": "/usr/../lib"}
    for max_depth in (None, link_depth(links)):
        def resolve(path: str, depth: int | None = max_depth) -> str | None:
            return resolve_path(path, links.get, max_link_depth=depth)
        assert resolve("lib/os-release") == "etc/real"
        assert resolve("./lib//x/../y") == "usr/lib/y"
        assert resolve("abs/os-release") == "etc/real"
        assert resolve("../../lib") == "usr/lib"
        assert resolve("loop/x") is None
        assert resolve("") == ""


def test_long_path_costs_one_lookup_per_component_at_most() -> None:
    symlink_target, asked = counting({})
    assert resolve_path(DEEP, symlink_target) == DEEP
    assert len(asked) == SEGMENTS
    symlink_target, asked = counting({"a/a": "."})
    assert resolve_path(DEEP, symlink_target, max_link_depth=2) is None  # 5,000 hops: refused at the limit
    assert len(asked) <= 3 * 41
    symlink_target, asked = counting({"lib": "usr/lib"})
    assert resolve_path(f"lib/{DEEP}", symlink_target, max_link_depth=1) == f"usr/lib/{DEEP}"
    assert asked == ["lib", "usr"]  # every link is one component deep: nothing deeper is looked up


def test_memory_filesystem_long_path_and_deep_link_chain() -> None:
    chain = {f"l{n}": f"l{n + 1}" for n in range(1000)}
    # Each link's target climbs through 5,000 segments and back before naming the next link.
    detour = "/".join(["s"] * 5000 + [".."] * 5000)
    expanding = {f"e{n}": f"{detour}/e{n + 1}" for n in range(39)} | {"e39": "f"}
    fs = MemoryFilesystem(files={DEEP: b"deep", "f": b"end"}, symlinks={**chain, **expanding, "a/a/a": "/a"})
    start = time.process_time()
    assert fs.resolve(f"{DEEP}/x") is None  # a/a/a -> /a loops long before the end: more than 40 hops
    assert fs.read_bytes("e0") == b"end"  # 40 hops of 10,001 components each
    assert fs.resolve("l0") is None  # a chain of 1,000 links is over the hop limit
    assert fs.resolve("l960") == "l1000"
    assert time.process_time() - start < TIME_BOUND
