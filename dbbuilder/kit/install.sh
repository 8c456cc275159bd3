#!/bin/sh
# Installs airgap-scanner from this install kit, with no network: sh install.sh VENV [--state-dir DIR]
# Procedure, exit codes and upgrades: docs/offline-install.md of airgap-scanner.
#   0 installed   2 bad command line   3 the kit fails its SHA256SUMS check
#   4 no wheels in this kit for this host's Python or platform   5 creating the venv or pip failed
#   6 the installed scanner refused a key or a bundle of the kit (its own message says why)
set -eu

fail() {
    code=$1
    shift
    printf 'install.sh: %s\n' "$*" >&2
    exit "$code"
}

venv=""
state_dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --state-dir) [ $# -ge 2 ] || fail 2 "--state-dir needs a folder"; state_dir=$2; shift 2 ;;
        --state-dir=*) state_dir=${1#--state-dir=}; shift ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) fail 2 "unknown option $1 (usage: sh install.sh VENV [--state-dir DIR])" ;;
        *) [ -z "$venv" ] || fail 2 "one VENV only (usage: sh install.sh VENV [--state-dir DIR])"; venv=$1; shift ;;
    esac
done
[ -n "$venv" ] || fail 2 "usage: sh install.sh VENV [--state-dir DIR]"
command -v python3 >/dev/null 2>&1 || fail 4 "python3 not found: this kit installs into the host's Python 3"

kit=$(cd "$(dirname "$0")" && pwd -P)

# Checks every file against SHA256SUMS (and that nothing unlisted is there), then picks this host's
# lock file from kit.json. Standard library only: nothing from the kit runs before it is checked.
plan=$(python3 - "$kit" <<'PYTHON'
import hashlib, json, os, platform, re, stat, sys

kit = sys.argv[1]
def refuse(code, message):
    sys.stderr.write("install.sh: " + message + "\n")
    sys.exit(code)

if sys.version_info < (3, 6):
    refuse(4, "Python %d.%d is too old for this kit" % sys.version_info[:2])
sums_path = os.path.join(kit, "SHA256SUMS")
try:
    with open(sums_path, "rb") as handle:
        sums = handle.read(1024 * 1024 + 1)
except OSError as error:
    refuse(3, "cannot read %s (%s): is this an install kit?" % (sums_path, error.strerror))
sys.stderr.write("SHA256SUMS sha256: %s (compare it with the one the publisher gave you)\n"
                 % hashlib.sha256(sums).hexdigest())
path_re = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,200}(/[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,200})?\Z")
line_re = re.compile(r"([0-9a-f]{64})  (.+)\Z")
try:
    text = sums.decode("ascii")
except UnicodeDecodeError:
    refuse(3, "SHA256SUMS is not ASCII")
if len(sums) > 1024 * 1024 or not text.endswith("\n"):
    refuse(3, "SHA256SUMS is too large, empty or cut short")
listed = {}
for number, line in enumerate(text[:-1].split("\n"), 1):
    match = line_re.match(line)
    if not match or not path_re.match(match.group(2)) or match.group(2) in listed:
        refuse(3, "SHA256SUMS line %d is not '<sha256>  <kit path>', or repeats a path" % number)
    listed[match.group(2)] = match.group(1)
present = []
for name in sorted(os.listdir(kit)):
    full = os.path.join(kit, name)
    mode = os.lstat(full).st_mode
    if stat.S_ISDIR(mode):
        for inner in sorted(os.listdir(full)):
            if not stat.S_ISREG(os.lstat(os.path.join(full, inner)).st_mode):
                refuse(3, "%s/%s is not a regular file" % (name, inner))
            present.append(name + "/" + inner)
    elif stat.S_ISREG(mode):
        if name not in ("SHA256SUMS", "SHA256SUMS.sig"):
            present.append(name)
    else:
        refuse(3, "%s is not a regular file or folder" % name)
for name in present:
    if name not in listed:
        refuse(3, "%s is in the kit but not in SHA256SUMS: refusing the kit" % name)
