"""The floors of the code base and who may import whom (docs/architecture.md, "Floors"), read from the
source with `ast`: every import statement counts, including those inside functions, except those under
`if TYPE_CHECKING:`, which never run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scanner", "dbbuilder")

# The pure verification core of scanner/db: no file, socket, process or database access, and no clock
# of its own (`now` is a parameter). Everything it imports from scanner/ is held to the same rule.
VERIFICATION_CORE = ("scanner.db.verify", "scanner.db.ed25519", "scanner.db.root")
IO_MODULES = frozenset({
    "os", "io", "pathlib", "shutil", "tempfile", "glob", "fcntl", "mmap", "socket", "ssl", "select",
    "subprocess", "multiprocessing", "threading", "sqlite3", "sqlite_utils", "urllib", "http", "httpx",
    "requests", "signal", "sys", "scanner.fileio", "scanner.db.state", "scanner.db.archive", "scanner.db.install",
    "scanner.db.trust", "scanner.db.audit", "scanner.db.store",
})


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)  # the `else:` of `if TYPE_CHECKING` does run
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Every module `path` imports, as absolute dotted names (`from a import b` is `a.b` when that is a
    module of ours, else `a`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:  # a submodule is what is imported; else a name defined in `base`
            submodule = f"{base}.{alias.name}"
            found.add(submodule if _path_of(submodule) is not None else base)
    return frozenset(found)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(importer_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module_name(path)} imports {imported}"
            for path in source_files() if _within(module_name(path), importer_prefix)
            for imported in sorted(imports_of(path)) if any(_within(imported, f) for f in forbidden)]


ABOVE_THE_LIBRARY = ("scanner.cli", "scanner.cliexit", "scanner.batch")


@pytest.mark.parametrize(("importer", "forbidden"), [
    ("scanner", ("dbbuilder",)),  # the isolated side never carries the connected side's code
    ("scanner.versions", ("scanner.image", "scanner.catalog", "scanner.db", "scanner.match", "scanner.targets",
                          "scanner.report", "scanner.attest", *ABOVE_THE_LIBRARY)),
    ("scanner.image", ("scanner.catalog", "scanner.db", "scanner.match", "scanner.targets", "scanner.report",
                       "scanner.attest", *ABOVE_THE_LIBRARY)),
    ("scanner.catalog", ("scanner.db", "scanner.match", "scanner.targets", "scanner.report", "scanner.attest",
                         *ABOVE_THE_LIBRARY)),
    ("scanner.db", ("scanner.image", "scanner.catalog", "scanner.match", "scanner.targets", "scanner.report",
                    "scanner.attest", *ABOVE_THE_LIBRARY)),
    ("scanner.match", ("scanner.report", "scanner.attest", *ABOVE_THE_LIBRARY)),
    ("scanner.report", ABOVE_THE_LIBRARY),
    ("scanner.attest", ABOVE_THE_LIBRARY),
])
def test_a_floor_never_imports_the_floors_above_it(importer: str, forbidden: tuple[str, ...]) -> None:
    assert violations(importer, forbidden) == []


# The command-line modules: the only ones that raise the CLI's UsageError. Library code says what it refused
# with an error of its own (OperatorInputError, ReportError, ...), whoever called it.
CLI_MODULES = frozenset({"scanner.cli", "scanner.cliexit", "dbbuilder.cli", "dbbuilder.root"})


def usage_error_lines(tree: ast.AST) -> list[int]:
    """Where `tree` names UsageError: imported, raised, caught or referred to as an attribute."""
    return [node.lineno for node in ast.walk(tree)
            if (isinstance(node, ast.Name) and node.id == "UsageError")
            or (isinstance(node, ast.Attribute) and node.attr == "UsageError")
            or (isinstance(node, ast.ImportFrom) and any(alias.name == "UsageError" for alias in node.names))]


def test_only_the_command_line_modules_use_usage_error() -> None:
    found = [f"{module_name(path)}:{line}" for path in source_files() if module_name(path) not in CLI_MODULES
             for line in usage_error_lines(ast.parse(path.read_text(encoding="utf-8"), str(path)))]
    assert found == []
    assert usage_error_lines(ast.parse("from scanner.errors import UsageError as Refused\nimport scanner.errors\n"
                                       "raise scanner.errors.UsageError('x')\n")) == [1, 3]
    assert all(_path_of(module) is not None for module in CLI_MODULES)


def _path_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_verification_core_imports_no_io_module() -> None:
    """Transitively through scanner's own modules: a helper the core imports is held to the same rule."""
    problems, seen = [], set()
    pending = list(VERIFICATION_CORE)
    while pending:
        module = pending.pop()
        path = _path_of(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        for imported in sorted(imports_of(path)):
            if any(_within(imported, io) for io in IO_MODULES):
                problems.append(f"{module} imports {imported}")
            elif _within(imported, "scanner"):
                pending.append(imported)
    assert set(VERIFICATION_CORE) <= seen
    assert problems == []


def test_the_checker_sees_relative_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The contracts are only as good as the import reader: it must not miss the forms the code uses."""
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\nelse:\n    import io\n"
                     "def f() -> None:\n    import sqlite3\n")
    names = {alias.name for node in _import_nodes(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "io", "sqlite3"}
    assert "dbbuilder.sources.records" in imports_of(ROOT / "dbbuilder" / "sources" / "base.py")
