"""Matching packages against the vulnerability database."""
