"""Errors raised while writing a bundle or a root document (the builder side; the verifier's refusals
live in scanner.db). One base for the boundary; each class carries its own exit code (docs/exit-codes.md)."""

from __future__ import annotations

from scanner.errors import ScannerError


class BundleBuildError(ScannerError):
    """A bundle or root document could not be built."""

    exit_code = 2


class SigningKeyError(BundleBuildError):
    """A signing key or passphrase file given on the command line cannot be used (exit code 2)."""

    exit_code = 2


class BuildOptionError(BundleBuildError):
    """What the operator asked for cannot make a bundle or root a scanner accepts: a channel, version,
    expiry, set of keys or threshold (exit code 2)."""

    exit_code = 2


class BundleWriteError(BundleBuildError):
    """The bundle (or another output file) could not be written (exit code 8)."""

    exit_code = 8
