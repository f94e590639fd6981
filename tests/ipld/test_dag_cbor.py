"""Strict DAG-CBOR decoding and canonical encoding (atproto_async/ipld/dag_cbor.py)."""

from __future__ import annotations

import base64
import json
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import (
    CID,
    cid_for,
    decode_dag_cbor,
    decode_dag_cbor_multi,
    encode_dag_cbor,
    from_json,
    to_json,
)

#: ``../shared/fixtures`` beside the repository (official vectors; absent in a user's clone).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

LINK = CID.decode("bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a")
TAGGED_LINK = b"\xd8\x2a\x58\x25\x00" + bytes(LINK)


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _fixture_vectors() -> list[Any]:
    path = FIXTURES / "interop" / "data-model" / "data-model-fixtures.json"
    if not path.exists():
        return [pytest.param(None, id="fixtures-absent")]
    return [pytest.param(vector, id=vector["cid"]) for vector in json.loads(path.read_text())]


@pytest.mark.parametrize("vector", _fixture_vectors())
def test_interop_vectors_round_trip_byte_for_byte(vector: dict[str, Any] | None) -> None:
    if vector is None:
        pytest.skip(f"test vectors not found under {FIXTURES}")
    encoded = _b64(vector["cbor_base64"])
    value = decode_dag_cbor(encoded)
    assert to_json(value) == vector["json"]
    assert encode_dag_cbor(from_json(vector["json"])) == encoded
    assert str(cid_for(encoded)) == vector["cid"]
    assert str(cid_for(value)) == vector["cid"]


def test_decodes_every_data_model_kind() -> None:
    data = bytes.fromhex("a6") + b"".join(
        [
            b"\x61a\x01",
            b"\x61b\x20",
            b"\x61c\xf5",
            b"\x61d\xf6",
            b"\x61e\x42\x01\x02",
            b"\x61f" + TAGGED_LINK,
        ]
    )
    assert decode_dag_cbor(data) == {
        "a": 1,
        "b": -1,
        "c": True,
        "d": None,
        "e": b"\x01\x02",
        "f": LINK,
    }
    assert decode_dag_cbor(memoryview(data)) == decode_dag_cbor(bytearray(data))


def test_64_bit_integer_extremes() -> None:
    assert decode_dag_cbor(b"\x1b\x7f" + b"\xff" * 7) == 2**63 - 1
    assert decode_dag_cbor(b"\x3b\x7f" + b"\xff" * 7) == -(2**63)
    assert encode_dag_cbor(2**63 - 1) == b"\x1b\x7f" + b"\xff" * 7
    assert encode_dag_cbor(-(2**63)) == b"\x3b\x7f" + b"\xff" * 7


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x1b\x80" + bytes(7), 2**63),
        (b"\x1b" + b"\xff" * 8, 2**64 - 1),
        (b"\x3b\x80" + bytes(7), -(2**63) - 1),
        (b"\x3b" + b"\xff" * 8, -(2**64)),  # major type 1 reaches -2**64
    ],
)
def test_integers_beyond_64_signed_bits_are_refused(data: bytes, value: int) -> None:
    # CBOR can write them; DAG-CBOR (and atproto) allow only -2**63 .. 2**63-1.
    with pytest.raises(DecodeError, match=rf"integer {value} is outside the signed 64-bit range"):
        decode_dag_cbor(data)
    with pytest.raises(DecodeError, match="64-bit range"):
        decode_dag_cbor(b"\xa1\x61n" + data)  # {"n": value}
    with pytest.raises(DecodeError, match="does not fit in 64 bits"):
        encode_dag_cbor(value)
    with pytest.raises(DecodeError, match="does not fit in 64 bits"):
        encode_dag_cbor({"n": [value]})


@pytest.mark.parametrize("tag", [2, 3])
def test_bignums_are_refused(tag: int) -> None:
    bignum = bytes([0xC0 | tag]) + b"\x49\x01" + bytes(8)  # 2**64, or -1 - 2**64
    for strict in (True, False):
        with pytest.raises(DecodeError, match=f"tag {tag} is not allowed.*a bignum"):
            decode_dag_cbor(bignum, strict=strict)


def test_a_huge_integer_is_named_by_its_size() -> None:
    with pytest.raises(DecodeError, match="integer of 3322 bits does not fit in 64 bits"):
        encode_dag_cbor(10**1000)


