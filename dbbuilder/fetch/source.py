"""What every distro fetcher shares: the registry entry (`FetchSource`), one conditional file download into
DEST, wholeness checks, and bounded decompression of a downloaded `.gz` / `.bz2` file beside it.

Compressed downloads are kept under a hidden `.download/` directory next to what `dbbuilder build` reads
(input directories skip hidden entries), so the next run can ask the server whether they changed.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from scanner.errors import FeedError, OperatorInputError

from .http import Download, HttpClient, Validators
from .state import FetchState

HEAD_BYTES = 4096
DOWNLOADS = ".download"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")


@dataclass(frozen=True)
class FetchedFile:
    name: str  # path under DEST
    download: Download


# A source's fetch: (client, base URL, DEST, state, items chosen) -> the files it fetched.
Fetcher = Callable[[HttpClient, str, Path, FetchState, Sequence[str]], list[FetchedFile]]


@dataclass(frozen=True)
class FetchSource:
    """One registry entry: `dbbuilder fetch` gets `--NAME/--no-NAME`, `--NAME-base-url URL` and, when the
    source has `items`, a repeatable `--NAME-ITEM_FLAG` narrowing them; files land under DEST/`build_path`."""

    name: str
    help: str
    base_url: str
    fetch: Fetcher
    build_path: str  # what `dbbuilder build --NAME` is given, relative to DEST
    items: tuple[str, ...] = ()  # the default selection (releases, files)
    item_flag: str = ""
    item_help: str = ""
    on_by_default: bool = True  # False: fetched only when `--NAME` is given (and there is no `--no-NAME`)


def check_item(item: str, what: str) -> str:
    """A file or release name from the command line becomes part of a path and a URL: plain names only."""
    if not _FILE_NAME.fullmatch(item) or ".." in item:
        raise OperatorInputError(f"{what} {item!r}: expected a plain file or release name")
    return item


def fetch_file(client: HttpClient, url: str, dest: Path, name: str, state: FetchState,
               check: Callable[[Path], None], max_bytes: int) -> FetchedFile:
    """`url` to DEST/`name`, conditional on the validators of the last run, checked before it replaces a copy."""
    target = dest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    download = client.download(url, target, known=Validators.from_json(state.files.get(name)), check=check,
                               max_bytes=max_bytes)
    state.files[name] = download.validators.to_json()
    state.save()
    return FetchedFile(name, download)


def _ends(path: Path) -> tuple[bytes, bytes]:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES).lstrip()
        size = handle.seek(0, 2)
        handle.seek(max(0, size - HEAD_BYTES))
        tail = handle.read().rstrip()
    return head, tail


def check_json_object(path: Path) -> None:
    """A cheap wholeness check for large JSON objects: starts with '{' and ends with '}'.

    The builder parses the file fully (and strictly) later; here the point is to refuse an error page or
    a body cut short before it replaces a good copy.
    """
    head, tail = _ends(path)
    if not head.startswith(b"{") or not tail.endswith(b"}"):
        raise FeedError(f"{path.name}: downloaded file is not a whole JSON object")


def xml_check(root: str) -> Callable[[Path], None]:
    """A wholeness check for an XML document whose root element is `root`: the root opens in the first
    4 KiB and closes at the end (an HTML error page or a cut body is refused)."""

    def check(path: Path) -> None:
        head, tail = _ends(path)
        if not re.search(rb"<(?:[A-Za-z_][\w.-]*:)?" + root.encode() + rb"[\s>]", head) or \
                not re.search(rb"</(?:[A-Za-z_][\w.-]*:)?" + root.encode() + rb"\s*>$", tail):
            raise FeedError(f"{path.name}: downloaded file is not a whole <{root}> XML document")

    return check


def compressed_check(suffix: str) -> Callable[[Path], None]:
    """That a downloaded `.gz` / `.bz2` file starts with its format's magic bytes."""
    magic = {".gz": b"\x1f\x8b", ".bz2": b"BZh"}[suffix]

    def check(path: Path) -> None:
        with path.open("rb") as handle:
            if handle.read(len(magic)) != magic:
                raise FeedError(f"{path.name}: downloaded file is not {suffix} compressed")

    return check


def decompress(source: Path, target: Path, max_bytes: int, check: Callable[[Path], None]) -> int:
    """`source` (.gz or .bz2) decompressed to `target` through a temporary file beside it, at most `max_bytes`,
    checked, then renamed into place; the size written. FeedError (and `target` untouched) otherwise."""
    opener: Callable[[Path], BinaryIO] = gzip.open if source.name.endswith(".gz") else bz2.open  # type: ignore[assignment]
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    written = 0
    try:
        with os.fdopen(handle, "wb") as output, opener(source) as stream:
            while chunk := stream.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise FeedError(f"{source.name}: decompresses to more than {max_bytes} bytes; refused")
                output.write(chunk)
            output.flush()
            os.fsync(output.fileno())
        check(Path(temporary))
        os.replace(temporary, target)
    except (OSError, EOFError, zlib.error) as error:
        raise FeedError(f"{source.name}: cannot decompress ({error})") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return written


def replace_tree(staging: Path, tree: Path) -> None:
    """`staging` moved into the place of `tree`; the old tree is kept aside until the move is done, so that a
    failure leaves one of the two whole."""
    previous = tree.with_name(f".{tree.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if tree.exists():
        os.replace(tree, previous)
    os.replace(staging, tree)
    shutil.rmtree(previous, ignore_errors=True)


def fetch_compressed(client: HttpClient, url: str, dest: Path, directory: str, file_name: str,
                     state: FetchState, *, root: str, max_bytes: int, max_plain_bytes: int) -> FetchedFile:
    """A `.gz` / `.bz2` (or plain) XML file: kept as downloaded under DIRECTORY/.download/, decompressed to
    DIRECTORY/<name without the suffix> when it changed (or the plain copy is missing)."""
    suffix = next((s for s in (".gz", ".bz2") if file_name.endswith(s)), "")
    if not suffix:
        return fetch_file(client, url, dest, f"{directory}/{file_name}", state, xml_check(root), max_bytes)
    fetched = fetch_file(client, url, dest, f"{directory}/{DOWNLOADS}/{file_name}", state, compressed_check(suffix),
                         max_bytes)
    plain = dest / directory / file_name.removesuffix(suffix)
    if fetched.download.changed or not plain.exists():
        size = decompress(fetched.download.path, plain, max_plain_bytes, xml_check(root))
        return FetchedFile(f"{directory}/{plain.name}", Download(plain, True, fetched.download.validators, size))
    return FetchedFile(f"{directory}/{plain.name}", Download(plain, False, fetched.download.validators,
                                                             plain.stat().st_size))
