"""Red Hat OVAL v2 (`dbbuilder build --redhat DEST/redhat/oval`): one bzip2 file per release and stream.

Red Hat publishes them under `<base>/RHEL<major>/<file>` (`RHEL8/rhel-8.oval.xml.bz2`, the release's mainline
streams; EUS and other streams have files of their own there, named on the command line with
`--redhat-oval-file`). The VEX archive (`redhat`) is Red Hat's current word on every CVE; OVAL adds nothing
for the releases VEX covers and is for sites that keep older releases' data (docs/database.md, "Red Hat").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from scanner.errors import OperatorInputError

from .http import HttpClient
from .oval import MAX_DOWNLOAD_BYTES, MAX_PLAIN_BYTES, OVAL_ROOT
from .source import FetchedFile, FetchSource, check_item, fetch_compressed
from .state import FetchState

DIRECTORY = "redhat/oval"
_RELEASE_FILE = re.compile(r"rhel-(\d+)[.\w-]*\.oval\.xml(?:\.bz2|\.gz)?")


def fetch(client: HttpClient, base_url: str, dest: Path, state: FetchState, items: Sequence[str]) -> list[FetchedFile]:
    fetched = []
    for item in items:
        match = _RELEASE_FILE.fullmatch(check_item(item, "--redhat-oval-file"))
        if match is None:
            raise OperatorInputError(f"--redhat-oval-file {item!r}: expected a Red Hat OVAL v2 file name such as "
                             "rhel-8.oval.xml.bz2")
        url = f"{base_url.rstrip('/')}/RHEL{match[1]}/{item}"
        fetched.append(fetch_compressed(client, url, dest, DIRECTORY, item, state, root=OVAL_ROOT,
                                        max_bytes=MAX_DOWNLOAD_BYTES, max_plain_bytes=MAX_PLAIN_BYTES))
    return fetched


SOURCE = FetchSource(
    "redhat-oval", "Also fetch Red Hat's OVAL v2 files (off by default: the VEX archive that --redhat fetches is "
    "Red Hat's current word on every CVE; OVAL is for sites that keep older releases' data).",
    "https://security.access.redhat.com/data/oval/v2", fetch, DIRECTORY,
    items=("rhel-7.oval.xml.bz2", "rhel-8.oval.xml.bz2", "rhel-9.oval.xml.bz2"),
    item_flag="file", item_help="Red Hat OVAL v2 file to fetch, e.g. rhel-8.6-eus.oval.xml.bz2 (repeatable)",
    on_by_default=False)
