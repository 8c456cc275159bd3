"""CRAN (R) package versions: integers separated by `.` or `-`, compared as integer sequences
(R's package_version), where a sequence that is a prefix of another sorts first (1.0 < 1.0.0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

_PATTERN = re.compile(r"[0-9]+(?:[.-][0-9]+)+|[0-9]+")
_SEPARATORS = re.compile(r"[.-]")


@dataclass(frozen=True, slots=True)
class CranVersion:
    key: tuple[int, ...]

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.key)


def parse(text: str) -> CranVersion:
    version = text.strip()
    if not _PATTERN.fullmatch(version):
        raise ValueError("not numbers separated by '.' or '-'")
    return CranVersion(tuple(int(part) for part in _SEPARATORS.split(version)))


SCHEME = Scheme("cran", parse)
