"""Alpine (apk-tools) versions, tokenised and compared as apk-tools does.

A version is a chain of tokens whose kind depends on the previous one: the leading number, `.`
numbers, one lower-case letter after a number, `_` suffixes (alpha < beta < pre < rc < none < cvs <
svn < git < hg < p) with their numbers, a `~` commit hash (apk-tools 3) and `-r` revisions. Two
versions compare token by token: numbers by value, except that a `.` number with a leading zero
compares as text (1.01 < 1.1, 1.0 < 1.00), hashes as text. Where one version stops or switches to
another kind of token, a pre-release suffix (alpha, beta, pre, rc) is the older version, else the
later kind in that chain is. So 6.0_pre1 < 6.0: the `0` is one token of its own, never followed by an
invisible empty number (apk-tools 2's tokeniser did that, which ordered 6.0_pre1 above 6.0).

Strings apk-tools' own validator refuses (no leading digit, upper-case letters, unknown suffixes,
`-` not followed by `r`, `.` not followed by a digit, `~` without hex digits) raise instead of being
ordered: ordering an unparsable version could let it silently equal another.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.versions.base import Scheme

_DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _COMMIT_HASH, _REVISION_NO, _END = range(8)
_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")
_PRE_RELEASE_RANK = -_END - 1
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
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
    elif char == "~":
        new, pos = _COMMIT_HASH, pos + 1
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


def _tokens(text: str) -> list[tuple[int, object]]:
    """(kind, value) for every token, then (END, 0)."""
    tokens: list[tuple[int, object]] = []
    kind, pos = _DIGIT, 0
    while kind != _END:
        value: object
        if kind == _DIGIT_OR_ZERO:
            end = _digits_end(text, pos)
            digits = text[pos:end]
            # apk-tools compares a dotted number with a leading zero as a string (1.01 < 1.1, 1.0 < 1.00)
            value = (0, digits) if digits.startswith("0") else (1, int(digits))
        elif kind in (_DIGIT, _SUFFIX_NO, _REVISION_NO):
            end = _digits_end(text, pos)
            value = int(text[pos:end]) if end > pos else 0
        elif kind == _LETTER:
            end, value = pos + 1, ord(text[pos])
        elif kind == _COMMIT_HASH:
            end = pos
            while end < len(text) and text[end] in _HEX_DIGITS:
                end += 1
            if end == pos:
                raise _Invalid(f"'~' at offset {pos - 1} is not followed by a commit hash")
            value = text[pos:end]
        else:  # _SUFFIX
            value, end = _suffix(text, pos)
        tokens.append((kind, value))
        if end >= len(text):
            kind, pos = _END, end
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


def _rank(kind: int, value: object) -> int:
    if kind == _SUFFIX and isinstance(value, int) and value < 0:
        return _PRE_RELEASE_RANK
    return -kind


@dataclass(frozen=True, slots=True)
class ApkVersion:
    text: str
    key: tuple[object, ...]

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> ApkVersion:
    version = text.strip()
    if not version:
        raise ValueError("empty version")
    if not "0" <= version[0] <= "9":
        raise ValueError("does not start with a digit")
    tokens = _tokens(version)
    # Each later token is (rank of its kind, value): equal kinds compare by value; where the kinds
    # differ, the rank alone decides, which is apk-tools' rule for versions that part ways.
    key: list[object] = [tokens[0][1]]
    for kind, value in tokens[1:]:
        key.append((_rank(kind, value),) if kind == _END else (_rank(kind, value), value))
    return ApkVersion(version, tuple(key))


SCHEME = Scheme("apk", parse)
