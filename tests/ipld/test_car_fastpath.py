"""The fast paths of CAR reading (atproto_async/ipld/car.py): same answers as the general ones.

`read_car` recognises the usual one-root header by its bytes, reads short section lengths
inline and keys its index by binary CIDs; `BlockFinder` (the firehose's record lookup) walks
sections only as far as the block sought. These tests hold both to the general behaviour.
"""

from __future__ import annotations

import random

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, cid_for, cid_for_raw, encode_dag_cbor, read_car, write_car
from atproto_async.ipld.car import BlockFinder, find_block


def _blocks(count: int, size: int = 40, seed: int = 0) -> list[tuple[CID, bytes]]:
    rng = random.Random(seed)
    pairs = []
    for index in range(count):
        block = encode_dag_cbor({"i": index, "pad": rng.randbytes(size)})
        pairs.append((cid_for(block), block))
    return pairs


def _header(value: object) -> bytes:
    encoded = encode_dag_cbor(value)
    return bytes([len(encoded)]) + encoded


def test_one_root_header_is_recognised_and_read_like_any_other() -> None:
    pairs = _blocks(3)
    root = pairs[0][0]
    data = write_car([root], pairs)
    assert data[:59] == _header({"roots": [root], "version": 1})  # the recognised layout
    car = read_car(data)
    assert car.roots == [root]
    assert type(car.roots[0]) is CID and str(car.roots[0]) == str(root)
    assert dict(car.blocks.items()) == dict(pairs)


@pytest.mark.parametrize(
    "roots",
    [
        pytest.param([], id="no-roots"),
        pytest.param(["two"], id="two-roots"),
        pytest.param(["raw"], id="raw-codec-root"),
    ],
)
def test_other_headers_take_the_general_path(roots: list[str]) -> None:
    pairs = _blocks(2)
    chosen = {
        "two": [pairs[0][0], pairs[1][0]],
        "raw": [cid_for_raw(b"blob")],
    }
    root_cids = [cid for name in roots for cid in chosen[name]]
    data = write_car(root_cids, pairs)
    assert read_car(data).roots == root_cids
    finder = BlockFinder(data)
    assert finder.get(pairs[1][0]) == pairs[1][1]
    assert find_block(data, pairs[1][0]) == pairs[1][1]


def test_near_miss_of_the_usual_header_is_still_checked() -> None:
    root = _blocks(1)[0][0]
    header = bytearray(_header({"roots": [root], "version": 1}))
    header[-1] = 2  # version 2, same layout otherwise
    with pytest.raises(DecodeError, match="unsupported version 2"):
        read_car(bytes(header))
    with pytest.raises(DecodeError, match="unsupported version 2"):
        BlockFinder(bytes(header))
    with pytest.raises(DecodeError, match="unsupported version 2"):
        find_block(bytes(header), root)


@pytest.mark.parametrize("size", [10, 200, 20_000], ids=["1-byte", "2-byte", "3-byte"])
def test_section_lengths_of_every_varint_width(size: int) -> None:
    pairs = _blocks(4, size)
    data = write_car([pairs[0][0]], pairs)
    assert dict(read_car(data, verify=True).blocks.items()) == dict(pairs)
    finder = BlockFinder(data)
    for cid, block in reversed(pairs):
        assert finder.get(cid) == block
        assert find_block(data, cid) == block


def test_non_minimal_two_byte_section_length_is_refused_by_both_readers() -> None:
    (cid, block), *_ = _blocks(1, 0)
    raw = bytes(cid) + block
    assert len(raw) < 0x80
    data = _header({"roots": [], "version": 1}) + bytes([0x80 | len(raw), 0x00]) + raw
    with pytest.raises(DecodeError, match="non-minimal"):
        read_car(data)
    with pytest.raises(DecodeError, match="non-minimal"):
        BlockFinder(data).get(cid)
    with pytest.raises(DecodeError, match="non-minimal"):
        find_block(data, cid)


