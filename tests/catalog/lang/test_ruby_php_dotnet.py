from __future__ import annotations

import json
import time

import pytest

from scanner.catalog.base import Cataloger
from scanner.catalog.dotnet import DotnetCataloger
from scanner.catalog.php import PhpCataloger
from scanner.catalog.ruby import RubyCataloger, parse_gemspec
from scanner.image.filesystem import MemoryFilesystem

GEMSPEC = b'''# -*- encoding: utf-8 -*-
# stub: nokogiri 1.13.10 x86_64-linux lib

Gem::Specification.new do |s|
  s.name = "nokogiri".freeze
  s.version = "1.13.10"
  s.platform = "x86_64-linux".freeze
  s.licenses = ["MIT".freeze, "Apache-2.0".freeze]
  s.add_runtime_dependency(%q<racc>.freeze, ["~> 1.4"])
end
'''
OLD_GEMSPEC = b'''Gem::Specification.new do |spec|
  spec.name = %q{rake}
  spec.version = Gem::Version.new("0.8.7")
  spec.license = 'MIT'
end
'''
GEMFILE_LOCK = b'''GIT
  remote: https://github.com/rails/rails.git
  revision: abc
  specs:
    rails (7.1.0.alpha)
      actionpack (= 7.1.0.alpha)

GEM
  remote: https://rubygems.org/
  specs:
    actionpack (7.0.4)
      rack (~> 2.0, >= 2.2.0)
    nokogiri (1.13.10-x86_64-linux)
      racc (~> 1.4)
    rack (2.2.4)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri (~> 1.13)

BUNDLED WITH
   2.3.26
'''


def run(cataloger: Cataloger, files: dict[str, bytes]) -> tuple[dict[tuple[str, str], dict[str, object]], tuple[str, ...]]:
    result = cataloger.catalog(MemoryFilesystem(files=files), None)
    return ({(p.name, p.version): {"purl": p.purl, "ecosystem": p.ecosystem, "licenses": p.licenses,
                                   "locations": p.locations, **dict(p.metadata)} for p in result.packages},
            result.warnings)


def test_ruby_installed_gemspecs_and_default_gems() -> None:
    found, warnings = run(RubyCataloger(), {
        "usr/local/bundle/specifications/nokogiri-1.13.10-x86_64-linux.gemspec": GEMSPEC,
        "usr/local/lib/ruby/gems/3.1.0/specifications/default/rake-0.8.7.gemspec": OLD_GEMSPEC,
        "usr/local/lib/ruby/gems/3.1.0/specifications/broken.gemspec": b"\xff\xfe raise 'x'",
    })
    assert warnings == ("usr/local/lib/ruby/gems/3.1.0/specifications/broken.gemspec: no name or version found, "
                        "skipped",)
    nokogiri = found["nokogiri", "1.13.10"]
    assert nokogiri["purl"] == "pkg:gem/nokogiri@1.13.10" and nokogiri["ecosystem"] == "RubyGems"
    assert nokogiri["licenses"] == ("MIT", "Apache-2.0")
    assert found["rake", "0.8.7"]["licenses"] == ("MIT",)


def test_ruby_gemspec_of_blank_lines_is_read_in_bounded_time() -> None:
    # `^\s*` patterns took minutes on 20,000 blank lines (quadratic); a gemspec may be 1 MiB.
    started = time.monotonic()
    assert parse_gemspec("\n" * 200_000) == ("", "", [])
    assert time.monotonic() - started < 5
    crlf = '\r\n\r\n  s.name = "rake".freeze\r\n\ts.version = "13.0.6"\r\n  s.licenses = ["MIT".freeze]\r\n'
    assert parse_gemspec(crlf) == ("rake", "13.0.6", ["MIT"])


def test_ruby_gemfile_lock() -> None:
    locked, warnings = run(RubyCataloger(), {"srv/app/Gemfile.lock": GEMFILE_LOCK})
    assert warnings == ()
    assert set(locked) == {("rails", "7.1.0.alpha"), ("actionpack", "7.0.4"), ("nokogiri", "1.13.10"),
                           ("rack", "2.2.4")}
    assert locked["nokogiri", "1.13.10"]["platform"] == "x86_64-linux"
    assert locked["rails", "7.1.0.alpha"]["source"] == "GIT"
    assert locked["rack", "2.2.4"]["locations"] == ("srv/app/Gemfile.lock",)


INSTALLED_V1 = [{"name": "guzzlehttp/guzzle", "version": "6.5.5", "version_normalized": "6.5.5.0",
                 "license": ["MIT"], "type": "library"},
                {"name": "not-a-vendor-name", "version": "1.0"}, "garbage"]
