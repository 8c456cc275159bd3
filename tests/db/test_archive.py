"""The bundle reader against hostile tar headers and a source that changes between reads."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scanner.db import bundle_format, errors
from scanner.db.archive import BLOCK, read_bundle, verify_bundle
from scanner.db.trust import raw_public_key
from scanner.db.verify import FreshnessPolicy, TrustedKey, TrustPolicy, VerificationContext
from tests.db.bundles import NOW, Parts, Signer, make_parts, tar


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

    def read(self, size: int | None = -1) -> bytes:
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
        contents, _ = verify_bundle(handle, VerificationContext(trust, NOW, FreshnessPolicy(timedelta(days=7))),
                                    spool_dir=tmp_path)
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

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() + max(size or 0, 0) > self.broken_at:
            raise OSError(errno.EIO, "Input/output error")
        return super().read(size)


def test_a_read_error_is_the_bundles_not_the_state_directorys(tmp_path: Path) -> None:
    signer = Signer()
    path = tmp_path / "good.bundle"
    path.write_bytes(make_parts(signer).bundle())
    trust = TrustPolicy(keys=(TrustedKey(signer.key_id, "release", signer.raw_public),))
    with FailingFile(path, broken_at=path.stat().st_size - 12000) as handle, pytest.raises(
            errors.BundleArchiveError, match=r"cannot read the bundle near byte \d+: Input/output error"):
        verify_bundle(handle, VerificationContext(trust, NOW, FreshnessPolicy()), spool_dir=tmp_path)


def test_the_canonical_header_and_end_are_what_tarfile_writes() -> None:
    # So `tar tf` and Python's tarfile read every bundle; dbbuilder writes with bundle_format, not tarfile.
    for name, size, mtime in [("manifest.json", 0, 0), ("signatures.json", 231, 1795910400),
                              ("vulns.sqlite.zst", 8**11 - 1, 8**11 - 1)]:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, mtime, 0o644
        assert bundle_format.member_header(name, size, mtime) == info.tobuf(format=tarfile.USTAR_FORMAT)
    for size in (0, 1, 511, 512, 9000, 9216, 9217, 20000):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            archive.addfile(tarfile.TarInfo("x"), io.BytesIO())
            info = tarfile.TarInfo("y")
            info.size = size
            archive.addfile(info, io.BytesIO(bytes(size)))
        end = BLOCK + BLOCK + size + bundle_format.padding_bytes(size)
        assert len(out.getvalue()) == end + bundle_format.end_of_archive_bytes(end)


def verify(data: bytes, tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "candidate.bundle"
    path.write_bytes(data)
    trust = TrustPolicy(keys=(TrustedKey(signer.key_id, "release", signer.raw_public),))
    with path.open("rb") as handle:
        verify_bundle(handle, VerificationContext(trust, NOW, FreshnessPolicy()), spool_dir=tmp_path)


def header_offsets(parts: Parts) -> dict[str, int]:
    manifest_blocks = -(-len(parts.manifest) // BLOCK)
    signatures_blocks = -(-len(parts.signatures) // BLOCK)
    return {bundle_format.MANIFEST_NAME: 0, bundle_format.SIGNATURES_NAME: (1 + manifest_blocks) * BLOCK,
            bundle_format.DATABASE_NAME: (2 + manifest_blocks + signatures_blocks) * BLOCK}


def with_bytes(data: bytes, header_at: int, offset: int, value: bytes) -> bytes:
    """`data` with bytes of one header replaced and its checksum recomputed, so only canonicality is at stake."""
    header = bytearray(data[header_at:header_at + BLOCK])
    header[offset:offset + len(value)] = value
    if not 148 <= offset < 156:
        header[148:156] = b" " * 8
        header[148:155] = b"%06o\0" % sum(header)
    return data[:header_at] + bytes(header) + data[header_at + BLOCK:]


def constant(value: bytes) -> Callable[[bytes], bytes]:
    return lambda _: value


def unpadded_size(header: bytes) -> bytes:
    digits = b"%o" % int(header[124:135], 8)
    return (digits + b"\0").ljust(12, b" ")


# (field named in the refusal, offset, header -> bytes written there): each a header `tar` reads the same way.
HEADER_VARIANTS: dict[str, tuple[str, int, Callable[[bytes], bytes]]] = {
    "text after the name": ("name", 90, constant(b"junk")),
    "mode 0755": ("mode", 100, constant(b"0000755\0")),
    "mode space-terminated": ("mode", 100, constant(b"000644 \0")),
    "uid 1000": ("uid", 108, constant(b"0001750\0")),
    "gid 1000": ("gid", 116, constant(b"0001750\0")),
    "size without leading zeros": ("size", 124, unpadded_size),
    "mtime space-terminated": ("mtime", 136, lambda header: header[136:147] + b" "),
    "checksum in seven digits": ("checksum", 148, lambda header: b"%07o\0" % int(header[148:154], 8)),
    "typeflag NUL": ("typeflag", 156, constant(b"\0")),
    "text in linkname": ("linkname", 157, constant(b"somewhere")),
    "GNU magic": ("magic", 257, constant(b"ustar  \0")),
    "version 0 space": ("version", 263, constant(b"0 ")),
    "uname root": ("uname", 265, constant(b"root")),
    "gname root": ("gname", 297, constant(b"root")),
    "devmajor octal zero": ("devmajor", 329, constant(b"0000000\0")),
    "devminor octal zero": ("devminor", 337, constant(b"0000000\0")),
    "text after a NUL in the prefix": ("prefix", 346, constant(b"junk")),
    "text in the unused tail": ("unused", 500, constant(b"junk")),
}


@pytest.mark.parametrize("member", bundle_format.MEMBER_ORDER)
@pytest.mark.parametrize("variant", sorted(HEADER_VARIANTS))
def test_every_header_field_must_be_the_writers(tmp_path: Path, member: str, variant: str) -> None:
    signer = Signer()
    parts = make_parts(signer)
    at = header_offsets(parts)[member]
    valid = parts.bundle()
    field, offset, value = HEADER_VARIANTS[variant]
    changed = with_bytes(valid, at, offset, value(valid[at:at + BLOCK]))
    assert changed != valid
    with pytest.raises(errors.NonCanonicalBundleError, match=rf"tar header of {member} at byte {at}: {field} field"):
        verify(changed, tmp_path, signer)


def test_an_mtime_no_canonical_header_holds_is_refused(tmp_path: Path) -> None:
    signer = Signer()
    changed = with_bytes(make_parts(signer).bundle(), 0, 136, b"777777777777")  # 12 digits, no NUL
    with pytest.raises(errors.NonCanonicalBundleError, match="68719476735 does not fit a 12-byte ustar number field"):
        verify(changed, tmp_path, signer)


@pytest.mark.parametrize("member", bundle_format.MEMBER_ORDER)
def test_padding_must_be_zero_after_every_member(tmp_path: Path, member: str) -> None:
    signer = Signer()
    parts = make_parts(signer)
    sizes = {bundle_format.MANIFEST_NAME: len(parts.manifest), bundle_format.SIGNATURES_NAME: len(parts.signatures),
             bundle_format.DATABASE_NAME: len(parts.payload)}
    assert all(size % BLOCK for size in sizes.values()), "each member needs padding for this test"
    padding_at = header_offsets(parts)[member] + BLOCK + sizes[member]
    valid = parts.bundle()
    for position in (padding_at, padding_at + bundle_format.padding_bytes(sizes[member]) - 1):
        changed = valid[:position] + b" " + valid[position + 1:]
        with pytest.raises(errors.NonCanonicalBundleError, match=f"non-zero byte in the padding after {member} "
                                                                 f"at byte {position}"):
            verify(changed, tmp_path, signer)


def members_end(parts: Parts) -> int:
    return header_offsets(parts)[bundle_format.DATABASE_NAME] + BLOCK + len(parts.payload) + bundle_format.padding_bytes(
        len(parts.payload))


# Each: (the valid bundle and its parts -> a variant, what the refusal says). `tar` reads them all the same.
END_VARIANTS: dict[str, tuple[Callable[[bytes, Parts], bytes], str]] = {
    "data after the archive": (lambda data, _: data + b"junk", "4 bytes after the end of the archive"),
    "a third zero block": (lambda data, _: data + bytes(BLOCK), "512 bytes after the end of the archive"),
    "another zero record": (lambda data, _: data + bytes(bundle_format.RECORD_BYTES), "10240 bytes after the end"),
    "no record padding": (lambda data, parts: data[:members_end(parts) + 2 * BLOCK], "dbbuilder writes"),
    "one zero block short": (lambda data, _: data[:-BLOCK], r"is \d+ zero bytes; dbbuilder writes \d+"),
    "non-zero byte in the end": (lambda data, _: data[:-1] + b"\x01", "non-zero byte in the end of the archive"),
}


@pytest.mark.parametrize("variant", sorted(END_VARIANTS))
def test_the_archive_ends_exactly_as_the_writer_ends_it(tmp_path: Path, variant: str) -> None:
    signer = Signer()
    parts = make_parts(signer)
    build, message = END_VARIANTS[variant]
    valid = parts.bundle()
    assert len(valid) > members_end(parts) + 2 * BLOCK  # the record padding is there to alter
    with pytest.raises(errors.NonCanonicalBundleError, match=message):
        verify(build(valid, parts), tmp_path, signer)


def test_mtime_must_be_the_signed_built_at(tmp_path: Path) -> None:
    signer = Signer()
    parts = make_parts(signer)
    assert parts.mtime == bundle_format.member_mtime(NOW - timedelta(hours=2))
    with pytest.raises(errors.NonCanonicalBundleError, match=r"mtime \d+ is not the signed built_at"):
        verify(tar([(bundle_format.MANIFEST_NAME, parts.manifest), (bundle_format.SIGNATURES_NAME, parts.signatures),
                    (bundle_format.DATABASE_NAME, parts.payload)], parts.mtime + 1), tmp_path, signer)
    one_differs = with_bytes(parts.bundle(), header_offsets(parts)[bundle_format.DATABASE_NAME], 136,
                             b"%011o\0" % (parts.mtime + 1))
    with pytest.raises(errors.NonCanonicalBundleError, match="the first member's is"):
        verify(one_differs, tmp_path, signer)


def test_valid_bundles_verify(tmp_path: Path) -> None:
    signer = Signer()
    verify(make_parts(signer).bundle(), tmp_path, signer)
    demo = Path(__file__).resolve().parents[2] / "bundles"
    raw = raw_public_key((demo / "demo-key.pub.pem").read_bytes(), "demo")
    trust = TrustPolicy(keys=(TrustedKey(bundle_format.key_id(raw), "demo", raw),))
    with (demo / "demo.bundle").open("rb") as handle:
        contents, verified = verify_bundle(handle, VerificationContext(trust, datetime(2027, 1, 1, tzinfo=UTC)),
                                           spool_dir=tmp_path)
    assert contents.sha256 == hashlib.sha256((demo / "demo.bundle").read_bytes()).hexdigest()
    assert verified.manifest.channel == "demo"


@pytest.mark.parametrize("content", [b"# A markdown file\n\nnot a bundle at all\n" * 40, b"short", b"\x00" * 10])
def test_a_file_that_is_not_a_tar_archive_is_called_not_a_bundle(tmp_path: Path, content: bytes) -> None:
    from scanner.db.archive import read_bundle

    path = tmp_path / "notes.md"
    path.write_bytes(content)
    with path.open("rb") as stream, pytest.raises(errors.BundleArchiveError, match=r"notes\.md: not a bundle"):
        read_bundle(stream)


def test_any_seekable_stream_is_read(tmp_path: Path) -> None:
    signer = Signer()
    data = make_parts(signer).bundle()
    trust = TrustPolicy(keys=(TrustedKey(signer.key_id, "release", signer.raw_public),))
    contents, verified = verify_bundle(io.BytesIO(data), VerificationContext(trust, NOW), spool_dir=tmp_path)
    assert contents.sha256 == hashlib.sha256(data).hexdigest() and verified.manifest.bundle_version == 1
    assert read_bundle(io.BytesIO(data)).manifest_bytes == make_parts(signer).manifest
