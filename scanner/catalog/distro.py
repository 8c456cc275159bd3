"""Which operating system an image runs, and the OSV ecosystem its packages' advisories live under.

Sources, first hit wins: `etc/os-release`, `usr/lib/os-release`, then the single-purpose release
files (`etc/alpine-release`, `etc/redhat-release`, `etc/system-release` (Amazon Linux),
`etc/system-release-cpe`, `etc/debian_version`), then distroless Debian (dpkg `status.d` with base-files
or a `debian_version`), then a bare busybox. A Red Hat image's content manifests
(`root/buildinfo/content_manifests/*.json`) add the content sets it was built from (`extended_support`).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass

from scanner.catalog.base import read_text
from scanner.catalog.limits import DEFAULT_LIMITS, CatalogLimits
from scanner.errors import ImageError
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.jsonstrict import loads_strict
from scanner.model import Distro

_OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
_BUSYBOX_PATHS = ("bin/busybox", "usr/bin/busybox")

CONTENT_MANIFESTS = FileRequest(("root/buildinfo/content_manifests/*.json",),
                                max_size=DEFAULT_LIMITS.max_content_manifest_size)
DISTRO_REQUESTS: tuple[FileRequest, ...] = (
    FileRequest(
        (*_OS_RELEASE_PATHS, "etc/alpine-release", "etc/redhat-release", "etc/system-release",
         "etc/system-release-cpe", "etc/debian_version", "var/lib/dpkg/status.d/base",
         "var/lib/dpkg/status.d/base-files"),
        max_size=DEFAULT_LIMITS.max_release_file_size,
    ),
    FileRequest(_BUSYBOX_PATHS, max_size=DEFAULT_LIMITS.max_busybox_size),
    CONTENT_MANIFESTS,
)

_DEBIAN_CODENAMES = {
    "buzz": "1.1", "rex": "1.2", "bo": "1.3", "hamm": "2.0", "slink": "2.1", "potato": "2.2", "woody": "3.0",
    "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7", "jessie": "8", "stretch": "9",
    "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
}
_REDHAT_RELEASE = re.compile(
    r"^(?P<name>.+?)\s+(?:Linux\s+)?release\s+(?P<version>[0-9][0-9.]*)(?:\s+\((?P<codename>[^)]*)\))?", re.I)
_REDHAT_NAMES = (
    ("rocky", "rocky"), ("alma", "almalinux"), ("centos", "centos"), ("fedora", "fedora"),
    ("red hat", "rhel"), ("oracle", "ol"), ("amazon", "amzn"),
)
_RELEASE_LINE_LIMIT = 256
_BUSYBOX_VERSION = re.compile(rb"BusyBox v(\d+(?:\.\d+)+)")
_BASE_FILES_VERSION = re.compile(r"^Version:\s*(\d+)", re.M)


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting, as os-release(5) defines them; unparsable lines are ignored."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            parts = [raw.strip("\"'")]
        fields[key.strip()] = " ".join(parts)
    return fields


def _from_os_release(text: str) -> Distro | None:
    fields = parse_os_release(text)
    distro_id = fields.get("ID", "").strip().lower()
    if not distro_id:
        return None
    version_id = fields.get("VERSION_ID", "")
    codename = fields.get("VERSION_CODENAME", "") or fields.get("UBUNTU_CODENAME", "")
    if distro_id == "debian" and not version_id and codename in _DEBIAN_CODENAMES:
        version_id = _DEBIAN_CODENAMES[codename]
    return Distro(
        id=distro_id,
        version_id=version_id,
        codename=codename,
        pretty_name=fields.get("PRETTY_NAME", ""),
        id_like=tuple(fields.get("ID_LIKE", "").lower().split()),
    )


def _from_redhat_release(text: str) -> Distro | None:
    # One line; the cap bounds the regex's backtracking on a hostile file (quadratic in the length).
    first_line = (text.strip().splitlines() or [""])[0][:_RELEASE_LINE_LIMIT]
    match = _REDHAT_RELEASE.match(first_line)
    if match is None:
        return None
    name = match["name"].lower()
    distro_id = next((ident for needle, ident in _REDHAT_NAMES if needle in name), name.split()[0])
    return Distro(id=distro_id, version_id=match["version"], codename=match["codename"] or "",
                  pretty_name=first_line)


def _from_system_release_cpe(text: str) -> Distro | None:
    # cpe:/o:redhat:enterprise_linux:8::baseos or cpe:2.3:o:amazon:amazon_linux:2
    parts = text.strip().split(":")
    if len(parts) >= 5 and parts[1] == "/o":
        vendor, product, version = parts[2], parts[3], parts[4]
    elif len(parts) >= 6 and parts[1] == "2.3":
        vendor, product, version = parts[3], parts[4], parts[5]
    else:
        return None
    ident = {"redhat": "rhel", "centos": "centos", "rocky": "rocky", "almalinux": "almalinux",
             "fedoraproject": "fedora", "amazon": "amzn", "oracle": "ol"}.get(vendor, vendor)
    return Distro(id=ident, version_id=version, pretty_name=f"{vendor} {product} {version}")


def _debian_major(text: str) -> str:
    """`etc/debian_version` holds "11.7" on releases and "bookworm/sid" on testing."""
    word = text.strip().split("/", 1)[0]
    if re.fullmatch(r"\d+(\.\d+)*", word):
        return word.split(".")[0]
    return _DEBIAN_CODENAMES.get(word, "")


def _distroless_debian(fs: Filesystem) -> Distro | None:
    debian_version = read_text(fs, "etc/debian_version")
    major = _debian_major(debian_version) if debian_version else ""
    if not major:
        base_files = read_text(fs, "var/lib/dpkg/status.d/base-files") or read_text(
            fs, "var/lib/dpkg/status.d/base")
        match = _BASE_FILES_VERSION.search(base_files or "")
        if match:
            major = match[1]
    if debian_version is None and not major:
        return None
    codename = next((name for name, number in _DEBIAN_CODENAMES.items() if number == major), "")
    return Distro(id="debian", version_id=major, codename=codename,
                  pretty_name=f"Debian GNU/Linux {major}".strip())


def _busybox(fs: Filesystem) -> Distro | None:
    for path in _BUSYBOX_PATHS:
        try:
            content = fs.read_bytes(path)
        except KeyError:
            continue
        match = _BUSYBOX_VERSION.search(content)
        version = match[1].decode() if match else ""
        return Distro(id="busybox", version_id=version, pretty_name=f"BusyBox {version}".strip())
    return None


def _release_files(fs: Filesystem) -> Distro | None:
    for path in _OS_RELEASE_PATHS:
        text = read_text(fs, path)
        if text is not None and (found := _from_os_release(text)) is not None:
            return found
    alpine = read_text(fs, "etc/alpine-release")
    if alpine is not None and alpine.strip():
        version = alpine.strip().split()[0]
        return Distro(id="alpine", version_id=version, pretty_name=f"Alpine Linux v{version}")
    for path, parse in (("etc/redhat-release", _from_redhat_release), ("etc/system-release", _from_redhat_release),
                        ("etc/system-release-cpe", _from_system_release_cpe)):
        text = read_text(fs, path)
        if text is not None and (found := parse(text)) is not None:
            return found
    return _distroless_debian(fs) or _busybox(fs)


def _content_sets(fs: Filesystem, limits: CatalogLimits, warnings: list[str]) -> tuple[str, ...]:
    """The content sets the image's content manifests name, sorted; each bad manifest is one warning.

    A manifest is a JSON object whose `content_sets`, when present, is a list of repository ids
    ("rhel-8-for-x86_64-baseos-eus-rpms"). One that is not valid strict JSON, or whose content sets are
    not a list of non-empty strings, adds nothing: the image then reads the mainline streams only.
    """
    found: set[str] = set()
    for number, path in enumerate(fs.captured(CONTENT_MANIFESTS)):
        if number >= limits.max_content_manifests:
            warnings.append(f"{path}: more than {limits.max_content_manifests} content manifests "
                            "(cap max_content_manifests); the rest are not read")
            break
        data = fs.read_bytes(path)
        if len(data) > limits.max_content_manifest_size:
            warnings.append(f"{path}: larger than {limits.max_content_manifest_size} bytes "
                            "(cap max_content_manifest_size); not read")
            continue
        try:
            document = loads_strict(data, path, ImageError)
        except ImageError as error:
            warnings.append(f"content manifest not read: {error}")
            continue
        sets = document.get("content_sets", []) if isinstance(document, dict) else None
        if not isinstance(sets, list) or not all(isinstance(item, str) and item for item in sets):
            warnings.append(f"{path}: content manifest not read: `content_sets` is not a list of repository ids")
            continue
        if any(len(item) > limits.max_field_length for item in sets):
            warnings.append(f"{path}: content manifest not read: a content set is longer than "
                            f"{limits.max_field_length} characters (cap max_field_length)")
            continue
        if len(found | set(sets)) > limits.max_content_sets:
            warnings.append(f"{path}: more than {limits.max_content_sets} content sets (cap max_content_sets); "
                            "this and the remaining manifests are not read")
            break
        found.update(sets)
    return tuple(sorted(found))


@dataclass(frozen=True)
class Detection:
    distro: Distro | None
    warnings: tuple[str, ...] = ()


def detect(fs: Filesystem, limits: CatalogLimits = DEFAULT_LIMITS) -> Detection:
    """The image's distro from the files `DISTRO_REQUESTS` captured, and what could not be read."""
    distro = _release_files(fs)
    if distro is None or distro.id != "rhel":
        return Detection(distro)
    warnings: list[str] = []
    content_sets = _content_sets(fs, limits, warnings)
    if len(extended_support(content_sets)) > 1:
        warnings.append(f"content sets name several update streams ({', '.join(extended_support(content_sets))}); "
                        "only the mainline streams of the release are read")
    return Detection(dataclasses.replace(distro, content_sets=content_sets), tuple(warnings))


