"""Oracle Linux ELSA OVAL (`dbbuilder build --oracle DEST/oracle`): one bzip2 file for every release."""

from .oval import oval_fetcher
from .source import FetchSource

SOURCE = FetchSource(
    "oracle", "Fetch Oracle Linux's ELSA OVAL.", "https://linux.oracle.com/security/oval", oval_fetcher("oracle"),
    "oracle", items=("com.oracle.elsa-all.xml.bz2",),
    item_flag="file", item_help="Oracle OVAL file to fetch (repeatable)")
