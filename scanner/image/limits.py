"""Caps that keep reading a hostile or enormous image bounded in time, memory and disk."""

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
    max_captured_bytes: int = 8 * GIB
    # Tar members over all layers (a million-file image has about a million).
    max_entries: int = 20_000_000
    symlink_hops: int = SYMLINK_HOP_LIMIT
    # manifest.json, index.json, image manifests and configs.
    max_metadata_size: int = 16 * MIB
    # pax extended headers and GNU long names inside layers.
    max_header_size: int = 1 * MIB
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
