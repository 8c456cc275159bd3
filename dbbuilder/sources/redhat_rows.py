"""What Red Hat's two forms (CSAF, security data API) share: ecosystems from product CPEs and module labels,
part precedence, and the rule for one CVE's rows of one package.

A helper of the `redhat` provider (dbbuilder/sources/redhat.py), not a provider itself.
"""

from __future__ import annotations

import re

from scanner.model import FixState

from .records import AffectedRow, RecordError

CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")
# A CPE 2.2 URI field as Red Hat writes them (`enterprise_linux`, `8.6`, `appstream`); anything else in a product
# CPE would make an ecosystem no image could name.
_CPE_FIELD = re.compile(r"[A-Za-z0-9._~%+-]*")
# A module name or stream (`ruby`, `container-tools`, `3.1`, `rhel8`), as in an rpm's MODULARITYLABEL.
MODULE_PART = re.compile(r"[A-Za-z0-9._+-]+")
MODULE_MARK = "::module:"

# For one CVE's (ecosystem, package), the part of lowest precedence gives the row: a VEX file (Red Hat's current
# word on the CVE) over an advisory, and an advisory over a security data API document (the CVE pages' older
# form, which names releases, not streams). Among parts of one precedence, the first read (files in name order).
PRECEDENCE_VEX, PRECEDENCE_ADVISORY, PRECEDENCE_SECURITY_DATA = 0, 1, 2


def stream_ecosystem(cpe: object) -> str | None:
    """`cpe:/a:redhat:enterprise_linux:9::appstream` -> `Red Hat:enterprise_linux:9::appstream`.

    `cpe:/o:redhat:rhel_eus:8.6::baseos` -> `Red Hat:rhel_eus:8.6::baseos`; the security data API's
    release-wide `cpe:/a:redhat:enterprise_linux:8` -> `Red Hat:enterprise_linux:8`. None for anything that is
    not a Red Hat product CPE.
    """
    if not isinstance(cpe, str) or not cpe.startswith("cpe:/"):
        return None
    fields = cpe[len("cpe:/"):].split(":")
    if len(fields) < 3 or fields[1] != "redhat" or not fields[2] \
            or not all(_CPE_FIELD.fullmatch(field) for field in fields):
        return None
    return "Red Hat:" + ":".join(fields[2:]).rstrip(":")


def module_ecosystem(stream: str, label: str) -> str:
    """The ecosystem of a module stream's packages: `<stream>::module:NAME:STREAM`.

    `label` is `NAME:STREAM[:VERSION[:CONTEXT]]` (an rpm's MODULARITYLABEL, a CSAF `rpmmod` qualifier) or
    `NAME:STREAM` (a security data package name's prefix); version and context name one build of the stream,
    which the ecosystem leaves out: any build of the stream is judged by the stream's rows.
    """
    parts = label.split(":")
    if not 2 <= len(parts) <= 4 or not all(MODULE_PART.fullmatch(part) for part in parts):
        raise RecordError("invalid module label", label[:200])
    return f"{stream}{MODULE_MARK}{parts[0]}:{parts[1]}"


def add_row(rows: dict[tuple[str, str], AffectedRow], row: AffectedRow) -> None:
    """Adds the row; one package's rows must agree, except that a row that can match wins over not-affected.

    Red Hat marks a source rpm not affected where its binary rpms carry the fix (RHSA-2025:23414): a row
    that can match is the one that fails closed.
    """
    key = (row.ecosystem, row.package)
    kept = rows.get(key)
    if kept is None or kept.fix_state is FixState.NOT_AFFECTED:
        rows[key] = row
    elif row.fix_state is not FixState.NOT_AFFECTED and row != kept:
        raise RecordError("conflicting states for one package", f"{row.ecosystem} {row.package}")
