"""Download feeds on the connected host: OSV per-ecosystem archives and NVD CVE API 2.0 pages."""

from .http import HttpClient
from .nvd import NVD_BASE_URL, fetch_nvd
from .osv import OSV_BASE_URL, fetch_osv

__all__ = ["NVD_BASE_URL", "OSV_BASE_URL", "HttpClient", "fetch_nvd", "fetch_osv"]
