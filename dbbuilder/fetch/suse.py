"""SUSE OVAL (`dbbuilder build --suse DEST/suse`): one gzip-compressed file per product and release."""

from .oval import oval_fetcher
from .source import FetchSource

SOURCE = FetchSource(
    "suse", "Fetch SUSE's OVAL files.", "https://ftp.suse.com/pub/projects/security/oval", oval_fetcher("suse"),
    "suse", items=("suse.linux.enterprise.server.15.xml.gz", "suse.linux.enterprise.server.12.xml.gz",
                   "opensuse.leap.15.6.xml.gz"),
    item_flag="file", item_help="SUSE OVAL file to fetch (repeatable; .xml, .xml.gz or .xml.bz2 as published)")
