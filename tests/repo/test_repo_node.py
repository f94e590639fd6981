"""Hostile MST nodes: every malformed or non-canonical block raises a precise `RepoError`."""

from __future__ import annotations

import contextlib
from hashlib import sha256
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atproto_async.ipld import CID, cid_for, encode_dag_cbor
from atproto_async.ipld.cid import cid_for_raw, cid_from_tagged
from atproto_async.repo import MST, MissingBlockError, RepoError, common_prefix_length, key_height
from atproto_async.repo._node import (
    _ABOVE,
    _LOWEST,
    _level,
    _read_canonical,
    _read_checked,
)

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


# --- the canonical reader (fast path) against the checked reader ------------------------------
#
# `_read_canonical` must accept only blocks that `_read_checked` accepts, and read them the same;
# it may decline any block (the checked reader then decides).


def _normal(found: Any) -> tuple[Any, ...]:
    """Keys, values, links (null as None) and height, whichever reader gave them."""
    keys, values, links, height = found[:4]
    return tuple(keys), tuple(values), tuple(link or None for link in links), height


def _pool(height: int, count: int, prefix: str) -> list[str]:
    found: list[str] = []
    n = 0
    while len(found) < count:
        key = f"{prefix}{n}"
        if key_height(key) == height:
            found.append(key)
        n += 1
    return found


# Keys of heights 0 and 1 in two collections, some long (key and suffix heads of two bytes).
POOLS = {
    height: sorted(
        _pool(height, 12, "app.bsky.feed.post/3l")
        + _pool(height, 6, "app.bsky.graph.follow/")
        + _pool(height, 4, "com.example." + "x" * 40 + "/" + "r" * 30)
    )
    for height in (0, 1)
}
VALUES = [LEAF, cid_for({"n": 1}), cid_for_raw(b"other")]
V0 = CID.decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")  # a CIDv0: not the usual form
LINKS = [cid_for({"node": n}) for n in range(4)]


def _encode(keys: list[str], values: list[CID], links: list[CID | None]) -> bytes:
    entries = full(*keys)
    for item, value, link in zip(entries, values, links[1:], strict=True):
        item["v"] = value
        item["t"] = link
    return encode_dag_cbor(node(*entries, left=links[0]))


@st.composite
def node_blocks(draw: st.DrawFn) -> tuple[bytes, int]:
    height = draw(st.sampled_from([0, 1]))
    keys = sorted(draw(st.sets(st.sampled_from(POOLS[height]), min_size=1, max_size=22)))
    values = draw(st.lists(st.sampled_from(VALUES), min_size=len(keys), max_size=len(keys)))
    link = st.none() | st.sampled_from(LINKS) if height else st.none()
    links = draw(st.lists(link, min_size=len(keys) + 1, max_size=len(keys) + 1))
    return _encode(keys, values, links), height


@settings(max_examples=300, deadline=None)
@given(node_blocks(), st.booleans())
def test_canonical_reader_reads_usual_blocks_as_the_checked_reader(
    made: tuple[bytes, int], as_root: bool
) -> None:
    block, height = made
    expected = _read_checked(block, cid_for(block), None if as_root else height)
    found = _read_canonical(block, None if as_root else height)
    assert found is not None  # usual blocks take the fast path
    assert _normal(found) == _normal(expected)
    ends = found[4]
    assert ends[-1] == len(block) - (3 if block.endswith(b"\x61l\xf6") else 43)


@settings(max_examples=500, deadline=None)
@given(
    node_blocks(),
    st.integers(min_value=0),
    st.integers(min_value=0, max_value=255),
    st.sampled_from(["replace", "insert", "delete"]),
)
def test_canonical_reader_accepts_nothing_the_checked_reader_refuses(
    made: tuple[bytes, int], position: int, byte: int, how: str
) -> None:
    block, height = made
    at = position % len(block)
    if how == "replace":
        mutated = block[:at] + bytes((byte,)) + block[at + 1 :]
    elif how == "insert":
        mutated = block[:at] + bytes((byte,)) + block[at:]
    else:
        mutated = block[:at] + block[at + 1 :]
    found = _read_canonical(mutated, height)
    if found is None:
        return
    assert _normal(found) == _normal(_read_checked(mutated, cid_for(mutated), height))


def _twin(block: bytes, old: bytes, new: bytes) -> bytes:
    assert old in block
    return block.replace(old, new, 1)


_USUAL = _encode(H0[:3], [LEAF] * 3, [None] * 4)
_TAIL = H0[1].encode()[common_prefix_length(H0[0], H0[1]) :]
_SUFFIX_OF_SECOND = (bytes((0x40 | len(_TAIL),)) + _TAIL, bytes((0x41 + len(_TAIL),)) + _TAIL)
_WITH_LINKS = _encode(H1[:2], [LEAF] * 2, [LINKS[0], None, LINKS[1]])


