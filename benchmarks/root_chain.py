"""Root of trust benchmark: the cost of walking a carried chain of root versions (docs/trust.md).

    .venv/bin/python -m benchmarks.root_chain                  # a chain of 50 versions
    .venv/bin/python -m benchmarks.root_chain --versions 200

Each version has 3 root keys (threshold 2) and 2 bundle keys (threshold 1); every step replaces one root
key and one bundle key, so each step is signed by 2 keys of the previous version and 2 of its own (3 or
4 signatures) and brings 2 keys never seen before. A host pinned at version 1 walks the whole chain:
every document parsed strictly and re-serialised, every new key checked for weakness (scanner.db.ed25519,
cached per key), every signature verified. Timed as the median of several runs, cold (the key-weakness
cache emptied first, as in a fresh `scanner` process) and warm.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.db import bundle_format, ed25519
from scanner.db.root import (
    BUNDLE_ROLE,
    ROOT_ROLE,
    Role,
    canonical_json,
    pin_root,
    root_document,
    signed_message,
    signed_object,
    walk_chain,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def build_chain(versions: int) -> list[tuple[str, bytes]]:
    root_keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    bundle_keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    previous: list[Ed25519PrivateKey] = []
    chain = []
    for version in range(1, versions + 1):
        if version > 1:
            root_keys = [*root_keys[1:], Ed25519PrivateKey.generate()]
            bundle_keys = [*bundle_keys[1:], Ed25519PrivateKey.generate()]
        keys = {bundle_format.key_id(_raw(key)): _raw(key) for key in (*root_keys, *bundle_keys)}
        roles = {ROOT_ROLE: Role(tuple(sorted(bundle_format.key_id(_raw(k)) for k in root_keys)), 2),
                 BUNDLE_ROLE: Role(tuple(sorted(bundle_format.key_id(_raw(k)) for k in bundle_keys)), 1)}
        signed = signed_object(version, NOW + timedelta(days=365), keys, roles)
        message = signed_message(canonical_json(signed))
        signers = {bundle_format.key_id(_raw(k)): k for k in (*previous[:2], *root_keys[-2:])}
        document = root_document(signed, [(key_id, key.sign(message)) for key_id, key in signers.items()])
        chain.append((bundle_format.root_member_name(version), document))
        previous = root_keys
    return chain


def _time_walk(chain: list[tuple[str, bytes]], runs: int, cold: bool) -> float:
    pinned = pin_root(chain[0][1], NOW, chain[0][0])
    times = []
    for _ in range(runs):
        if cold:
            ed25519.public_key_weakness.cache_clear()
        start = time.perf_counter()
        reached = walk_chain(pinned, chain, NOW)
        times.append(time.perf_counter() - start)
        assert reached.root.version == len(chain)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    chain = build_chain(arguments.versions)
    size = sum(len(document) for _, document in chain)
    cold = _time_walk(chain, arguments.runs, cold=True)
    warm = _time_walk(chain, arguments.runs, cold=False)
    print(f"chain of {arguments.versions} versions, {size:,} bytes carried")
    print(f"walk from version 1, cold: {cold * 1000:.1f} ms ({cold * 1000 / (arguments.versions - 1):.2f} ms/step)")
    print(f"walk from version 1, warm: {warm * 1000:.1f} ms ({warm * 1000 / (arguments.versions - 1):.2f} ms/step)")


if __name__ == "__main__":
    main()
