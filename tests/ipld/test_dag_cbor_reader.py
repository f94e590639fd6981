"""The reused per-thread decoder of atproto_async/ipld/dag_cbor.py: no state leaks between calls.

Each thread keeps one cbor2 decoder and one file object, re-pointed at each input. A decode
that fails half-way must not leave read-ahead bytes that the next call would then decode.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from atproto_async.exceptions import DecodeError
from atproto_async.ipld import (
    CID,
    cid_for,
    cid_for_raw,
    decode_dag_cbor,
    decode_dag_cbor_multi,
    encode_dag_cbor,
)

LINK = cid_for(b"x")


def _value(index: int, size: int = 100) -> dict[str, Any]:
    return {"i": index, "link": LINK, "pad": bytes([index % 256]) * size, "t": "é" * 3}


@pytest.mark.parametrize("size", [10, 5_000, 100_000], ids=["small", "over-read-ahead", "big"])
@pytest.mark.parametrize("strict", [True, False])
def test_a_failed_decode_leaves_nothing_for_the_next_call(size: int, strict: bool) -> None:
    good = encode_dag_cbor(_value(1, size))
    failures = [
        good[: len(good) // 2],  # truncated inside the padding
        b"\x82\xd8\x2b\x40" + good,  # tag 43 first, the rest of the input read ahead
        encode_dag_cbor([_value(2, size), 0])[:-1] + b"\xd8\x2b\x40",  # tag 43 at the end
        encode_dag_cbor([_value(2, size), 0])[:-1] + b"\xff",  # a break code at the end
    ]
    for broken in failures:
        with pytest.raises(DecodeError):
            decode_dag_cbor(broken, strict=strict)
        assert decode_dag_cbor(good, strict=strict) == _value(1, size)
        with pytest.raises(DecodeError):
            decode_dag_cbor_multi(good + broken, strict=strict)
        assert decode_dag_cbor_multi(good + good, strict=strict) == [_value(1, size)] * 2
    with pytest.raises(DecodeError, match="trailing bytes"):
        decode_dag_cbor(good + good, strict=strict)
    assert decode_dag_cbor(good, strict=strict) == _value(1, size)


def test_single_and_multi_decoding_agree() -> None:
    values = [_value(index, index * 700) for index in range(8)]
    data = b"".join(encode_dag_cbor(value) for value in values)
    assert decode_dag_cbor_multi(data, strict=False) == values
    assert decode_dag_cbor_multi(data) == values
    for value in values:
        encoded = encode_dag_cbor(value)
        assert decode_dag_cbor(encoded) == decode_dag_cbor(encoded, strict=False) == value
        assert decode_dag_cbor(memoryview(encoded), strict=False) == value


def test_links_decode_to_equal_cids_of_every_form() -> None:
    other = CID.decode("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR")  # CIDv0
    raw = cid_for_raw(b"blob")
    for link in (LINK, other, raw):
        decoded = decode_dag_cbor(encode_dag_cbor({"l": link}), strict=False)["l"]
        assert type(decoded) is CID
        assert decoded == link and hash(decoded) == hash(link) and str(decoded) == str(link)


def test_threads_decode_independently() -> None:
    encoded = [encode_dag_cbor(_value(index, 3_000 + index)) for index in range(40)]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(30):
                index = (offset + round_) % len(encoded)
                assert decode_dag_cbor(encoded[index], strict=False) == _value(index, 3_000 + index)
                with pytest.raises(DecodeError):
                    decode_dag_cbor(encoded[index][:-5], strict=False)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
