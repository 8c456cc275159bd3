"""Azure Linux / CBL-Mariner OVAL (`dbbuilder build --azure-linux DEST/azure-linux`): the raw files of the
microsoft/AzureLinuxVulnerabilityData repository, one per release, uncompressed."""

from .oval import oval_fetcher
from .source import FetchSource

SOURCE = FetchSource(
    "azure-linux", "Fetch Azure Linux and CBL-Mariner OVAL.",
    "https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main", oval_fetcher("azure-linux"),
    "azure-linux", items=("cbl-mariner-2.0-oval.xml", "azurelinux-3.0-oval.xml"),
    item_flag="file", item_help="Azure Linux OVAL file to fetch (repeatable)")
