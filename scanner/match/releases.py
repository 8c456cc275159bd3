"""Which ecosystems of the database an OS package is judged by: its release's spellings and variants.

An OS package's `ecosystem` names its distro release ("Debian:12", "Red Hat:enterprise_linux:8"); the
database may hold that release under several spellings, and some distros split a release into
ecosystems a package belongs to or not. A `Route` says, per package, which spellings count:

- Every spelling of the release: the prefix itself and the prefix followed by ":" and more
  ("Ubuntu:22.04" is "Ubuntu:22.04:LTS" and "Ubuntu:Pro:22.04:LTS"; "Red Hat:enterprise_linux:8" is
  every product stream of RHEL 8, "...:8::baseos", "...:8::appstream"). An Alpine edge image
  ("Alpine:v3.19" from VERSION_ID 3.19_alpha...) also reads the secdb's "Alpine:edge".
- Oracle Linux: exactly "Oracle Linux:N", or, for a package whose release contains "ksplice" (a Ksplice
  user-space fix build), exactly "Oracle Linux:N:ksplice". Oracle publishes Ksplice builds of glibc and
  openssl with versions of their own; an entry for one says nothing about the other.
- Red Hat module streams: a package built in a module stream (its rpm header's MODULARITYLABEL,
  "nodejs:18:8090020231025135235:a75119d5") is judged only by rows of that stream
  ("<product stream>::module:nodejs:18"), and a package outside any module never by a module's rows:
  a module stream ships its own builds of a package, with versions that do not sort against the
  non-modular ones.
- Red Hat extended-support streams (see `scanner.catalog.distro.extended_support`): an image whose
  content sets are EUS, AUS, E4S or TUS repositories ("Red Hat:rhel_eus:8.6") reads its minor release's
  extended-support streams first, then the mainline streams of its major release
  ("Red Hat:enterprise_linux:8"). For one vulnerability, the first tier with rows for the package decides
  (`Route.tiers`): the extended-support stream's fix is the one its repositories ship, and a mainline fix
  is in a later minor release it does not get. A vulnerability the extended-support data says nothing
  about is judged by the mainline data: those streams carry only Critical and selected Important fixes,
  and a package that the mainline has not fixed is not fixed in the minor release it branched from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.db.store import VulnStore
from scanner.model import Package

# An Alpine edge image's VERSION_ID is the next release's pre-release ("3.19_alpha20230901"); the apk
# cataloger and SBOM tools carry it in the PURL's distro qualifier.
_ALPINE_EDGE_DISTRO = re.compile(r"[?&]distro=alpine-[0-9.]+_alpha", re.IGNORECASE)
# The Red Hat product of each extended-support stream (as its CPE names it) and of the mainline.
EXTENDED_SUPPORT_PRODUCTS = frozenset({"rhel_eus", "rhel_aus", "rhel_e4s", "rhel_tus"})
MAINLINE_PRODUCT = "enterprise_linux"
MODULE_MARK = "::module:"
KSPLICE_SUFFIX = ":ksplice"


def is_alpine_edge(package: Package) -> bool:
    return package.ecosystem.startswith("Alpine:") and _ALPINE_EDGE_DISTRO.search(package.purl) is not None


def is_spelling(candidate: str, prefix: str) -> bool:
    return candidate == prefix or candidate.startswith(prefix + ":")


def module_stream(label: str) -> str:
    """"nodejs:18" from the MODULARITYLABEL "nodejs:18:8090020231025135235:a75119d5"; "" when unreadable."""
    parts = label.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return ""
    return f"{parts[0]}:{parts[1]}"


def is_ksplice(package: Package) -> bool:
    """Whether an rpm's release (after the last "-" of its EVR) marks a Ksplice build."""
    return "ksplice" in package.version.rpartition("-")[2]


@dataclass(frozen=True)
class Route:
    """Where an OS package's advisories are, and which spellings of the release count."""

    release: str  # the release named in messages: the package's ecosystem, or its Ksplice ecosystem
    tiers: tuple[tuple[str, ...], ...]  # prefixes; an earlier tier's rows for a vulnerability decide
    exact: bool = False  # only the prefixes themselves count, no suffixed spelling (Oracle Linux)
    module: str | None = None  # Red Hat only: "" outside any module, else the "name:stream" it is built in
    extra: frozenset[str] = frozenset()  # prefixes whose data adds records but never completes the release
    problem: str = ""  # why the package cannot be routed ("" when it can)

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(prefix for tier in self.tiers for prefix in tier)

    def counts(self, ecosystem: str, prefix: str) -> bool:
        """Whether `ecosystem` (as the database spells it) is one this route reads under `prefix`."""
        if not (ecosystem == prefix if self.exact else is_spelling(ecosystem, prefix)):
            return False
        if self.module is None:
            return True
        _, marked, stream = ecosystem.partition(MODULE_MARK)
        return stream == self.module if marked else not self.module


def route(package: Package) -> Route:
    """The ecosystems an OS package is judged by (the module docstring gives the rules)."""
    ecosystem = package.ecosystem
    family, _, release = ecosystem.partition(":")
    if family == "Ubuntu" and release and not release.startswith("Pro:"):
        plain = release.removesuffix(":LTS")
        pro = f"Ubuntu:Pro:{plain}"
        return Route(ecosystem, ((f"Ubuntu:{plain}", pro),), extra=frozenset({pro}))
    if family == "Oracle Linux":
        own = ecosystem + KSPLICE_SUFFIX if is_ksplice(package) else ecosystem
        return Route(own, ((own,),), exact=True)
    if family == "Red Hat":
        label = package.modularity_label
        module = module_stream(label) if label else ""
        problem = f"modularity label {label!r} is not NAME:STREAM:VERSION:CONTEXT; not checked" \
            if label and not module else ""
        product, _, version = release.partition(":")
        if product in EXTENDED_SUPPORT_PRODUCTS:
            # The extended-support data adds to the mainline's; it never completes the release alone.
            mainline = f"Red Hat:{MAINLINE_PRODUCT}:{version.split('.', 1)[0]}"
            return Route(ecosystem, ((ecosystem,), (mainline,)), module=module, extra=frozenset({ecosystem}),
                         problem=problem)
        return Route(ecosystem, ((ecosystem,),), module=module, problem=problem)
    if is_alpine_edge(package):
        return Route(ecosystem, ((ecosystem, "Alpine:edge"),))
    return Route(ecosystem, ((ecosystem,),))


def spellings(store: VulnStore, chosen: Route) -> tuple[tuple[str, ...], ...] | str:
    """Per tier, the ecosystems the database holds that the route reads; why not, when it cannot be checked.

    No spelling at all: a known distro whose release the database has no data for (a bookworm image, a
    bundle built without Debian 12), which is not "no vulnerabilities". A package built in a module
    stream, when the database holds no module stream of the release at all: its data was left out.
    """
    if chosen.problem:
        return chosen.problem
    found = [[(ecosystem, prefix) for prefix in tier for ecosystem in store.ecosystems_like(prefix)
              if (ecosystem == prefix if chosen.exact else is_spelling(ecosystem, prefix))] for tier in chosen.tiers]
    if not any(found):
        return f"the database holds no advisories for {chosen.release}; distro advisories not checked"
    if chosen.module and not any(MODULE_MARK in ecosystem for tier in found for ecosystem, _ in tier):
        return (f"the database holds no module stream advisories for {chosen.release}; package of module "
                f"stream {chosen.module} not checked")
    return tuple(tuple(sorted({ecosystem for ecosystem, prefix in tier if chosen.counts(ecosystem, prefix)}))
                 for tier in found)
