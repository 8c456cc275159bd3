"""The attestation exit codes in docs/attestations.md and docs/exit-codes.md are the classes' own."""

from __future__ import annotations

import re
from pathlib import Path

from scanner.attest import errors

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_documented_codes_match_the_classes() -> None:
    classes = {cls.__name__: cls.exit_code for cls in vars(errors).values()
               if isinstance(cls, type) and issubclass(cls, errors.AttestationError)}
    table = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", (DOCS / "attestations.md").read_text(), re.MULTILINE))
    assert {name: int(code) for code, name in table.items()} == classes
    summary = (DOCS / "exit-codes.md").read_text()
    assert all(f"{code} `{name}`" in summary for name, code in classes.items())
    assert sorted(classes.values()) == list(range(70, 75))
