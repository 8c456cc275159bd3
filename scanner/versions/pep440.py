"""Python package versions as PEP 440 defines them (the normalisation and ordering of section
"Version scheme", including its permitted alternative spellings).

The key follows the PEP's ordering: epoch, release with trailing zeros removed (1.0 == 1.0.0),
then pre-release, post-release, development release and local label. A development release of a
final version sorts before its pre-releases (1.0.dev1 < 1.0a1); a local label sorts after the same
public version, numeric local segments after alphabetic ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.versions.base import Scheme

# The PEP's own grammar, with its alternative spellings (appendix "Parsing version strings").
_PATTERN = re.compile(
    r"""
    \s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE_LABELS = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "preview": "rc", "pre": "rc", "c": "rc", "rc": "rc"}
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}
_LOCAL_SEPARATORS = re.compile(r"[-_.]")

# Sentinels chosen so that tuples compare the way the PEP orders the parts.
_BEFORE_PRE = (0,)  # no pre-release but a dev release: before every pre-release
_NO_PRE = (2,)  # a final release: after every pre-release
_NO_POST = (0,)
_NO_DEV = (1,)


@dataclass(frozen=True, slots=True)
class Pep440Version:
    epoch: int
    release: tuple[int, ...]
    pre: tuple[str, int] | None
    post: int | None
    dev: int | None
    local: tuple[int | str, ...]

    @property
    def key(self) -> tuple[object, ...]:
        release = self.release
        end = len(release)
        while end > 1 and release[end - 1] == 0:
            end -= 1
        if self.pre is not None:
            pre: tuple[int, ...] = (1, _PRE_ORDER[self.pre[0]], self.pre[1])
        elif self.post is None and self.dev is not None:
            pre = _BEFORE_PRE
        else:
            pre = _NO_PRE
        post = _NO_POST if self.post is None else (1, self.post)
        dev = _NO_DEV if self.dev is None else (0, self.dev)
        local = tuple((1, part, "") if isinstance(part, int) else (0, 0, part) for part in self.local)
        return (self.epoch, release[:end], pre, post, dev, local)

    def __str__(self) -> str:
        text = f"{self.epoch}!" if self.epoch else ""
        text += ".".join(str(part) for part in self.release)
        if self.pre is not None:
            text += f"{self.pre[0]}{self.pre[1]}"
        if self.post is not None:
            text += f".post{self.post}"
        if self.dev is not None:
            text += f".dev{self.dev}"
        if self.local:
            text += "+" + ".".join(str(part) for part in self.local)
        return text


def parse(text: str) -> Pep440Version:
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError("not a PEP 440 version")
    pre = None
    if match["pre_l"]:
        pre = (_PRE_LABELS[match["pre_l"].lower()], int(match["pre_n"] or 0))
    post = None
    if match["post"]:
        post = int(match["post_n1"] or match["post_n2"] or 0)
    dev = int(match["dev_n"] or 0) if match["dev"] else None
    local: tuple[int | str, ...] = ()
    if match["local"]:
        local = tuple(
            int(part) if part.isdigit() else part.lower() for part in _LOCAL_SEPARATORS.split(match["local"])
        )
    return Pep440Version(
        epoch=int(match["epoch"] or 0),
        release=tuple(int(part) for part in match["release"].split(".")),
        pre=pre,
        post=post,
        dev=dev,
        local=local,
    )


SCHEME = Scheme("pep440", parse)
