"""Rebuild bundles/demo.bundle from the sample feeds in bundles/feeds, byte for byte.

    .venv/bin/python bundles/rebuild_demo.py [OUTPUT]

Runs `dbbuilder build` with a fixed SOURCE_DATE_EPOCH, so the result equals the shipped file
(tests/dbbuilder/test_demo_bundle.py checks it). The bundle is signed with the DEMO ONLY key
bundles/demo-key.pem and valid for ten years, so the README's commands keep working.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILT_AT_EPOCH = "1795910400"  # 2026-11-29T00:00:00Z
DEMO_ARGS = ("--channel", "demo", "--bundle-version", "1", "--expires-in", "3650d")


def build_args(output: Path) -> list[str]:
    feeds = HERE / "feeds"
    return ["build", "--osv", str(feeds / "osv"), "--nvd", str(feeds / "nvd"),
            "--key", str(HERE / "demo-key.pem"), *DEMO_ARGS, "--out", str(output)]


def main(argv: list[str]) -> None:
    output = Path(argv[0]) if argv else HERE / "demo.bundle"
    os.environ["SOURCE_DATE_EPOCH"] = BUILT_AT_EPOCH
    sys.path.insert(0, str(HERE.parent))
    from dbbuilder.cli import main as dbbuilder_main

    sys.argv = ["dbbuilder", *build_args(output)]
    dbbuilder_main()


if __name__ == "__main__":
    main(sys.argv[1:])