def test_forged_section_length_is_refused_before_any_read() -> None:
    cid = _blocks(1)[0][0]
    data = _header({"roots": [], "version": 1}) + b"\xff\xff\x7f" + bytes(cid)
    with pytest.raises(DecodeError, match="declares"):
        BlockFinder(data).get(cid)
    with pytest.raises(DecodeError, match="declares"):
        find_block(data, cid)
    with pytest.raises(DecodeError, match="declares"):
        read_car(data)


def test_block_finder_agrees_with_read_car_in_any_lookup_order() -> None:
    pairs = _blocks(12)
    duplicate = (pairs[3][0], b"second copy")
    data = write_car([pairs[0][0]], [*pairs, duplicate])
    car = read_car(data)
    absent = cid_for(b"absent")
    for seed in range(5):
        order = [cid for cid, _ in pairs] + [absent]
        random.Random(seed).shuffle(order)
        finder = BlockFinder(data)
        for cid in order:
            assert finder.get(cid) == car.blocks.get(cid) == find_block(data, cid)
        assert finder.get(pairs[3][0]) == pairs[3][1]  # the first of two copies wins
        assert find_block(data, pairs[3][0]) == pairs[3][1]


def test_block_finder_reads_only_up_to_the_block_sought() -> None:
    pairs = _blocks(3)
    good = write_car([pairs[0][0]], pairs)
    broken = good + b"\x05\x02\x71\x12\x20\x00"  # a last section with a CIDv2: invalid
    with pytest.raises(DecodeError, match="version 2"):
        read_car(broken)  # the whole file is checked here
    assert BlockFinder(broken).get(pairs[1][0]) == pairs[1][1]
    assert find_block(broken, pairs[1][0]) == pairs[1][1]
    with pytest.raises(DecodeError, match="version 2"):
        BlockFinder(broken).get(cid_for(b"absent"))  # a lookup that must pass it
    with pytest.raises(DecodeError, match="version 2"):
        find_block(broken, cid_for(b"absent"))


def test_sections_before_the_block_sought_are_checked() -> None:
    pairs = _blocks(2)
    bad_cid_section = b"\x05\x02\x71\x12\x20\x00"
    data = (
        _header({"roots": [], "version": 1})
        + bad_cid_section
        + write_car([], pairs)[len(_header({"roots": [], "version": 1})) :]
    )
    with pytest.raises(DecodeError, match="version 2"):
        find_block(data, pairs[0][0])
    finder = BlockFinder(data)
    with pytest.raises(DecodeError, match="version 2"):
        finder.get(pairs[0][0])
    with pytest.raises(DecodeError, match="version 2"):
        finder.get(pairs[1][0])


def test_block_finder_refuses_a_bad_header_at_once() -> None:
    cid = cid_for(b"x")
    with pytest.raises(DecodeError, match="truncated CAR"):
        BlockFinder(b"")
    with pytest.raises(DecodeError, match="not a map"):
        BlockFinder(_header([1]))
    with pytest.raises(DecodeError, match="truncated CAR"):
        find_block(b"", cid)
    with pytest.raises(DecodeError, match="not a map"):
        find_block(_header([1]), cid)


def test_car_blocks_keys_are_cids_and_other_keys_are_absent() -> None:
    pairs = _blocks(3)
    blocks = read_car(write_car([], pairs)).blocks
    assert list(blocks) == [cid for cid, _ in pairs]
    assert all(type(cid) is CID for cid in blocks)
    for key in (10**12, bytes(pairs[0][0]), str(pairs[0][0]), None):
        assert key not in blocks
        assert blocks.get(key) is None  # type: ignore[call-overload]
        with pytest.raises(KeyError):
            blocks[key]  # type: ignore[index]
    assert blocks == dict(pairs)


def test_verify_checks_every_copy_of_a_repeated_cid() -> None:
    (cid, block), *_ = _blocks(1)
    data = write_car([cid], [(cid, block), (cid, block[:-1] + b"\x00")])
    assert read_car(data).blocks[cid] == block
    with pytest.raises(DecodeError, match="does not hash to its CID"):
        read_car(data, verify=True)
