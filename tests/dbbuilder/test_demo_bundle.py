"""The shipped demo bundle is what bundles/rebuild_demo.py makes from bundles/feeds, and it verifies."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from dbbuilder.bundle.inspect import inspect_bundle
from scanner.db.bundle_format import key_id
from scanner.db.trust import raw_public_key

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def _signed_content(bundle: Path) -> tuple[object, ...]:
    """What the manifest says about the data, leaving out the compressed bytes.

    The compressed payload depends on the installed libzstd as well as on our code; the database
    it decompresses to, the providers and the bundle identity do not.
    """
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("manifest.json")
        assert member is not None
        manifest = json.loads(member.read())
    files = [(f["name"], f["uncompressed_sha256"], f["uncompressed_size"]) for f in manifest["files"]]
    identity = {k: manifest[k] for k in ("channel", "bundle_version", "built_at", "expires_at", "schema_version")}
    return identity, manifest["providers"], files


def test_shipped_demo_bundle_matches_a_rebuild(tmp_path: Path) -> None:
    rebuilt = tmp_path / "demo.bundle"
    subprocess.run([sys.executable, str(BUNDLES / "rebuild_demo.py"), str(rebuilt)], check=True,
                   capture_output=True)
    assert _signed_content(rebuilt) == _signed_content(BUNDLES / "demo.bundle"), (
        "bundles/demo.bundle is stale: run .venv/bin/python bundles/rebuild_demo.py")


def test_demo_bundle_is_long_lived_and_signed_by_the_demo_key() -> None:
    found = inspect_bundle(BUNDLES / "demo.bundle")
    assert found.manifest.channel == "demo"
    assert found.manifest.bundle_version == 1
    assert found.manifest.expires_at.year >= 2036
    assert {p.name for p in found.manifest.providers} == {"osv", "nvd"}
    assert all(p.skipped == 0 for p in found.manifest.providers)
    demo_pem = (BUNDLES / "demo-key.pub.pem").read_text()
    assert demo_pem.startswith("DEMO ONLY")
    assert (BUNDLES / "demo-key.pem").read_text().startswith("DEMO ONLY")
    assert found.signature_key_ids == (key_id(raw_public_key(demo_pem.encode(), "demo")),)
