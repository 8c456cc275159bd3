from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.db.errors import BundleArchiveError
from scanner.db.install import bundle_digest
from scanner.errors import ImageError, OperatorInputError, TargetError
from scanner.fileio import (
    FileReadError,
    NotRegularFileError,
    open_regular_file,
    read_capped,
    read_regular_file,
)
from scanner.image.source import open_source
from scanner.targets import looks_like_sbom


def test_reads_up_to_the_limit_exactly(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_regular_file(path, 10) == b"x" * 10
    with pytest.raises(FileReadError, match="larger than 9 bytes") as caught:
        read_regular_file(path, 9)
    assert caught.value.reason == "too large"


def test_errors_are_one_line_in_the_callers_class(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"^SBOM .*absent\.json: cannot read \(No such file or directory\)$"):
        read_capped(tmp_path / "absent.json", 100, "SBOM", TargetError)
    big = tmp_path / "big"
    big.write_bytes(b"y" * 101)
    with pytest.raises(OperatorInputError, match=r"^ignore file .*big: larger than 100 bytes$"):
        read_capped(big, 100, "ignore file", OperatorInputError)


def test_directories_fifos_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    with pytest.raises(FileReadError):
        read_regular_file(tmp_path, 100)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(TargetError, match="not a regular file"):
        read_capped(fifo, 100, "SBOM", TargetError)
    with pytest.raises(FileReadError, match="not a regular file"):
        read_regular_file(Path("/dev/zero"), 100)


def test_image_and_bundle_paths_that_are_fifos_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        open_regular_file(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        open_source(fifo)
    with pytest.raises(BundleArchiveError, match="not a regular file"):
        bundle_digest(fifo)
    assert not looks_like_sbom(fifo)
    path = tmp_path / "f"
    path.write_bytes(b"data")
    with open_regular_file(path) as handle:
        assert handle.read() == b"data"
