"""Names from an image, an SBOM or a feed never drive the terminal (docs/architecture.md, "Terminal output").

A package named `zlib1g\\x1b[8m` would hide every later row of a table; `\\u202e` reverses what follows.
The table formats, warnings and error lines show such characters as escapes (scanner.terminal.printable),
and the machine formats keep the exact values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.catalog import Catalog
from scanner.match.filters import IgnoreRule
from scanner.match.scan import ScanOptions, diff_reports, run_scan
from scanner.model import Package
from scanner.report import dumps
from scanner.report.base import DIFF, FINDINGS, SBOM, get_format
from scanner.report.sbom import SbomReport, Subject
from scanner.targets import ScanInput, TargetInfo
from tests.db.bundles import Signer
from tests.image.builders import ImageSpec, docker_archive, file
from tests.match.dbfixture import DATABASE_INFO, Rows, compact, write_db
from tests.scanner_cli import Run, TrustedBundle, runner, trusted_bundle

# ESC sequences click would strip on its own (CSI) and ones it would not (OSC, 8-bit CSI, a lone ESC),
# bidirectional overrides and isolates, a line separator, a newline.
HIDE = "\x1b[8m"
TITLE = "\x1b]0;pwned\x07"
EVIL_NAME = f"evil{HIDE}\u202e"
EVIL_VERSION = "1.0-1"
EVIL_SOURCE = "evilsrc"
EVIL_ID = f"CVE-2099-0001{TITLE}"
EVIL_ALIAS = "GHSA-\x9b31m\u2066x"
EVIL_SUMMARY = f"summary{HIDE} with\nnewline\u2028and \u2067isolate"
MARKUP_NAME = "[red]markup[/red]"
EVIL_PRETTY = f"Debian {TITLE}GNU/Linux 11"
EVIL_TAG = f"evil{TITLE}:1"
EVIL_DIRECTORY = f"app/node_modules/bad{TITLE}\u202e"
FORBIDDEN = ("\x1b", "\x9b", "\x07", "\u202e", "\u2066", "\u2067", "\u2028")


def assert_terminal_safe(text: str) -> None:
    for character in FORBIDDEN:
        assert character not in text, f"{character!r} reached the terminal"


def status_stanza(name: str, version: str, source: str = "") -> bytes:
    lines = [f"Package: {name}", "Status: install ok installed", f"Version: {version}", "Architecture: amd64"]
    lines += [f"Source: {source}"] if source else []
    return ("\n".join(lines) + "\n\n").encode()


def evil_image(path: Path, *, evil: bool = True) -> Path:
    status = status_stanza(MARKUP_NAME, "2.0")
    if evil:
        status += status_stanza(EVIL_NAME, EVIL_VERSION, EVIL_SOURCE)
    entries = [file("etc/os-release", f'ID=debian\nVERSION_ID="11"\nPRETTY_NAME="{EVIL_PRETTY}"\n'.encode()),
               file("var/lib/dpkg/status", status),
               file(f"{EVIL_DIRECTORY}/package.json", b"{ not json")]
    return docker_archive(path, ImageSpec(layers=[entries], tags=(EVIL_TAG,)))


def evil_rows() -> Rows:
    rows = Rows()
    rows.vulnerabilities.append((EVIL_ID, "debian", EVIL_ID, None, "2026-01-01T00:00:00Z", None, "high",
                                 EVIL_SUMMARY))
    rows.aliases += [(EVIL_ID, EVIL_ID), (EVIL_ID, EVIL_ALIAS)]
    ranges = compact([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1"}]}])
    rows.affected.append((EVIL_ID, "Debian:11", EVIL_SOURCE, ranges, None, "fixed", compact(["1.1-1"]), None))
    return rows


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> TrustedBundle:
    return trusted_bundle(tmp_path_factory.mktemp("db"), evil_rows())


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return runner(capsys, monkeypatch)


def test_scan_table_and_warnings_escape_image_and_feed_strings(tmp_path: Path, run: Run,
                                                             database: TrustedBundle) -> None:
    image = evil_image(tmp_path / "evil.tar")
    code, out, err = run(*database.scanner_args("scan", str(image)))
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert "evil\\x1b[8m\\u202e" in out and "CVE-2099-0001\\x1b]0;pwned\\x07" in out
    assert "GHSA-\\x9b31m\\u2066x" in out and "Debian \\x1b]0;pwned\\x07GNU/Linux 11" in out
    assert "bad\\x1b]0;pwned\\x07\\u202e/package.json" in out  # the cataloger's warning names the path
    assert "1 vulnerabilities in 1 of 2 packages" in out

    code, out, err = run(*database.scanner_args("scan", str(image), "-o", "json"))
    assert code == 0, err
    assert_terminal_safe(err)  # the warnings, on stderr when the report is not a table
    assert "bad\\x1b]0;pwned\\x07\\u202e/package.json" in err and err.count("\n") == 1
    document = json.loads(out)
    [finding] = document["findings"]
    assert finding["package"]["name"] == EVIL_NAME
    assert finding["vulnerability"]["id"] == EVIL_ID
    assert finding["vulnerability"]["aliases"] == [EVIL_ALIAS]
    assert finding["vulnerability"]["summary"] == EVIL_SUMMARY
    assert document["image"]["tags"] == [EVIL_TAG]


@pytest.mark.parametrize("output", ["sarif", "cyclonedx-json"])
def test_machine_formats_keep_exact_values(tmp_path: Path, run: Run, database: TrustedBundle, output: str) -> None:
    image = evil_image(tmp_path / "evil.tar")
    code, out, err = run(*database.scanner_args("scan", str(image), "-o", output))
    assert code == 0, err
    text = json.dumps(json.loads(out), ensure_ascii=False)
    for value in (EVIL_NAME, EVIL_ID, EVIL_SUMMARY):
        assert json.dumps(value, ensure_ascii=False)[1:-1] in text


def test_sbom_table_escapes_and_shows_markup_as_text(tmp_path: Path, run: Run) -> None:
    image = evil_image(tmp_path / "evil.tar")
    code, out, err = run("sbom", str(image))
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert MARKUP_NAME in out  # not read as a style
    assert "evil\\x1b[8m\\u202e" in out and "Image: evil\\x1b]0;pwned\\x07:1" in out
    assert "bad\\x1b]0;pwned\\x07\\u202e/package.json" in out and err == ""  # the table shows the warning
    code, out, err = run("sbom", str(image), "-o", "json")
    assert_terminal_safe(err)
    assert err.count("bad\\x1b]0;pwned\\x07") == 1
    document = json.loads(out)
    assert {p["name"] for p in document["packages"]} == {EVIL_NAME, MARKUP_NAME}
    assert document["distro"]["pretty_name"] == EVIL_PRETTY


def test_diff_table_escapes(tmp_path: Path, run: Run, database: TrustedBundle) -> None:
    old = evil_image(tmp_path / "old.tar", evil=False)
    new = evil_image(tmp_path / "new.tar")
    code, out, err = run("--state-dir", str(database.state), "diff", str(old), str(new), "--db", str(database.bundle))
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert "evil\\x1b[8m\\u202e 1.0-1  CVE-2099-0001\\x1b]0;pwned\\x07" in out
    code, out, _ = run("--state-dir", str(database.state), "diff", str(old), str(new), "--db", str(database.bundle),
                       "-o", "json")
    assert json.loads(out)["added"][0]["package"]["name"] == EVIL_NAME


def test_inspect_escapes_tags_and_error_lines_are_one_line(tmp_path: Path, run: Run) -> None:
    image = evil_image(tmp_path / "evil.tar")
    code, out, err = run("inspect", str(image))
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert "evil\\x1b]0;pwned\\x07:1" in out
    # An ImageError names the member: a layer listed in manifest.json but absent from the archive.
    missing = f"missing{TITLE}\n\u202e.tar"
    broken = docker_archive(tmp_path / "broken.tar", ImageSpec(layers=[[file("a", b"a")]]),
                            manifest_override=[{"Config": "c.json", "RepoTags": [], "Layers": [missing]}])
    code, out, err = run("inspect", str(broken))
    assert code == 3 and out == ""
    assert_terminal_safe(err)
    assert err.startswith("scanner: error: ") and err.count("\n") == 1, err


def test_renderers_escape_remediation_suppressed_and_unevaluated_lines(tmp_path: Path) -> None:
    database = write_db(tmp_path / "vulns.sqlite", evil_rows())
    evil = Package(name=EVIL_NAME, version=EVIL_VERSION, type="deb", ecosystem="Debian:11", purl="pkg:deb/debian/evil",
                   source_name=EVIL_SOURCE)
    unreadable = Package(name=f"other{HIDE}", version=f"1.0{TITLE}", type="deb", ecosystem="Debian:11",
                         purl="pkg:deb/debian/other", source_name=EVIL_SOURCE)
    scan_input = ScanInput(TargetInfo(kind="image", name=EVIL_TAG, format="docker-archive", digest="sha256:0"),
                           (evil, unreadable), (f"warning about {EVIL_DIRECTORY}",))
    report = run_scan(scan_input, database_path=database, database=DATABASE_INFO, options=ScanOptions())
    assert report.findings and report.remediations and report.unevaluated
    suppressed = run_scan(scan_input, database_path=database, database=DATABASE_INFO, options=ScanOptions(),
                          rules=(IgnoreRule(reason=f"accepted{TITLE}", id=EVIL_ID.upper()),))
    assert suppressed.suppressed
    for rendered in (get_format(FINDINGS, "table").render(report), get_format(FINDINGS, "table").render(suppressed),
                     get_format(DIFF, "table").render(diff_reports(suppressed, report))):
        text = rendered.decode("utf-8")
        assert_terminal_safe(text)
        assert "evil\\x1b[8m\\u202e" in text
    sbom = SbomReport(subject=Subject(name=EVIL_TAG), timestamp=datetime(2026, 12, 1, tzinfo=UTC),
                      catalog=Catalog(distro=None, packages=(evil, unreadable), warnings=(EVIL_DIRECTORY,)))
    assert_terminal_safe(get_format(SBOM, "table").render(sbom).decode("utf-8"))
    document = json.loads(get_format(FINDINGS, "json").render(report))
    assert document["unevaluated"][0]["package"]["version"] == f"1.0{TITLE}"


def test_a_lone_surrogate_is_a_json_escape_and_the_document_stays_utf8() -> None:
    name = "pkg\udcff\x1b"  # a non-UTF-8 byte 0xff decoded with surrogateescape, then ESC
    data = dumps({"name": name})
    assert data == b'{\n  "name": "pkg\\udcff\\u001b"\n}\n'
    assert json.loads(data.decode("utf-8")) == {"name": name}


def test_db_and_trust_commands_escape_what_the_bundle_and_the_state_directory_say(tmp_path: Path, run: Run) -> None:
    provider = {"name": f"osv{TITLE}\u202e", "captured_at": "2026-11-28T00:00:00Z", "input_sha256": "0" * 64,
                "records": 1, "skipped": 0, "skipped_reasons": {}}
    signed = trusted_bundle(tmp_path, evil_rows(), builder={"name": f"builder{HIDE}", "version": "1\u2066"},
                            providers=[provider])
    state = ("--state-dir", str(signed.state))
    outputs = [run(*state, "db", "import", str(signed.bundle)), run(*state, "db", "status"),
               run(*state, "db", "verify")]
    pem = tmp_path / "other.pub.pem"
    pem.write_bytes(Signer().public_pem)
    outputs += [run(*state, "trust", "add", str(pem), "--name", f"key{TITLE}\nsecond line"),
                run(*state, "trust", "list")]
    for code, out, err in outputs:
        assert code == 0, err
        assert_terminal_safe(out + err)
    status, listing = outputs[1][1], outputs[4][1]
    assert "builder: builder\\x1b[8m 1\\u2066" in status and "provider: osv\\x1b]0;pwned\\x07\\u202e captured" in status
    assert "key\\x1b]0;pwned\\x07\\x0asecond line" in listing and len(listing.splitlines()) == 3
