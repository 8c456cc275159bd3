"""The shared OVAL reader: hostile XML, compressed inputs, criteria with negation and nested OR, bounded memory.

Synthetic files use SUSE's layout (release tests on `sles-release`) and go through the `suse` provider where
a test needs a classifier.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dbbuilder.sources import oval
from dbbuilder.sources.oval import Criteria, Criterion, OvalLimits, Uninterpretable
from dbbuilder.sources.records import RecordError
from scanner.model import FixState
from tests.dbbuilder.sources.conftest import read_all

HEAD = '<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5">'
LINUX = 'xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5#linux"'


def oval_file(definitions: str, *, extra_tests: str = "") -> str:
    """An OVAL document with SLES 15 SP5's release test (tst:1) and `widget < 1.2-3` (tst:2), `gadget < 2.0-1`
    (tst:3)."""
    return f"""<?xml version="1.0"?>
{HEAD}
<generator><product_name>test</product_name><timestamp>2024-01-02T03:04:05</timestamp></generator>
<definitions>{definitions}</definitions>
<tests>
<rpminfo_test id="tst:1" {LINUX}><object object_ref="obj:1"/><state state_ref="ste:1"/></rpminfo_test>
<rpminfo_test id="tst:2" {LINUX}><object object_ref="obj:2"/><state state_ref="ste:2"/></rpminfo_test>
<rpminfo_test id="tst:3" {LINUX}><object object_ref="obj:3"/><state state_ref="ste:3"/></rpminfo_test>
{extra_tests}
</tests>
<objects>
<rpminfo_object id="obj:1" {LINUX}><name>sles-release</name></rpminfo_object>
<rpminfo_object id="obj:2" {LINUX}><name>widget</name></rpminfo_object>
<rpminfo_object id="obj:3" {LINUX}><name>gadget</name></rpminfo_object>
</objects>
<states>
<rpminfo_state id="ste:1" {LINUX}><version operation="equals">15.5</version></rpminfo_state>
<rpminfo_state id="ste:2" {LINUX}><evr datatype="evr_string" operation="less than">0:1.2-3</evr></rpminfo_state>
<rpminfo_state id="ste:3" {LINUX}><evr datatype="evr_string" operation="less than">1:2.0-1</evr></rpminfo_state>
</states>
</oval_definitions>
"""


def definition(number: int, criteria: str) -> str:
    return f"""<definition id="def:{number}" version="1" class="vulnerability">