def detect_distro(fs: Filesystem) -> Distro | None:
    """The image's distro from the files `DISTRO_REQUESTS` captured; None when nothing identifies it."""
    return detect(fs).distro


# Red Hat repository ids name their update stream as a word of their own: rhel-8-for-x86_64-baseos-eus-rpms.
_UPDATE_STREAMS = {"eus": "rhel_eus", "aus": "rhel_aus", "e4s": "rhel_e4s", "tus": "rhel_tus"}


def extended_support(content_sets: tuple[str, ...]) -> tuple[str, ...]:
    """The Red Hat extended-support products ("rhel_eus") the content sets' repositories belong to, sorted.

    Red Hat ships each minor release's Extended Update Support (EUS), Advanced Update Support (AUS),
    Update Services for SAP Solutions (E4S) and Telecommunications Update Service (TUS) from repositories
    of their own ("rhel-8-for-x86_64-baseos-eus-rpms", "...-appstream-aus-rpms"), whose advisories name
    the product stream of that minor release ("cpe:/o:redhat:rhel_eus:8.6::baseos"). Errata of the
    mainline streams ("cpe:/o:redhat:enterprise_linux:8::baseos") apply cumulatively to the latest minor
    release, which such an image does not get; the extended-support streams carry the fixes that reach
    it, for Critical and selected Important issues only. So an image built from those repositories reads
    its minor release's extended-support streams first and the mainline streams for what they do not
    cover (scanner/match/releases.py); an image with only mainline content sets, or none, reads the
    mainline streams, as before content manifests were read.
    """
    words = {word for content_set in content_sets for word in content_set.lower().split("-")}
    return tuple(sorted(product for word, product in _UPDATE_STREAMS.items() if word in words))