# (input, message fragment in strict mode, same in fast mode or None when fast mode accepts)
REJECTED: list[tuple[bytes, str, str | None]] = [
    (b"", "truncated", "truncated"),
    (b"\x82\x01", "truncated", "truncated"),
    (b"\x01\x02", "trailing bytes", "trailing bytes"),
    (b"\xfb\x40\x09\x21\xf9\xf0\x1b\x86\x6e", "floats are not allowed", None),
    (b"\xf9\x3c\x00", "floats are not allowed", None),
    (b"\xf7", "undefined", None),
    (b"\xf0", "simple values", None),
    (b"\xf8\x20", "simple values", None),
    (b"\x9f\x01\xff", "indefinite-length", "indefinite-length"),
    (b"\x5f\x41\x01\xff", "indefinite-length", "indefinite-length"),
    (b"\xbf\x61a\x01\xff", "indefinite-length", "indefinite-length"),
    (b"\xa2\x61a\x01\x61a\x02", "duplicate map key", "duplicate map key"),
    (b"\xa1\x01\x01", "map keys must be text", "map keys must be text"),
    (b"\xa1\x41a\x01", "map keys must be text", None),
    (b"\xa2\x61b\x01\x61a\x02", "out of canonical order", None),
    (b"\xa2\x62aa\x01\x61b\x02", "out of canonical order", None),
    (b"\x18\x01", "non-minimal integer", None),
    (b"\x19\x00\x01", "non-minimal integer", None),
    (b"\x1a\x00\x00\x00\x01", "non-minimal integer", None),
    (b"\x1b\x00\x00\x00\x00\x00\x00\x00\x01", "non-minimal integer", None),
    (b"\x1b\x80\x00\x00\x00\x00\x00\x00\x00", "64-bit range", None),
    (b"\x3b\xff\xff\xff\xff\xff\xff\xff\xff", "64-bit range", None),
    (b"\x38\x00", "non-minimal integer", None),
    (b"\x58\x01a", "non-minimal length", None),
    (b"\x78\x01a", "non-minimal length", None),
    (b"\x98\x01\x01", "non-minimal length", None),
    (b"\xb8\x01\x61a\x01", "non-minimal length", None),
    (b"\xc1\x01", "tag 1 is not allowed", "tag 1 is not allowed"),
    (b"\xc2\x41\x01", "tag 2 is not allowed", "tag 2 is not allowed"),
    (b"\xd9\xd9\xf7\x01", "tag 55799 is not allowed", "tag 55799 is not allowed"),
    (b"\xd8\x63\x01", "tag 99 is not allowed", "tag 99 is not allowed"),
    (b"\xd8\x2a\x01", "must wrap a byte string", "must wrap a byte string"),
    (b"\xd8\x2a\x41\x01", "0x00", "0x00"),
    (b"\xd8\x2a\x42\x00\x01", "truncated CID", "truncated CID"),
    (b"\x62\xff\xfe", "UTF-8", "UTF-8"),
    (b"\x81" * 200 + b"\x01", "deeper than 128", "deeper than 128"),
    (b"\x1c", "invalid DAG-CBOR", "invalid DAG-CBOR"),
    (b"\xff", "break", "break"),
]


@pytest.mark.parametrize(("data", "strict_message", "fast_message"), REJECTED)
def test_strict_mode_rejects_with_a_precise_message(
    data: bytes, strict_message: str, fast_message: str | None
) -> None:
    with pytest.raises(DecodeError, match=strict_message):
        decode_dag_cbor(data)


@pytest.mark.parametrize(("data", "strict_message", "fast_message"), REJECTED)
def test_fast_mode_rejects_what_the_stream_must_not_accept(
    data: bytes, strict_message: str, fast_message: str | None
) -> None:
    if fast_message is None:
        decode_dag_cbor(data, strict=False)  # accepted: a strict-only rule
        return
    with pytest.raises(DecodeError, match=fast_message):
        decode_dag_cbor(data, strict=False)


def test_every_tag_but_42_is_rejected() -> None:
    # cbor2 decodes some tags natively (datetimes, bignums, sets, ...); all must be refused.
    accepted = []
    for tag in [*range(0x10000), 2**16, 2**32 - 1, 2**32, 2**64 - 1]:
        if tag == 42:
            continue
        if tag < 24:
            head = bytes([0xC0 | tag])
        elif tag < 0x100:
            head = bytes([0xD8, tag])
        elif tag < 0x10000:
            head = b"\xd9" + tag.to_bytes(2, "big")
        elif tag < 2**32:
            head = b"\xda" + tag.to_bytes(4, "big")
        else:
            head = b"\xdb" + tag.to_bytes(8, "big")
        for payload in (b"\x00", b"\x40", b"\x80"):
            try:
                decode_dag_cbor(head + payload, strict=False)
            except DecodeError:
                continue
            accepted.append(tag)
    assert accepted == []


