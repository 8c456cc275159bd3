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
_END = ((0,), 0)

Part = tuple[tuple[int, ...], int]


def _char_order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _part_key(text: str) -> tuple[Part, ...]:
    """Alternating (non-digit run, number) pairs; trailing empty pairs dropped, one end marker added.

    Every non-digit key ends with 0, which no character maps to, so one key is never a prefix of
    another; the end marker stands for the empty pairs dpkg compares a shorter string with.
    """
    parts: list[Part] = []
    for letters, digits in _RUNS.findall(text):
        if not letters and not digits:
            continue
        parts.append(((*(_char_order(c) for c in letters), 0), int(digits) if digits else 0))
    while parts and parts[-1] == _END:
        parts.pop()
    parts.append(_END)
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class DpkgVersion:
    epoch: int
    upstream: str
    revision: str

    @property
    def key(self) -> tuple[int, tuple[Part, ...], tuple[Part, ...]]:
        return (self.epoch, _part_key(self.upstream), _part_key(self.revision))

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
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
