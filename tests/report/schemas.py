"""Validation of every document we write against its format's official schema, formats checked.

CycloneDX 1.6 with cyclonedx-python-lib's strict validator; SARIF 2.1.0 and SPDX 2.3 with the schemas
beside this file; `date-time` formats are only checked when rfc3339-validator is installed (the test
extras carry it). Every time field of our own JSON documents is RFC 3339 with a four-digit year too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

HERE = Path(__file__).parent
SARIF = jsonschema.Draft4Validator(json.loads((HERE / "sarif-schema-2.1.0.json").read_text()),
                                   format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
SPDX = jsonschema.Draft201909Validator(json.loads((HERE / "spdx-schema-2.3.json").read_text()),
                                       format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
CYCLONEDX = JsonStrictValidator(SchemaVersion.V1_6)
DATE_TIME = jsonschema.FormatChecker(["date-time"])
SPDX_CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")  # SPDX 2.3 clause 6.9
TIME_KEYS = frozenset({"generated_at", "started_at", "built_at", "expires_at", "captured_at", "published",
                       "modified", "created", "timestamp", "updated", "startTimeUtc", "endTimeUtc"})


def _times(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a time field anywhere in a document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TIME_KEYS and not isinstance(item, dict | list):
                yield key, item
            else:
                yield from _times(item)
    elif isinstance(value, list):
        for item in value:
            yield from _times(item)


def assert_times_are_rfc3339(document: Any) -> None:
    for key, value in _times(document):
        assert value is None or (isinstance(value, str) and re.match(r"[0-9]{4}-", value)
                                 and DATE_TIME.conforms(value, "date-time")), (key, value)


def validate(name: str, data: bytes) -> None:
    """Validate a rendered document by its `-o` name; formats without a schema need only render."""
    if name == "cyclonedx-json":
        error = CYCLONEDX.validate_str(data.decode())
        assert error is None, str(error)
    elif name == "sarif":
        SARIF.validate(json.loads(data))
    elif name == "spdx-json":
        document = json.loads(data)
        SPDX.validate(document)
        assert SPDX_CREATED.fullmatch(document["creationInfo"]["created"])
    if name in ("json", "sarif", "cyclonedx-json", "spdx-json"):
        assert_times_are_rfc3339(json.loads(data))
