"""Compile feed records into the SQLite database (schema: scanner/db/schema.py, docs/database.md)."""

from __future__ import annotations

from .database import DEFAULT_PAGE_SIZE, CompileSummary, ProviderSummary, compile_database

__all__ = ["DEFAULT_PAGE_SIZE", "CompileSummary", "ProviderSummary", "compile_database"]
