"""Package URLs as the catalogers write them: packageurl's canonical string, most of them without packageurl.

`PackageURL(...).to_string()` normalises every component when the object is built and again, with
percent-encoding, when it is written: about two thirds of the cost of a language package record. For
the types the catalogers make and components of printable ASCII with nothing to strip (no blank, no
slash at either end of a name or namespace, no empty namespace segment), those two passes come down to
the per-type case rules below and one percent-encoding, done here with packageurl's own `quote`; any
other type or component goes through packageurl itself, which also raises the ValueError a component it
refuses gives. tests/catalog/test_purl.py holds the two paths to the same strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from packageurl import PackageURL
from packageurl import quote as percent_encode

# Per type: (name lower-cased, namespace lower-cased, "_" in a name read as "-"), as packageurl's
# normalisation has them.
_TYPE_RULES = {
    "apk": (True, True, False),
    "cargo": (False, False, False),
    "composer": (True, True, False),
    "deb": (False, False, False),
    "gem": (False, False, False),
    "golang": (False, False, False),
    "maven": (False, False, False),
    "npm": (True, False, False),
    "nuget": (False, False, False),
    "pypi": (True, True, True),
    "rpm": (False, False, False),
}
# Printable ASCII without a space: nothing for either pass to strip, and lower-casing stays ASCII.
_PRINTABLE = re.compile(r"[!-~]+")
# What percent-encoding leaves as it is (":" is encoded, then put back by packageurl's quote), and "+",
# which it writes as "%2B" (a Debian or rpm version often holds one: 2.36-9+deb12u4).
_UNENCODED_BUT_PLUS = re.compile(r"[A-Za-z0-9._~:+-]*")
_QUALIFIER_KEY = re.compile(r"[a-z][a-z0-9._-]*")


def _encoded(text: str) -> str:
    return text.replace("+", "%2B") if _UNENCODED_BUT_PLUS.fullmatch(text) else percent_encode(text)


def _plain_path(text: str) -> bool:
    """Printable, and as "/"-separated segments nothing packageurl drops (no empty segment)."""
    return _PRINTABLE.fullmatch(text) is not None and "//" not in text and text[0] != "/" and text[-1] != "/"


def purl(purl_type: str, name: str, version: str = "", *, namespace: str = "",
         qualifiers: Mapping[str, str] | None = None) -> str:
    """`PackageURL(purl_type, namespace or None, name, version or None, qualifiers or None).to_string()`.

    ValueError (from packageurl) for what no PURL can carry, as packageurl raises it; ValueError too for a name
    of blanks and slashes only, which packageurl normalises away and then fails on with a TypeError (a
    ValueError is what skips one bad record: `Findings.record`).
    """
    rules = _TYPE_RULES.get(purl_type)
    qualifiers = qualifiers or {}
    if (rules is None or not _PRINTABLE.fullmatch(name) or "/" in name
            or (version and not _PRINTABLE.fullmatch(version))
            or (namespace and not _plain_path(namespace))
            or not all(_QUALIFIER_KEY.fullmatch(key) and (not value or _PRINTABLE.fullmatch(value))
                       for key, value in qualifiers.items())):
        package_url = PackageURL(type=purl_type, namespace=namespace or None, name=name, version=version or None,
                                 qualifiers=dict(qualifiers) or None)
        if not package_url.name:
            raise ValueError(f"name {name!r} is only blanks and slashes, which a PURL name cannot be")
        return str(package_url.to_string())
    lower_name, lower_namespace, dashes = rules
    # packageurl lower-cases a name once before and once after percent-encoding it ("%2B" becomes "%2b").
    if lower_name:
        name = name.lower()
    if dashes:
        name = name.replace("_", "-")
    name = _encoded(name)
    if lower_name:
        name = name.lower()
    text = f"pkg:{purl_type}/"
    if namespace:
        if lower_namespace:
            namespace = namespace.lower()
        text += "/".join(map(_encoded, namespace.split("/"))) + "/"
    text += name
    if version:
        text += "@" + _encoded(version)
    kept = sorted((key, value) for key, value in qualifiers.items() if value)
    if kept:
        text += "?" + "&".join(f"{key}={_encoded(value)}" for key, value in kept)
    return text


def purl_type(text: str) -> str:
    """The type of a PURL string `purl` made: "pkg:pypi/..." -> "pypi"."""
    return text[4:text.index("/", 4)]
