"""The link layout constants of ipld/cid.py hold what the encoder writes for real CIDs.

The fast readers compare slices with these constants and compile them into their regular
expressions; if a constant drifted from the bytes `encode_dag_cbor` and `write_car` produce,
those readers would silently stop matching (or match the wrong bytes).
"""

from __future__ import annotations

import pytest

from atproto_async.ipld import CID, cid_for, cid_for_raw, decode_dag_cbor, encode_dag_cbor
from atproto_async.ipld import car as car_module
from atproto_async.ipld._scan import _token_pattern, is_canonical
from atproto_async.ipld.car import find_block, read_car, write_car
from atproto_async.ipld.cid import (
    CODEC_DAG_CBOR,
    CODEC_RAW,
    DAG_CBOR_SHA256_PREFIX,
    LINK_MULTIBASE,
    LINK_TAG_HEAD,
    RAW_SHA256_PREFIX,
    SHA256_CID_PREFIXES,
    SHA256_CID_SIZE,
    SHA256_DIGEST_SIZE,
    SHA256_LINK_HEAD,
    SHA256_LINK_SIZE,
    SHA256_MULTIHASH_HEAD,
    TAGGED_DAG_CBOR_SHA256_PREFIX,
    TAGGED_RAW_SHA256_PREFIX,
    TAGGED_SHA256_CID_SIZE,
    TAGGED_SHA256_PREFIX_SIZE,
    cid_from_tagged,
)
from atproto_async.ipld.dag_cbor import decode_dag_cbor_at

DAG_CBOR_CIDS = [cid_for({"n": n}) for n in range(8)]
RAW_CIDS = [cid_for_raw(bytes([n]) * n) for n in range(8)]
#: CIDs of other forms, which must not match the sha2-256 constants.
OTHER_CIDS = [
    CID.decode("QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY"),  # CIDv0
    CID.from_bytes(b"\x01\x71\x13\x40" + bytes(64)),  # sha2-512
    CID.from_bytes(b"\x01\x70\x12\x20" + bytes(32)),  # dag-pb codec
]


@pytest.mark.parametrize(
    ("cids", "prefix", "tagged_prefix", "codec"),
    [
        (DAG_CBOR_CIDS, DAG_CBOR_SHA256_PREFIX, TAGGED_DAG_CBOR_SHA256_PREFIX, CODEC_DAG_CBOR),
        (RAW_CIDS, RAW_SHA256_PREFIX, TAGGED_RAW_SHA256_PREFIX, CODEC_RAW),
    ],
)
def test_encoded_link_is_head_then_tagged_prefix_then_digest(
    cids: list[CID], prefix: bytes, tagged_prefix: bytes, codec: int
) -> None:
    for cid in cids:
        assert cid.codec == codec and cid.hash_code == 0x12
        assert bytes(cid) == prefix + cid.digest
        assert len(bytes(cid)) == SHA256_CID_SIZE
        assert len(cid.digest) == SHA256_DIGEST_SIZE
        assert cid.multihash[: len(SHA256_MULTIHASH_HEAD)] == SHA256_MULTIHASH_HEAD
        assert bytes(cid).startswith(SHA256_CID_PREFIXES)
        encoded = encode_dag_cbor(cid)
        assert encoded == SHA256_LINK_HEAD + tagged_prefix + cid.digest
        assert encoded.startswith(LINK_TAG_HEAD)
        assert len(encoded) == SHA256_LINK_SIZE
        assert len(encoded) - len(SHA256_LINK_HEAD) == TAGGED_SHA256_CID_SIZE
        assert encoded[len(SHA256_LINK_HEAD) :][:TAGGED_SHA256_PREFIX_SIZE] == tagged_prefix
        assert encoded[len(SHA256_LINK_HEAD) :] == LINK_MULTIBASE + bytes(cid)


def test_other_cids_do_not_match_the_sha256_layout() -> None:
    for cid in OTHER_CIDS:
        assert not bytes(cid).startswith(SHA256_CID_PREFIXES)
        encoded = encode_dag_cbor(cid)
        assert encoded.startswith(LINK_TAG_HEAD)  # tag 42 all the same
        tagged = encoded[len(SHA256_LINK_HEAD) : len(SHA256_LINK_HEAD) + TAGGED_SHA256_PREFIX_SIZE]
        assert tagged not in (TAGGED_DAG_CBOR_SHA256_PREFIX, TAGGED_RAW_SHA256_PREFIX)
        # The link head covers every 37-byte tag content (a dag-pb sha2-256 CIDv1 too).
        assert encoded.startswith(SHA256_LINK_HEAD) is (len(bytes(cid)) == SHA256_CID_SIZE)
        assert decode_dag_cbor(encode_dag_cbor(cid)) == cid


