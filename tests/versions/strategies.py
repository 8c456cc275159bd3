"""Hypothesis strategies producing valid version strings of each scheme (and a few near-misses)."""

from __future__ import annotations

from hypothesis import strategies as st

_number = st.integers(min_value=0, max_value=30).map(str)
_small = st.integers(min_value=0, max_value=3).map(str)


def _joined(parts: st.SearchStrategy[list[str]], separator: str = ".") -> st.SearchStrategy[str]:
    return parts.map(separator.join)


def _optional(strategy: st.SearchStrategy[str], prefix: str = "") -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), strategy.map(lambda text: prefix + text))


_dpkg_upstream = st.builds(
    lambda head, tail: head + tail, _number, st.text(alphabet="0123a.+~", max_size=6)
)
DPKG = st.builds(
    lambda epoch, upstream, revision: epoch + upstream + revision,
    _optional(_small, "").map(lambda e: f"{e}:" if e else ""),
    _dpkg_upstream,
    _optional(st.text(alphabet="01ab.+~", min_size=1, max_size=4), "-"),
)
RPM = st.builds(
    lambda epoch, version, release: epoch + version + release,
    _optional(_small).map(lambda e: f"{e}:" if e else ""),
    st.text(alphabet="019ab.~^_", min_size=1, max_size=7),
    _optional(st.text(alphabet="01el.~^", min_size=1, max_size=5), "-"),
)
APK = st.builds(
    lambda numbers, letter, suffixes, revision: numbers + letter + suffixes + revision,
    _joined(st.lists(_number, min_size=1, max_size=4)),
    _optional(st.sampled_from("abz")),
    _joined(st.lists(st.builds(lambda s, n: f"_{s}{n}", st.sampled_from(["alpha", "beta", "pre", "rc", "cvs",
                                                                           "svn", "git", "hg", "p"]),
                               _optional(_small)), max_size=2), ""),
    _optional(_small, "-r"),
)
PEP440 = st.builds(
    lambda v, epoch, release, pre, post, dev, local: v + epoch + release + pre + post + dev + local,
    st.sampled_from(["", "v"]),
    _optional(_small).map(lambda e: f"{e}!" if e else ""),
    _joined(st.lists(_small, min_size=1, max_size=4)),
    _optional(st.builds(lambda sep, label, n: sep + label + n, st.sampled_from(["", ".", "-"]),
                        st.sampled_from(["a", "alpha", "b", "beta", "rc", "c", "pre", "preview", "RC"]),
                        _optional(_small))),
    _optional(st.sampled_from([".post1", "-1", "post2", ".rev", "-r3"])),
    _optional(st.sampled_from([".dev", ".dev1", "dev2", "-dev3"])),
    _optional(st.sampled_from(["+local", "+1", "+abc.2", "+a-b_c"])),
)
_identifiers = _joined(st.lists(st.one_of(_small, st.sampled_from(["alpha", "beta", "rc", "x-y", "A"])),
                                min_size=1, max_size=3))
SEMVER = st.builds(
    lambda v, core, pre, build: v + core + pre + build,
    st.sampled_from(["", "v"]),
    _joined(st.lists(_small, min_size=3, max_size=3)),
    _optional(_identifiers, "-"),
    _optional(_identifiers, "+"),
)
GO = st.one_of(
    SEMVER,
    st.builds(lambda t: f"v0.0.0-2019110902193{t}-daa7c04131f5", _small),
    st.builds(lambda minor, suffix: f"go1.{minor}{suffix}", _small, st.sampled_from(["", "rc1", "beta2", ".3"])),
)
MAVEN = st.lists(
    st.one_of(_number, st.sampled_from(["alpha", "beta", "milestone", "rc", "cr", "snapshot", "ga", "final",
                                        "release", "sp", "a", "b", "m", "foo", ""])),
    min_size=1, max_size=5,
).flatmap(lambda parts: st.lists(st.sampled_from([".", "-", ""]), min_size=len(parts) - 1,
                                 max_size=len(parts) - 1).map(
    lambda seps: parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=True)))
).filter(lambda text: bool(text.strip()))
RUBYGEMS = st.builds(
    lambda head, tail, pre: head + tail + pre,
    _number,
    _joined(st.lists(st.one_of(_small, st.sampled_from(["a", "b", "rc", "pre", "beta"])), max_size=4), "")
    .map(lambda text: "".join("." + c for c in text)),
    _optional(st.sampled_from(["rc1", "beta.2", "1"]), "-"),
)
NUGET = st.builds(
    lambda numbers, label, build: numbers + label + build,
    _joined(st.lists(_small, min_size=1, max_size=4)),
    _optional(_identifiers, "-"),
    _optional(_identifiers, "+"),
)
COMPOSER = st.builds(
    lambda v, numbers, stability: v + numbers + stability,
    st.sampled_from(["", "v", "V"]),
    _joined(st.lists(_small, min_size=1, max_size=4)),
    _optional(st.builds(lambda sep, word, n: sep + word + n, st.sampled_from(["", "-", ".", "_"]),
                        st.sampled_from(["dev", "alpha", "a", "beta", "b", "RC", "rc", "pl", "p", "patch", "x"]),
                        _optional(_small))),
)
CRAN = _joined(st.lists(_number, min_size=1, max_size=4)).flatmap(
    lambda text: st.sampled_from([text, text.replace(".", "-", 1)]))

BY_ECOSYSTEM: dict[str, st.SearchStrategy[str]] = {
    "Debian": DPKG,
    "Red Hat": RPM,
    "Alpine": APK,
    "PyPI": PEP440,
    "npm": SEMVER,
    "SemVer": SEMVER,
    "crates.io": SEMVER,
    "Pub": SEMVER.map(lambda text: text.removeprefix("v")),
    "Go": GO,
    "Maven": MAVEN,
    "RubyGems": RUBYGEMS,
    "NuGet": NUGET,
    "Packagist": COMPOSER,
    "CRAN": CRAN,
}
