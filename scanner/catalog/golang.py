"""Go modules compiled into ELF executables, read from the build information the Go linker embeds.

The `.go.buildinfo` blob starts with a 32-byte header: the magic "\\xff Go buildinf:", the pointer
size, and flags (bit 0 big-endian, bit 1 inline strings). Go >= 1.18 writes the toolchain version and
the module list inline after the header as varint-length strings; older toolchains write two pointers
to Go string headers in the data segment, resolved here through the program headers. The module
list (`path`, `mod`, `dep`, `=>` replacement and `build` lines) gives the main module and every
dependency with its version and go.sum hash; the toolchain version becomes the `stdlib` package.

Executables under `testdata/` and inside a Go toolchain's own tree are test material, not software
the image runs, and are skipped. Executables are read through seeks, never loaded whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from elftools.elf.elffile import ELFFile
from packageurl import PackageURL

from scanner.catalog.base import CatalogResult, register
from scanner.catalog.langpkg import (
    ELF_ERRORS,
    ELF_EXECUTABLES,
    CapturedFile,
    ParseError,
    catalog_executables,
    elf_section,
    make_package,
    read_capped,
)
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro, Package

MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_SEARCH_SIZE = 64 * 1024  # how much of the data segment to search when the section table is stripped
_MAX_STRING = 4 * 1024 * 1024
_FLAG_BIG_ENDIAN = 1
_FLAG_INLINE = 2
_SENTINEL_SIZE = 16  # modinfo is wrapped in 16-byte markers
_GO_VERSION = re.compile(r"go(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?(?:(?P<pre>beta|rc)(?P<pre_n>\d+))?")
_DEVEL = "(devel)"


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replaced: Module | None = None  # what this module replaced (the `=>` line makes the replacement)


@dataclass
class BuildInfo:
    go_version: str
    main_path: str = ""  # the package path of the command (the `path` line)
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while offset < len(data) and shift < 64:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
    raise ParseError("bad varint in Go build info")


def _inline_strings(blob: bytes) -> tuple[str, str]:
    offset = _HEADER_SIZE
    texts: list[str] = []
    for _ in range(2):
        length, offset = _varint(blob, offset)
        if offset + length > len(blob):
            raise ParseError("Go build info string runs past its section")
        texts.append(blob[offset:offset + length].decode("utf-8", "replace"))
        offset += length
    return texts[0], texts[1]


def _read_virtual(elf: ELFFile, address: int, size: int) -> bytes:
    """`size` bytes at a virtual address, through the PT_LOAD segment that maps it from the file."""
    if size > _MAX_STRING:
        raise ParseError(f"Go build info string of {size} bytes refused")
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_LOAD":
            continue
        start, filesz = segment["p_vaddr"], segment["p_filesz"]
        if start <= address and address + size <= start + filesz:
            elf.stream.seek(segment["p_offset"] + address - start)
            return read_capped(elf.stream, size)
    raise ParseError(f"address {address:#x} is not mapped from the file")


def _pointer_strings(elf: ELFFile, blob: bytes) -> tuple[str, str]:
    """Go < 1.18: two pointers to string headers (data pointer, length) in the data segment."""
    pointer_size = blob[14]
    if pointer_size not in (4, 8):
        raise ParseError(f"pointer size {pointer_size} in Go build info")
    order: Literal["big", "little"] = "big" if blob[15] & _FLAG_BIG_ENDIAN else "little"
    texts: list[str] = []
    for index in range(2):
        at = 16 + index * pointer_size
        header_address = int.from_bytes(blob[at:at + pointer_size], order)
        header = _read_virtual(elf, header_address, 2 * pointer_size)
        data_address = int.from_bytes(header[:pointer_size], order)
        length = int.from_bytes(header[pointer_size:], order)
        texts.append(_read_virtual(elf, data_address, length).decode("utf-8", "replace") if length else "")
    return texts[0], texts[1]


def _find_blob(elf: ELFFile) -> bytes | None:
    section = elf_section(elf, ".go.buildinfo", _MAX_STRING)
    if section is not None:
        return section if section.startswith(MAGIC) else None
    try:
        writable = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_flags"] & 2]
    except ELF_ERRORS as error:
        raise ParseError(f"unreadable ELF program headers ({error})") from error
    if not writable:
        return None
    elf.stream.seek(writable[0]["p_offset"])
    data = elf.stream.read(min(_SEARCH_SIZE, writable[0]["p_filesz"]))
    at = data.find(MAGIC)
    while at != -1 and at % 16:
        at = data.find(MAGIC, at + 1)
    return data[at:] if at != -1 else None


def parse_modinfo(go_version: str, modinfo: str) -> BuildInfo:
    if len(modinfo) >= 2 * _SENTINEL_SIZE + 1 and modinfo[-_SENTINEL_SIZE - 1] == "\n":
        modinfo = modinfo[_SENTINEL_SIZE:-_SENTINEL_SIZE]
    info = BuildInfo(go_version=go_version)
    last_kind = ""
    for line in modinfo.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            info.main_path = rest
        elif kind in ("mod", "dep") and len(fields) >= 2:
            module = Module(fields[0], fields[1], fields[2] if len(fields) > 2 else "")
            if kind == "mod":
                info.main = module
            else:
                info.deps.append(module)
        elif kind == "=>" and fields and last_kind in ("mod", "dep"):
            replacement = Module(fields[0], fields[1] if len(fields) > 1 else "", fields[2] if len(fields) > 2 else "")
            if last_kind == "mod" and info.main is not None:
                info.main = Module(replacement.path, replacement.version, replacement.sum, info.main)
            elif info.deps:
                info.deps[-1] = Module(replacement.path, replacement.version, replacement.sum, info.deps[-1])
        elif kind == "build":
            key, _, value = rest.partition("=")
            info.settings[key] = value
        last_kind = kind
    return info


def read_build_info(elf: ELFFile) -> BuildInfo | None:
    """The build info of a Go executable; None when the file is not one."""
    blob = _find_blob(elf)
    if blob is None or len(blob) < _HEADER_SIZE:
        return None
    if blob[15] & _FLAG_INLINE:
        version, modinfo = _inline_strings(blob)
    else:
        version, modinfo = _pointer_strings(elf, blob)
    return parse_modinfo(version, modinfo)


def stdlib_version(go_version: str) -> str:
    """"go1.19.8" -> "v1.19.8", "go1.21rc2" -> "v1.21.0-rc.2"; "" for anything else ("devel ...")."""
    match = _GO_VERSION.match(go_version.strip())
    if not match:
        return ""
    version = f"v{match['major']}.{match['minor']}.{match['patch'] or 0}"
    return f"{version}-{match['pre']}.{match['pre_n']}" if match["pre"] else version


def golang_purl(module_path: str, version: str) -> PackageURL:
    namespace, _, name = module_path.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version or None)


def _in_go_tree(fs: Filesystem, path: str) -> bool:
    parts = path.split("/")
    if "testdata" in parts[:-1]:
        return True
    for index, part in enumerate(parts[:-1]):
        if part == "src":
            root = "/".join(parts[:index + 1])
            if fs.entry(f"{root}/runtime") is not None and fs.entry(f"{root}/cmd/go") is not None:
                return True
    return False


class GoCataloger:
    name = "go"

    @property
    def requests(self) -> tuple[FileRequest, ...]:
        return (ELF_EXECUTABLES,)

    def catalog(self, fs: Filesystem, distro: Distro | None) -> CatalogResult:
        return catalog_executables(fs, read_build_info, self._packages, lambda path: _in_go_tree(fs, path))

    def _packages(self, executable: CapturedFile, info: BuildInfo, warnings: list[str]) -> Iterator[Package]:
        main_path = info.main.path if info.main is not None else info.main_path
        common = [("go_version", info.go_version), ("main_module", main_path),
                  ("goos", info.settings.get("GOOS", "")), ("goarch", info.settings.get("GOARCH", ""))]
        toolchain = stdlib_version(info.go_version)
        if toolchain:
            yield make_package(executable, name="stdlib", version=toolchain, purl=golang_purl("stdlib", toolchain),
                               ecosystem="Go", cataloger=self.name, metadata=common)
        else:
            warnings.append(f"{executable.path}: Go toolchain version {info.go_version!r} not understood, "
                            "no stdlib package")
        # A GOPATH-mode build has no `mod` line; its `path` still names the command that was built.
        main = info.main or (Module(info.main_path, "") if info.main_path else None)
        modules = [(main, True)] if main is not None else []
        modules += [(dep, False) for dep in info.deps]
        for module, is_main in modules:
            name, version = module.path, module.version
            extra = [("sum", module.sum), ("main", "true" if is_main else "")]
            if module.replaced is not None and module.path.startswith((".", "/")):
                # replaced by a local directory: the code is the original module's, at no known version
                name, version = module.replaced.path, _DEVEL
                extra.append(("replaced_by", module.path))
            elif module.replaced is not None:
                extra.append(("replaces", f"{module.replaced.path}@{module.replaced.version}"))
            version = version or _DEVEL
            if is_main:
                extra.append(("vcs_revision", info.settings.get("vcs.revision", "")))
            yield make_package(executable, name=name, version=version, purl=golang_purl(name, version),
                               ecosystem="Go", cataloger=self.name, metadata=common + extra)


register(GoCataloger())