for name, expected in sorted(listed.items()):
    digest = hashlib.sha256()
    try:
        with open(os.path.join(kit, name), "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        refuse(3, "%s is listed in SHA256SUMS but missing or unreadable" % name)
    if digest.hexdigest() != expected:
        refuse(3, "%s does not match its sha256 in SHA256SUMS: the file was altered or damaged" % name)
sys.stderr.write("SHA256SUMS: all %d files match\n" % len(listed))

try:
    with open(os.path.join(kit, "kit.json"), encoding="ascii") as handle:
        manifest = json.load(handle)
    targets = [(t["python"], t["platform"], t["lock"]) for t in manifest["targets"]]
    project_version = manifest["project"]["version"]
    keys = [(k["path"], k["name"], k.get("demo") is True) for k in manifest.get("keys", [])]
    bundles = list(manifest.get("bundles", []))
except (OSError, ValueError, KeyError, TypeError):
    refuse(3, "kit.json is missing or malformed")
named = [lock for _, _, lock in targets] + [path for path, _, _ in keys] + bundles
if any(path not in listed for path in named) or not all(re.match(r"[A-Za-z0-9_+-]+\Z", n) for _, n, _ in keys):
    refuse(3, "kit.json names a file that SHA256SUMS does not list, or a key name that is not plain")
python = "%d.%d" % sys.version_info[:2]
machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
libc, libc_version = platform.libc_ver()
if not libc:
    for candidate in ("/lib/ld-musl-%s.so.1" % machine,):
        if os.path.exists(candidate):
            libc, libc_version = "musl", "1.1"
            try:
                import subprocess
                out = subprocess.run([candidate], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL).stderr
                found = re.search(rb"Version (\d+\.\d+)", out)
                libc_version = found.group(1).decode() if found else libc_version
            except OSError:
                pass

def version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])

def fits(tag):
    match = re.match(r"(manylinux2014|manylinux_(\d+)_(\d+)|musllinux_(\d+)_(\d+))_(.+)\Z", tag)
    if not match or match.group(6) != machine:
        return False
    if match.group(1).startswith("musllinux"):
        return libc == "musl" and version_tuple(libc_version) >= (int(match.group(4)), int(match.group(5)))
    needed = (2, 17) if match.group(1) == "manylinux2014" else (int(match.group(2)), int(match.group(3)))
    return libc == "glibc" and version_tuple(libc_version) >= needed

offered = ["CPython %s %s" % (py, tag) for py, tag, _ in targets]
chosen = [lock for py, tag, lock in targets if py == python and fits(tag)]
if not chosen:
    refuse(4, "this kit has no wheels for this host (CPython %s, %s, %s %s); it has: %s"
           % (python, machine, libc or "unknown libc", libc_version, "; ".join(offered)))
print("lock " + chosen[0])
print("version " + project_version)
for path, name, demo in keys:
    print("key %s %s%s" % (path, name, " demo" if demo else ""))
for path in bundles:
    print("bundle " + path)
PYTHON
) || exit $?

lock=$(printf '%s\n' "$plan" | sed -n 's/^lock //p')
version=$(printf '%s\n' "$plan" | sed -n 's/^version //p')

python3 -m venv "$venv" || fail 5 "python3 -m venv $venv failed (on Debian and Ubuntu, install python3-venv from the OS media)"
# pip reads nothing from the host's pip configuration or environment: the kit is the only source.
PIP_CONFIG_FILE=/dev/null "$venv/bin/python" -m pip install --isolated --quiet --disable-pip-version-check \
    --no-index --find-links "$kit/wheels" --only-binary=:all: --require-hashes -r "$kit/$lock" \
    || fail 5 "pip could not install from $kit/$lock (its message above says why)"
"$venv/bin/scanner" --version || fail 5 "the installed scanner does not start"

scanner() {
    if [ -n "$state_dir" ]; then "$venv/bin/scanner" --state-dir "$state_dir" "$@"; else "$venv/bin/scanner" "$@"; fi
}
trusted=0
imported=0
while read -r path name demo; do
    [ -n "$path" ] || continue
    if [ "$demo" = demo ]; then
        scanner trust add --demo "$kit/$path" --name "$name" || fail 6 "trusting $path failed"
    else
        scanner trust add "$kit/$path" --name "$name" || fail 6 "trusting $path failed"
    fi
    trusted=$((trusted + 1))
done <<KEYS
$(printf '%s\n' "$plan" | sed -n 's/^key //p')
KEYS
while read -r path; do
    [ -n "$path" ] || continue
    scanner db import "$kit/$path" || fail 6 "importing $path failed"
    imported=$((imported + 1))
done <<BUNDLES
$(printf '%s\n' "$plan" | sed -n 's/^bundle //p')
BUNDLES

echo "Installed airgap-scanner $version in $venv."
state_flag=""
[ -z "$state_dir" ] || state_flag=" --state-dir $state_dir"
if [ "$trusted" -eq 0 ]; then
    echo "Next: trust the bundle signer's key:  $venv/bin/scanner$state_flag trust add PUBLIC.pem --name NAME"
else
    echo "Trusted $trusted key(s) from the kit."
fi
if [ "$imported" -eq 0 ]; then
    echo "Then: import a bundle:                $venv/bin/scanner$state_flag db import FILE.bundle"
else
    echo "Imported $imported bundle(s) from the kit."
fi
echo "Then scan:                            $venv/bin/scanner$state_flag scan IMAGE.tar"