INSTALLED_V2 = {"packages": [{"name": "symfony/http-kernel", "version": "v5.4.0", "license": "MIT"},
                             {"name": "phpunit/phpunit", "version": "9.5.0"}],
                "dev": True, "dev-package-names": ["phpunit/phpunit"]}
COMPOSER_LOCK = {"packages": [{"name": "monolog/monolog", "version": "2.3.5"}],
                 "packages-dev": [{"name": "mockery/mockery", "version": "1.4.4"}]}


def test_php_installed_json_both_formats_and_composer_lock() -> None:
    found, warnings = run(PhpCataloger(), {
        "var/www/a/vendor/composer/installed.json": json.dumps(INSTALLED_V1).encode(),
        "var/www/a/composer.lock": json.dumps(COMPOSER_LOCK).encode(),  # tree installed: ignored
        "var/www/b/vendor/composer/installed.json": json.dumps(INSTALLED_V2).encode(),
        "var/www/c/composer.lock": json.dumps(COMPOSER_LOCK).encode(),
        "var/www/d/vendor/composer/installed.json": b"[" * 100_000,
    })
    assert len(warnings) == 1 and warnings[0].startswith("var/www/d/vendor/composer/installed.json: ")
    assert set(found) == {("guzzlehttp/guzzle", "6.5.5"), ("symfony/http-kernel", "v5.4.0"),
                          ("phpunit/phpunit", "9.5.0"), ("monolog/monolog", "2.3.5"), ("mockery/mockery", "1.4.4")}
    assert found["guzzlehttp/guzzle", "6.5.5"]["purl"] == "pkg:composer/guzzlehttp/guzzle@6.5.5"
    assert found["guzzlehttp/guzzle", "6.5.5"]["ecosystem"] == "Packagist"
    assert found["symfony/http-kernel", "v5.4.0"]["licenses"] == ("MIT",)
    assert found["phpunit/phpunit", "9.5.0"]["dev"] == "true"
    assert found["mockery/mockery", "1.4.4"]["dev"] == "true"


DEPS_JSON = {
    "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0"},
    "targets": {".NETCoreApp,Version=v6.0": {"app/1.0.0": {"dependencies": {"Newtonsoft.Json": "12.0.1"}}}},
    "libraries": {
        "app/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
        "Newtonsoft.Json/12.0.1": {"type": "package", "serviceable": True, "sha512": "sha512-abc",
                                   "path": "newtonsoft.json/12.0.1"},
        "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/6.0.10": {"type": "runtimepack"},
        "System.Private.Uri/4.3.0": {"type": "reference"},
        "Bad": {"type": "package"},
    },
}


def test_dotnet_deps_json() -> None:
    found, warnings = run(DotnetCataloger(), {"app/app.deps.json": json.dumps(DEPS_JSON).encode(),
                                              "app/other.deps.json": b'{"libraries": []}'})
    assert warnings == ("app/other.deps.json: no libraries object",)
    assert set(found) == {("Newtonsoft.Json", "12.0.1"),
                          ("Microsoft.NETCore.App.Runtime.linux-x64", "6.0.10")}
    # GitHub's advisories name runtime packs by NuGet id, without the deps.json "runtimepack." prefix.
    runtime = found["Microsoft.NETCore.App.Runtime.linux-x64", "6.0.10"]
    assert runtime["purl"] == "pkg:nuget/Microsoft.NETCore.App.Runtime.linux-x64@6.0.10"
    newtonsoft = found["Newtonsoft.Json", "12.0.1"]
    assert newtonsoft["purl"] == "pkg:nuget/Newtonsoft.Json@12.0.1" and newtonsoft["ecosystem"] == "NuGet"
    assert newtonsoft["sha512"] == "sha512-abc"


@pytest.mark.parametrize("cataloger", [DotnetCataloger(), PhpCataloger()])
@pytest.mark.parametrize("content", [b"[" * 500_000, b"\x00\xff", b"1e999999", b'{"a": ' * 2000])
def test_hostile_json_warns(cataloger: Cataloger, content: bytes) -> None:
    path = "x/vendor/composer/installed.json" if isinstance(cataloger, PhpCataloger) else "x/a.deps.json"
    found, warnings = run(cataloger, {path: content})
    assert found == {} and len(warnings) == 1


def test_ruby_hostile_inputs() -> None:
    found, warnings = run(RubyCataloger(), {
        "g/specifications/a.gemspec": b's.name = "' + b"x" * 500_000 + b"\n" + b"s.version = %q{" * 10_000,
        "g/specifications/b.gemspec": b"\x00\xff" * 1000,
        "app/Gemfile.lock": b"GEM\n  specs:\n    " + b"(" * 100_000 + b"\n    ok (1.0)\n    bad (\n\xff\xfe\n",
    })
    assert set(found) == {("ok", "1.0")}
    assert len(warnings) == 2
