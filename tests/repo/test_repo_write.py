"""Writing MST nodes: blocks spliced from the blocks read equal the blocks written afresh."""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atproto_async.ipld import CID, decode_dag_cbor, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_raw
from atproto_async.repo import MST, key_height
from atproto_async.repo._node import _Node
from atproto_async.repo._write import _node_block, _write

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pool() -> list[str]:
    keys = [f"app.bsky.feed.post/3l{n:03d}" for n in range(80)]
    n = 0
    for height in (2, 3):  # a few keys high up: removing them joins subtrees
        while key_height(f"app.bsky.feed.like/x{n}") != height:
            n += 1
        keys.append(f"app.bsky.feed.like/x{n}")
    return keys


POOL = _pool()
VALUES = [cid_for_raw(bytes([n])) for n in range(3)]
contents = st.dictionaries(st.sampled_from(POOL), st.sampled_from(VALUES), max_size=60)
edits = st.lists(
    st.tuples(st.sampled_from(POOL), st.none() | st.sampled_from(VALUES)), min_size=1, max_size=6
)


def _nodes(tree: MST) -> list[_Node]:
    return list(tree._nodes())


@SETTINGS
@given(contents, edits)
def test_every_written_block_is_the_one_written_afresh(
    entries: dict[str, CID], steps: list[tuple[str, CID | None]]
) -> None:
    built = MST.from_entries(entries)
    tree = MST.load(built.cid, built.blocks())
    for key, cid in steps:
        tree = tree.delete(key) if cid is None else tree.set(key, cid)
    for node in _nodes(tree):
        block = _node_block(node)  # spliced when the node was made from one read
        assert block == _write(node)
        assert encode_dag_cbor(decode_dag_cbor(block)) == block


def test_a_path_of_spliced_nodes() -> None:
    entries = {key: VALUES[0] for key in POOL}
    built = MST.from_entries(entries)
    tree = MST.load(built.cid, built.blocks())
    for key in POOL[::7]:
        edited = tree.set(key, VALUES[1])  # a value replaced, and every link above it
        assert edited.blocks() == MST.from_entries({**entries, key: VALUES[1]}).blocks()
        spliced = [node for node in _nodes(edited) if node.base is not None]
        assert len(spliced) == _depth(edited, key)


def _depth(tree: MST, key: str) -> int:
    """How many nodes lie on the way from the root to ``key``'s node, both included."""
    node = tree._root
    depth = 1
    while key.encode() not in node.keys:
        child = node.children[bisect_left(node.keys, key.encode())]
        assert isinstance(child, _Node)
        node = child
        depth += 1
    return depth


def test_removing_each_key_of_a_read_tree() -> None:
    # Every entry of every node removed once: first, middle, last, with and without subtrees.
    entries = {key: VALUES[0] for key in POOL}
    built = MST.from_entries(entries)
    tree = MST.load(built.cid, built.blocks())
    for key in POOL:
        edited = tree.delete(key)
        for node in _nodes(edited):
            assert _node_block(node) == _write(node)
        assert edited == MST.from_entries({k: v for k, v in entries.items() if k != key})
