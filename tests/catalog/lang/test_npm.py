from __future__ import annotations

import json
from pathlib import Path

from scanner.catalog.npm import NpmCataloger
from scanner.image.filesystem import MemoryFilesystem
from scanner.model import Package
from tests.catalog.lang.conftest import tree_filesystem


def run(fs: MemoryFilesystem) -> tuple[dict[tuple[str, str], Package], tuple[str, ...]]:
    result = NpmCataloger().catalog(fs, None)
    return {(p.name, p.version): p for p in result.packages}, result.warnings


def manifest(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_real_lodash_tarball_installed_under_node_modules(lodash_package: Path) -> None:
    fs = tree_filesystem(lodash_package, "app/node_modules/lodash/")
    found, warnings = run(fs)
    assert warnings == ()
    package = found["lodash", "4.17.15"]
    assert (package.type, package.ecosystem, package.purl) == ("npm", "npm", "pkg:npm/lodash@4.17.15")
    assert package.locations == ("app/node_modules/lodash/package.json",) and package.licenses == ("MIT",)


def test_scopes_nesting_private_roots_and_fixtures() -> None:
    fs = MemoryFilesystem(files={
        "app/package.json": manifest(name="app", version="1.0.0", private=True),
        "app/node_modules/@types/node/package.json": manifest(name="@types/node", version="18.11.9",
                                                              license={"type": "MIT"}),
        "app/node_modules/a/package.json": manifest(name="a", version="1.0.0", licenses=[{"type": "BSD"}, "ISC"]),
        "app/node_modules/a/node_modules/b/package.json": manifest(name="b", version="2.0.0"),
        "app/node_modules/a/test/fixtures/package.json": manifest(name="fixture", version="9.9.9"),
        "app/node_modules/ws-root/package.json": manifest(name="ws-root", version="0.0.0", private=True),
        "app/node_modules/noversion/package.json": manifest(name="noversion"),
        "usr/lib/node_modules/npm/package.json": manifest(name="npm", version="9.2.0"),
    })
    found, warnings = run(fs)
    assert warnings == ()
    assert set(found) == {("@types/node", "18.11.9"), ("a", "1.0.0"), ("b", "2.0.0"), ("npm", "9.2.0")}
    assert found["@types/node", "18.11.9"].purl == "pkg:npm/%40types/node@18.11.9"
    assert found["@types/node", "18.11.9"].licenses == ("MIT",)
    assert found["a", "1.0.0"].licenses == ("BSD", "ISC")


def test_pnpm_symlinks_are_counted_once_at_the_store_path() -> None:
    store = "app/node_modules/.pnpm/left-pad@1.3.0/node_modules/left-pad/package.json"
    fs = MemoryFilesystem(files={store: manifest(name="left-pad", version="1.3.0")},
                          symlinks={"app/node_modules/left-pad": ".pnpm/left-pad@1.3.0/node_modules/left-pad"})
    found, _ = run(fs)
    assert found["left-pad", "1.3.0"].locations == (store,)


LOCK_V1 = {"lockfileVersion": 1, "dependencies": {
    "qs": {"version": "6.5.2", "resolved": "https://registry.npmjs.org/qs/-/qs-6.5.2.tgz", "integrity": "sha512-x"},
    "express": {"version": "4.16.0", "dependencies": {"qs": {"version": "6.5.1", "dev": True}}},
    "aliased": {"version": "npm:real-name@1.2.3"},
    "gitdep": {"version": "github:user/repo#abc"},
}}
LOCK_V3 = {"lockfileVersion": 3, "packages": {
    "": {"name": "app", "version": "1.0.0"},
    "node_modules/minimist": {"version": "1.2.5", "license": "MIT"},
    "node_modules/@scope/x": {"version": "0.1.0", "dev": True},
    "node_modules/a/node_modules/minimist": {"version": "0.0.8"},
    "packages/ws": {"name": "ws", "version": "1.0.0"},
    "node_modules/ws": {"resolved": "packages/ws", "link": True},
}}


def test_lockfiles_v1_and_v3_where_no_tree_is_installed() -> None:
    fs = MemoryFilesystem(files={"v1/package-lock.json": json.dumps(LOCK_V1).encode(),
                                 "v3/package-lock.json": json.dumps(LOCK_V3).encode()})
    found, warnings = run(fs)
    assert warnings == ()
    assert set(found) == {("qs", "6.5.2"), ("express", "4.16.0"), ("qs", "6.5.1"), ("real-name", "1.2.3"),
                          ("minimist", "1.2.5"), ("@scope/x", "0.1.0"), ("minimist", "0.0.8")}
    assert dict(found["qs", "6.5.1"].metadata)["dev"] == "true"
    assert dict(found["qs", "6.5.2"].metadata)["integrity"] == "sha512-x"


def test_lockfile_beside_an_installed_tree_is_ignored() -> None:
    fs = MemoryFilesystem(files={"app/package-lock.json": json.dumps(LOCK_V3).encode(),
                                 "app/node_modules/minimist/package.json": manifest(name="minimist", version="1.2.5"),
                                 "app/node_modules/x/package-lock.json": json.dumps(LOCK_V1).encode()})
    assert set(run(fs)[0]) == {("minimist", "1.2.5")}


def test_hostile_json() -> None:
    cursor: dict[str, object] = {}
    deep_lock = {"lockfileVersion": 1, "dependencies": cursor}
    for _ in range(200):
        nested: dict[str, object] = {}
        cursor["d"] = {"version": "1.0.0", "dependencies": nested}
        cursor = nested
    fs = MemoryFilesystem(files={
        "a/node_modules/x/package.json": b"[" * 200_000 + b"]" * 200_000,
        "a/node_modules/y/package.json": b"\xff\xfe not utf8",
        "a/node_modules/z/package.json": b"[1, 2]",
        "a/node_modules/w/package.json": manifest(name=["list"], version=1),
        "b/package-lock.json": json.dumps(deep_lock).encode(),
        "c/package-lock.json": b'"just a string"',
        "d/package-lock.json": b'{"packages": {"node_modules/q": "nope"}, "dependencies": 5}',
    })
    found, warnings = run(fs)
    assert found == {}
    assert sorted(w.split(":")[0] for w in warnings) == [
        "a/node_modules/x/package.json", "a/node_modules/y/package.json", "b/package-lock.json", "c/package-lock.json"]
