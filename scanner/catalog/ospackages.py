"""What the OS package catalogers (dpkg, apk, rpm) share: PURLs, ecosystems and the introducing layer."""

from __future__ import annotations

from collections.abc import Iterable

from packageurl import PackageURL

from scanner.catalog.distro import osv_ecosystem
from scanner.image.filesystem import EntryKind, Filesystem
from scanner.model import Distro

# A package's layer is the earliest layer holding one of its files in the final filesystem; looking
# at a bounded number of its files keeps the cost flat for packages with thousands of files.
_LAYER_PROBE_LIMIT = 256


def os_purl(
    purl_type: str,
    namespace: str,
    name: str,
    version: str,
    *,
    arch: str = "",
    distro: Distro | None = None,
    upstream: str = "",
    epoch: str = "",
) -> str:
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if epoch:
        qualifiers["epoch"] = epoch
    if distro is not None:
        qualifiers["distro"] = distro.purl_distro
    if upstream:
        qualifiers["upstream"] = upstream
    return str(PackageURL(type=purl_type, namespace=namespace or None, name=name, version=version or None,
                          qualifiers=qualifiers or None).to_string())


def upstream_qualifier(name: str, version: str, source_name: str, source_version: str) -> str:
    """`upstream=` value: the source name, with `@version` when the source version differs."""
    if not source_name and not source_version:
        return ""
    upstream = source_name or name
    if source_version and source_version != version:
        upstream += f"@{source_version}"
    return upstream


def control_lines(text: str) -> list[str]:
    """Lines ended by LF (or CRLF) only: `str.splitlines` also breaks at U+2028, NEL and form feeds,
    which free-text fields may hold, and would turn one paragraph into several."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def ecosystem_of(distro: Distro | None) -> str:
    """The OSV ecosystem for OS packages; "" when no advisory source covers the distro."""
    return osv_ecosystem(distro) or ""


def _earliest_layer(fs: Filesystem, paths: Iterable[str]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for probed, path in enumerate(paths):
        if probed >= _LAYER_PROBE_LIMIT:
            break
        entry = fs.entry(path)
        if entry is None or entry.kind is not EntryKind.FILE:
            continue
        if best is None or entry.layer_index < best[0]:
            best = (entry.layer_index, entry.layer_digest)
    return best


def package_layer(fs: Filesystem, evidence: Iterable[str], database: str) -> tuple[int | None, str]:
    """The layer that introduced a package: the earliest layer among the regular files in `evidence`
    (its own files, most telling first) still present in the final filesystem, else its database file's."""
    found = _earliest_layer(fs, evidence) or _earliest_layer(fs, (database,))
    return found if found is not None else (None, "")
