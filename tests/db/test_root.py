"""The root of trust's pure core (scanner.db.root): documents, steps, the chain walk, revocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.db import errors
from scanner.db.root import TrustedRoots, canonical_json, parse_root, pin_root, walk_chain
from scanner.db.verify import verify_signatures
from scanner.errors import BundleError
from tests.db.bundles import NOW, Signer, make_parts
from tests.db.roots import Rotation, make_root

ROTATION = Rotation()
CHAIN = ROTATION.chain()


def pinned_at_1() -> TrustedRoots:
    return pin_root(CHAIN[0][1], NOW, "1.root.json")


def test_a_host_pinned_at_1_walks_to_3_and_retires_the_replaced_bundle_key() -> None:
    roots = walk_chain(pinned_at_1(), CHAIN, NOW)
    assert roots.root.version == 3
    assert set(roots.digests) == {1, 2, 3}
    assert roots.root.role("root").key_ids == (ROTATION.r2.key_id,)
    policy = roots.bundle_policy()
    assert [key.key_id for key in policy.keys] == [ROTATION.b2.key_id]
    assert roots.retired[ROTATION.b1.key_id].removed_in == 2
    assert walk_chain(roots, CHAIN, NOW) == roots  # nothing new: the pinned roots as they were
    assert walk_chain(pinned_at_1(), CHAIN[1:], NOW) == roots  # the chain may start after the pinned version


def test_bundles_verify_with_the_newest_roots_bundle_keys_and_the_revoked_key_is_named() -> None:
    policy = walk_chain(pinned_at_1(), CHAIN, NOW).bundle_policy()
    good = make_parts(ROTATION.b2)
    assert verify_signatures(good.manifest, good.signatures, policy) == (ROTATION.b2.key_id,)
    revoked = make_parts(ROTATION.b1)
    with pytest.raises(errors.RevokedKeyError, match="removed from the bundle role in root version 2"):
        verify_signatures(revoked.manifest, revoked.signatures, policy)
    stranger = make_parts(Signer())  # never a bundle key: unknown, not revoked
    with pytest.raises(errors.UnknownKeyError):
        verify_signatures(stranger.manifest, stranger.signatures, policy)


@pytest.mark.parametrize(("carried", "match"), [
    ((CHAIN[2],), "skips from the pinned root version 1 to 3"),
    ((CHAIN[0], CHAIN[2]), "skips from root version 1 to 3"),
    ((CHAIN[1], CHAIN[1]), "repeats from root version 2 to 2"),
    ((CHAIN[0], CHAIN[1], CHAIN[0]), "goes back from root version 2 to 1"),
    ((("3.root.json", CHAIN[1][1]),), "3.root.json holds root version 2"),
])
def test_a_version_that_skips_repeats_or_goes_back_is_refused(carried: tuple[tuple[str, bytes], ...],
                                                              match: str) -> None:
    with pytest.raises(errors.RootVersionError, match=match):
        walk_chain(pinned_at_1(), carried, NOW)


def test_a_step_needs_the_previous_roots_threshold_and_its_own() -> None:
    not_by_previous = ROTATION.v3(signers=[ROTATION.r2])
    with pytest.raises(errors.RootPreviousThresholdError, match="by the keys of version 2: signed by 0"):
        walk_chain(pinned_at_1(), (CHAIN[1], not_by_previous), NOW)
    not_by_itself = ROTATION.v3(signers=[ROTATION.r1])
    with pytest.raises(errors.RootOwnThresholdError, match="by its own keys: signed by 0"):
        walk_chain(pinned_at_1(), (CHAIN[1], not_by_itself), NOW)
    stranger = Signer()
    by_a_stranger = make_root(2, [ROTATION.r1], [ROTATION.b2], [ROTATION.r1, stranger])
    with pytest.raises(errors.RootDocumentError, match="which is no key of root version 2 or 1"):
        walk_chain(pinned_at_1(), (by_a_stranger,), NOW)


def test_two_of_three_root_keys() -> None:
    keys = [Signer(), Signer(), Signer()]
    first = make_root(1, keys, [ROTATION.b1], keys[:2], threshold_root=2)
    roots = pin_root(first[1], NOW, first[0])
    one_signature = make_root(2, keys, [ROTATION.b2], keys[:1], threshold_root=2)
    with pytest.raises(errors.RootPreviousThresholdError, match="signed by 1 of its root keys, the threshold is 2"):
        walk_chain(roots, (one_signature,), NOW)
    assert walk_chain(roots, (make_root(2, keys, [ROTATION.b2], keys[1:], threshold_root=2),), NOW).root.version == 2


def test_only_the_newest_root_must_be_unexpired() -> None:
    past = NOW - timedelta(days=1)
    rotation = Rotation()
    first = rotation.v1(expires=past + timedelta(hours=1))
    roots = pin_root(first[1], past, first[0])  # pinned while it was valid
    assert walk_chain(roots, (first, rotation.v2()), NOW).root.version == 2
    with pytest.raises(errors.RootExpiredError, match="root version 1 expired on"):
        walk_chain(roots, (first,), NOW)
    with pytest.raises(errors.RootExpiredError, match="root version 2 expired"):
        walk_chain(roots, (first, rotation.v2(expires=NOW)), NOW)
    with pytest.raises(errors.RootExpiredError):
        pin_root(first[1], NOW, first[0])


def test_a_fork_is_refused() -> None:
    at_2 = walk_chain(pinned_at_1(), CHAIN[:2], NOW)
    other_2 = make_root(2, [ROTATION.r1], [Signer()], [ROTATION.r1])  # validly signed, another document
    with pytest.raises(errors.RootForkError, match="differs from the version 2 this host accepted"):
        walk_chain(at_2, (CHAIN[0], other_2, CHAIN[2]), NOW)
    with pytest.raises(errors.RootForkError):
        walk_chain(at_2, (ROTATION.v1(expires=NOW + timedelta(days=2)),), NOW)


def test_documents_are_read_strictly() -> None:
    name, document = CHAIN[0]
    parse_root(document, name)
    for bad in (document.replace(b"\n", b"\r\n"), document[:-1], document.replace(b'"version": 1', b'"version": 1.0'),
                document.replace(b'"type"', b'"extra": 1,\n    "type"'), b"[]", b"{" * 100000):
        with pytest.raises(errors.RootDocumentError):
            parse_root(bad, name)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_byte_change_in_the_carried_chain_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(CHAIN) - 1))
    _, document = CHAIN[index]
    position = data.draw(st.integers(0, len(document) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != document[position]))
    changed = document[:position] + bytes([value]) + document[position + 1:]
    carried = tuple((n, changed if i == index else d) for i, (n, d) in enumerate(CHAIN))
    with pytest.raises(BundleError):
        walk_chain(pinned_at_1(), carried, NOW)


def _first_key(document: dict[str, Any]) -> dict[str, Any]:
    return next(iter(document["signed"]["keys"].values()))


@pytest.mark.parametrize(("mutate", "problem"), [
    (lambda d: d.update(signed="x"), "1.root.json signed: expected a JSON object"),
    (lambda d: d["signed"].update(keys=[]), "1.root.json keys: expected a JSON object"),
    (lambda d: _first_key(d).update(public=5), ": field 'public' missing or not a string"),
    (lambda d: _first_key(d).update(keytype="rsa"), ': keytype must be "ed25519"'),
    (lambda d: d["signed"]["roles"].update(root=[]), "1.root.json role root: expected a JSON object"),
    (lambda d: d["signed"]["roles"]["bundle"].update(keyids="ab"), "role bundle keyids: expected a JSON list"),
    (lambda d: d["signed"]["roles"]["bundle"].update(keyids=[7]), r"role bundle keyids\[0\]: expected a JSON string"),
    (lambda d: d["signed"]["roles"]["bundle"].update(keyids=[]), "role bundle: keyids must be a non-empty list"),
])
def test_a_root_of_another_shape_is_refused_naming_the_field(mutate: Callable[[dict[str, Any]], None],
                                                             problem: str) -> None:
    name, document = CHAIN[0]
    changed = json.loads(document)
    mutate(changed)
    with pytest.raises(errors.RootDocumentError, match=problem):
        parse_root(canonical_json(changed), name)
