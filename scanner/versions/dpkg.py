"""Debian package versions (deb-version(7)): `[epoch:]upstream[-revision]`, compared as dpkg does.

Within upstream and revision, dpkg alternates a non-digit run (compared character by character,
where `~` sorts before everything, even the end of the string, letters before other characters)
and a digit run (compared as a number, an empty run being 0). A missing epoch is 0 and a missing
revision compares equal to "0".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_ALLOWED = re.compile(r"[A-Za-z0-9.+~:-]+")
_RUNS = re.compile(r"(\D*)(\d*)")
_END = (0, 0)


def _char_order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _part_key(text: str) -> tuple[int, ...]:
    """dpkg's alternating runs, flattened: each non-digit run as its character orders and a 0 (which
    no character maps to, so a shorter run ends first), then the digit run's value.

    Trailing empty runs are dropped and (0, 0) closes the key, standing for the empty runs dpkg
    compares a shorter string with; a key is therefore never a proper prefix of another, and keys
    can be concatenated (upstream then revision) without changing the order.
    """
    runs = [(letters, digits) for letters, digits in _RUNS.findall(text) if letters or digits]
    while runs and not runs[-1][0] and not runs[-1][1].strip("0"):
        runs.pop()
    flat: list[int] = []
    for letters, digits in runs:
        flat.extend(_char_order(char) for char in letters)
        flat.append(0)
        flat.append(int(digits) if digits else 0)
    flat.extend(_END)
    return tuple(flat)


@dataclass(frozen=True, slots=True)
class DpkgVersion:
    epoch: int
    upstream: str
    revision: str

    @property
    def key(self) -> tuple[int, ...]:
        return (self.epoch, *_part_key(self.upstream), *_part_key(self.revision))

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch or ":" in self.upstream else ""
        revision = f"-{self.revision}" if self.revision else ""
        return f"{epoch}{self.upstream}{revision}"


def parse(text: str) -> DpkgVersion:
    version = text.strip()
    if not version:
        raise ValueError("empty version")
    if not _ALLOWED.fullmatch(version):
        raise ValueError("characters outside [A-Za-z0-9.+~:-]")
    epoch = 0
    if ":" in version:
        epoch_text, version = version.split(":", 1)
        if not epoch_text.isdigit():  # ASCII only: _ALLOWED was checked first
            raise ValueError("epoch is not a number")
        epoch = int(epoch_text)
    upstream, dash, revision = version.rpartition("-")
    if not dash:
        upstream, revision = version, ""
    elif not revision:
        raise ValueError("empty revision after '-'")
    if not upstream:
        raise ValueError("empty upstream version")
    if not upstream[0].isdigit():
        raise ValueError("upstream version does not start with a digit")
    if ":" in revision:
        raise ValueError("':' in the revision")
    return DpkgVersion(epoch, upstream, revision)


SCHEME = Scheme("dpkg", parse)
