"""Property tests: DAG-CBOR encoding is canonical and decoding is its exact inverse."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import (
    CID,
    decode_dag_cbor,
    decode_dag_cbor_multi,
    encode_dag_cbor,
    from_json,
    to_json,
)
from atproto_async.ipld.cid import cid_for_bytes

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cids = st.builds(cid_for_bytes, st.binary(max_size=16), st.sampled_from([0x71, 0x55]))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | cids
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
json_safe_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | cids
)
json_safe_values = st.recursive(
    json_safe_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=8).filter(lambda key: key not in ("$link", "$bytes")),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@SETTINGS
@given(values)
def test_encode_then_decode_is_the_identity(value: Any) -> None:
    encoded = encode_dag_cbor(value)
    assert decode_dag_cbor(encoded) == value
    assert decode_dag_cbor(encoded, strict=False) == value


@SETTINGS
@given(values)
def test_decode_then_encode_reproduces_canonical_input(value: Any) -> None:
    canonical = encode_dag_cbor(value)
    assert encode_dag_cbor(decode_dag_cbor(canonical)) == canonical


@SETTINGS
@given(st.dictionaries(st.text(max_size=6), st.integers(-1000, 1000), max_size=8), st.randoms())
def test_key_insertion_order_does_not_change_the_encoding(
    value: dict[str, int], random: Any
) -> None:
    items = list(value.items())
    random.shuffle(items)
    assert encode_dag_cbor(dict(items)) == encode_dag_cbor(value)


@SETTINGS
@given(st.integers(2**63, 2**64 - 1), st.sampled_from([0, 1]), st.sampled_from([0, 1, 3]))
def test_integers_beyond_64_signed_bits_are_refused_both_ways(
    argument: int, major: int, depth: int
) -> None:
    # CBOR writes integers up to 2**64-1 (major type 0) and down to -2**64 (major type 1);
    # DAG-CBOR allows only -2**63 .. 2**63-1.
    value = argument if major == 0 else -1 - argument
    data = b"\x81" * depth + bytes([major << 5 | 27]) + argument.to_bytes(8, "big")
    with pytest.raises(DecodeError, match="64-bit range"):
        decode_dag_cbor(data)
    with pytest.raises(DecodeError, match="64-bit range"):
        decode_dag_cbor_multi(data + b"\x01")
    wrapped: Any = value
    for _ in range(depth):
        wrapped = [wrapped]
    with pytest.raises(DecodeError, match="64 bits"):
        encode_dag_cbor(wrapped)


@SETTINGS
@given(st.binary(max_size=64))
def test_any_strictly_accepted_input_is_canonical(data: bytes) -> None:
    try:
        value = decode_dag_cbor(data)
    except DecodeError:
        return
    assert encode_dag_cbor(value) == data


@SETTINGS
@given(st.lists(values, min_size=1, max_size=3))
def test_multi_decodes_concatenated_values(items: list[Any]) -> None:
    data = b"".join(encode_dag_cbor(item) for item in items)
    assert decode_dag_cbor_multi(data) == items
    assert decode_dag_cbor_multi(data, strict=False) == items


@SETTINGS
@given(json_safe_values)
def test_json_form_round_trips(value: Any) -> None:
    assert from_json(to_json(value)) == value


@SETTINGS
@given(cids)
def test_cid_string_and_binary_forms_round_trip(cid: CID) -> None:
    assert CID.decode(str(cid)) == cid
    assert CID.from_bytes(bytes(cid)) == cid
