"""Packagist (Composer) versions, ordered as PHP's version_compare() orders them after the
leading `v` that Composer strips.

version_compare first canonicalises: `-`, `_`, `+` and any other character that is not a letter
or digit become `.`, a `.` is inserted wherever letters and digits meet, and runs of `.` collapse.
The parts then compare pairwise: numbers numerically; words by their special form, matched by
prefix: dev < alpha = a < beta = b < RC = rc < (a number) < pl = p, any other word sorting before
dev; a word against a number compares the word's form with the number's. When one version runs
out, a following number makes the longer one newer, and a following word compares as against a
number (so 1.0 > 1.0rc1 but 1.0 < 1.0pl1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_SPECIAL_FORMS = (("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3),
                  ("#", 4), ("pl", 5), ("p", 5))
_UNKNOWN_FORM = -1
_NUMBER_FORM = 4
_PARTS = re.compile(r"[0-9]+|[A-Za-z]+")
# What a missing part compares as: equal in form to a number, below every actual number.
_MISSING = (_NUMBER_FORM, 0)

Part = tuple[int] | tuple[int, int] | tuple[int, int, int]


def _form(word: str) -> int:
    for name, order in _SPECIAL_FORMS:
        if word.startswith(name):
            return order
    return _UNKNOWN_FORM


def _part_key(part: str) -> Part:
    if part[0].isdigit():
        return (_NUMBER_FORM, 1, int(part))
    return (_form(part),)


@dataclass(frozen=True, slots=True)
class ComposerVersion:
    parts: tuple[str, ...]

    @property
    def key(self) -> tuple[Part, ...]:
        return (*(_part_key(part) for part in self.parts), _MISSING)

    def __str__(self) -> str:
        return ".".join(self.parts)


def parse(text: str) -> ComposerVersion:
    version = text.strip()
    if version[:1] in ("v", "V"):
        version = version[1:]
    if not version or any(char.isspace() for char in version):
        raise ValueError("empty or contains whitespace")
    parts = tuple(_PARTS.findall(version))
    if not parts:
        raise ValueError("no letters or digits")
    return ComposerVersion(parts)


SCHEME = Scheme("composer", parse)
