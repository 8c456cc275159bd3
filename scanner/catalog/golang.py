"""Go modules compiled into ELF executables, read from the build information the Go linker embeds.

The `.go.buildinfo` blob starts with a 32-byte header: the magic "\\xff Go buildinf:", the pointer
size, and flags (bit 0 big-endian, bit 1 inline strings). Go >= 1.18 writes the toolchain version and
the module list inline after the header as varint-length strings; older toolchains write two pointers
to Go string headers in the data segment, resolved here through the program headers. The module
list (`path`, `mod`, `dep`, `=>` replacement and `build` lines) gives the main module and every
dependency with its version and go.sum hash; the toolchain version becomes the `stdlib` package.
A main module built outside version control records `(devel)`; when its `-ldflags` build setting
stamps a version with `-X` (`ldflags_version`), that version is used and the package says so
(`version_inferred_from`).

Executables under `testdata/` and inside a Go toolchain's own tree are test material, not software
the image runs, and are skipped. Executables are read through seeks, never loaded whole.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Literal

from scanner.catalog.base import Findings, register
from scanner.catalog.elf import PF_W, PT_LOAD, ElfFile
from scanner.catalog.langpkg import (
    CapturedFile,
    ExecutableCataloger,
    ParseError,
    make_package,
)
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.catalog.purl import purl
from scanner.image.filesystem import Filesystem
from scanner.model import Package

MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_SEARCH_SIZE = 64 * 1024  # how much of the data segment to search when the section table is stripped
_FLAG_BIG_ENDIAN = 1
_FLAG_INLINE = 2
_SENTINEL_SIZE = 16  # modinfo is wrapped in 16-byte markers
_GO_VERSION = re.compile(r"go(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?(?:(?P<pre>beta|rc)(?P<pre_n>\d+))?")
_DEVEL = "(devel)"
# strconv.Quote's escapes: how the toolchain writes a build setting holding spaces or quotes
_GO_ESCAPE = re.compile(r'\\(?:(?P<char>[abfnrtv\\"])|x(?P<hex>[0-9a-fA-F]{2})|(?P<octal>[0-7]{3})'
                        r'|u(?P<u4>[0-9a-fA-F]{4})|U(?P<u8>[0-9a-fA-F]{8}))')
_GO_QUOTED = re.compile(r'"(?:[^"\\]|' + _GO_ESCAPE.pattern + r')*"')
_GO_CHAR_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                    "\\": "\\", '"': '"'}
# A version a `-X` flag sets: SemVer 2.0, the "v" optional. `git describe` output past a tag
# ("v1.2.3-4-gabcdef0") is refused: as SemVer it would be a pre-release of the tag it follows.
_SEMVER = re.compile(r"v?(?P<major>0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
                     r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_GIT_DESCRIBE = re.compile(r"-[0-9]+-g[0-9a-f]{7,40}(?:-dirty)?$")
_IMPORT_PATH = re.compile(r"[A-Za-z0-9._~+/-]+")
_VERSION_VARIABLES = frozenset({"version", "gitversion"})  # compared in lower case: Version, VERSION, gitVersion
_MAJOR_SUFFIX = re.compile(r"/v(?P<major>[0-9]+)$")


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


def _read_virtual(elf: ElfFile, address: int, size: int, limit: int) -> bytes:
    if size > limit:
        raise ParseError(f"Go build info string of {size} bytes is over {limit} (cap max_go_buildinfo_size)")
    return elf.read_virtual(address, size)


def _pointer_strings(elf: ElfFile, blob: bytes, limit: int) -> tuple[str, str]:
    """Go < 1.18: two pointers to string headers (data pointer, length) in the data segment."""
    pointer_size = blob[14]
    if pointer_size not in (4, 8):
        raise ParseError(f"pointer size {pointer_size} in Go build info")
    order: Literal["big", "little"] = "big" if blob[15] & _FLAG_BIG_ENDIAN else "little"
    texts: list[str] = []
    for index in range(2):
        at = 16 + index * pointer_size
        header_address = int.from_bytes(blob[at:at + pointer_size], order)
        header = _read_virtual(elf, header_address, 2 * pointer_size, limit)
        data_address = int.from_bytes(header[:pointer_size], order)
        length = int.from_bytes(header[pointer_size:], order)
        texts.append(_read_virtual(elf, data_address, length, limit).decode("utf-8", "replace") if length else "")
    return texts[0], texts[1]


def _find_blob(elf: ElfFile, limit: int) -> bytes | None:
    section = elf.section(b".go.buildinfo", limit)
    if section is not None:
        return section if section.startswith(MAGIC) else None
    writable = [s for s in elf.segments if s.type == PT_LOAD and s.flags & PF_W]
    if not writable:
        return None
    data = elf.read_at(writable[0].offset, min(_SEARCH_SIZE, writable[0].filesz, elf.size - writable[0].offset))
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
            info.settings[key] = _unquote_setting(value)
        last_kind = kind
    return info


def _unquote_setting(value: str) -> str:
    """A build setting's value: Go quotes one that holds a space, tab, newline or quote (strconv.Quote)."""
    if not _GO_QUOTED.fullmatch(value):
        return value
    out = bytearray()
    at = 1
    for escape in _GO_ESCAPE.finditer(value, 1, len(value) - 1):
        out += value[at:escape.start()].encode()
        if escape["char"]:
            out += _GO_CHAR_ESCAPES[escape["char"]].encode()
        elif escape["hex"] or escape["octal"]:
            number = int(escape["hex"], 16) if escape["hex"] else int(escape["octal"], 8)
            if number > 0xFF:
                return value  # not a Go string literal after all
            out.append(number)
        else:
            point = int(escape["u4"] or escape["u8"], 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                return value
            out += chr(point).encode()
        at = escape.end()
    out += value[at:-1].encode()
    return out.decode("utf-8", "replace")


def _split_flags(text: str) -> list[str] | None:
    """`-ldflags` as cmd/go splits it: fields between spaces, a field may be wholly in '' or "" (no
    escapes inside); None for an unterminated quote, which the go command itself refuses."""
    fields: list[str] = []
    at = 0
    while True:
        while at < len(text) and text[at] in " \t\n\r":
            at += 1
        if at == len(text):
            return fields
        if text[at] in "'\"":
            end = text.find(text[at], at + 1)
            if end == -1:
                return None
            fields.append(text[at + 1:end])
            at = end + 1
            continue
        end = at
        while end < len(text) and text[end] not in " \t\n\r":
            end += 1
        fields.append(text[at:end])
        at = end


def _x_assignments(ldflags: str) -> list[tuple[str, str]]:
    """The (symbol, value) of each `-X importpath.name=value` the linker was given."""
    fields = _split_flags(ldflags) or []
    assignments = []
    for index, flag in enumerate(fields):
        if flag in ("-X", "--X") and index + 1 < len(fields):
            argument = fields[index + 1]
        elif flag.startswith(("-X=", "--X=")):
            argument = flag.partition("=")[2]
        else:
            continue
        symbol, equals, value = argument.partition("=")
        if equals:
            assignments.append((symbol, value))
    return assignments


def ldflags_version(ldflags: str, main_path: str) -> tuple[str, str] | None:
    """The main module's version a `-X` linker flag sets, and the flag as evidence; None when none does.

    Release builds often leave the main module `(devel)` and stamp their version into a variable:
    `-X main.version=1.18.1`, `-X github.com/org/proj/internal/version.Version=v1.2.3`, Kubernetes'
    `-X k8s.io/component-base/version.gitVersion=v1.28.2`. Only a variable named version (any case) or
    gitVersion whose value is a SemVer version counts; flags that set it in `main` or in the main
    module's own packages are preferred over others, and when the ones that count disagree nothing is
    inferred. The version is given as the module's: "v" prefixed, `+incompatible` for v2+ on a path
    without a major-version suffix, and refused when it contradicts that suffix.
    """
    found: list[tuple[bool, str, int, str]] = []  # (set in the main module, version, its major, evidence)
    for symbol, value in _x_assignments(ldflags):
        package, _, variable = symbol.rpartition(".")
        semver = _SEMVER.fullmatch(value)
        if (variable.lower() not in _VERSION_VARIABLES or not _IMPORT_PATH.fullmatch(package) or semver is None
                or _GIT_DESCRIBE.search(value)):
            continue
        own = package in ("main", main_path) or (bool(main_path) and package.startswith(main_path + "/"))
        found.append((own, value if value.startswith("v") else f"v{value}", int(semver["major"]),
                      f"-ldflags -X {symbol}={value}"))
    preferred = [entry for entry in found if entry[0]] or found
    if not preferred or len({entry[1] for entry in preferred}) != 1:
        return None
    _, version, major, evidence = preferred[0]
    suffix = _MAJOR_SUFFIX.search(main_path)
    if suffix is not None:
        return (version, evidence) if int(suffix["major"]) == major else None
    if major >= 2 and not main_path.startswith("gopkg.in/") and "+" not in version:
        version += "+incompatible"
    return version, evidence


def read_build_info(elf: ElfFile, limits: CatalogLimits = DEFAULT_LIMITS) -> BuildInfo | None:
    """The build info of a Go executable; None when the file is not one."""
    blob = _find_blob(elf, limits.max_go_buildinfo_size)
    if blob is None or len(blob) < _HEADER_SIZE:
        return None
    if blob[15] & _FLAG_INLINE:
        version, modinfo = _inline_strings(blob)
    else:
        version, modinfo = _pointer_strings(elf, blob, limits.max_go_buildinfo_size)
    return parse_modinfo(version, modinfo)


def stdlib_version(go_version: str) -> str:
    """"go1.19.8" -> "v1.19.8", "go1.21rc2" -> "v1.21.0-rc.2"; "" for anything else ("devel ...")."""
    match = _GO_VERSION.match(go_version.strip())
    if not match:
        return ""
    version = f"v{match['major']}.{match['minor']}.{match['patch'] or 0}"
    return f"{version}-{match['pre']}.{match['pre_n']}" if match["pre"] else version


def golang_purl(module_path: str, version: str) -> str:
    namespace, _, name = module_path.rpartition("/")
    return purl("golang", name, version, namespace=namespace)


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


class GoCataloger(ExecutableCataloger[BuildInfo]):
    name = "go"

    def skips(self, fs: Filesystem, path: str) -> bool:
        return _in_go_tree(fs, path)

    def read(self, elf: ElfFile) -> BuildInfo | None:
        return read_build_info(elf, self.limits)

    def packages_of(self, executable: CapturedFile, info: BuildInfo, findings: Findings) -> None:
        main_path = info.main.path if info.main is not None else info.main_path
        common = [("go_version", info.go_version), ("main_module", main_path),
                  ("goos", info.settings.get("GOOS", "")), ("goarch", info.settings.get("GOARCH", ""))]
        toolchain = stdlib_version(info.go_version)
        if toolchain:
            findings.add(make_package(executable, name="stdlib", version=toolchain,
                                      purl=golang_purl("stdlib", toolchain), ecosystem="Go", cataloger=self.name,
                                      metadata=common), executable.path)
        else:
            findings.warn(f"{executable.path}: Go toolchain version {info.go_version!r} not understood, "
                          "no stdlib package")
        # A GOPATH-mode build has no `mod` line; its `path` still names the command that was built.
        main = info.main or (Module(info.main_path, "") if info.main_path else None)
        modules = [(main, True)] if main is not None else []
        modules += [(dep, False) for dep in info.deps]
        for module, is_main in modules:
            where = f"{executable.path}: module {module.path!r}"
            with findings.record(where):  # a path like "x/" is no PURL: that module only is skipped
                if not findings.add(self._module(executable, info, module, is_main, common), where):
                    return

    def _module(self, executable: CapturedFile, info: BuildInfo, module: Module, is_main: bool,
                common: list[tuple[str, str]]) -> Package:
        name, version = module.path, module.version
        extra = [("sum", module.sum), ("main", "true" if is_main else "")]
        if module.replaced is not None and module.path.startswith((".", "/")):
            # replaced by a local directory: the code is the original module's, at no known version
            name, version = module.replaced.path, _DEVEL
            extra.append(("replaced_by", module.path))
        elif module.replaced is not None:
            extra.append(("replaces", f"{module.replaced.path}@{module.replaced.version}"))
        version = version or _DEVEL
        inferred_from = ""
        if is_main:
            extra.append(("vcs_revision", info.settings.get("vcs.revision", "")))
            stamped = ldflags_version(info.settings.get("-ldflags", ""), name) if version == _DEVEL else None
            if stamped is not None:
                version, inferred_from = stamped
        package = make_package(executable, name=name, version=version, purl=golang_purl(name, version),
                               ecosystem="Go", cataloger=self.name, metadata=common + extra)
        return dataclasses.replace(package, version_inferred_from=inferred_from) if inferred_from else package


register(GoCataloger())
