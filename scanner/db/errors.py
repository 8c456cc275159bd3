"""Bundle, trust and database-lifecycle refusals: one class and one exit code per reason (10-49, 51).

Two bases: `BundleError` for a bundle (or an installed database, or a root of trust) that was refused,
which the import and load paths write to the audit log; `LocalStateError` for the scanner's own state
that cannot be used (state directory, trust store, audit log, policy), which is never recorded as a
refusal. The table in docs/exit-codes.md lists the same codes; tests/db/test_errors.py checks that every
class here has a distinct code and a row there.
"""

from __future__ import annotations

from scanner.errors import BundleError, LocalStateError


class BundleArchiveError(BundleError):
    """The file is not a well-formed bundle archive (bad tar header, checksum, trailing data)."""

    exit_code = 10


class TruncatedBundleError(BundleError):
    """The file ends before the sizes its tar headers announce."""

    exit_code = 11


class MemberTypeError(BundleError):
    """A member is not a regular file (directory, link, device, PAX or GNU extension header)."""

    exit_code = 12


class MemberNameError(BundleError):
    """A member name is unsafe (absolute, `..`) or not one the format defines."""

    exit_code = 13


class DuplicateMemberError(BundleError):
    exit_code = 14


class MissingMemberError(BundleError):
    exit_code = 15


class MemberOrderError(BundleError):
    """The manifest and signatures must come before any payload, in the documented order."""

    exit_code = 16


class OversizeError(BundleError):
    """The manifest or signatures member is larger than its cap (refused from the tar header)."""

    exit_code = 17


class ManifestError(BundleError):
    """The manifest is not valid JSON or lacks a field, or a field has the wrong type."""

    exit_code = 18


class SignaturesError(BundleError):
    """signatures.json is not valid JSON or not of the documented shape."""

    exit_code = 19


class NoTrustedKeysError(BundleError):
    """The trust store is empty: nothing can be verified."""

    exit_code = 20


class UnknownKeyError(BundleError):
    """No signature comes from a trusted key."""

    exit_code = 21


class BadSignatureError(BundleError):
    """A signature claims a trusted key id but does not verify over the manifest."""

    exit_code = 22


class ThresholdError(BundleError):
    """Fewer distinct trusted keys signed than the trust policy's threshold."""

    exit_code = 23


class FormatVersionError(BundleError):
    """Unknown bundle format name or format version."""

    exit_code = 24


class SchemaVersionError(BundleError):
    """The database schema MODEL is not the one this scanner reads."""

    exit_code = 25


class ExpiredError(BundleError):
    """The signed expires_at has passed."""

    exit_code = 26


class StaleDataError(BundleError):
    """The data is older than the local maximum age and the policy says fail."""

    exit_code = 27


class RollbackError(BundleError):
    """bundle_version is lower than the highest one seen on the channel."""

    exit_code = 28


class ReplayError(BundleError):
    """Same bundle_version as the one recorded for the channel, but a different manifest."""

    exit_code = 29


class PayloadSizeError(BundleError):
    """A payload's stored size differs from its signed size."""

    exit_code = 30


class PayloadDigestError(BundleError):
    """A payload's stored bytes do not hash to the signed sha256 (altered or swapped payload)."""

    exit_code = 31


class DecompressionError(BundleError):
    """The payload is not a valid zstd frame."""

    exit_code = 32


class DecompressionBombError(BundleError):
    """Decompression produced more than the signed uncompressed size."""

    exit_code = 33


class UncompressedDigestError(BundleError):
    """The decompressed database's size or sha256 differs from the signed values."""

    exit_code = 34


class TrustStoreError(LocalStateError):
    """The trust store or a key file given to it is unusable (bad PEM, not Ed25519, unknown key id)."""

    exit_code = 35


class StateError(LocalStateError):
    """The state directory cannot be read or written (permissions, full disk, corrupt record)."""

    exit_code = 36


class InstalledDatabaseError(BundleError):
    """The installed database no longer matches its signed manifest (altered after import)."""

    exit_code = 37


class AuditLogError(LocalStateError):
    """The audit log's hash chain is broken: a line was edited, removed or inserted."""

    exit_code = 38


class PolicyError(LocalStateError):
    """A trust or freshness policy setting is invalid (threshold < 1, unparsable max age)."""

    exit_code = 39


class WeakKeyError(BundleError):
    """An Ed25519 public key anyone can sign for, or one encoded non-canonically (scanner.db.ed25519).

    A refusal, not a local-state failure: while such a key is trusted, every bundle is refused (and
    audited as refused) until the key is removed.
    """

    exit_code = 40


class NonCanonicalBundleError(BundleError):
    """The archive is not byte for byte the layout dbbuilder writes (header fields, padding, end of archive)."""

    exit_code = 41


class ChannelSwitchError(BundleError):
    """The bundle is on another channel than the installed database's (without --allow-channel-switch)."""

    exit_code = 42


class OlderDataError(BundleError):
    """The bundle was built before the installed database (without --allow-older-data)."""

    exit_code = 43


# --- the root of trust (scanner.db.root, docs/trust.md "Root of trust") -------------------------------


class RootVersionError(BundleError):
    """A carried root version skips, repeats or goes back, or its file name is not its signed version."""

    exit_code = 44


class RootPreviousThresholdError(BundleError):
    """A root version is not signed by a threshold of the previous version's root keys."""

    exit_code = 45


class RootOwnThresholdError(BundleError):
    """A root version is not signed by a threshold of its own root keys."""

    exit_code = 46


class RootExpiredError(BundleError):
    """The newest root (pinned, or reached by walking the carried chain) has expired."""

    exit_code = 47


class RevokedKeyError(BundleError):
    """The bundle is signed only by a key a newer pinned root removed from the bundle role."""

    exit_code = 48


class RootForkError(BundleError):
    """Two different root documents claim the same version (a fork of the chain)."""

    exit_code = 49


class RootDocumentError(BundleError):
    """A root document is not the canonical JSON this format defines (malformed, a field, a key, a signature
    entry, a signature by a key neither root knows)."""

    exit_code = 51
