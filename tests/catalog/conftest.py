from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scanner.image.filesystem import MemoryFilesystem

OSDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "osdb"


def filesystem_from_directory(root: Path, prefix: str) -> MemoryFilesystem:
    """Every regular file under `root`, placed at `prefix` + its relative path."""
    files = {prefix + path.relative_to(root).as_posix(): path.read_bytes()
             for path in sorted(root.rglob("*")) if path.is_file()}
    return MemoryFilesystem(files=files)


def expected_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "expected.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture
def osdb() -> Path:
    if not OSDB.is_dir():
        pytest.fail(f"shared test data missing: {OSDB}")
    return OSDB
