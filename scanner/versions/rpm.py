"""RPM versions: `[epoch:]version[-release]`, each part compared with rpmvercmp.

rpmvercmp ignores every character other than ASCII letters, digits, `~` and `^`, then compares
alternating letter and digit segments: digits beat letters, numbers compare numerically, letters
as strings; `~` sorts before anything (even the end), `^` after the end but before anything else.
Those rules are a lexicographic order over tokens, which is what `_segment_key` builds, so a
version's key is a plain tuple.

The epoch is the digits before the first `:` (0 when absent or not all digits, in which case the
whole string is the version). The release follows the last `-`. A version without a release sorts
before the same version with any release (the OSV / osv-scalibr reading; rpm's own rpmdsCompare
instead treats a missing release as "any release", which never makes an advisory match where this
ordering would not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_TOKENS = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_TILDE = (0,)
_END = (1,)
_CARET = (2,)

Token = tuple[int] | tuple[int, str] | tuple[int, int]


def _segment_key(text: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    for token in _TOKENS.findall(text):
        if token == "~":
            tokens.append(_TILDE)
        elif token == "^":
            tokens.append(_CARET)
        elif token[0].isdigit():
            tokens.append((4, int(token)))
        else:
            tokens.append((3, token))
    tokens.append(_END)
    return tuple(tokens)


@dataclass(frozen=True, slots=True)
class RpmVersion:
    epoch: int
    version: str
    release: str | None

    @property
    def key(self) -> tuple[int, tuple[Token, ...], tuple[tuple[Token, ...], ...]]:
        release = () if self.release is None else (_segment_key(self.release),)
        return (self.epoch, _segment_key(self.version), release)

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch or ":" in self.version else ""
        release = "" if self.release is None else f"-{self.release}"
        return f"{epoch}{self.version}{release}"


def parse(text: str) -> RpmVersion:
    version = text.strip()
    if not version:
        raise ValueError("empty version")
    if any(c.isspace() for c in version):
        raise ValueError("embedded whitespace")
    epoch = 0
    epoch_text, colon, rest = version.partition(":")
    if colon and (not epoch_text or (epoch_text.isascii() and epoch_text.isdigit())):
        epoch = int(epoch_text or "0")
        version = rest
    upstream, dash, release = version.rpartition("-")
    if not dash:
        return RpmVersion(epoch, version, None)
    return RpmVersion(epoch, upstream, release)


SCHEME = Scheme("rpm", parse)
