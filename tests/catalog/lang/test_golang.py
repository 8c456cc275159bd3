from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.catalog.golang import GoCataloger, ldflags_version, parse_modinfo, stdlib_version
from scanner.image.filesystem import MemoryFilesystem
from tests.catalog.lang.conftest import tree_filesystem
from tests.catalog.lang.elfbuild import ET_REL, build_elf, go_inline_buildinfo, go_pointer_elf

MODINFO = (
    "path\texample.com/app/cmd/app\n"
    "mod\texample.com/app\tv0.3.0\th1:main=\n"
    "dep\tgolang.org/x/text\tv0.3.7\th1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=\n"
    "dep\tgithub.com/old/mod\tv1.0.0\th1:old=\n"
    "=>\tgithub.com/new/mod\tv1.2.0\th1:new=\n"
    "dep\tgithub.com/local/mod\tv0.1.0\n"
    "=>\t../mod\t\t\n"
    "build\tGOOS=linux\n"
    "build\tGOARCH=arm64\n"
    "build\tvcs.revision=0123abcd\n"
)


def catalog(files: dict[str, bytes], executable: bool = True) -> tuple[dict[str, dict[str, str]], tuple[str, ...]]:
    fs = MemoryFilesystem(files=files, modes={p: 0o755 if executable else 0o644 for p in files})
    result = GoCataloger().catalog(fs, None)
    found = {p.name: {"version": p.version, "purl": p.purl, "location": p.locations[0], **dict(p.metadata)}
             for p in result.packages}
    return found, result.warnings


def test_inline_format_main_module_deps_sums_and_replacements() -> None:
    elf = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.20.4", MODINFO))])
    found, warnings = catalog({"usr/local/bin/app": elf})
    assert warnings == ()
    assert found["stdlib"]["version"] == "v1.20.4"
    assert found["stdlib"]["purl"] == "pkg:golang/stdlib@v1.20.4"
    assert found["example.com/app"]["main"] == "true"
    assert found["example.com/app"]["vcs_revision"] == "0123abcd"
    text = found["golang.org/x/text"]
    assert text["version"] == "v0.3.7" and text["sum"].startswith("h1:olpw")
    assert text["purl"] == "pkg:golang/golang.org/x/text@v0.3.7"
    assert text["goarch"] == "arm64" and text["main_module"] == "example.com/app"
    assert "github.com/old/mod" not in found
    assert found["github.com/new/mod"]["replaces"] == "github.com/old/mod@v1.0.0"
    assert found["github.com/local/mod"]["version"] == "(devel)"
    assert found["github.com/local/mod"]["replaced_by"] == "../mod"


@pytest.mark.parametrize("section_table", [True, False])
def test_pointer_format_of_old_toolchains(section_table: bool) -> None:
    elf = go_pointer_elf("go1.16.15", MODINFO, section_table=section_table)
    found, warnings = catalog({"app": elf})
    assert warnings == ()
    assert found["stdlib"]["version"] == "v1.16.15"
    assert found["golang.org/x/text"]["version"] == "v0.3.7"


def test_testdata_go_source_tree_relocatable_objects_and_plain_files_are_skipped() -> None:
    elf = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.21.0", MODINFO))])
    files = {
        "src/pkg/testdata/bin": elf,
        "usr/local/go/src/runtime/runtime.go": b"package runtime",
        "usr/local/go/src/cmd/go/main.go": b"package main",
        "usr/local/go/src/debug/elf/x.exe": elf,
        "obj.o": build_elf([(".go.buildinfo", go_inline_buildinfo("go1.21.0", MODINFO))], e_type=ET_REL),
    }
    assert catalog(files)[0] == {}
    assert catalog({"usr/bin/app": elf}, executable=False)[0] == {}


def test_go_toolchain_binaries_outside_src_are_reported() -> None:
    elf = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.21.0", "path\tcmd/go\nbuild\tGOOS=linux\n"))])
    found, _ = catalog({"usr/local/go/src/runtime/a.go": b"", "usr/local/go/src/cmd/go/b.go": b"",
                        "usr/local/go/bin/go": elf})
    assert set(found) == {"stdlib", "cmd/go"} and found["stdlib"]["main_module"] == "cmd/go"


@pytest.mark.parametrize(("toolchain", "expected"), [
    ("go1.19.8", "v1.19.8"), ("go1.20", "v1.20.0"), ("go1.21rc2", "v1.21.0-rc.2"),
    ("go1.18beta1", "v1.18.0-beta.1"), ("go1.22.1 X:boringcrypto", "v1.22.1"), ("devel go1.23-abc", ""), ("", ""),
])
def test_stdlib_version(toolchain: str, expected: str) -> None:
    assert stdlib_version(toolchain) == expected


