"""The language catalogers on a real image archive, through the image reader, the runner and `scanner sbom`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.catalog import catalog_image
from scanner.cli import app
from tests.catalog.lang.test_java import make_zip, pom
from tests.image.builders import Entry, ImageSpec, docker_archive, file, symlink

SITE = "usr/local/lib/python3.11/site-packages/"


def _tree(root: Path, prefix: str) -> list[Entry]:
    entries: list[Entry] = []
    for path in sorted(root.rglob("*")):
        name = prefix + path.relative_to(root).as_posix()
        if path.is_symlink():
            entries.append(symlink(name, os.readlink(path)))
        elif path.is_file():
            entries.append(file(name, path.read_bytes(), path.stat().st_mode & 0o777))
    return entries


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, wheels_site: Path, lodash_package: Path, log4j_deb_root: Path,
          gosu_deb_root: Path, go_app_binary: Path, rust_audit_binary: Path) -> Path:
    log4j = (log4j_deb_root / "usr/share/java/log4j-1.2-1.2.17.jar").read_bytes()
    fat = make_zip({**pom("com.example", "service", "1.0"), "BOOT-INF/lib/log4j-1.2.17.jar": log4j})
    war = make_zip({**pom("com.example", "webapp", "2.0"), "WEB-INF/lib/service-1.0.jar": fat})
    base = _tree(log4j_deb_root, "") + _tree(gosu_deb_root, "") + [
        file("var/lib/dpkg/status", b"Package: liblog4j1.2-java\nStatus: install ok installed\n"
                                    b"Version: 1.2.17-11\nArchitecture: all\n\n"),
        file("var/lib/dpkg/info/liblog4j1.2-java.list",
             b"/usr/share/java/log4j-1.2-1.2.17.jar\n/usr/share/java/log4j-1.2.jar\n"),
        file("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
    ]
    app_layer = _tree(wheels_site, SITE) + _tree(lodash_package, "srv/app/node_modules/lodash/") + [
        file("srv/webapp.war", war),
        file("srv/app/package.json", b'{"name": "app", "version": "1.0.0", "private": true}'),
        file("var/www/vendor/composer/installed.json",
             b'{"packages": [{"name": "guzzlehttp/guzzle", "version": "6.5.5"}]}'),
        file("app/app.deps.json", b'{"libraries": {"Newtonsoft.Json/12.0.1": {"type": "package"}}}'),
        file("usr/local/bundle/specifications/rake-13.0.6.gemspec", b's.name = "rake"\ns.version = "13.0.6"\n'),
        file("usr/local/bin/go-app", go_app_binary.read_bytes(), 0o755),
        file("usr/local/bin/hello", rust_audit_binary.read_bytes(), 0o755),
    ]
    return docker_archive(tmp_path_factory.mktemp("img") / "lang.tar",
                          ImageSpec(layers=[base, app_layer], compression="gzip"))


def test_every_ecosystem_found_with_layers_and_ownership(image: Path) -> None:
    _, catalog = catalog_image(str(image))
    found = {(p.ecosystem, p.name, p.version): p for p in catalog.packages if p.cataloger != "dpkg"}
    assert {key for key in found} >= {
        ("PyPI", "urllib3", "1.24.1"), ("PyPI", "six", "1.10.0"), ("npm", "lodash", "4.17.15"),
        ("Maven", "log4j:log4j", "1.2.17"), ("Maven", "com.example:webapp", "2.0"),
        ("Maven", "com.example:service", "1.0"), ("Maven", "log4j", "1.2.17"), ("Go", "stdlib", "v1.19.8"),
        ("Packagist", "guzzlehttp/guzzle", "6.5.5"), ("NuGet", "Newtonsoft.Json", "12.0.1"),
        ("RubyGems", "rake", "13.0.6"), ("Go", "example.com/lib", "v1.4.0"), ("Go", "example.com/fork", "v1.0.1"),
        ("crates.io", "smallvec", "1.6.0"),
    }
    debian_log4j = found["Maven", "log4j:log4j", "1.2.17"]
    assert debian_log4j.owned_by == "liblog4j1.2-java" and debian_log4j.layer_index == 0
    nested = found["Maven", "log4j", "1.2.17"]
    assert nested.locations == ("srv/webapp.war!/WEB-INF/lib/service-1.0.jar!/BOOT-INF/lib/log4j-1.2.17.jar",)
    assert nested.owned_by == "" and nested.layer_index == 1 and nested.layer_digest.startswith("sha256:")
    assert found["PyPI", "urllib3", "1.24.1"].layer_index == 1


@pytest.mark.parametrize("output", ["table", "json", "cyclonedx-json", "spdx-json"])
def test_scanner_sbom_reports_language_packages_in_every_format(image: Path, output: str) -> None:
    result = CliRunner().invoke(app, ["sbom", str(image), "-o", output])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in ("urllib3", "lodash", "log4j", "stdlib", "guzzle", "Newtonsoft.Json", "rake", "example.com/lib",
                     "smallvec"):
        assert expected in text
    if output != "table":
        json.loads(text)
        for purl in ("pkg:maven/com.example/service@1.0", "pkg:pypi/urllib3@1.24.1", "pkg:golang/example.com/lib@v1.4.0",
                     "pkg:cargo/smallvec@1.6.0", "pkg:npm/lodash@4.17.15", "pkg:gem/rake@13.0.6"):
            assert purl in text
