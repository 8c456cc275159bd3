"""The one error the rpm database readers raise for a file they cannot read at all."""

from __future__ import annotations


class DatabaseFormatError(ValueError):
    """The database file (or one of its pages) does not have the expected structure."""
