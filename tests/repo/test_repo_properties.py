"""Property tests: an MST's shape depends only on its contents; proofs suffice to undo edits."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atproto_async.ipld import CID, decode_dag_cbor, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_raw
from atproto_async.repo import MST, key_height

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EMPTY = MST().cid


def _pool() -> list[str]:
    keys = [f"app.bsky.feed.post/k{n}" for n in range(120)]
    # A few keys high up the tree, so that edits add and remove whole levels.
    n = 0
    for height in (3, 4, 5):
        while key_height(f"app.bsky.feed.like/x{n}") != height:
            n += 1
        keys.append(f"app.bsky.feed.like/x{n}")
    return keys


POOL = _pool()
VALUES = [cid_for_raw(bytes([n])) for n in range(4)]

keys = st.sampled_from(POOL)
values = st.sampled_from(VALUES)
# An edit: (key, CID) sets the key, (key, None) deletes it.
edits = st.lists(st.tuples(keys, st.none() | values), max_size=80)
contents = st.dictionaries(keys, values, max_size=60)


def apply(tree: MST, steps: list[tuple[str, CID | None]]) -> tuple[MST, dict[str, CID]]:
    expected = dict(tree)
    for key, cid in steps:
        if cid is None:
            tree = tree.delete(key)
            expected.pop(key, None)
        else:
            tree = tree.set(key, cid)
            expected[key] = cid
    return tree, expected


@SETTINGS
@given(edits)
def test_any_order_of_edits_gives_the_canonical_tree(steps: list[tuple[str, CID | None]]) -> None:
    tree, expected = apply(MST(), steps)
    assert tree.cid == MST.from_entries(expected).cid
    assert list(tree) == sorted(expected.items())
    assert all(tree.get(key) == cid for key, cid in expected.items())


@SETTINGS
@given(contents, st.randoms(use_true_random=False))
def test_insertion_order_does_not_matter(entries: dict[str, CID], rng: object) -> None:
    pairs = list(entries.items())
    rng.shuffle(pairs)  # type: ignore[attr-defined]
    tree = MST()
    for key, cid in pairs:
        tree = tree.set(key, cid)
    assert tree == MST.from_entries(entries)
    rng.shuffle(pairs)  # type: ignore[attr-defined]
    for key, _ in pairs:
        tree = tree.delete(key)
    assert tree.cid == EMPTY
    assert tree.height == 0


@SETTINGS
@given(contents)
def test_blocks_are_canonical_and_load_back(entries: dict[str, CID]) -> None:
    tree = MST.from_entries(entries)
    blocks = tree.blocks()
    for block in blocks.values():
        assert encode_dag_cbor(decode_dag_cbor(block)) == block
    loaded = MST.load(tree.cid, blocks)
    assert list(loaded) == sorted(entries.items())
    assert loaded.blocks() == blocks


@SETTINGS
@given(contents, edits)
def test_proofs_of_the_edited_keys_suffice_to_undo_a_commit(
    entries: dict[str, CID], steps: list[tuple[str, CID | None]]
) -> None:
    before = MST.from_entries(entries)
    after, expected = apply(before, steps[:8])
    touched = {key for key, _ in steps[:8]}
    if not touched:
        return
    proof: dict[CID, bytes] = {}
    for key in touched:
        proof.update(after.proof_blocks(key))
    # A verifier holding only the proof checks each key and restores the old values.
    tree = MST.load(after.cid, proof)
    for key in sorted(touched):
        assert tree.get(key) == expected.get(key)
        old = entries.get(key)
        tree = tree.delete(key) if old is None else tree.set(key, old)
    assert tree.cid == before.cid


@SETTINGS
@given(contents, edits)
def test_edits_of_a_loaded_tree_write_the_canonical_blocks(
    entries: dict[str, CID], steps: list[tuple[str, CID | None]]
) -> None:
    # A loaded tree writes edited nodes by splicing the blocks it read; a built one writes
    # every node afresh. Both must give the canonical blocks.
    built = MST.from_entries(entries)
    loaded = MST.load(built.cid, built.blocks())
    edited, expected = apply(loaded, steps)
    assert edited.blocks() == MST.from_entries(expected).blocks()
    for key, _ in steps[:4]:  # one edit on top of the loaded tree: one spliced path
        assert (
            loaded.delete(key).blocks()
            == MST.from_entries({k: v for k, v in entries.items() if k != key}).blocks()
        )
        assert (
            loaded.set(key, VALUES[0]).blocks()
            == MST.from_entries({**entries, key: VALUES[0]}).blocks()
        )
