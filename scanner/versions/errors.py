"""Typed errors of the version layer; both are `VersionError` (exit code 5) for the CLI."""

from __future__ import annotations

from scanner.errors import VersionError


class InvalidVersion(VersionError):
    """A version string that its ecosystem's scheme cannot parse."""

    def __init__(self, ecosystem: str, version: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"{ecosystem} version {version!r} cannot be parsed{detail}")
        self.ecosystem = ecosystem
        self.version = version
        self.reason = reason


class UnknownEcosystem(VersionError):
    """An ecosystem name for which no version ordering is known."""

    def __init__(self, ecosystem: str) -> None:
        super().__init__(f"no version ordering is known for ecosystem {ecosystem!r}")
        self.ecosystem = ecosystem


class InvalidRange(InvalidVersion):
    """An OSV `affected` entry whose ranges cannot be evaluated (malformed event, unknown range type)."""

    def __init__(self, ecosystem: str, detail: str) -> None:
        super().__init__(ecosystem, detail, "range cannot be evaluated")
        self.message = f"{ecosystem} range cannot be evaluated: {detail}"
