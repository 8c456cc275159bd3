"""Errors raised while writing a bundle (the builder side; the verifier's refusals live in scanner.db)."""

from __future__ import annotations

from scanner.errors import ReportError, UsageError


class SigningKeyError(UsageError):
    """A signing key or passphrase file given on the command line cannot be used (exit code 2)."""


class BundleWriteError(ReportError):
    """The bundle (or another output file) could not be written (exit code 8)."""
