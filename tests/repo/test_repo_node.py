"""Hostile MST nodes: every malformed or non-canonical block raises a precise `RepoError`."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atproto_async.ipld import CID, cid_for, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_raw
from atproto_async.repo import MST, MissingBlockError, RepoError, common_prefix_length, key_height

LEAF = cid_for_raw(b"record")


def keys_at(height: int, count: int) -> list[str]:
    """``count`` sorted repo paths whose MST height is ``height``."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        key = f"com.example.record/n{n:04d}"
        if key_height(key) == height:
            found.append(key)
        n += 1
    return sorted(found)


def entry(key: bytes, prefix: int = 0, tree: CID | None = None, val: Any = LEAF) -> dict[str, Any]:
    return {"k": key, "p": prefix, "t": tree, "v": val}


def node(*entries: dict[str, Any], left: CID | None = None) -> dict[str, Any]:
    return {"e": list(entries), "l": left}


def full(*keys: str) -> list[dict[str, Any]]:
    """Entries for ``keys`` in the given order, prefix-compressed as the spec requires."""
    entries = []
    previous = b""
    for key in keys:
        raw = key.encode()
        shared = common_prefix_length(previous, raw)
        entries.append(entry(raw[shared:], prefix=shared))
        previous = raw
    return entries


def store(*values: Any) -> tuple[CID, dict[CID, bytes]]:
    """Encode each value as a block; return the CID of the first and the block map."""
    blocks = {}
    for item in values:
        block = item if isinstance(item, bytes) else encode_dag_cbor(item)
        blocks[cid_for(block)] = block
    return next(iter(blocks)), blocks


def load_all(root: CID, blocks: dict[CID, bytes]) -> MST:
    tree = MST.load(root, blocks)
    tree.validate()
    return tree


H0 = keys_at(0, 4)
H1 = keys_at(1, 3)


def test_helpers_build_a_valid_tree() -> None:
    child = node(*full(H0[0]))
    child_cid, blocks = store(child)
    root, more = store(node(*full(H1[-1]), left=child_cid))
    blocks.update(more)
    assert H0[0] < H1[-1]
    tree = load_all(root, blocks)
    assert list(tree) == [(H0[0], LEAF), (H1[-1], LEAF)]
    assert tree == MST.from_entries({H0[0]: LEAF, H1[-1]: LEAF})


def test_missing_root_block() -> None:
    root, _ = store(node())
    with pytest.raises(MissingBlockError, match="MST node not found") as caught:
        MST.load(root, {})
    assert caught.value.cid == root


def test_missing_child_block_is_reported_when_reached() -> None:
    child_cid, _ = store(node(*full(H0[0])))
    root, blocks = store(node(*full(H1[-1]), left=child_cid))
    tree = MST.load(root, blocks)
    assert tree.get(H1[-1]) == LEAF  # on the root: nothing else is read
    with pytest.raises(MissingBlockError) as caught:
        tree.get(H0[0])
    assert caught.value.cid == child_cid
    assert isinstance(caught.value, RepoError)


def test_block_that_does_not_hash_to_its_cid() -> None:
    root, blocks = store(node(*full(H0[0])))
    blocks[root] = encode_dag_cbor(node(*full(H0[1])))
    with pytest.raises(RepoError, match="does not hash to its CID"):
        MST.load(root, blocks)


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_block(cut: int) -> None:
    block = encode_dag_cbor(node(*full(H0[0])))
    root, blocks = store(block[:-cut])
    with pytest.raises(RepoError, match="not canonical DAG-CBOR"):
        MST.load(root, blocks)


def test_garbled_block() -> None:
    root, blocks = store(b"\xff\x00garbage")
    with pytest.raises(RepoError, match="not canonical DAG-CBOR"):
        MST.load(root, blocks)


def test_non_shortest_integer_is_not_canonical() -> None:
    block = encode_dag_cbor(node(*full(H0[0])))
    assert b"\x61p\x00" in block
    root, blocks = store(block.replace(b"\x61p\x00", b"\x61p\x18\x00"))
    with pytest.raises(RepoError, match="not canonical DAG-CBOR"):
        MST.load(root, blocks)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "must be a map of exactly 'e' and 'l'"),
        ({"e": []}, "must be a map of exactly 'e' and 'l'"),
        ({"e": [], "l": None, "x": 1}, "must be a map of exactly 'e' and 'l'"),
        ({"e": {}, "l": None}, "'e' must be an array"),
        ({"e": [[]], "l": None}, "entry 0 must be a map of exactly k, p, t, v"),
        ({"e": [{"k": b"a/b", "p": 0, "v": LEAF}], "l": None}, "entry 0 must be a map"),
        (node(entry(H0[0].encode(), prefix=-1)), "prefix length -1 is not an integer"),
        (node(entry(H0[0].encode(), prefix=1)), r"prefix length 1 is not an integer in \[0, 0\]"),
        (node(entry(H0[0].encode(), prefix=True)), "prefix length True"),
        (node({"k": H0[0], "p": 0, "t": None, "v": LEAF}), "'k' must be a byte string"),
        (node(entry(H0[0].encode(), val=str(LEAF))), "'v' must be a CID link"),
        (node(entry(H0[0].encode(), tree=b"\x01")), "entry 0 't' must be a CID link or null"),  # type: ignore[arg-type]
        (node(left=LEAF), "'l' link .* is not a dag-cbor sha2-256 CIDv1"),
    ],
)
def test_malformed_node(value: Any, reason: str) -> None:
    root, blocks = store(value)
    with pytest.raises(RepoError, match=reason):
        load_all(root, blocks)