<metadata><title>CVE-2024-{number:04d}</title><description>d</description>
<advisory><severity>Low</severity><issued date="2024-01-01"/></advisory></metadata>
{criteria}</definition>"""


def criterion(test: int, negate: bool = False) -> str:
    negation = ' negate="true"' if negate else ""
    return f'<criterion test_ref="tst:{test}"{negation} comment="c"/>'


def write(tmp_path: Path, text: str, name: str = "suse.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- criteria ---------------------------------------------------------------------------------------------

def leaf(name: str, negate: bool = False) -> Criterion:
    return Criterion(name, "", negate)


def test_negation_is_pushed_down_to_the_criteria() -> None:
    # NOT (a OR (b AND NOT c))  ==  NOT a AND (NOT b OR c)  ==  (NOT a AND NOT b) OR (NOT a AND c)
    a, b, c = leaf("a"), leaf("b"), leaf("c", negate=True)
    tree = Criteria("OR", True, (a, Criteria("AND", False, (b, c))))
    assert oval.conjunctions(tree) == [((a, True), (b, True)), ((a, True), (c, False))]


def test_nested_or_expands_into_one_conjunction_per_branch() -> None:
    # release AND (x OR (y AND (z OR w))): x; y and z; y and w, each with the release.
    release, x, y, z, w = (leaf(name) for name in "rxyzw")
    tree = Criteria("AND", False, (release, Criteria("OR", False, (
        x, Criteria("AND", False, (y, Criteria("OR", False, (z, w))))))))
    assert [[item.test_ref for item, _ in term] for term in oval.conjunctions(tree)] == [
        ["r", "x"], ["r", "y", "z"], ["r", "y", "w"]]


def test_a_criteria_product_over_the_cap_is_refused() -> None:
    tree = Criteria("AND", False, tuple(Criteria("OR", False, (leaf(f"{i}a"), leaf(f"{i}b"))) for i in range(20)))
    with pytest.raises(Uninterpretable, match="criteria too large"):
        oval.conjunctions(tree, OvalLimits(max_terms=1000))  # 2**20 conjunctions


def test_unknown_operators_are_not_guessed() -> None:
    with pytest.raises(Uninterpretable, match="criteria operator XOR"):
        oval.conjunctions(Criteria("XOR", False, (leaf("a"), leaf("b"))))


def test_double_negation_reads_like_none_and_a_negated_test_skips_the_definition(tmp_path: Path) -> None:
    double = definition(1, f'<criteria negate="true"><criteria operator="AND" negate="true">'
                           f'{criterion(1)}{criterion(2)}</criteria></criteria>')
    # Release AND NOT (widget < 1.2-3): "widget at 1.2-3 or later is affected" has no row form.
    negated = definition(2, f'<criteria operator="AND">{criterion(1)}{criterion(2, negate=True)}</criteria>')
    records, skips = read_all("suse", [write(tmp_path, oval_file(double + negated))])
    assert [record.id for record in records] == ["SUSE-CVE-2024-0001"]
    [row] = records[0].affected
    assert (row.ecosystem, row.package, row.fixed) == ("SUSE:Linux Enterprise Server 15 SP5", "widget", '["1.2-3"]')
    assert dict(skips.reasons) == {"negated criterion": 1}


def test_nested_or_gives_one_row_per_package_with_epoch_kept_when_not_zero(tmp_path: Path) -> None:
    text = oval_file(definition(1, f'<criteria operator="AND">{criterion(1)}<criteria operator="OR">'
                                   f'{criterion(2)}<criteria operator="OR">{criterion(3)}</criteria>'
                                   f'</criteria></criteria>'))
    [record], skips = read_all("suse", [write(tmp_path, text)])
    assert [(row.package, row.fix_state, row.ranges) for row in record.affected] == [
        ("gadget", FixState.FIXED, '[{"events":[{"introduced":"0"},{"fixed":"1:2.0-1"}],"type":"ECOSYSTEM"}]'),
        ("widget", FixState.FIXED, '[{"events":[{"introduced":"0"},{"fixed":"1.2-3"}],"type":"ECOSYSTEM"}]')]
    assert skips.skipped == 0


def test_criteria_deeper_than_the_cap_skip_only_that_definition(tmp_path: Path) -> None:
    deep = "<criteria>" * 40 + criterion(2) + "</criteria>" * 40
    text = oval_file(definition(1, deep) + definition(2, f'<criteria>{criterion(1)}{criterion(2)}</criteria>'))
    records, skips = read_all("suse", [write(tmp_path, text)])
    assert [record.id for record in records] == ["SUSE-CVE-2024-0002"]
    assert dict(skips.reasons) == {"criteria nested too deep": 1}


def test_a_definition_over_the_nesting_cap_is_skipped_alone(tmp_path: Path) -> None:
    deep = "<criteria>" * 80 + criterion(2) + "</criteria>" * 80  # over max_depth (64): not even kept
    text = oval_file(definition(1, deep) + definition(2, f'<criteria>{criterion(1)}{criterion(2)}</criteria>'))
    records, skips = read_all("suse", [write(tmp_path, text)])
    assert [record.id for record in records] == ["SUSE-CVE-2024-0002"]
    assert dict(skips.reasons) == {"definition nested over 64 levels": 1}


# --- hostile XML -------------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>
<definition id="d" class="vulnerability"><metadata><title>&lol9;</title></metadata></definition>
</definitions></oval_definitions>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><generator>
<product_name>&secret;</product_name></generator></oval_definitions>"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_a_doctype_is_refused_before_any_entity_is_expanded(tmp_path: Path, text: str) -> None:
    with pytest.raises(RecordError) as refused:
        oval.read_index(write(tmp_path, text))
    assert refused.value.reason == "XML with a DOCTYPE"
    records, skips = read_all("suse", [tmp_path])
    assert records == [] and dict(skips.reasons) == {"XML with a DOCTYPE": 1}


def test_an_undeclared_entity_is_invalid_xml(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="invalid XML"):
        oval.read_index(write(tmp_path, f"{HEAD}<generator><product_name>&x;</product_name></generator></oval_definitions>"))


def test_nesting_outside_kept_elements_costs_only_a_counter(tmp_path: Path) -> None:
    index = oval.read_index(write(tmp_path, HEAD + "<a>" * 10_000 + "</a>" * 10_000 + "</oval_definitions>"))
    assert index.tests == {} and index.objects == {}


def test_a_huge_attribute_is_refused_with_bounded_buffering(tmp_path: Path) -> None:
    text = f'{HEAD}<definitions><definition id="{"x" * (1 << 20)}"/></definitions></oval_definitions>'
    with pytest.raises(RecordError) as refused:
        oval.read_index(write(tmp_path, text), OvalLimits(max_token_bytes=256 << 10))
    assert refused.value.reason == "XML token too large"


def test_a_huge_text_skips_its_definition(tmp_path: Path) -> None:
    big = definition(1, f'<criteria>{criterion(1)}{criterion(2)}</criteria>').replace(
        "<description>d</description>", f"<description>{'y' * 5000}</description>")
    text = oval_file(big + definition(2, f'<criteria>{criterion(1)}{criterion(3)}</criteria>'))
    path = write(tmp_path, text)
    kept = list(oval.definitions(path, OvalLimits(max_text_chars=4096)))
    assert isinstance(kept[0], oval.Oversized) and kept[0].reason == "definition text over 4096 characters"
    assert isinstance(kept[1], oval.Definition) and kept[1].id == "def:2"


def test_a_truncated_file_gives_no_record_at_all(feeds: Path, tmp_path: Path) -> None:
    whole = (feeds / "sles" / "suse_truncated.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(whole[: len(whole) // 2])  # the first definitions are complete, the file is not
    records, skips = read_all("suse", [cut])
    assert records == [] and dict(skips.reasons) == {"invalid XML": 1}


def test_a_gzip_bomb_is_stopped_at_the_decompressed_cap(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml.gz"
    with gzip.open(bomb, "wb") as stream:
        stream.write(HEAD.encode() + b"<definitions>")
        for _ in range(64):
            stream.write(b" " * (1 << 20))  # 64 MiB of whitespace: about 64 KiB compressed
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(RecordError) as refused:
        oval.read_index(bomb, OvalLimits(max_xml_bytes=8 << 20))
    assert refused.value.reason == "XML too large"


@pytest.mark.parametrize("compress,suffix", [(gzip.compress, ".gz"), (bz2.compress, ".bz2"), (lzma.compress, ".xz")])
def test_compressed_files_read_like_the_plain_one(feeds: Path, tmp_path: Path, compress: object, suffix: str) -> None:
    plain = feeds / "azure-linux" / "mariner-truncated-2.0-oval.xml"
    packed = tmp_path / f"mariner-2.0-oval.xml{suffix}"
    assert callable(compress)
    packed.write_bytes(compress(plain.read_bytes()))
    expected, _ = read_all("azure-linux", [plain])
    got, skips = read_all("azure-linux", [packed])
    assert got == expected and len(got) == 5 and skips.skipped == 0


def test_a_corrupt_compressed_file_is_unreadable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml.gz"
    broken.write_bytes(gzip.compress(HEAD.encode() * 100)[:40])
    with pytest.raises(RecordError, match="unreadable file"):
        oval.read_index(broken)


# --- memory -------------------------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dbbuilder.sources.records import FeedFacts, SkipLog
    from dbbuilder.sources.suse import read
    from tests.peak_memory import peak_rss_kib
    path = Path(sys.argv[1])
    before = peak_rss_kib()
    count = sum(1 for _ in read([(path.name, path)], SkipLog("suse"), FeedFacts()))
    print(count, before, peak_rss_kib())
""")


