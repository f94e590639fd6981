"""CID parsing, formatting and identity (atproto_async/ipld/cid.py)."""

from __future__ import annotations

import base64
import hashlib
import pickle

import multiformats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import CID, cid_for_raw
from atproto_async.ipld.cid import (
    CODEC_DAG_CBOR,
    CODEC_RAW,
    HASH_SHA2_256,
    _b32decode,
    _b32encode,
    cid_for_bytes,
)

V1 = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
RAW = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"


def test_v1_string_round_trip_and_binary_form_match_multiformats() -> None:
    cid = CID.decode(V1)
    assert str(cid) == V1
    assert bytes(cid) == bytes(multiformats.CID.decode(V1))
    assert cid.version == 1
    assert cid.codec == CODEC_DAG_CBOR
    assert cid.hash_code == HASH_SHA2_256
    assert len(cid.digest) == 32
    assert cid.multihash == b"\x12\x20" + cid.digest


def test_from_bytes_equals_decode_and_string_is_built_lazily() -> None:
    binary = bytes(CID.decode(V1))
    cid = CID.from_bytes(binary)
    assert cid == CID.decode(V1)
    assert CID.decode(binary) == cid
    assert CID.from_bytes(memoryview(binary)) == cid
    assert str(cid) == V1
    assert repr(cid) == f"CID('{V1}')"


def test_equal_by_value_and_hashable() -> None:
    first, second = CID.decode(V1), CID.decode(V1)
    assert first is not second
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second, CID.decode(RAW)}) == 2
    assert first != CID.decode(RAW)
    assert first != V1
    assert (first == bytes(first)) is False


def test_raw_codec_cid_for_blob_bytes() -> None:
    data = b"some blob bytes"
    cid = cid_for_raw(data)
    assert cid.codec == CODEC_RAW
    assert cid.digest == hashlib.sha256(data).digest()
    assert str(cid).startswith("bafkrei")
    assert cid.verify(data)
    assert not cid.verify(data + b"!")


def test_cid_for_bytes_other_codec_uses_varint_codec() -> None:
    cid = cid_for_bytes(b"x", codec=0x0129)  # dag-json
    assert cid.codec == 0x0129
    assert CID.decode(str(cid)) == cid


def test_cidv0_decodes_and_prints_as_base58() -> None:
    digest = hashlib.sha256(b"hello").digest()
    reference = multiformats.CID("base58btc", 0, "dag-pb", b"\x12\x20" + digest)
    text = str(reference)
    cid = CID.decode(text)
    assert text.startswith("Qm")
    assert cid.version == 0
    assert cid.codec == 0x70
    assert cid.digest == digest
    assert str(cid) == text
    assert bytes(cid) == b"\x12\x20" + digest


@pytest.mark.parametrize(
    "text",
    [
        "B" + V1[1:].upper(),  # base32 upper
        "z" + str(multiformats.CID.decode(V1).encode("base58btc"))[1:],
        "f" + bytes(CID.decode(V1)).hex(),
    ],
)
def test_other_multibases_decode_to_the_same_cid(text: str) -> None:
    assert CID.decode(text) == CID.decode(V1)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        (".", "multibase prefix"),
        ("bafy!!", "not base32"),
        (V1[:-3], "invalid CID"),
        (V1[:-4], "invalid CID"),
        ("b" + "a" * 600, "too long"),
        ("Qm" + "0" * 44, "base58btc"),
        (b"", "truncated"),
        (b"\x02\x71\x12\x20" + b"\x00" * 32, "version 2"),
        (b"\x01\x71\x12\x20" + b"\x00" * 31, "32-byte digest"),
        (b"\x01\x71\x12\x20" + b"\x00" * 33, "32-byte digest"),
        (b"\x01\x80\x00\x12\x20" + b"\x00" * 32, "non-minimal"),
        (b"\x01" + b"\xff" * 12, "too long"),
        (12, "expected str or bytes"),
    ],
)
def test_invalid_cids_raise_decode_error(value: object, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        CID.decode(value)  # type: ignore[arg-type]


def test_non_canonical_base32_spelling_is_refused() -> None:
    # The last character carries padding bits; setting them spells the same bytes differently.
    with pytest.raises(DecodeError, match="canonical"):
        CID.decode(V1[:-1] + "b")


def test_pickle_round_trip() -> None:
    cid = CID.decode(V1)
    assert pickle.loads(pickle.dumps(cid)) == cid


def test_decode_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        CID.decode("nope")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_base32_codec_matches_the_standard_library(data: bytes) -> None:
    text = base64.b32encode(data).decode("ascii").lower().rstrip("=")
    assert _b32encode(data) == text
    assert _b32decode(text) == data


@pytest.mark.parametrize(
    "text", ["a", "abc", "abcdef", "ab1", "aB", "a_", " ab", "ab ", "+ab", "ab٣"]
)
def test_base32_decoder_refuses_other_spellings(text: str) -> None:
    with pytest.raises(DecodeError):
        _b32decode(text)
