"""The vulnerability database: schema, bundle verification, installation, queries."""

from scanner.db.install import VerifiedDatabase, import_bundle, load_database
from scanner.db.verify import FreshnessPolicy

__all__ = ["FreshnessPolicy", "VerifiedDatabase", "import_bundle", "load_database"]
