"""Python package versions as PEP 440 defines them, read by pypa/packaging: the reference
implementation pip and PyPI apply (normalisation, the permitted alternative spellings, and the order:
epoch, release without trailing zeros, pre-, post- and development releases, local label).

`packaging.version.Version` is the key itself, so an order we derived could never drift from
packaging's; `Scheme` keeps parsed keys in its LRU cache, which makes a repeated comparison two
dictionary hits and one `Version.__lt__`.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from scanner.versions.base import Scheme


@dataclass(frozen=True, slots=True)
class Pep440Version:
    version: Version

    @property
    def key(self) -> Version:
        return self.version

    def __str__(self) -> str:
        return str(self.version)


def parse(text: str) -> Pep440Version:
    try:
        return Pep440Version(Version(text))
    except InvalidVersion:
        raise ValueError("not a PEP 440 version") from None


SCHEME = Scheme("pep440", parse)