@pytest.mark.parametrize("head", [b"\x5b", b"\x7b", b"\x9b", b"\xbb"])
def test_forged_huge_length_fails_without_allocating(head: bytes) -> None:
    data = head + (2**62).to_bytes(8, "big") + b"abc"
    tracemalloc.start()
    try:
        for strict in (True, False):
            with pytest.raises(DecodeError, match="truncated"):
                decode_dag_cbor(data, strict=strict)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_multi_decodes_header_and_body_of_a_frame() -> None:
    header = encode_dag_cbor({"op": 1, "t": "#commit"})
    body = encode_dag_cbor({"seq": 7, "commit": LINK, "blocks": b"\x00" * 100})
    for strict in (True, False):
        assert decode_dag_cbor_multi(header + body, strict=strict) == [
            {"op": 1, "t": "#commit"},
            {"seq": 7, "commit": LINK, "blocks": b"\x00" * 100},
        ]
        assert decode_dag_cbor_multi(memoryview(header + body), strict=strict)[0]["op"] == 1


@pytest.mark.parametrize("strict", [True, False])
def test_multi_rejects_empty_truncated_and_bad_second_values(strict: bool) -> None:
    header = encode_dag_cbor({"op": 1, "t": "#commit"})
    with pytest.raises(DecodeError, match="truncated"):
        decode_dag_cbor_multi(b"", strict=strict)
    with pytest.raises(DecodeError, match="truncated"):
        decode_dag_cbor_multi(header + b"\xa1\x61a", strict=strict)
    with pytest.raises(DecodeError, match="tag 1"):
        decode_dag_cbor_multi(header + b"\xc1\x01", strict=strict)


def test_multi_strict_checks_each_value() -> None:
    header = encode_dag_cbor({"op": 1, "t": "#commit"})
    with pytest.raises(DecodeError, match="non-minimal"):
        decode_dag_cbor_multi(header + b"\x18\x01")
    assert decode_dag_cbor_multi(header + b"\x18\x01", strict=False) == [
        {"op": 1, "t": "#commit"},
        1,
    ]


def test_encode_sorts_keys_by_length_then_bytes() -> None:
    value = {"bb": 1, "a": 2, "c": 3, "aaa": 4, "é": 5}
    encoded = encode_dag_cbor(value)
    assert list(decode_dag_cbor(encoded)) == ["a", "c", "bb", "é", "aaa"]
    assert encode_dag_cbor(dict(reversed(value.items()))) == encoded


def test_encode_uses_shortest_forms_and_tag_42_for_links() -> None:
    assert encode_dag_cbor(23) == b"\x17"
    assert encode_dag_cbor(24) == b"\x18\x18"
    assert encode_dag_cbor(-25) == b"\x38\x18"
    assert encode_dag_cbor(LINK) == TAGGED_LINK
    assert encode_dag_cbor([b"", "", {}]) == b"\x83\x40\x60\xa0"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (1.5, "floats"),
        ({"a": [1.0]}, "floats"),
        ((1, 2), "tuple"),
        ({1: "a"}, "keys must be str"),
        ({b"a": 1}, "keys must be str"),
        (2**63, "64 bits"),
        (-(2**63) - 1, "64 bits"),
        (2**64, "64 bits"),
        (-(2**64) - 1, "64 bits"),
        ({"a": {1, 2}}, "set"),
        (bytearray(b"x"), "bytearray"),
        ("\ud800", "cannot encode"),
    ],
)
def test_encode_refuses_what_the_data_model_forbids(value: Any, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        encode_dag_cbor(value)


def test_encode_takes_datetimes_blobs_and_models_as_their_data_model_form() -> None:
    from atproto_async._model import Blob
    from atproto_async.models import RECORDS

    post = RECORDS.get("app.bsky.feed.post")
    assert post is not None
    blob = Blob(ref=LINK, mime_type="image/png", size=3)
    when = datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    held = {"a": when, "b": [blob], "c": post(text="hi", created_at="2024-05-01T12:00:00.000Z")}
    plain = {
        "a": "2024-05-01T12:00:00.000Z",
        "b": [{"$type": "blob", "ref": LINK, "mimeType": "image/png", "size": 3}],
        "c": {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-05-01T12:00:00.000Z"},
    }
    assert encode_dag_cbor(held) == encode_dag_cbor(plain)
    assert cid_for(held) == cid_for(plain)


def test_encode_refuses_a_naive_datetime() -> None:
    with pytest.raises(DecodeError, match="naive datetime"):
        encode_dag_cbor({"createdAt": datetime(2024, 5, 1)})
    with pytest.raises(DecodeError, match="floats"):
        encode_dag_cbor({"a": datetime(2024, 5, 1, tzinfo=UTC), "b": 1.5})


def test_encode_refuses_excessive_depth() -> None:
    value: Any = 1
    for _ in range(200):
        value = [value]
    with pytest.raises(DecodeError, match="deeper"):
        encode_dag_cbor(value)


def test_cid_for_value_and_for_encoded_bytes_agree() -> None:
    value = {"hello": "world", "link": LINK}
    assert cid_for(value) == cid_for(encode_dag_cbor(value))
    assert cid_for(value).codec == 0x71
