"""The data model shared by every stage: frozen, typed, comparable.

Catalogers produce `Package` and `Distro`; the database produces `Vulnerability`;
the matcher produces `Finding`. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    """Ordered so that `max()` and `>=` comparisons follow risk."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str | None) -> Severity:
        if not text:
            return cls.UNKNOWN
        key = text.strip().upper()
        aliases = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "UNIMPORTANT": "NEGLIGIBLE", "NONE": "NEGLIGIBLE"}
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            return cls.UNKNOWN

    @classmethod
    def from_cvss_score(cls, score: float) -> Severity:
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.NEGLIGIBLE

    @property
    def label(self) -> str:
        return self.name.lower()


class FixState(enum.StrEnum):
    FIXED = "fixed"
    NOT_FIXED = "not-fixed"
    WONT_FIX = "wont-fix"
    NOT_AFFECTED = "not-affected"
    END_OF_LIFE = "end-of-life"
    UNDER_INVESTIGATION = "under-investigation"
    UNKNOWN = "unknown"


@dataclass(frozen=True, order=True)
class Distro:
    """The operating system of an image, as `etc/os-release` (or its fallbacks) describes it."""

    id: str  # os-release ID, lower case: debian, ubuntu, alpine, rocky, almalinux, rhel, wolfi ...
    version_id: str = ""  # os-release VERSION_ID: "12", "22.04", "3.18.4"
    codename: str = ""  # VERSION_CODENAME: bookworm, jammy
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    # Red Hat content sets the image was built from (root/buildinfo/content_manifests/*.json), sorted:
    # "rhel-8-for-x86_64-baseos-eus-rpms" says which update stream its packages come from. Out of the repr,
    # which SBOM ids hash (report/sbom.py `content_id`): no SBOM format carries content sets.
    content_sets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def purl_distro(self) -> str:
        """The `distro=` qualifier of a PURL: `debian-12`, `alpine-3.18.4`."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


# Package types read only from the executables their code is compiled into (Go build info, cargo-auditable
# data): the program's own code even in an executable an OS package installed, which the distro's
# advisories for that package do not cover (Debian issues none for the Go standard library in restic).
COMPILED_TYPES = frozenset({"golang", "cargo"})


@functools.total_ordering
@dataclass(frozen=True)
class Package:
    """One installed package found in an image (or read from an SBOM).

    Ordered field by field like `order=True` would, except that a missing `layer_index` sorts before
    every layer: the generated order raised TypeError comparing None with an int.
    """

    name: str  # as declared by the package (display form)
    version: str  # full version; epoch included where the format has one ("1:2.3-4")
    type: str  # PURL type: deb, apk, rpm, pypi, maven, npm, golang, cargo, gem, composer, nuget
    ecosystem: str  # OSV ecosystem; OS packages carry their release: "Debian:12", "Alpine:v3.18", "PyPI"
    purl: str
    cataloger: str = ""
    arch: str = ""
    source_name: str = ""  # dpkg Source:, apk origin (o:), rpm SOURCERPM name; "" when the same as name
    source_version: str = ""
    licenses: tuple[str, ...] = ()
    layer_index: int | None = None
    layer_digest: str = ""
    locations: tuple[str, ...] = ()  # image paths the package record came from
    owned_by: str = ""  # the OS package whose files include this package's files ("" when none)
    # Where `version` was inferred from when the package records none ("-ldflags -X main.version=1.18.1");
    # "" when the version is the package's own record.
    version_inferred_from: str = ""
    metadata: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def _order_key(self) -> tuple[object, ...]:
        return (self.name, self.version, self.type, self.ecosystem, self.purl, self.cataloger, self.arch,
                self.source_name, self.source_version, self.licenses,
                (0, 0) if self.layer_index is None else (1, self.layer_index),
                self.layer_digest, self.locations, self.owned_by, self.version_inferred_from)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Package):
            return NotImplemented
        if self.name != other.name:  # the usual case, without building the keys
            return self.name < other.name
        return self._order_key() < other._order_key()

    @property
    def compiled_into(self) -> str:
        """The OS package that installed the executable this package is compiled into; "" when none."""
        return self.owned_by if self.type in COMPILED_TYPES else ""

    @property
    def modularity_label(self) -> str:
        """The module stream build an rpm comes from (its header's MODULARITYLABEL, "nodejs:18:...:..."); ""."""
        return dict(self.metadata).get("modularity_label", "")

    @property
    def match_source_name(self) -> str:
        """The name distro advisories use: the source package where there is one."""
        return self.source_name or self.name

    @property
    def match_source_version(self) -> str:
        return self.source_version or self.version


@dataclass(frozen=True, order=True)
class CvssScore:
    version: str  # "4.0", "3.1", "3.0", "2.0"
    vector: str
    score: float
    source: str  # who scored it: "nvd", "nvd/<CNA>" (a CNA's score NVD republishes), "osv"
    record: str = ""  # the record that carries it: "CVE-2022-0778", "GHSA-..."


@dataclass(frozen=True)
class SeverityOrigin:
    """Which record of a finding's alias group its severity came from, and how."""

    kind: str  # "distro" (the distro's rating), "cvss" (a scored vector), "rating" (a record's text rating)
    source: str  # who rated it: "debian", "nvd", "nvd/<CNA>", "osv" ...
    record: str  # the record the rating is in
    rating: str = ""  # the text as the record gives it ("moderate"), for "distro" and "rating"
    cvss: CvssScore | None = None  # for "cvss"


@dataclass(frozen=True)
class KnownExploited:
    """The CISA Known Exploited Vulnerabilities catalog's entry for one of a finding's CVEs."""

    cve: str
    date_added: str  # YYYY-MM-DD: when CISA added it to the catalog
    due_date: str  # YYYY-MM-DD: when US federal agencies must have acted
    known_ransomware_use: str  # the catalog's word: "Known" or "Unknown"
    required_action: str


@dataclass(frozen=True)
class ExploitPrediction:
    """FIRST's EPSS score for one of a finding's CVEs: the probability of exploitation in the next 30 days."""

    cve: str
    score: float  # 0 to 1
    percentile: float  # 0 to 1: the share of scored CVEs with a score at or below this one
    date: str  # YYYY-MM-DD: the day the scores are for


@dataclass(frozen=True)
class Vulnerability:
    id: str  # the primary id shown to users (a CVE where the group has one)
    aliases: tuple[str, ...] = ()  # every other id of the same vulnerability group, sorted
    summary: str = ""
    severity: Severity = Severity.UNKNOWN
    severity_origin: SeverityOrigin | None = None  # None when the severity is unknown
    cvss: tuple[CvssScore, ...] = ()
    published: str = ""
    modified: str = ""
    references: tuple[str, ...] = ()
    cwes: tuple[str, ...] = ()
    kev: KnownExploited | None = None  # in CISA's KEV catalog (scanner.match.exploitation); None when not
    epss: ExploitPrediction | None = None  # None when the database has no EPSS score for its CVEs

    @property
    def severity_source(self) -> str:
        """The origin in one word: "debian", "cvss:nvd", "osv"; "" when the severity is unknown."""
        origin = self.severity_origin
        if origin is None:
            return ""
        return f"cvss:{origin.source}" if origin.kind == "cvss" else origin.source


@dataclass(frozen=True)
class Fix:
    """How a finding is fixed, in the package's own terms and, when judged as its source, in the source's.

    `versions` are versions of the package itself to install, each above the installed version in the
    ecosystem's order (a Debian binary's epoch kept). A finding judged as the package's source package
    (a deb or apk matched by its source, an rpm by its source rpm) also names that source package and
    its fixed versions; `versions` can then be empty while the state is fixed, when the binary's
    version is not derived from its source's (it carries a version of its own).
    """

    state: FixState
    versions: tuple[str, ...] = ()
    source: str = ""  # the source package the finding was judged as, "" when judged as the package itself
    source_versions: tuple[str, ...] = ()  # fixed versions of `source`, above its installed version


@dataclass(frozen=True)
class Finding:
    package: Package
    vulnerability: Vulnerability
    fix: Fix
    matched_by: str  # "distro", "ecosystem", "cpe"
    advisory_id: str = ""  # the record that matched (DSA-..., GHSA-..., CVE-... for CPE)
    suppressed_by: str = ""  # ignore rule or VEX statement that suppresses it; "" when active
