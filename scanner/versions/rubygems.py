"""RubyGems versions, ordered as Gem::Version#<=> does.

A `-` means a pre-release (`1.0-rc1` is `1.0.pre.rc1`). The version splits into numbers and letter
runs; trailing zeros are dropped from the leading numeric part and from the part after the first
letter run (1.0 == 1, 1.0.rc3.0 == 1.0.rc3). Segments then compare pairwise, a missing segment
counting as 0: letters (a pre-release) sort before numbers, numbers numerically, letters as strings.

Because a missing segment is 0 rather than "nothing", the key folds each run of zeros into the
segment after it: (zeros before it, segment). A letter segment after fewer zeros is older, a number
after fewer zeros is newer, and the end of the version sits between letters and numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_PATTERN = re.compile(r"[0-9]+(?:\.[0-9A-Za-z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_SEGMENTS = re.compile(r"[0-9]+|[A-Za-z]+")
_END = (1,)

Segment = int | str


def _drop_trailing_zeros(segments: list[Segment]) -> list[Segment]:
    end = len(segments)
    while end and segments[end - 1] == 0:
        end -= 1
    return segments[:end]


def canonical_segments(version: str) -> list[Segment]:
    segments: list[Segment] = [int(s) if s[0].isdigit() else s for s in _SEGMENTS.findall(version)]
    first_letters = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    return _drop_trailing_zeros(segments[:first_letters]) + _drop_trailing_zeros(segments[first_letters:])


@dataclass(frozen=True, slots=True)
class GemVersion:
    text: str

    @property
    def key(self) -> tuple[tuple[object, ...], ...]:
        key: list[tuple[object, ...]] = []
        zeros = 0
        for segment in canonical_segments(self.text):
            if segment == 0:
                zeros += 1
            elif isinstance(segment, str):
                key.append((0, zeros, segment))
                zeros = 0
            else:
                key.append((2, -zeros, segment))
                zeros = 0
        key.append(_END)
        return tuple(key)

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> GemVersion:
    version = text.strip() or "0"
    if not _PATTERN.fullmatch(version):
        raise ValueError("not a Gem::Version")
    return GemVersion(version.replace("-", ".pre."))


SCHEME = Scheme("rubygems", parse)