def _major(version_id: str) -> str:
    return version_id.split(".", 1)[0]


def _major_minor(version_id: str) -> str:
    numbers = re.findall(r"\d+", version_id)
    return ".".join(numbers[:2])


def _suse_release(version_id: str) -> str:
    """"15.5" -> "15 SP5", "15" or "15.0" -> "15" (OSV's SUSE ecosystem spelling)."""
    major, _, minor = version_id.partition(".")
    return f"{major} SP{minor}" if minor and minor != "0" else major


def osv_ecosystem(distro: Distro | None) -> str | None:
    """The OSV ecosystem (with release) whose advisories cover this distro's packages; None when none does."""
    if distro is None:
        return None
    ident, version = distro.id, distro.version_id
    if ident == "debian":
        major = _major(version)
        return f"Debian:{major}" if major.isascii() and major.isdigit() else None
    if ident == "ubuntu":
        return f"Ubuntu:{version}" if version else None
    if ident == "alpine":
        release = _major_minor(version)
        return f"Alpine:v{release}" if release else None
    if ident == "wolfi":
        return "Wolfi"
    if ident == "chainguard":
        return "Chainguard"
    if ident == "rocky":
        return f"Rocky Linux:{_major(version)}" if version else None
    if ident == "almalinux":
        return f"AlmaLinux:{_major(version)}" if version else None
    if ident in ("rhel", "centos"):
        return _red_hat(distro) if version else None
    if ident == "amzn":
        # Amazon Linux 2 is VERSION_ID 2, 2022 and 2023 their year; Amazon Linux AMI (2018.03) has no source.
        return f"Amazon Linux:{version}" if version in ("2", "2022", "2023") else None
    if ident == "ol":
        return f"Oracle Linux:{_major(version)}" if _major(version).isdigit() else None
    if ident == "mariner":
        return f"CBL-Mariner:{_major_minor(version)}" if _major_minor(version) else None
    if ident == "azurelinux":
        return f"Azure Linux:{_major_minor(version)}" if _major_minor(version) else None
    if ident == "opensuse-leap":
        return f"openSUSE:Leap {version}" if version else None
    if ident == "opensuse-tumbleweed":
        return "openSUSE:Tumbleweed"
    if ident in ("sles", "sle_hpc"):
        # SLE BCI images say ID=sles too; SLE HPC is built from the SLES packages.
        return f"SUSE:Linux Enterprise Server {_suse_release(version)}" if version else None
    if ident == "sled":
        return f"SUSE:Linux Enterprise Desktop {_suse_release(version)}" if version else None
    if ident == "sle-micro":
        return f"SUSE:Linux Enterprise Micro {version}" if version else None
    if ident == "photon":
        return f"Photon OS:{version}" if version else None
    return None


def _red_hat(distro: Distro) -> str:
    """OSV's Red Hat releases are CPE product streams ("Red Hat:enterprise_linux:9::appstream", "...::baseos");
    the matcher finds every stream of the release from this prefix. An image built from one extended-support
    product's repositories (`extended_support`) is that product's minor release ("Red Hat:rhel_eus:8.6"),
    when VERSION_ID names the minor release."""
    products = extended_support(distro.content_sets) if distro.id == "rhel" else ()
    minor = _major_minor(distro.version_id)
    if len(products) == 1 and "." in minor:
        return f"Red Hat:{products[0]}:{minor}"
    return f"Red Hat:enterprise_linux:{_major(distro.version_id)}"
