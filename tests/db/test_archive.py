"""The bundle reader against hostile tar headers and a source that changes between reads."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest

from scanner.db import errors
from scanner.db.archive import BLOCK, read_bundle, verify_bundle
from scanner.db.verify import FreshnessPolicy, TrustedKey, TrustPolicy
from tests.db.bundles import NOW, Signer, make_parts


def with_field(bundle: bytes, header_at: int, start: int, value: bytes) -> bytes:
    """`bundle` with one header field replaced (NUL-padded) and the header checksum recomputed."""
    header = bytearray(bundle[header_at:header_at + BLOCK])
    end = {124: 136, 148: 156}[start]
    header[start:end] = value.ljust(end - start, b"\0")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bundle[:header_at] + bytes(header) + bundle[header_at + BLOCK:]


@pytest.mark.parametrize("size_field", [
    b"-0000000001", b"-1", b"+0000000001", b"0o1777", b"1_000", b"", b"\x80" + bytes(10) + b"\x10",
    b"\xff" * 12,
], ids=["negative", "short-negative", "plus", "0o-prefix", "underscore", "empty", "base-256", "base-256-negative"])
def test_size_fields_other_than_plain_octal_are_refused(tmp_path: Path, size_field: bytes) -> None:
    # Python's int(text, 8) accepts signs, 0o and underscores: a manifest of size -1 used to make the
    # reader call read(-1), reading the whole rest of the file into memory past the manifest cap.
    parts = make_parts(Signer())
    valid = parts.bundle()
    # The manifest's header, then directly the signatures' header: with size -1 the layout is consistent.
    after_manifest = BLOCK + -(-len(parts.manifest) // BLOCK) * BLOCK
    bundle = with_field(valid[:BLOCK] + valid[after_manifest:], 0, 124, size_field)
    path = tmp_path / "hostile.bundle"
    path.write_bytes(bundle)
    with open(path, "rb") as handle, pytest.raises(errors.BundleArchiveError, match="size field is not an octal number"):
        read_bundle(handle)


class RecordingFile(io.FileIO):
    """A file that remembers every byte range read from it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.ranges: list[tuple[int, int]] = []

    def read(self, size: int = -1) -> bytes:
        start = self.tell()
        data = super().read(size)
        self.ranges.append((start, start + len(data)))
        return data


def test_every_byte_is_read_once_and_the_digest_covers_those_reads(tmp_path: Path) -> None:
    # A source that changes between reads (a hostile USB device, a file rewritten during import) must not
    # get bytes past verification: what zstd decompresses and what is hashed come from one read.
    signer = Signer()
    path = tmp_path / "good.bundle"
    path.write_bytes(make_parts(signer).bundle())
    trust = TrustPolicy(keys=(TrustedKey(signer.key_id, "release", signer.raw_public),))
    with RecordingFile(path) as handle:
        contents, _ = verify_bundle(handle, trust=trust, now=NOW, freshness=FreshnessPolicy(timedelta(days=7)),
                                    rollback={}, spool_dir=tmp_path)
        ranges = sorted(r for r in handle.ranges if r[1] > r[0])
    assert all(previous[1] <= current[0] for previous, current in itertools.pairwise(ranges)), ranges
    assert sum(end - start for start, end in ranges) == path.stat().st_size
    assert contents.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(tmp_path.iterdir()) == [path]  # the spool leaves nothing behind


@pytest.mark.parametrize(("tar_format", "name", "pax"), [
    (tarfile.PAX_FORMAT, "manifest.json", {"path": "vulns.sqlite.zst"}),  # would rename the member
    (tarfile.PAX_FORMAT, "manifest.json", {"size": "1"}),  # would override the header's size
    (tarfile.GNU_FORMAT, "m" * 120, {}),  # GNU long name
], ids=["pax-path", "pax-size", "gnu-longname"])
def test_extension_headers_are_refused(tmp_path: Path, tar_format: int, name: str, pax: dict[str, str]) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tar_format) as archive:
        info = tarfile.TarInfo(name)
        info.size, info.pax_headers = 2, pax
        archive.addfile(info, io.BytesIO(b"{}"))
    path = tmp_path / "extended.bundle"
    path.write_bytes(out.getvalue())
    with open(path, "rb") as handle, pytest.raises(errors.MemberTypeError, match=r"header|long name"):
        read_bundle(handle)


class FailingFile(io.FileIO):
    """A file whose reads fail past `broken_at`, like a damaged USB stick."""

    def __init__(self, path: Path, broken_at: int) -> None:
        super().__init__(path, "rb")
        self.broken_at = broken_at

    def read(self, size: int = -1) -> bytes:
        if self.tell() + max(size, 0) > self.broken_at:
            raise OSError(errno.EIO, "Input/output error")
        return super().read(size)


def test_a_read_error_is_the_bundles_not_the_state_directorys(tmp_path: Path) -> None:
    signer = Signer()
    path = tmp_path / "good.bundle"
    path.write_bytes(make_parts(signer).bundle())
    trust = TrustPolicy(keys=(TrustedKey(signer.key_id, "release", signer.raw_public),))
    with FailingFile(path, broken_at=path.stat().st_size - 12000) as handle, pytest.raises(
            errors.BundleArchiveError, match=r"cannot read the bundle near byte \d+: Input/output error"):
        verify_bundle(handle, trust=trust, now=NOW, freshness=FreshnessPolicy(), rollback={}, spool_dir=tmp_path)
