"""The reused per-thread decoder of atproto_async/ipld/dag_cbor.py: no state leaks between calls.

Each thread keeps one cbor2 decoder and one file object, re-pointed at each input. A decode
that fails half-way must not leave read-ahead bytes that the next call would then decode.
Links are decoded through a private cbor2 protocol, checked here and at import.
"""

from __future__ import annotations

import functools
import io
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import cbor2
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
ROOT = Path(__file__).resolve().parents[2]


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


def test_cbor2_calls_a_decoder_with_its_private_attributes_as_a_shareable_decoder() -> None:
    """The cbor2 behaviour the link decoder relies on (cbor2 6.x; capped below 7).

    A semantic decoder that carries the private attributes ``_cbor2_name`` and
    ``_cbor2_immutable`` is called once per tag as ``decoder(immutable)`` and must return
    ``(container, callback)``; cbor2 then calls ``callback(content)`` with the tag's content.
    A decoder without them is called as ``decoder(content, immutable)``: the ``dict.get``
    partial of ``dag_cbor._LINK_DECODER`` would then answer ``False`` for every link.
    """
    tagged = b"\x00" + bytes(LINK)
    data = b"\xd8\x2a\x58\x25" + tagged
    calls: list[tuple[str, Any]] = []

    def callback(content: bytes) -> str:
        calls.append(("callback", content))
        return "link"

    def shareable(immutable: bool) -> tuple[None, Any]:
        calls.append(("decoder", immutable))
        return None, callback

    shareable._cbor2_name = None  # type: ignore[attr-defined]
    shareable._cbor2_immutable = False  # type: ignore[attr-defined]
    assert cbor2.CBORDecoder(io.BytesIO(data), semantic_decoders={42: shareable}).decode() == "link"
    assert calls == [("decoder", False), ("callback", tagged)]

    bare = functools.partial(dict.get, {False: (None, callback), True: (None, callback)})
    assert cbor2.CBORDecoder(io.BytesIO(data), semantic_decoders={42: bare}).decode() is False
    assert decode_dag_cbor(data, strict=False) == LINK


def test_the_link_decoder_check_refuses_a_decoder_cbor2_does_not_call_as_shareable() -> None:
    from atproto_async.ipld.dag_cbor import _LINK_DECODER, _check_link_decoder, _link

    _check_link_decoder(_LINK_DECODER)  # what the module runs at import
    bare = functools.partial(dict.get, {False: (None, _link), True: (None, _link)})
    with pytest.raises(ImportError, match=r"_cbor2_name.*decoded a CID link as False"):
        _check_link_decoder(bare)


def test_importing_with_a_cbor2_that_ignores_the_attributes_fails_clearly() -> None:
    # Stand-in for a cbor2 release that drops the protocol: every semantic decoder is called
    # as a plain one, ``decoder(content, immutable)``.
    script = """
import cbor2
real = cbor2.CBORDecoder
def plain(decoder):
    return lambda content, immutable: decoder(content, immutable)
def decoder(fp, semantic_decoders=None, **options):
    plain_decoders = {tag: plain(d) for tag, d in (semantic_decoders or {}).items()}
    return real(fp, semantic_decoders=plain_decoders, **options)
cbor2.CBORDecoder = decoder
import atproto_async.ipld
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 1
    assert "ImportError: atproto_async needs a cbor2" in result.stderr
    assert "decoded a CID link as False" in result.stderr


def test_cbor2_is_capped_below_its_next_major_version() -> None:
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "cbor2>=6.3,<7" in dependencies
