"""Compile feed records into the SQLite database."""
