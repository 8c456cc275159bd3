"""Chainguard's secdb (`dbbuilder build --chainguard DEST/chainguard`)."""

from .apk_secdb import secdb_fetcher
from .source import FetchSource

SOURCE = FetchSource("chainguard", "Fetch Chainguard's secdb (security.json).", "https://packages.cgr.dev/chainguard",
                     secdb_fetcher("chainguard"), "chainguard")