def test_memory_stays_flat_on_a_large_file(tmp_path: Path) -> None:
    # 6,000 definitions of 8 KiB each (48 MiB of XML) and 6,000 tests: the definitions stream, only the
    # small test index is kept. Bound: far below the file's size.
    path = tmp_path / "large.xml"
    with path.open("w") as out:
        out.write(f'<?xml version="1.0"?>\n{HEAD}<definitions>')
        padding = "z" * 8000
        for number in range(6000):
            out.write(definition(number, f'<criteria>{criterion(1)}{criterion(10_000 + number)}</criteria>')
                      .replace("<description>d</description>", f"<description>{padding}</description>"))
        out.write("</definitions><tests>")
        out.write(f'<rpminfo_test id="tst:1" {LINUX}><object object_ref="obj:1"/><state state_ref="ste:1"/></rpminfo_test>')
        for number in range(6000):
            out.write(f'<rpminfo_test id="tst:{10_000 + number}" {LINUX}><object object_ref="obj:2"/>'
                      f'<state state_ref="ste:2"/></rpminfo_test>')
        out.write(f'</tests><objects><rpminfo_object id="obj:1" {LINUX}><name>sles-release</name></rpminfo_object>'
                  f'<rpminfo_object id="obj:2" {LINUX}><name>widget</name></rpminfo_object></objects><states>'
                  f'<rpminfo_state id="ste:1" {LINUX}><version operation="equals">15.5</version></rpminfo_state>'
                  f'<rpminfo_state id="ste:2" {LINUX}><evr operation="less than">0:1-1</evr></rpminfo_state>'
                  "</states></oval_definitions>")
    assert path.stat().st_size > 48 << 20
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(path)], capture_output=True, text=True,
                            cwd=root, check=True, timeout=300)
    count, before, peak = (int(value) for value in result.stdout.split())
    assert count == 6000
    assert peak - before < 32 << 10, f"peak grew by {(peak - before) >> 10} MiB while reading a 48 MiB file"
