"""Alpine (apk-tools) versions, tokenised and compared as apk-tools 2 does.

A version is a chain of tokens whose kind depends on the previous one: the leading number, `.`
numbers (a number after `.` with leading zeros counts minus the number of zeros, so 1.01 < 1.1),
one lower-case letter after a number, `_` suffixes (alpha < beta < pre < rc < none < cvs < svn <
git < hg < p) with their numbers, and `-r` revisions. Two versions compare value by value; where
one stops or switches to another kind of token, the later kind in that chain is the older version,
except that a pre-release suffix is older than the end. The key interleaves each token's value
with the rank of the kind that follows it, which reproduces that rule as a plain tuple order.

Strings apk-tools' own validator refuses (upper-case letters, unknown suffixes, `-` not followed
by `r`, `.` not followed by a digit) raise instead of being ordered: apk orders them by where they stop parsing, which would let
an unparsable version silently equal another.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.versions.base import Scheme

_DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(7)
_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")
_PRE_RELEASE_RANK = -7
# Transitions to an earlier kind of token that apk allows: ".", "_" after a suffix number, a digit after a letter.
_BACKWARD_OK = {(_DIGIT, _DIGIT_OR_ZERO), (_SUFFIX_NO, _SUFFIX), (_LETTER, _DIGIT)}


class _Invalid(ValueError):
    pass


def _next_kind(kind: int, text: str, pos: int) -> tuple[int, int]:
    """The kind of the token at `pos` after a token of `kind`, and where its value starts."""
    if pos >= len(text):
        return _END, pos
    char = text[pos]
    if kind in (_DIGIT, _DIGIT_OR_ZERO) and "a" <= char <= "z":
        new = _LETTER
    elif kind == _LETTER and "0" <= char <= "9":
        new = _DIGIT
    elif kind == _SUFFIX and "0" <= char <= "9":
        new = _SUFFIX_NO
    elif char == "." and "0" <= text[pos + 1 : pos + 2] <= "9":
        new, pos = _DIGIT_OR_ZERO, pos + 1
    elif char == "_":
        new, pos = _SUFFIX, pos + 1
    elif char == "-" and text.startswith("-r", pos):
        new, pos = _REVISION_NO, pos + 2
    else:
        raise _Invalid(f"unexpected {char!r} at offset {pos}")
    if new < kind and (kind, new) not in _BACKWARD_OK:
        raise _Invalid(f"{char!r} at offset {pos} cannot follow the previous part")
    return new, pos


def _digits_end(text: str, pos: int) -> int:
    while pos < len(text) and "0" <= text[pos] <= "9":
        pos += 1
    return pos


def _tokens(text: str) -> list[tuple[int, int]]:
    """(kind, value) for every token, then (END, 0)."""
    tokens: list[tuple[int, int]] = []
    kind, pos = _DIGIT, 0
    while kind != _END:
        forced_next = -1
        if kind == _DIGIT_OR_ZERO and text.startswith("0", pos):
            end = pos
            while end < len(text) and text[end] == "0":
                end += 1
            value, forced_next = pos - end, _DIGIT
        elif kind in (_DIGIT, _DIGIT_OR_ZERO, _SUFFIX_NO, _REVISION_NO):
            end = _digits_end(text, pos)
            value = int(text[pos:end]) if end > pos else 0
        elif kind == _LETTER:
            end, value = pos + 1, ord(text[pos])
        else:  # _SUFFIX
            value, end = _suffix(text, pos)
        tokens.append((kind, value))
        if end >= len(text):
            kind, pos = _END, end
        elif forced_next >= 0:
            kind, pos = forced_next, end
        else:
            kind, pos = _next_kind(kind, text, end)
    tokens.append((_END, 0))
    return tokens


def _suffix(text: str, pos: int) -> tuple[int, int]:
    for index, name in enumerate(_PRE_SUFFIXES):
        if text.startswith(name, pos):
            return index - len(_PRE_SUFFIXES), pos + len(name)
    for index, name in enumerate(_POST_SUFFIXES):
        if text.startswith(name, pos):
            return index, pos + len(name)
    raise _Invalid(f"unknown suffix at offset {pos}")


def _rank(kind: int, value: int) -> int:
    if kind == _SUFFIX and value < 0:
        return _PRE_RELEASE_RANK
    return -kind


@dataclass(frozen=True, slots=True)
class ApkVersion:
    text: str
    key: tuple[int, ...]

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> ApkVersion:
    version = text.strip()
    if not version:
        raise ValueError("empty version")
    tokens = _tokens(version)
    key: list[int] = [tokens[0][1]]
    for kind, value in tokens[1:]:
        key.append(_rank(kind, value))
        if kind != _END:
            key.append(value)
    return ApkVersion(version, tuple(key))


SCHEME = Scheme("apk", parse)