def test_unknown_toolchain_version_warns_and_keeps_modules() -> None:
    elf = build_elf([(".go.buildinfo", go_inline_buildinfo("devel +abc", MODINFO))])
    found, warnings = catalog({"app": elf})
    assert "stdlib" not in found and "golang.org/x/text" in found
    assert any("not understood" in w for w in warnings)


@pytest.mark.parametrize("blob", [
    b"\xff Go buildinf:\x08\x02" + bytes(16) + b"\xff" * 20,  # varint that never ends
    b"\xff Go buildinf:\x08\x02" + bytes(16) + b"\x7f" + b"go",  # string runs past the section
    b"\xff Go buildinf:\x08\x00" + (0x400000).to_bytes(8, "little") * 2,  # pointer to a header of garbage
    b"\xff Go buildinf:\x03\x00" + bytes(16),  # impossible pointer size
    b"\xff Go buildinf:\x08\x00" + (0xDEAD0000).to_bytes(8, "little") * 2,  # unmapped address
])
def test_hostile_buildinfo_warns(blob: bytes) -> None:
    found, warnings = catalog({"app": build_elf([(".go.buildinfo", blob)])})
    assert found == {} or "stdlib" not in found
    assert len(warnings) <= 1


def test_truncated_and_garbage_elf_warn_without_failing() -> None:
    elf = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.20.4", MODINFO))])
    for cut in (20, 64, 200, len(elf) - 10):
        found, warnings = catalog({"app": elf[:cut]})
        assert found == {}
        assert len(warnings) == 1 and warnings[0].startswith("app: ")
    assert catalog({"x": b"\x7fELF" + os.urandom(300)})[0] == {}


def test_program_header_offset_beyond_any_file_warns() -> None:
    # pyelftools seeks to e_phoff as given: 2**63 raised OverflowError, which failed the whole cataloger.
    elf = bytearray(build_elf([(".go.buildinfo", go_inline_buildinfo("go1.20.4", MODINFO))], section_table=False))
    elf[32:40] = (2**63).to_bytes(8, "little")
    found, warnings = catalog({"app": bytes(elf), "ok": build_elf([(".go.buildinfo", go_inline_buildinfo(
        "go1.20.4", MODINFO))])})
    assert found["stdlib"]["location"] == "ok"
    assert len(warnings) == 1 and warnings[0].startswith("app: ")


def test_modinfo_without_sentinels_and_gopath_builds() -> None:
    info = parse_modinfo("go1.15", "path\tgithub.com/x/cmd\nbuild\t-compiler=gc\n")
    assert info.main is None and info.main_path == "github.com/x/cmd" and info.deps == []


def test_real_debian_gosu_executable(gosu_deb_root: Path) -> None:
    fs = tree_filesystem(gosu_deb_root)
    result = GoCataloger().catalog(fs, None)
    assert result.warnings == ()
    gosu, stdlib = sorted(result.packages, key=lambda p: p.name)
    assert (stdlib.name, stdlib.ecosystem, stdlib.locations) == ("stdlib", "Go", ("usr/sbin/gosu",))
    assert stdlib.version.startswith("v1.") and dict(stdlib.metadata)["main_module"] == "github.com/tianon/gosu"
    assert (gosu.name, gosu.version, dict(gosu.metadata)["main"]) == ("github.com/tianon/gosu", "(devel)", "true")


def test_real_go_toolchain_build_with_module_proxy_replacements(go_app_binary: Path) -> None:
    found, warnings = catalog({"opt/app": go_app_binary.read_bytes()})
    assert warnings == ()
    assert found["example.com/app"]["version"] == "(devel)" and found["example.com/app"]["main"] == "true"
    assert found["example.com/lib"]["version"] == "v1.4.0" and found["example.com/lib"]["sum"].startswith("h1:")
    assert found["example.com/fork"]["replaces"] == "example.com/old@v1.0.0"
    assert found["example.com/local"]["replaced_by"] == "../local"
    assert found["stdlib"]["version"].startswith("v1.")


