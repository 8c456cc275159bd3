"""Caps that keep reading a hostile or enormous image bounded in time, memory and disk.

What catalogers do with the files they are handed has its own caps, in the peer object
`scanner.catalog.limits.CatalogLimits`.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.image.filesystem import SYMLINK_HOP_LIMIT

GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # Sum of decompressed layer bytes, every pass included: the defence against gzip/zstd bombs.
    max_uncompressed_bytes: int = 32 * GIB
    # Largest single file whose content is kept, whatever a request allows.
    max_file_size: int = 512 * MIB
    # Captured content above this size goes to the spool file instead of memory.
    spool_threshold: int = 1 * MIB
    # In-memory captured content above this total goes to the spool file too.
    max_memory_capture: int = 64 * MIB
    # Everything captured (memory and spool) together; beyond it files are skipped with a warning.
    # Content is kept once per stored copy: hard links, symlink targets and a layer listed again share it.
    max_captured_bytes: int = 4 * GIB
    # ... and no more than this many times the stored size of the image's layer blobs (but always up to
    # `min_capture_allowance`): a few KB of zstd may hold gigabytes of zeros named `*.jar`.
    max_capture_ratio: int = 50
    min_capture_allowance: int = 256 * MIB
    # Characters of paths and symlink targets written to the on-disk path index, every layer counted.
    max_index_bytes: int = 4 * GIB
    # Symlink lookups made to place members (and hard-link targets) under symlinked directories, as the
    # runtimes do; images built by docker and the like need none.
    max_link_lookups: int = 1_000_000
    # Tar members over all layers, a layer listed n times counted n times (a million-file image has
    # about a million).
    max_entries: int = 20_000_000
    # Layers an image lists, repeats included (Docker refuses more than about 125).
    max_layers: int = 500
    # Members of the outer archive (docker save, OCI archive) and the longest member name kept.
    max_archive_members: int = 100_000
    max_archive_name: int = 1024
    # OCI image indexes: nesting, and descriptors over all of them.
    max_index_depth: int = 4
    max_index_descriptors: int = 10_000
    symlink_hops: int = SYMLINK_HOP_LIMIT
    # manifest.json, index.json, image manifests and configs.
    max_metadata_size: int = 16 * MIB
    # One pax extended header, GNU long name or GNU sparse map (Go's archive/tar refuses more than 1 MiB).
    max_header_size: int = 1 * MIB
    # Tar headers read as Go reads them (docs/architecture.md); beyond these the archive is refused:
    # a member name or link target longer than Linux's PATH_MAX,
    max_path_length: int = 4096
    # records in one pax header,
    max_pax_records: int = 4096
    # pax/GNU headers before one member, and their bytes together,
    max_meta_headers: int = 16
    max_meta_bytes: int = 4 * MIB
    # data fragments of one sparse file.
    max_sparse_fragments: int = 65_536
    # Warnings kept verbatim; the rest are counted.
    max_warnings: int = 200


def parse_size(text: str) -> int:
    """'32G', '512M', '100k' or a plain byte count; ValueError when it is none of those."""
    units = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = cleaned, ""
    if cleaned and cleaned[-1] in units:
        number, unit = cleaned[:-1], cleaned[-1]
    value = int(number)
    if value < 0:
        raise ValueError(text)
    return value * units[unit]


def format_size(size: int) -> str:
    """A byte count for people: '920 B', '2.1 KiB', '118.4 MiB' (binary units, as parse_size reads them)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
