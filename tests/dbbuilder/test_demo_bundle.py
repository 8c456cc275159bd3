"""The shipped demo bundle is what bundles/rebuild_demo.py makes from bundles/feeds, and it verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dbbuilder.bundle.inspect import inspect_bundle
from scanner.db.bundle_format import key_id
from scanner.db.trust import raw_public_key

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def test_shipped_demo_bundle_equals_a_rebuild(tmp_path: Path) -> None:
    rebuilt = tmp_path / "demo.bundle"
    subprocess.run([sys.executable, str(BUNDLES / "rebuild_demo.py"), str(rebuilt)], check=True,
                   capture_output=True)
    assert rebuilt.read_bytes() == (BUNDLES / "demo.bundle").read_bytes(), (
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
