"""One base exception per boundary, each carrying the process exit code the CLI uses.

Exit codes are part of the public interface and documented in docs/exit-codes.md:

    0   success
    1   findings at or above --fail-on remain (not an error)
    2   bad command line (flag, missing argument), an operator-supplied value or file refused, a missing extra
    3   image archive unreadable or refused
    4   SBOM or other scan target unreadable
    5   version string or ecosystem not understood
    6   not used (a cataloger that fails becomes a warning); kept unassigned
    7   vulnerability database missing, unusable or stale
    8   report could not be written
    9   feed input refused (dbbuilder --strict) or feed I/O failure
    10-49  bundle and trust refusals and local-state failures (one code per reason, see scanner.db); 51 too
    50  coverage short of complete under scan --require-complete (not an error)
    60-63  install kit refusals and kit build failures (scanner.kit, dbbuilder.kit)
    70-74  signed scan attestation refusals (scanner.attest.errors)
    99  internal error: an exception the scanner did not expect (a bug), or a batch worker that died
"""

from __future__ import annotations


class ScannerError(Exception):
    """Base of every error this project raises on purpose; the CLI turns it into one line."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ScannerError):
    """A bad command line. Raised only by the command-line modules (scanner.cli, scanner.cliexit,
    dbbuilder.cli, dbbuilder.root); library code raises OperatorInputError."""

    exit_code = 2


class OperatorInputError(ScannerError):
    """A value or file the operator supplied was refused by the code that reads it: an --ignore or --vex
    file, SOURCE_DATE_EPOCH, a --platform, an output format, a list of targets, a feed or kit option."""

    exit_code = 2


class MissingExtraError(ScannerError):
    """A command needs an optional group of dependencies (a pip extra) that is not installed."""

    exit_code = 2


class ImageError(ScannerError):
    """The image archive cannot be read, or was refused as hostile."""

    exit_code = 3


class TargetError(ScannerError):
    """A scan target that is not an image (an SBOM file) cannot be read."""

    exit_code = 4


class VersionError(ScannerError):
    exit_code = 5


class DatabaseError(ScannerError):
    """No usable vulnerability database: missing, unreadable, wrong schema or stale."""

    exit_code = 7


class ReportError(ScannerError):
    exit_code = 8


class FeedError(ScannerError):
    """A vulnerability feed could not be read (dbbuilder side)."""

    exit_code = 9


class BundleError(ScannerError):
    """A bundle was refused. Subclasses in scanner.db.errors carry one exit code per reason (10-49, 51)."""

    exit_code = 10


class LocalStateError(ScannerError):
    """The scanner's own state (state directory, trust store, audit log, local policy) cannot be used.

    Not a refusal of a bundle: a full disk or a permission problem is never audited as one. Subclasses in
    scanner.db.errors carry their codes in the 10-49 range.
    """

    exit_code = 36


class InternalError(ScannerError):
    """What went wrong was not foreseen: a bug, or a worker process that died. Reported, never hidden."""

    exit_code = 99
