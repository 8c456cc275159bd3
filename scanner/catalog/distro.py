"""Which operating system an image runs, and the OSV ecosystem its packages' advisories live under.

Sources, first hit wins: `etc/os-release`, `usr/lib/os-release`, then the single-purpose release
files (`etc/alpine-release`, `etc/redhat-release`, `etc/system-release-cpe`, `etc/debian_version`),
then distroless Debian (dpkg `status.d` with base-files or a `debian_version`), then a bare busybox.
"""

from __future__ import annotations

import re
import shlex

from scanner.catalog.base import read_text
from scanner.catalog.limits import DEFAULT_LIMITS
from scanner.image.filesystem import FileRequest, Filesystem
from scanner.model import Distro

_OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
_BUSYBOX_PATHS = ("bin/busybox", "usr/bin/busybox")

DISTRO_REQUESTS: tuple[FileRequest, ...] = (
    FileRequest(
        (*_OS_RELEASE_PATHS, "etc/alpine-release", "etc/redhat-release", "etc/system-release-cpe",
         "etc/debian_version", "var/lib/dpkg/status.d/base", "var/lib/dpkg/status.d/base-files"),
        max_size=DEFAULT_LIMITS.max_release_file_size,
    ),
    FileRequest(_BUSYBOX_PATHS, max_size=DEFAULT_LIMITS.max_busybox_size),
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


def detect_distro(fs: Filesystem) -> Distro | None:
    """The image's distro from the files `DISTRO_REQUESTS` captured; None when nothing identifies it."""
    for path in _OS_RELEASE_PATHS:
        text = read_text(fs, path)
        if text is not None and (found := _from_os_release(text)) is not None:
            return found
    alpine = read_text(fs, "etc/alpine-release")
    if alpine is not None and alpine.strip():
        version = alpine.strip().split()[0]
        return Distro(id="alpine", version_id=version, pretty_name=f"Alpine Linux v{version}")
    for path, parse in (("etc/redhat-release", _from_redhat_release),
                        ("etc/system-release-cpe", _from_system_release_cpe)):
        text = read_text(fs, path)
        if text is not None and (found := parse(text)) is not None:
            return found
    return _distroless_debian(fs) or _busybox(fs)


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
        # OSV's Red Hat releases are CPE product streams ("Red Hat:enterprise_linux:9::appstream",
        # "...::baseos"); the matcher finds every stream of the release from this prefix.
        return f"Red Hat:enterprise_linux:{_major(version)}" if version else None
    if ident == "opensuse-leap":
        return f"openSUSE:Leap {version}" if version else None
    if ident == "opensuse-tumbleweed":
        return "openSUSE:Tumbleweed"
    if ident in ("sles", "sled", "sle_hpc", "sle-micro"):
        return f"SUSE:Linux Enterprise Server {_suse_release(version)}" if version else None
    if ident == "photon":
        return f"Photon OS:{version}" if version else None
    return None
