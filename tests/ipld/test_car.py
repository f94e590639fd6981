"""CAR v1 reading, verification and writing (atproto_async/ipld/car.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import (
    CID,
    cid_for,
    cid_for_raw,
    decode_dag_cbor,
    encode_dag_cbor,
    from_json,
    read_car,
    write_car,
)
from atproto_async.ipld.cid import cid_for_bytes

#: ``../shared/fixtures`` beside the repository (official vectors; absent in a user's clone).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

INDIGO = FIXTURES / "indigo"


def _car_files() -> list[Any]:
    if not INDIGO.is_dir():
        return [pytest.param(None, id="indigo-fixtures-absent")]
    paths = sorted([*INDIGO.rglob("*.car"), *INDIGO.rglob("*.repo")])
    return [pytest.param(path, id=path.name) for path in paths]


def _firehose_commits() -> list[Any]:
    folder = INDIGO / "atproto" / "repo" / "testdata"
    if not folder.is_dir():
        return [pytest.param(None, id="indigo-fixtures-absent")]
    return [pytest.param(path, id=path.name) for path in sorted(folder.glob("firehose_commit_*"))]


@pytest.mark.parametrize("path", _car_files())
def test_every_indigo_car_reads_and_every_block_hashes_to_its_cid(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"test vectors not found at {INDIGO}")
    car = read_car(path.read_bytes(), verify=True)
    assert car.roots
    assert car.roots[0] in car.blocks
    assert len(car.blocks) > 0
    for cid, block in car.blocks.items():
        assert cid_for_bytes(block, cid.codec) == cid
        if cid.codec == 0x71:
            assert cid_for(decode_dag_cbor(block)) == cid  # strict decode, canonical re-encode


@pytest.mark.parametrize("path", _firehose_commits())
def test_firehose_commit_car_reads_with_the_commit_as_root(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"test vectors not found at {INDIGO}")
    body = from_json(json.loads(path.read_text()))
    car = read_car(body["blocks"], verify=True)
    assert car.roots == [body["commit"]]
    commit = decode_dag_cbor(car.blocks[body["commit"]])
    assert commit["did"] == body["repo"]
    for op in body["ops"]:
        if op["action"] != "delete":
            assert op["cid"] in car.blocks


def _sample() -> tuple[list[CID], list[tuple[CID, bytes]]]:
    record = encode_dag_cbor({"$type": "app.bsky.feed.like", "createdAt": "2025-01-01T00:00:00Z"})
    blob = b"\x89PNG not really"
    commit = encode_dag_cbor({"did": "did:plc:abc", "data": cid_for(record), "version": 3})
    blocks = [(cid_for(commit), commit), (cid_for(record), record), (cid_for_raw(blob), blob)]
    return [cid_for(commit)], blocks


def test_write_then_read_round_trip_with_pairs_and_mapping() -> None:
    roots, blocks = _sample()
    data = write_car(roots, blocks)
    assert write_car(roots, dict(blocks)) == data
    car = read_car(data, verify=True)
    assert car.roots == roots
    assert list(car.blocks) == [cid for cid, _ in blocks]
    assert dict(car.blocks.items()) == dict(blocks)
    assert len(car.blocks) == 3
    assert read_car(memoryview(data)).roots == roots
    assert "3 blocks" in repr(car.blocks)


def test_missing_block_is_a_key_error() -> None:
    roots, blocks = _sample()
    car = read_car(write_car(roots, blocks[:1]))
    with pytest.raises(KeyError):
        car.blocks[blocks[1][0]]
    assert blocks[1][0] not in car.blocks


def test_first_of_duplicate_blocks_wins() -> None:
    roots, blocks = _sample()
    cid, block = blocks[0]
    car = read_car(write_car(roots, [(cid, block), (cid, b"other")]))
    assert car.blocks[cid] == block
    assert len(car.blocks) == 1


def test_verify_detects_a_block_that_does_not_match_its_cid() -> None:
    roots, blocks = _sample()
    cid, block = blocks[1]
    data = write_car(roots, [(cid, block[:-1] + b"\x00")])
    assert read_car(data).blocks[cid] != block  # without verify, read as is
    with pytest.raises(DecodeError, match="does not hash to its CID"):
        read_car(data, verify=True)


def test_verify_refuses_hashes_it_cannot_check() -> None:
    identity = CID.from_bytes(b"\x01\x55\x00\x03abc")
    data = write_car([identity], [(identity, b"abc")])
    assert read_car(data).blocks[identity] == b"abc"
    with pytest.raises(DecodeError, match="sha2-256"):
        read_car(data, verify=True)


def _header(value: Any) -> bytes:
    encoded = encode_dag_cbor(value)
    return bytes([len(encoded)]) + encoded


ROOT = _sample()[0][0]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "truncated CAR"),
        (b"\x80", "truncated CAR"),
        (b"\x00", "empty header"),
        (b"\xff" * 10, "too long"),
        (b"\x80\x00", "non-minimal"),
        (b"\xff\xff\x7f", "above"),
        (b"\x30" + b"\xa0", "header declares 48 bytes"),
        (_header([1]), "not a map"),
        (_header({"version": 2, "roots": [ROOT]}), "unsupported version 2"),
        (_header({"version": 1, "roots": ["x"]}), "list of CIDs"),
        (_header({"version": 1}), "list of CIDs"),
        (_header({"version": 1, "roots": []}) + b"\x50\x01", "declares 80 bytes"),
        (_header({"version": 1, "roots": []}) + b"\x05\x02\x71\x12\x20\x00", "version 2"),
        (_header({"version": 1, "roots": []}) + b"\x05\x01\x71\x12\x20\x00", "past its section"),
        (_header({"version": 1, "roots": []}) + b"\x01\x01", "truncated CAR"),
        (b"\x02\xf9\x00", "invalid DAG-CBOR|truncated"),
    ],
)
def test_malformed_cars_raise_decode_error(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        read_car(data)


def test_forged_section_length_does_not_allocate() -> None:
    data = _header({"version": 1, "roots": []}) + b"\xff\xff\xff\xff\xff\xff\xff\x3f"
    with pytest.raises(DecodeError, match="declares"):
        read_car(data)


def test_empty_roots_and_no_blocks_is_a_valid_car() -> None:
    car = read_car(write_car([], []))
    assert car.roots == []
    assert len(car.blocks) == 0
