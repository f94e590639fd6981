"""The regular-expression pass of strict DAG-CBOR decoding (atproto_async/ipld/_scan.py).

`is_canonical` reads item heads with one regular expression whose alternatives are ordered for
speed, skip string payloads with possessive fixed-size runs, and hand strings of more than 64
bytes to Python. These tests write every head in its shortest form and in each wider form, at
every length boundary, and check that strict decoding accepts exactly the shortest forms -
also after a long string, where the scan resumes - in agreement with the item-by-item scanner.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import (
    CID,
    cid_for,
    cid_for_raw,
    decode_dag_cbor,
    decode_dag_cbor_multi,
    encode_dag_cbor,
)
from atproto_async.ipld._scan import is_canonical, scan

#: Argument widths of a CBOR head by additional information: 24 -> 1 byte ... 27 -> 8 bytes.
WIDTHS = {24: 1, 25: 2, 26: 4, 27: 8}


def _head(major: int, argument: int, info: int | None = None) -> bytes:
    """A head with the argument in the shortest form, or in the form ``info`` forces."""
    if info is None:
        if argument < 24:
            return bytes([major << 5 | argument])
        info = next(i for i, width in WIDTHS.items() if argument < 1 << (8 * width))
    if info < 24:
        return bytes([major << 5 | info])
    return bytes([major << 5 | info]) + argument.to_bytes(WIDTHS[info], "big")


def _wider_forms(major: int, argument: int) -> list[bytes]:
    """Every head for ``argument`` that is valid CBOR but longer than the shortest one."""
    shortest = _head(major, argument)
    forms = []
    for info, width in WIDTHS.items():
        head = _head(major, argument, info) if argument < 1 << (8 * width) else None
        if head is not None and len(head) > len(shortest):
            forms.append(head)
    return forms


def _strict_by_scanner(data: bytes) -> bool:
    """Strict acceptance of concatenated values by other means: cbor2, then the scanner."""
    try:
        decode_dag_cbor_multi(data, strict=False)
        pos = 0
        while pos < len(data):
            pos += scan(data[pos:])
    except DecodeError:
        return False
    return True


def _multi_accepted(data: bytes) -> bool:
    try:
        decode_dag_cbor_multi(data)
    except DecodeError:
        return False
    return True


def _accepted(data: bytes) -> bool:
    try:
        decode_dag_cbor(data)
    except DecodeError:
        return False
    return True


#: Lengths around every boundary of the regex: 1-byte heads, the 24-64 group (DIDs, dates,
#: signatures), the Python path from 65 on, 2-byte lengths from 256, 4-byte from 65536.
STRING_LENGTHS = [*range(0, 70), 254, 255, 256, 257, 300, 65535, 65536]


@pytest.mark.parametrize("major", [2, 3], ids=["bytes", "text"])
@pytest.mark.parametrize("length", STRING_LENGTHS)
def test_strings_of_every_length_need_their_shortest_head(major: int, length: int) -> None:
    payload = b"a" * length
    canonical = _head(major, length) + payload
    assert is_canonical(canonical, 0, len(canonical))
    assert decode_dag_cbor(canonical) == (payload if major == 2 else payload.decode())
    for head in _wider_forms(major, length):
        data = head + payload
        assert not is_canonical(data, 0, len(data))
        with pytest.raises(DecodeError, match="non-minimal length"):
            decode_dag_cbor(data)


INTEGERS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**24, 2**32 - 1, 2**32, 2**40, 2**56, 2**63 - 1]


@pytest.mark.parametrize("major", [0, 1], ids=["unsigned", "negative"])
@pytest.mark.parametrize("argument", INTEGERS)
def test_integers_need_their_shortest_head(major: int, argument: int) -> None:
    # 8-byte arguments of 2**32 .. 2**63-1 cover each count of leading zero bytes (3 to 0).
    canonical = _head(major, argument)
    assert decode_dag_cbor(canonical) == (argument if major == 0 else -1 - argument)
    for head in _wider_forms(major, argument):
        assert not is_canonical(head, 0, len(head))
        with pytest.raises(DecodeError, match="non-minimal integer"):
            decode_dag_cbor(head)


@pytest.mark.parametrize("major", [0, 1], ids=["unsigned", "negative"])
@pytest.mark.parametrize("argument", [2**63, 2**63 + 1, 2**64 - 1])
def test_integers_beyond_64_signed_bits_fail_the_byte_pass(major: int, argument: int) -> None:
    # The 8-byte integer alternative of the regex stops at an argument of 2**63; the scanner
    # then names the value.
    data = _head(major, argument)
    value = argument if major == 0 else -1 - argument
    assert not is_canonical(data, 0, len(data))
    with pytest.raises(DecodeError, match=rf"integer {value} is outside the signed 64-bit"):
        decode_dag_cbor(data)
    # Also where the scan resumes after a string Python skipped.
    pair = b"\x82" + encode_dag_cbor("x" * 100) + data
    assert not is_canonical(pair, 0, len(pair))
    with pytest.raises(DecodeError, match="outside the signed 64-bit range"):
        decode_dag_cbor(pair)


@pytest.mark.parametrize("count", [0, 1, 23, 24, 255, 256, 300])
def test_array_and_map_lengths_need_their_shortest_head(count: int) -> None:
    items = b"\x01" * count
    keys = sorted((f"k{index}" for index in range(count)), key=lambda key: (len(key), key))
    entries = b"".join(_head(3, len(key)) + key.encode() + b"\xf6" for key in keys)
    for major, body in ((4, items), (5, entries)):
        assert _accepted(_head(major, count) + body)
        for head in _wider_forms(major, count):
            with pytest.raises(DecodeError, match="non-minimal length"):
                decode_dag_cbor(head + body)


LINKS = [
    cid_for(b"x"),  # dag-cbor sha2-256: the 37-byte form the regex reads in one step
    cid_for_raw(b"x"),
    CID.from_bytes(b"\x01\x71\x13\x40" + bytes(64)),  # sha2-512: tag 42, then a byte string
    CID.decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"),  # CIDv0 in tag 42
]


@pytest.mark.parametrize("link", LINKS, ids=["dag-cbor", "raw", "sha2-512", "v0"])
def test_links_of_every_size_are_read_and_their_heads_checked(link: CID) -> None:
    content = b"\x00" + bytes(link)
    canonical = b"\xd8\x2a" + _head(2, len(content)) + content
    assert decode_dag_cbor(canonical) == link
    assert decode_dag_cbor(b"\x82" + canonical + canonical) == [link, link]
    for head in _wider_forms(2, len(content)):
        with pytest.raises(DecodeError, match="non-minimal length"):
            decode_dag_cbor(b"\xd8\x2a" + head + content)
    with pytest.raises(DecodeError, match="non-minimal tag"):
        decode_dag_cbor(b"\xd9\x00\x2a" + _head(2, len(content)) + content)


@pytest.mark.parametrize("long", [65, 200, 256, 70_000], ids=lambda n: f"after-{n}-bytes")
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00", "floats are not allowed"),
        (b"\xf7", "undefined"),
        (b"\xf8\x20", "simple values"),
        (b"\x18\x05", "non-minimal integer"),
        (b"\x78\x01a", "non-minimal length"),
        (b"\x59\x00\x01a", "non-minimal length"),
    ],
)
def test_the_scan_resumes_after_a_long_string(long: int, bad: bytes, message: str) -> None:
    # A frame's CAR sits in the middle of its body: what follows it is checked all the same.
    prefix = b"\xa2\x61a" + _head(2, long) + bytes(long) + b"\x61b"
    assert _accepted(prefix + b"\xf6")
    with pytest.raises(DecodeError, match=message):
        decode_dag_cbor(prefix + bad)


def test_regex_and_item_by_item_scanner_agree_on_every_head_byte() -> None:
    # Each possible first byte after a CID and a long string, followed by bytes that make
    # most heads complete items, decoded as a concatenation: both checks give one verdict.
    context = b"\x83" + encode_dag_cbor(cid_for(b"x")) + _head(2, 100) + bytes(100) + b"\x01"
    verdicts = []
    for initial in range(256):
        for tail in (b"", b"\x00" * 8, b"\x30" * 8, b"\xff" * 8, bytes(range(1, 40))):
            data = context + bytes([initial]) + tail
            verdicts.append((data[len(context) :].hex(), _multi_accepted(data)))
            assert verdicts[-1][1] == _strict_by_scanner(data), verdicts[-1]
    accepted = sum(verdict for _hex, verdict in verdicts)
    assert 100 < accepted < len(verdicts) - 100  # both kinds of verdict are well represented


def test_canonical_values_stay_canonical_through_the_fast_path() -> None:
    value = {
        "did": "did:plc:" + "a" * 24,
        "sig": bytes(64),
        "uri": "at://did:plc:" + "a" * 24 + "/app.bsky.feed.post/" + "b" * 13,
        "seq": 2**33 + 5,
        "link": cid_for(b"x"),
        "time": "2025-01-04T14:13:20.002Z",
        "blocks": bytes(1000),
        "nested": [[{"a": None, "bb": True, "ccc": False}], -(2**63), 2**63 - 1],
    }
    data = encode_dag_cbor(value)
    assert is_canonical(data, 0, len(data))
    assert decode_dag_cbor(data) == value


_ARGUMENTS = st.one_of(
    st.integers(0, 30),
    st.sampled_from([32, 37, 59, 63, 64, 65, 255, 256, 300]),
    st.integers(0, 2**64 - 1),
)


@st.composite
def _items(draw: st.DrawFn) -> bytes:
    """One item whose head may be written in any width, with a payload for strings."""
    major = draw(st.sampled_from([0, 1, 2, 3, 7]))
    if major == 7:  # simple values (false, true, null among them) and floats
        initial = draw(st.integers(0xE0, 0xFB))
        return bytes([initial]) + b"\x3c" * {0xF8: 1, 0xF9: 2, 0xFA: 4, 0xFB: 8}.get(initial, 0)
    argument = draw(_ARGUMENTS if major < 2 else st.integers(0, 300) | st.sampled_from([37]))
    widths = [info for info, width in WIDTHS.items() if argument < 1 << (8 * width)]
    info = draw(st.sampled_from([None, *widths]))
    head = _head(major, argument, info)
    if major < 2:
        return head
    if major == 2 and argument == 37 and draw(st.booleans()):
        return b"\xd8\x2a" + head + b"\x00" + bytes(cid_for(b"x"))  # a link
    return head + b"a" * argument


@settings(max_examples=400, deadline=None)
@given(st.lists(_items(), min_size=1, max_size=12))
def test_random_heads_get_the_same_verdict_from_both_checks(items: list[bytes]) -> None:
    data = _head(4, len(items)) + b"".join(items)
    assert _multi_accepted(data) == _strict_by_scanner(data)
