"""One crafted record must not drop a whole ecosystem: for each cataloger, a hostile record beside a
good one. The good one is still reported and a warning names the bad one. Catalogers are called
directly, so an exception the cataloger does not handle fails the test instead of becoming the
per-cataloger warning of `catalog_filesystem`."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

from scanner.catalog.apk import ApkCataloger
from scanner.catalog.base import Cataloger, CatalogResult
from scanner.catalog.dotnet import DotnetCataloger
from scanner.catalog.dpkg import DpkgCataloger
from scanner.catalog.golang import GoCataloger
from scanner.catalog.java import JavaCataloger
from scanner.catalog.npm import NpmCataloger
from scanner.catalog.php import PhpCataloger
from scanner.catalog.python import PythonCataloger
from scanner.catalog.rpm import RpmCataloger
from scanner.catalog.ruby import RubyCataloger
from scanner.catalog.rust import RustCataloger
from scanner.image.filesystem import MemoryFilesystem
from tests.catalog.lang.elfbuild import build_elf, go_inline_buildinfo
from tests.catalog.lang.test_java import make_zip, pom
from tests.catalog.test_rpm import ELDK, STRING, _basic, make_header

LONG = "v" * 5000  # over max_field_length


def run(cataloger: Cataloger, files: dict[str, bytes], executable: bool = False) -> tuple[set[str], CatalogResult]:
    modes = {path: 0o755 for path in files} if executable else {}
    result = cataloger.catalog(MemoryFilesystem(files=files, modes=modes), None)
    return {package.name for package in result.packages}, result


def test_dpkg_stanza_with_an_overlong_kept_field() -> None:
    status = f"Package: bad\nVersion: {LONG}\n\nPackage: good\nVersion: 1\n".encode()
    names, result = run(DpkgCataloger(), {"var/lib/dpkg/status": status})
    assert names == {"good"}
    assert result.warnings == ("var/lib/dpkg/status: stanza 1 has a Version field of 5000 bytes, over 4096 "
                               "(cap max_field_length); skipped",)


def test_apk_stanza_with_an_overlong_field() -> None:
    installed = f"P:bad\nV:{LONG}\n\nP:good\nV:1\n".encode()
    names, result = run(ApkCataloger(), {"lib/apk/db/installed": installed})
    assert names == {"good"}
    assert result.warnings == ("lib/apk/db/installed: stanza 1 has a V: field of 5000 bytes, over 4096 "
                               "(cap max_field_length); skipped",)


def test_os_package_names_a_purl_cannot_hold() -> None:
    # packageurl strips outer slashes from a name ("x/" would become "x") and fails on "/" with a TypeError
    installed = b"P:/\nV:1\n\nP:x/\nV:1\n\nP:good\nV:1\n"
    names, result = run(ApkCataloger(), {"lib/apk/db/installed": installed})
    assert names == {"good"}
    assert [warning.partition(": skipped: ")[0] for warning in result.warnings] == [
        "lib/apk/db/installed: stanza 1 (/)", "lib/apk/db/installed: stanza 2 (x/)"]


def test_rpm_header_with_an_overlong_name() -> None:
    bad = make_header([(1000, STRING, b"n" * 5000 + b"\0", 1), (1001, STRING, b"1\0", 1)])
    good = make_header(_basic())
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(bad,), (good,)])
    connection.commit()
    data = connection.serialize()
    connection.close()
    names, result = run(RpmCataloger(), {"var/lib/rpm/rpmdb.sqlite": data})
    assert names == {"zlib"}
    assert result.warnings == ("var/lib/rpm/rpmdb.sqlite: header 1 skipped: tag 1000: a value of 5000 characters "
                               "is over 4096 (cap max_field_length)",)


def _schema_error_database(tmp_path: Path) -> bytes:
    """An rpmdb.sqlite whose schema error names an object with a non-UTF-8 name: Python's sqlite3
    raises UnicodeDecodeError for that message, not sqlite3.Error."""
    path = tmp_path / "rpmdb.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.execute("CREATE TABLE zzzz (a, b)")
    connection.commit()
    connection.close()
    data = bytearray(path.read_bytes())
    at = data.find(b"CREATE TABLE zzzz (a, b)")
    data[at:at + 24] = b"CREATE TABLE \xff\xfe\xfd\xfc (a,,b)"
    return bytes(data).replace(b"zzzz", b"\xff\xfe\xfd\xfc")


def test_rpm_sqlite_schema_error_that_is_not_utf8(tmp_path: Path) -> None:
    files = {"usr/lib/sysimage/rpm/rpmdb.sqlite": _schema_error_database(tmp_path), "var/lib/rpm/Packages": ELDK.read_bytes()}
    names, result = run(RpmCataloger(), files)
    assert len(names) == 132  # the next database is still read
    assert result.warnings == ("usr/lib/sysimage/rpm/rpmdb.sqlite: not read: unreadable: malformed database schema "
                               "(\ufffd\ufffd\ufffd\ufffd) - near \",\": syntax error",)


def test_java_pom_whose_artifact_is_no_purl() -> None:
    bad = {"META-INF/maven/g/bad/pom.properties": b"groupId=g\nartifactId=\\uD800\nversion=1\n"}
    names, result = run(JavaCataloger(), {"a/bad.jar": make_zip(bad), "a/good.jar": make_zip(pom("g", "good", "1"))})
    assert names == {"g:good"}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("a/bad.jar (META-INF/maven/g/bad/pom.properties): skipped: ")


def _package_json(name: str, version: str = "1.0.0") -> bytes:
    return json.dumps({"name": name, "version": version}).encode()


def test_npm_manifests_named_like_a_bare_scope() -> None:
    names, result = run(NpmCataloger(), {
        "app/node_modules/x/package.json": _package_json("x/"),
        "app/node_modules/@scope/y/package.json": _package_json("@scope/"),
        "app/node_modules/lodash/package.json": _package_json("lodash", "4.17.15"),
    })
    assert names == {"lodash"}
    assert sorted(warning.partition(": skipped: ")[0] for warning in result.warnings) == [
        "app/node_modules/@scope/y/package.json", "app/node_modules/x/package.json"]


def test_npm_lockfile_entry_that_is_no_purl() -> None:
    lock = {"lockfileVersion": 3, "packages": {"node_modules/x/": {"name": "x/", "version": "1.0.0"},
                                               "node_modules/lodash": {"version": "4.17.15"}}}
    names, result = run(NpmCataloger(), {"app/package-lock.json": json.dumps(lock).encode()})
    assert names == {"lodash"}
    assert len(result.warnings) == 1 and result.warnings[0].startswith("app/package-lock.json: 'x/': skipped: ")


def test_composer_name_with_an_empty_project() -> None:
    installed = [{"name": "x/", "version": "1.0"}, {"name": "monolog/monolog", "version": "2.3.5"}]
    names, result = run(PhpCataloger(), {"app/vendor/composer/installed.json": json.dumps(installed).encode()})
    assert names == {"monolog/monolog"}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("app/vendor/composer/installed.json: 'x/': skipped: ")


def test_python_metadata_with_an_overlong_name() -> None:
    names, result = run(PythonCataloger(), {
        "site/bad.dist-info/METADATA": f"Name: {LONG}\nVersion: 1\n".encode(),
        "site/good.dist-info/METADATA": b"Name: good\nVersion: 1\n",
    })
    assert names == {"good"}
    assert result.warnings == ("site/bad.dist-info/METADATA: a name of 5000 characters is over 4096 "
                               "(cap max_field_length); skipped",)


def test_ruby_gemspec_with_an_overlong_version() -> None:
    names, result = run(RubyCataloger(), {
        "gems/specifications/bad-1.gemspec": f's.name = "bad"\ns.version = "{LONG}"\n'.encode(),
        "gems/specifications/good-1.gemspec": b's.name = "good"\ns.version = "1"\n',
    })
    assert names == {"good"}
    assert result.warnings == ("gems/specifications/bad-1.gemspec: a version of 5000 characters is over 4096 "
                               "(cap max_field_length); skipped",)


def test_dotnet_library_whose_name_is_no_purl() -> None:
    deps = '{"libraries": {"\\ud800/1.0.0": {"type": "package"}, "Newtonsoft.Json/12.0.1": {"type": "package"}}}'
    names, result = run(DotnetCataloger(), {"app/app.deps.json": deps.encode()})
    assert names == {"Newtonsoft.Json"}
    assert len(result.warnings) == 1 and result.warnings[0].startswith("app/app.deps.json: \ud800/1.0.0: skipped: ")


def test_go_module_path_ending_in_a_slash() -> None:
    modinfo = "path\texample.com/app\nmod\texample.com/app\tv1.0.0\t\ndep\tx/\tv1.0.0\t\ndep\tgood.example/lib\tv1.2.0\t\n"
    elf = build_elf([(".go.buildinfo", go_inline_buildinfo("go1.21.0", modinfo))])
    names, result = run(GoCataloger(), {"usr/bin/app": elf}, executable=True)
    assert names == {"stdlib", "example.com/app", "good.example/lib"}
    assert len(result.warnings) == 1 and result.warnings[0].startswith("usr/bin/app: module 'x/': skipped: ")


def test_rust_crate_whose_name_is_no_purl() -> None:
    audit = '{"packages": [{"name": "\\ud800", "version": "1.0.0"}, {"name": "smallvec", "version": "1.6.0"}]}'
    elf = build_elf([(".dep-v0", zlib.compress(audit.encode()))])
    names, result = run(RustCataloger(), {"usr/bin/app": elf}, executable=True)
    assert names == {"smallvec"}
    assert len(result.warnings) == 1 and result.warnings[0].startswith("usr/bin/app: crate '\\ud800': skipped: ")
