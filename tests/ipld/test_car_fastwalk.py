"""The fast section walks of ipld/car.py give exactly what the general walks give.

`find_block` and `_index_sections` (behind `read_car`, ``read_car(verify=True)`` and
`BlockFinder`) walk sections of the usual form - a one- or two-byte length, a sha2-256 CIDv1 -
with the fewest steps and compare a block's sha2-256 with its CID's digest as it lies; at the
first section of another form, or a wrong one, the general walks (`_find_from`, `_index_from`)
take over. Here both are run on the same bytes - CARs laid out as commits carry them, and the
same CARs mutated, truncated, with a block swapped or a CID of another form - and must return
the same block, the same index, or raise the same error.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, cid_for, cid_for_raw, encode_dag_cbor, read_car, write_car
from atproto_async.ipld.car import (
    BlockFinder,
    _find_from,
    _index_from,
    _index_sections,
    _read_header,
    find_block,
)


def _pairs(rng: random.Random, count: int) -> list[tuple[CID, bytes]]:
    pairs = []
    for index in range(count):
        size = rng.choice((10, 60, 300, 900, 20_000))
        if rng.random() < 0.2:
            block = rng.randbytes(size)
            pairs.append((cid_for_raw(block), block))
        else:
            block = encode_dag_cbor({"i": index, "pad": rng.randbytes(size)})
            pairs.append((cid_for(block), block))
    return pairs


def _cars(seed: int, count: int) -> list[tuple[bytes, list[CID]]]:
    rng = random.Random(seed)
    cars = []
    for _ in range(count):
        pairs = _pairs(rng, rng.randint(1, 7))
        if rng.random() < 0.2:  # a repeated CID
            pairs.append(pairs[0])
        roots = [pairs[-1][0]] if rng.random() < 0.9 else [pairs[0][0], pairs[-1][0]]
        cars.append((write_car(roots, pairs), [cid for cid, _ in pairs]))
    return cars


def _outcome(function: Callable[[], Any]) -> Any:
    try:
        return ("ok", function())
    except DecodeError as exc:
        return ("error", str(exc))


def _general_find(data: bytes, cid: CID) -> bytes | None:
    return _find_from(data, _read_header(data)[1], bytes(cid))


def _general_index(data: bytes, wanted: bytes | None, verify: bool) -> Any:
    index: dict[bytes, tuple[int, int]] = {}
    stop = _index_from(data, _read_header(data)[1], index, wanted, verify)
    return stop, index


def _fast_index(data: bytes, wanted: bytes | None, verify: bool) -> Any:
    index: dict[bytes, tuple[int, int]] = {}
    stop = _index_sections(data, _read_header(data)[1], index, wanted, verify)
    return stop, index


def _assert_same(data: bytes, cids: list[CID]) -> None:
    for cid in cids:
        raw = bytes(cid)
        assert _outcome(partial(find_block, data, cid)) == _outcome(
            partial(_general_find, data, cid)
        )
        for verify in (False, True):
            assert _outcome(partial(_fast_index, data, raw, verify)) == _outcome(
                partial(_general_index, data, raw, verify)
            )
    for verify in (False, True):
        assert _outcome(partial(_fast_index, data, None, verify)) == _outcome(
            partial(_general_index, data, None, verify)
        )


def test_well_formed_cars_read_alike() -> None:
    for data, cids in _cars(1, 60):
        _assert_same(data, cids)
        car = read_car(data, verify=True)
        finder = BlockFinder(data)
        for cid in cids:
            assert find_block(data, cid) == car.blocks[cid] == finder.get(cid)


def test_mutated_and_truncated_cars_read_alike() -> None:
    rng = random.Random(2)
    seeds = _cars(3, 20)
    errors = 0
    for _ in range(3000):
        data, cids = rng.choice(seeds)
        mutated = bytearray(data)
        if rng.random() < 0.3:
            del mutated[rng.randrange(59, len(mutated)) :]
        for _ in range(rng.randint(1, 3)):
            if len(mutated) > 59:
                mutated[rng.randrange(59, len(mutated))] = rng.randrange(256)
        frozen = bytes(mutated)
        _assert_same(frozen, cids)
        errors += _outcome(partial(read_car, frozen, verify=True))[0] == "error"
    assert errors > 1000  # most mutations make the CAR wrong somewhere


def test_a_block_that_does_not_hash_to_its_cid_is_refused_the_same_way() -> None:
    good = encode_dag_cbor({"a": 1})
    bad = encode_dag_cbor({"a": 2})
    other = encode_dag_cbor({"b": 1})
    data = write_car([cid_for(good)], [(cid_for(other), other), (cid_for(good), bad)])
    with pytest.raises(DecodeError, match=r"CAR block at offset \d+ does not hash to its CID"):
        read_car(data, verify=True)
    assert _outcome(lambda: _fast_index(data, None, True)) == _outcome(
        lambda: _general_index(data, None, True)
    )
    assert read_car(data).blocks[cid_for(good)] == bad  # unchecked without verify
    assert find_block(data, cid_for(good)) == bad  # find_block never hashes (its callers do)


def test_sections_of_other_forms_hand_over_to_the_general_walk() -> None:
    rng = random.Random(4)
    small = encode_dag_cbor({"x": 1})  # a block shorter than a CID: still a valid section
    big = encode_dag_cbor({"pad": rng.randbytes(40_000)})  # a three-byte section length
    cidv0 = CID.decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
    pairs = [
        (cid_for(small), small),
        (cid_for(big), big),
        (cidv0, b"v0 block"),
        (CID.from_bytes(b"\x01\x71\x13\x20" + bytes(32)), b"sha2-512 code, 32 bytes"),
    ]
    last = encode_dag_cbor({"last": True})
    pairs.append((cid_for(last), last))
    data = write_car([cid_for(last)], pairs)
    cids = [cid for cid, _ in pairs]
    _assert_same(data, cids)
    assert find_block(data, cid_for(last)) == last
    with pytest.raises(DecodeError, match="does not hash to its CID Qm"):  # made up blocks
        read_car(data, verify=True)


def test_a_length_byte_at_the_very_end_is_reported_as_by_the_general_walk() -> None:
    block = encode_dag_cbor({"a": 1})
    data = write_car([cid_for(block)], [(cid_for(block), block)]) + b"\x85"
    _assert_same(data, [cid_for(block), cid_for(b"absent")])
    with pytest.raises(DecodeError):
        read_car(data)