@pytest.mark.parametrize(
    ("block", "height"),
    [
        # Well formed, but not the usual layout: the checked reader reads these.
        (_encode(H0[:1], [V0], [None, None]), 0),
        (encode_dag_cbor(node(*full(*_pool(0, 2, "com.example/" + "k" * 300)))), 0),
        # Malformed or not canonical: the checked reader refuses these.
        (_USUAL[:-1], 0),
        (_USUAL + b"\x00", 0),
        (_twin(_USUAL, b"\xa2\x61e\x83", b"\xa2\x61e\x82"), 0),  # fewer entries than counted
        (_twin(_USUAL, b"\xa2\x61e\x83", b"\xa2\x61e\x98\x03"), 0),  # count not in shortest form
        (_twin(_USUAL, b"\x61p\x00", b"\x61p\x18\x00"), 0),  # prefix not in shortest form
        (_twin(_USUAL, b"\x61l\xf6", b"\x61l\xf7"), 0),
        (_twin(_USUAL, b"\x61v\xd8\x2a", b"\x61x\xd8\x2a"), 0),
        (_twin(_USUAL, b"\xa4\x61k\x58", b"\xa4\x61k\x59\x00"), 0),  # key head of 2 bytes
        (_twin(_USUAL, *_SUFFIX_OF_SECOND), 0),  # a key head that is not the key's length
        (_twin(_WITH_LINKS, b"\xd8\x2a\x58\x25\x00\x01\x71", b"\xd8\x2a\x58\x25\x00\x01\x55"), 1),
    ],
)
def test_canonical_reader_declines_unusual_and_broken_blocks(
    block: bytes, height: int | None
) -> None:
    assert _read_canonical(block, height) is None


@pytest.mark.parametrize(
    ("keys", "height", "reason"),
    [
        ([H0[1], H0[0]], 0, "keys out of order"),
        ([H0[0], H0[0]], 0, "keys out of order"),
        (sorted([H0[0], H1[0]]), 0, "has height"),
        ([H0[0]], 1, "has height"),
        (["com.example.record/a/b"], None, "exactly one '/'"),
        (["com.example.record/.."], None, "'.' or '..' segment"),
        (["../record"], None, "'.' or '..' segment"),
        (["no-slash"], None, "exactly one '/'"),
    ],
)
def test_canonical_reader_declines_what_breaks_the_rules(
    keys: list[str], height: int | None, reason: str
) -> None:
    block = _encode(keys, [LEAF] * len(keys), [None] * (len(keys) + 1))
    assert _read_canonical(block, height) is None
    with pytest.raises(RepoError, match=reason):
        _read_checked(block, cid_for(block), height)


def _key_of_length(length: int) -> str:
    """A key of height 0 and ``length`` bytes."""
    width = length - len("com.example/")
    return next(
        key for key in (f"com.example/{n:0{width}d}" for n in range(1000)) if key_height(key) == 0
    )


@pytest.mark.parametrize("length", [23, 24, 255])
def test_canonical_reader_reads_keys_up_to_255_bytes(length: int) -> None:
    # Key heads of one byte and of 0x58 and a byte, checked against `_HEADS`.
    key = _key_of_length(length)
    block = _encode([key], [LEAF], [None, None])
    found = _read_canonical(block, 0)
    assert found is not None
    assert found[0] == [key.encode()]
    assert _normal(found) == _normal(_read_checked(block, cid_for(block), 0))


def test_canonical_reader_declines_a_key_of_256_bytes() -> None:
    # Its head (0x59 and two bytes) is not the usual layout: the checked reader reads it.
    key = _key_of_length(256)
    block = _encode([key], [LEAF], [None, None])
    assert _read_canonical(block, 0) is None
    assert _read_checked(block, cid_for(block), 0)[0] == [key.encode()]


def test_canonical_reader_declines_a_prefix_that_is_too_short_or_too_long() -> None:
    first, second = H0[0].encode(), H0[1].encode()
    shared = common_prefix_length(first, second)
    for prefix in (shared - 1, shared + 1):
        block = encode_dag_cbor(node(entry(first), entry(second[prefix:], prefix=prefix)))
        assert _read_canonical(block, 0) is None
    block = encode_dag_cbor(node(entry(first), entry(second[shared:], prefix=len(first) + 1)))
    assert _read_canonical(block, 0) is None


def test_unusual_node_forms_load_and_write_back() -> None:
    long_keys = _pool(0, 2, "com.example/" + "k" * 300)  # lengths needing two-byte heads
    blocks = {}
    for item in (node(entry(H0[0].encode(), val=V0)), node(*full(*long_keys))):
        block = encode_dag_cbor(item)
        blocks[cid_for(block)] = block
    for cid, block in blocks.items():
        tree = load_all(cid, {cid: block})
        assert tree.blocks() == {cid: block}
        grown = tree.set(H0[2], LEAF)
        assert grown == MST.from_entries({**dict(tree), H0[2]: LEAF})
        assert grown.delete(H0[2]) == tree


def test_cid_made_from_a_link_equals_the_parsed_cid() -> None:
    for cid in (LEAF, *LINKS, V0):
        raw = bytes(cid)
        assert cid_from_tagged(b"\x00" + raw) == CID.from_bytes(raw)
        assert hash(cid_from_tagged(b"\x00" + raw)) == hash(cid)
        assert str(cid_from_tagged(b"\x00" + raw)) == str(cid)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_height_bounds_agree_with_key_height(key: bytes) -> None:
    digest = sha256(key).digest()
    height = key_height(key)
    assert _level(digest) == height
    for level in range(8):
        assert (_LOWEST[level] <= digest < _ABOVE[level]) == (level == height)


def test_verified_blocks_are_not_hashed_again() -> None:
    root, blocks = store(node(*full(H0[0])))
    blocks[root] = encode_dag_cbor(node(*full(H0[1])))  # a block that does not hash to its CID
    with pytest.raises(RepoError, match="does not hash to its CID"):
        MST.load(root, blocks)
    # The caller vouches for the blocks (a CAR read with verify=True): no second hash.
    assert list(MST.load(root, blocks, verified=True)) == [(H0[1], LEAF)]