def test_unsorted_keys() -> None:
    root, blocks = store(node(*full(H0[1], H0[0])))
    with pytest.raises(RepoError, match="keys out of order"):
        MST.load(root, blocks)


def test_duplicate_keys() -> None:
    root, blocks = store(node(*full(H0[0], H0[0])))
    with pytest.raises(RepoError, match="keys out of order"):
        MST.load(root, blocks)


def test_prefix_not_fully_compressed() -> None:
    first, second = H0[0].encode(), H0[1].encode()
    shared = common_prefix_length(first, second)
    root, blocks = store(node(entry(first), entry(second[shared - 1 :], prefix=shared - 1)))
    with pytest.raises(RepoError, match="non-canonical compression"):
        MST.load(root, blocks)


def test_keys_of_different_heights_in_one_node() -> None:
    root, blocks = store(node(*full(*sorted([H0[0], H1[0]]))))
    with pytest.raises(RepoError, match="has height"):
        MST.load(root, blocks)


def test_child_at_the_wrong_height() -> None:
    # A height-1 root whose left subtree holds a height-1 key instead of height-0 keys.
    low, high = H1[0], H1[-1]
    child_cid, blocks = store(node(*full(low)))
    root, more = store(node(*full(high), left=child_cid))
    blocks.update(more)
    with pytest.raises(RepoError, match="has height 1 but sits in a node of height 0"):
        load_all(root, blocks)


def test_child_keys_out_of_their_range() -> None:
    # The left subtree of a key must hold smaller keys only.
    small = [key for key in H0 if key > H1[0]]
    child_cid, blocks = store(node(*full(small[0])))
    root, more = store(node(*full(H1[0]), left=child_cid))
    blocks.update(more)
    with pytest.raises(RepoError, match="is not before"):
        load_all(root, blocks)
    # ... and the right subtree greater keys only.
    big = [key for key in H0 if key < H1[-1]]
    child_cid, blocks = store(node(*full(big[0])))
    root, more = store(node(entry(H1[-1].encode(), tree=child_cid)))
    blocks.update(more)
    with pytest.raises(RepoError, match="is not after"):
        load_all(root, blocks)


def test_untrimmed_root() -> None:
    child_cid, blocks = store(node(*full(H0[0])))
    root, more = store(node(left=child_cid))
    blocks.update(more)
    with pytest.raises(RepoError, match="not trimmed"):
        MST.load(root, blocks)


def test_empty_node_below_the_root() -> None:
    child_cid, blocks = store(node())
    root, more = store(node(*full(H1[0]), left=child_cid))
    blocks.update(more)
    with pytest.raises(RepoError, match="empty MST node below the root"):
        load_all(root, blocks)


def test_leaf_node_with_a_subtree() -> None:
    child_cid, blocks = store(node(*full(H0[0])))
    root, more = store(node(*full(H0[1]), left=child_cid))
    blocks.update(more)
    with pytest.raises(RepoError, match="height 0 links a subtree"):
        MST.load(root, blocks)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (b"com.example.record/bad key", "contains ' '"),
        (b"no-slash-" + bytes(8), "contains"),
        (b"com.example.record/" + b"k" * 1100, "longer than 1024"),
        (b"com.example.record/caf\xc3\xa9", "not ASCII"),
    ],
)
def test_invalid_key_in_node(key: bytes, reason: str) -> None:
    root, blocks = store(node(entry(key)))
    with pytest.raises(RepoError, match=reason):
        MST.load(root, blocks)


def test_load_refuses_a_root_that_is_not_a_node_link() -> None:
    with pytest.raises(RepoError, match="not a dag-cbor sha2-256 CIDv1"):
        MST.load(LEAF, {LEAF: b""})
    with pytest.raises(TypeError):
        MST.load(str(LEAF), {})  # type: ignore[arg-type]


_VALID = MST.from_entries({f"com.example.record/k{n}": LEAF for n in range(60)})
_VALID_BLOCKS = _VALID.blocks()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0, max_value=len(_VALID_BLOCKS) - 1),
    position=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0, max_value=8),
)
def test_mutated_blocks_raise_only_repo_errors(
    which: int, position: int, byte: int, cut: int
) -> None:
    """A node with one byte changed or its end cut off, under its own (matching) CID."""
    blocks = dict(_VALID_BLOCKS)
    target = list(blocks)[which]
    block = bytearray(blocks.pop(target))
    block[position % len(block)] = byte
    mutated = bytes(block[: len(block) - cut])
    new_cid = cid_for(mutated)
    # Relink the parent to the mutated block, re-hashing every node up to the root.
    tree_blocks = {new_cid: mutated, **blocks}
    replaced = {bytes(target): bytes(new_cid)}
    changed = True
    while changed:
        changed = False
        for cid, data in list(tree_blocks.items()):
            new = data
            for old_raw, new_raw in replaced.items():
                new = new.replace(old_raw, new_raw)
            if new != data:
                del tree_blocks[cid]
                fresh = cid_for(new)
                tree_blocks[fresh] = new
                replaced[bytes(cid)] = bytes(fresh)
                changed = True
    root_raw = replaced.get(bytes(_VALID.cid), bytes(_VALID.cid))
    root = CID.from_bytes(root_raw)
    with contextlib.suppress(RepoError):  # anything else (KeyError, a CBOR error...) fails
        load_all(root, tree_blocks)
