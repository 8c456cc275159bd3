"""Attestation refusals and failures, one exit code each (70-74, docs/exit-codes.md)."""

from __future__ import annotations

from scanner.errors import ScannerError


class AttestationError(ScannerError):
    """The attestation file is not one: unreadable, over its size cap, not the DSSE envelope this scanner
    writes byte for byte, of another payload type, or a statement of another shape."""

    exit_code = 70


class AttestationSignatureError(AttestationError):
    """A signature by a trusted key does not verify: the payload or the signature was altered."""

    exit_code = 71


class UntrustedAttestationError(AttestationError):
    """A signature is by a key that is not one of the `--trust` keys."""

    exit_code = 72


class AttestationSubjectError(AttestationError):
    """The image or SBOM given is not the attestation's subject; or, when signing, the target changed
    while it was scanned."""

    exit_code = 73


class AttestationKeyError(AttestationError):
    """The host attestation key cannot be used (missing, not Ed25519, wrong passphrase) or written."""

    exit_code = 74