def test_links_inside_values_are_found_where_the_layout_says() -> None:
    cid, raw = DAG_CBOR_CIDS[1], RAW_CIDS[1]
    encoded = encode_dag_cbor({"a": cid, "b": [raw, None]})
    at = encoded.index(SHA256_LINK_HEAD)
    assert encoded[at : at + SHA256_LINK_SIZE] == encode_dag_cbor(cid)
    at = encoded.index(SHA256_LINK_HEAD, at + 1)
    assert encoded[at : at + SHA256_LINK_SIZE] == encode_dag_cbor(raw)


def test_cid_from_tagged_equals_the_parsed_cid_and_shares_its_bytes() -> None:
    for cid in (*DAG_CBOR_CIDS, *RAW_CIDS, *OTHER_CIDS):
        tagged = LINK_MULTIBASE + bytes(cid)
        made = cid_from_tagged(tagged)
        assert made == CID.from_bytes(bytes(cid)) == cid
        assert hash(made) == hash(cid)
        assert str(made) == str(cid)
        assert (made.version, made.codec, made.digest) == (cid.version, cid.codec, cid.digest)
        assert made._tagged is tagged  # no copy: the reader's slice is the storage


def test_the_decoder_makes_links_equal_to_the_encoded_cids() -> None:
    cids = [*DAG_CBOR_CIDS, *RAW_CIDS, *OTHER_CIDS]
    encoded = encode_dag_cbor({"links": cids})
    for strict in (False, True):
        decoded = decode_dag_cbor(encoded, strict=strict)
        assert decoded == {"links": cids}
        assert all(type(cid) is CID for cid in decoded["links"])


def test_decode_dag_cbor_at_starts_where_told_and_checks_the_end() -> None:
    head = encode_dag_cbor({"op": 1})
    body = encode_dag_cbor({"cid": DAG_CBOR_CIDS[0], "n": 3})
    assert decode_dag_cbor_at(head + body, len(head)) == {"cid": DAG_CBOR_CIDS[0], "n": 3}
    assert decode_dag_cbor_at(body) == decode_dag_cbor(body)
    with pytest.raises(ValueError, match="trailing bytes"):
        decode_dag_cbor_at(head + body)
    non_minimal = b"\xa1\x61n\x18\x03"  # {"n": 3} with a two-byte integer
    assert decode_dag_cbor_at(non_minimal) == {"n": 3}
    with pytest.raises(ValueError, match=r"canonical|shortest|minimal"):
        decode_dag_cbor_at(non_minimal, strict=True)


def test_the_canonical_scan_reads_encoded_links_in_one_token() -> None:
    pattern = _token_pattern()
    for cid in (*DAG_CBOR_CIDS, *RAW_CIDS):
        encoded = encode_dag_cbor(cid)
        match = pattern.match(encoded)
        assert match is not None and match.end() == len(encoded)
    encoded = encode_dag_cbor([*DAG_CBOR_CIDS, *RAW_CIDS, *OTHER_CIDS])
    assert is_canonical(encoded, 0, len(encoded))
    link = encode_dag_cbor(DAG_CBOR_CIDS[0])
    # A 37-byte link whose byte-string head is written long is not canonical.
    long_head = LINK_TAG_HEAD + b"\x59\x00" + bytes([TAGGED_SHA256_CID_SIZE]) + link[4:]
    assert not is_canonical(long_head, 0, len(long_head))


def test_car_one_root_header_constants_are_what_write_car_writes() -> None:
    root = DAG_CBOR_CIDS[2]
    block = encode_dag_cbor({"n": 2})
    data = write_car([root], [(root, block)])
    assert data.startswith(car_module._ONE_ROOT_HEADER_HEAD)
    start, end = car_module._ONE_ROOT_CID_START, car_module._ONE_ROOT_CID_END
    assert data[start:end] == bytes(root)
    assert data[end : car_module._ONE_ROOT_HEADER_SIZE] == car_module._ONE_ROOT_HEADER_TAIL
    assert data[0] + 1 == car_module._ONE_ROOT_HEADER_SIZE  # its one-byte length, then it
    assert read_car(data).roots == [root]
    assert find_block(data, root) == block


@pytest.mark.parametrize(
    ("cid", "usual"), [(cid, True) for cid in DAG_CBOR_CIDS[:2]] + [(OTHER_CIDS[1], False)]
)
def test_car_header_is_recognised_only_for_a_sha256_dag_cbor_root(cid: CID, usual: bool) -> None:
    data = write_car([cid], [])
    assert data.startswith(car_module._ONE_ROOT_HEADER_HEAD) is usual
    assert read_car(data).roots == [cid]
