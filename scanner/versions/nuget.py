"""NuGet versions (NuGet.Versioning's NuGetVersion ordering).

One to four numeric parts (missing ones are 0, so 1.0 == 1.0.0.0), then an optional pre-release
label: a release sorts after its pre-releases; labels compare part by part, numeric parts
numerically and before alphanumeric ones, which compare case-insensitively; a label that is a prefix
of another sorts first. Build metadata after `+` is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_PATTERN = re.compile(
    r"v?(?P<numbers>[0-9]+(?:\.[0-9]+){0,3})"
    r"(?:-(?P<label>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_RELEASE = (1,)


@dataclass(frozen=True, slots=True)
class NugetVersion:
    numbers: tuple[int, int, int, int]
    label: tuple[str, ...]
    build: str

    @property
    def key(self) -> tuple[object, ...]:
        if not self.label:
            return (self.numbers, _RELEASE)
        label = tuple((0, int(part), "") if part.isdigit() else (1, 0, part.upper()) for part in self.label)
        return (self.numbers, (0, label))

    def __str__(self) -> str:
        numbers = list(self.numbers)
        if numbers[3] == 0:
            numbers.pop()
        text = ".".join(str(n) for n in numbers)
        if self.label:
            text += "-" + ".".join(self.label)
        if self.build:
            text += "+" + self.build
        return text


def parse(text: str) -> NugetVersion:
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError("not N[.N[.N[.N]]][-LABEL][+BUILD]")
    numbers = [int(part) for part in match["numbers"].split(".")]
    numbers += [0] * (4 - len(numbers))
    label = tuple(match["label"].split(".")) if match["label"] else ()
    return NugetVersion((numbers[0], numbers[1], numbers[2], numbers[3]), label, match["build"] or "")


SCHEME = Scheme("nuget", parse)
