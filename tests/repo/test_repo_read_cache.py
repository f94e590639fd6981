"""What repo/_node.py remembers between nodes changes no answer.

The canonical reader keeps the heights of the keys it has checked (`_HEIGHTS`), so that a key
met again needs neither its syntax checked nor hashing; and a tree read from a CAR looks its
nodes up in the CAR's index directly. Here every node is read with the memory empty and full,
and every tree from a CAR and from a plain dict of the same blocks: same nodes, same errors.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from atproto_async.exceptions import MissingBlockError, RepoError
from atproto_async.ipld import CID, cid_for, encode_dag_cbor, read_car, write_car
from atproto_async.ipld.cid import cid_for_raw
from atproto_async.repo import MST, _node, common_prefix_length, key_height
from atproto_async.repo._node import _read_canonical, _read_checked

LEAF = cid_for_raw(b"record")


def _keys(height: int, count: int, stem: str = "app.bsky.feed.like/3k") -> list[str]:
    found: list[str] = []
    n = 0
    while len(found) < count:
        key = f"{stem}{n:05d}"
        if key_height(key) == height:
            found.append(key)
        n += 1
    return sorted(found)


def _block(keys: list[str], left: CID | None = None) -> bytes:
    entries = []
    previous = b""
    for key in keys:
        raw = key.encode()
        shared = common_prefix_length(previous, raw)
        entries.append({"k": raw[shared:], "p": shared, "t": None, "v": LEAF})
        previous = raw
    return encode_dag_cbor({"e": entries, "l": left})


def _outcome(block: bytes, height: int | None) -> Any:
    found = _read_canonical(block, height)
    if found is None:
        return None
    keys, values, links, level, ends = found
    return tuple(keys), values, tuple(link or None for link in links), level, tuple(ends)


def test_nodes_read_alike_with_the_heights_forgotten_or_remembered() -> None:
    rng = random.Random(1)
    pool = {height: _keys(height, 40) for height in (0, 1, 2)}
    blocks: list[tuple[bytes, int | None]] = []
    for _ in range(200):
        level = rng.choice((0, 1, 2))
        chosen = sorted(rng.sample(pool[level], rng.randint(1, 12)))
        if rng.random() < 0.2:  # a key of another height: refused either way
            chosen = sorted({*chosen, rng.choice(pool[(level + 1) % 3])})
        blocks.append((_block(chosen), rng.choice((level, None))))
    _node._HEIGHTS.clear()
    cold = [_outcome(block, height) for block, height in blocks]
    warm = [_outcome(block, height) for block, height in blocks]
    assert cold == warm
    assert any(found is None for found in cold) and any(found is not None for found in cold)
    for (block, height), found in zip(blocks, warm, strict=True):
        if found is not None:
            keys, values, links, read = _read_checked(block, cid_for(block), height)
            assert found[:4] == (tuple(keys), values, tuple(links), read)


def test_a_remembered_key_in_a_node_of_another_height_is_refused() -> None:
    low = _keys(0, 2)
    high = _keys(1, 1)
    assert _read_canonical(_block(low), 0) is not None  # both heights now remembered
    assert _read_canonical(_block(high), 1) is not None
    mixed = _block(sorted([*low, *high]))
    assert _read_canonical(mixed, 0) is None
    assert _read_canonical(mixed, None) is None
    with pytest.raises(RepoError, match="has height"):
        _read_checked(mixed, cid_for(mixed), 0)


def test_only_valid_keys_are_remembered() -> None:
    _node._HEIGHTS.clear()
    good = _keys(0, 1)[0]
    for bad in ("app.bsky.feed.like/../x", "app.bsky.feed.like", "a/b/c", "./x"):
        block = _block(sorted([good, bad]))
        assert _read_canonical(block, None) is None
        assert bad.encode() not in _node._HEIGHTS
    assert _node._HEIGHTS == {}  # nothing of a refused node is kept, the good key neither


def test_the_memory_is_bounded() -> None:
    # Filled to its limit (not monkeypatched: a compiled build inlines the Final limit).
    _node._HEIGHTS.clear()
    _node._HEIGHTS.update((b"x/%d" % i, 0) for i in range(_node._HEIGHTS_LIMIT + 1))
    keys = _keys(0, 8)
    assert _read_canonical(_block(keys[:4]), 0) is not None
    assert len(_node._HEIGHTS) == 4  # emptied, then this node's keys remembered
    assert _read_canonical(_block(keys[4:]), 0) is not None
    assert len(_node._HEIGHTS) == 8
    _node._HEIGHTS.clear()
    assert _read_canonical(_block(keys[:4]), 0) is not None  # forgotten keys are read again


def _tree_car(count: int) -> tuple[MST, bytes]:
    tree = MST.from_entries({key: LEAF for key in _keys(0, count) + _keys(1, count // 4)})
    blocks = tree.blocks()
    return tree, write_car([tree.cid], blocks.items())


@pytest.mark.parametrize("verified", [False, True])
def test_a_tree_reads_alike_from_a_car_and_from_a_dict(verified: bool) -> None:
    tree, data = _tree_car(60)
    car = read_car(data, verify=True)
    from_car = MST.load(tree.cid, car.blocks, verified=verified)
    from_dict = MST.load(tree.cid, dict(car.blocks.items()), verified=verified)
    assert list(from_car) == list(from_dict) == list(tree)
    assert from_car.cid == from_dict.cid == tree.cid


def _error(function: Any) -> tuple[type[Exception], str, Any]:
    with pytest.raises(RepoError) as caught:
        function()
    return type(caught.value), caught.value.reason, caught.value.cid


def test_a_missing_or_bad_node_is_reported_alike_from_a_car_and_from_a_dict() -> None:
    tree, data = _tree_car(60)
    blocks = dict(read_car(data).blocks.items())
    root_block = blocks[tree.cid]
    children = [cid for cid in blocks if cid != tree.cid]
    missing = {cid: block for cid, block in blocks.items() if cid != children[0]}
    car_missing = read_car(write_car([tree.cid], missing.items())).blocks
    for source in (missing, car_missing):
        kind, reason, cid = _error(lambda source=source: MST.load(tree.cid, source).validate())
        assert kind is MissingBlockError and cid == children[0] and reason == "MST node not found"
    # A node whose bytes are not its CID's: the CAR is read unchecked, the tree checks.
    swapped = dict(blocks)
    swapped[children[0]] = root_block
    car_swapped = read_car(write_car([tree.cid], swapped.items())).blocks
    expected = _error(lambda: MST.load(tree.cid, swapped).validate())
    assert expected == _error(lambda: MST.load(tree.cid, car_swapped).validate())
    assert expected[1] == "MST node does not hash to its CID"
