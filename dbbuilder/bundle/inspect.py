"""Read a bundle's layout and signed documents without trusting them (`dbbuilder inspect`).

The layout rules and caps are the scanner's (scanner.db.archive); nothing here checks a signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dbbuilder.bundle.manifest import manifest_coverage
from scanner.db.archive import Member, read_bundle, read_layout
from scanner.db.errors import BundleArchiveError
from scanner.db.store import SourceCoverage
from scanner.db.verify import Manifest, parse_manifest, parse_signatures
from scanner.fileio import open_regular_file


@dataclass(frozen=True)
class BundleInspection:
    members: tuple[Member, ...]
    manifest: Manifest
    manifest_bytes: bytes
    signature_key_ids: tuple[str, ...]  # as claimed by signatures.json, not verified
    coverage: tuple[SourceCoverage, ...] = ()  # the providers' coverage entries, by ecosystem


def inspect_bundle(path: Path) -> BundleInspection:
    try:
        with open_regular_file(path) as stream:  # a FIFO would block the open for ever
            members = read_layout(stream)
            contents = read_bundle(stream)
    except OSError as error:
        raise BundleArchiveError(f"{path}: cannot read bundle: {error.strerror or error}") from error
    return BundleInspection(
        members=members,
        manifest=parse_manifest(contents.manifest_bytes),
        manifest_bytes=contents.manifest_bytes,
        signature_key_ids=tuple(keyid for keyid, _ in parse_signatures(contents.signatures_bytes)),
        coverage=manifest_coverage(contents.manifest_bytes),
    )