def test_real_build_with_a_version_stamped_by_the_linker(go_stamped_binary: Path) -> None:
    fs = MemoryFilesystem(files={"usr/local/bin/tool": go_stamped_binary.read_bytes()},
                          modes={"usr/local/bin/tool": 0o755})
    result = GoCataloger().catalog(fs, None)
    assert result.warnings == ()
    tool = next(p for p in result.packages if p.name == "example.com/tool")
    # The toolchain records the main module as (devel) and quotes the -ldflags setting (it holds spaces).
    assert (tool.version, tool.purl) == ("v1.18.1", "pkg:golang/example.com/tool@v1.18.1")
    assert tool.version_inferred_from == "-ldflags -X main.version=1.18.1"
    stdlib = next(p for p in result.packages if p.name == "stdlib")
    assert stdlib.version_inferred_from == ""


def test_build_settings_are_unquoted_as_go_quotes_them() -> None:
    info = parse_modinfo("go1.22.1", 'build\t-ldflags="-X \'main.version=1.2.3\' -X \\"a b\\"=\\t\\x41\\u00e9"\n'
                                     "build\tCGO_ENABLED=1\n"
                                     'build\t-tags="unterminated\n')
    assert info.settings == {"-ldflags": "-X 'main.version=1.2.3' -X \"a b\"=\tAé", "CGO_ENABLED": "1",
                             "-tags": '"unterminated'}


@pytest.mark.parametrize("ldflags, main_path, expected", [
    ("-X main.version=1.18.1", "example.com/tool", ("v1.18.1", "-ldflags -X main.version=1.18.1")),
    ("-s -w -X 'github.com/org/proj/internal/version.Version=v1.2.3' -X main.commit=abc", "github.com/org/proj",
     ("v1.2.3", "-ldflags -X github.com/org/proj/internal/version.Version=v1.2.3")),
    ("-X=main.Version=2.0.0-rc.1", "example.com/tool/v2", ("v2.0.0-rc.1", "-ldflags -X main.Version=2.0.0-rc.1")),
    ('-X "k8s.io/component-base/version.gitVersion=v1.28.2"', "k8s.io/kubernetes",
     ("v1.28.2", "-ldflags -X k8s.io/component-base/version.gitVersion=v1.28.2")),
    # Set in the main module beats set elsewhere; v2+ on a path without /vN is +incompatible, as in Go.
    ("-X github.com/prometheus/common/version.Version=2.45.0 -X main.version=2.45.0", "github.com/prometheus/prometheus",
     ("v2.45.0+incompatible", "-ldflags -X main.version=2.45.0")),
    ("-X main.VERSION=0.4.0 -X github.com/other/lib.Version=9.9.9", "example.com/tool",
     ("v0.4.0", "-ldflags -X main.VERSION=0.4.0")),
])
def test_versions_from_linker_flags(ldflags: str, main_path: str, expected: tuple[str, str]) -> None:
    assert ldflags_version(ldflags, main_path) == expected


@pytest.mark.parametrize("ldflags", [
    "",
    "-s -w",
    "-X main.version=dev",  # not a version
    "-X main.version=1.18",  # not SemVer
    "-X main.version=v1.2.3-4-gabcdef0",  # git describe: past the tag, not a pre-release of it
    "-X main.version=1.2.3 -X example.com/tool/version.Version=1.2.4",  # the main module disagrees with itself
    "-X main.commit=1.2.3",  # not a version variable
    "-X main.goVersion=1.21.0",
    "-X 'main.version=1.2.3",  # unterminated quote: the go command refuses it
    "-X main.version",  # no value
    "-X 'bad path!.version=1.2.3'",
    "-X main.version=3.0.0",  # contradicts the module's /v2 suffix
    "-X main.version=01.2.3",
])
def test_linker_flags_that_give_no_version(ldflags: str) -> None:
    assert ldflags_version(ldflags, "example.com/tool/v2" if "3.0.0" in ldflags else "example.com/tool") is None


def test_only_a_devel_main_module_takes_a_stamped_version() -> None:
    stamped = "build\t-ldflags=\"-X main.version=9.9.9\"\n"
    modinfo = "path\texample.com/app\nmod\texample.com/app\tv0.3.0\t\ndep\texample.com/lib\t(devel)\t\n" + stamped
    found, _ = catalog({"app": build_elf([(".go.buildinfo", go_inline_buildinfo("go1.22.1", modinfo))])})
    assert found["example.com/app"]["version"] == "v0.3.0" and found["example.com/lib"]["version"] == "(devel)"
    devel = modinfo.replace("v0.3.0", "(devel)")
    found, _ = catalog({"app": build_elf([(".go.buildinfo", go_inline_buildinfo("go1.22.1", devel))])})
    assert found["example.com/app"]["version"] == "v9.9.9+incompatible"
