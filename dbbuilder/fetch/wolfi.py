"""Wolfi's secdb (`dbbuilder build --wolfi DEST/wolfi`)."""

from .apk_secdb import secdb_fetcher
from .source import FetchSource

SOURCE = FetchSource("wolfi", "Fetch Wolfi's secdb (security.json).", "https://packages.wolfi.dev/os",
                     secdb_fetcher("wolfi"), "wolfi")
