"""atproto_async.crypto.didkey: did:key, Multikey and legacy strings, hostile ones included.

Every refusal must be an `InvalidKeyError` (never an IndexError, OverflowError, ...), and a
huge string must be refused by its length, before any base58 decoding.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atproto_async._base58 import b58decode, b58encode
from atproto_async.crypto import (
    CURVES,
    MAX_KEY_STRING_LENGTH,
    MULTICODEC_PREFIX,
    InvalidKeyError,
    Keypair,
    PublicKey,
    parse_did_key,
    parse_legacy_multibase,
    parse_multikey,
    verify_signature,
)

KEYPAIRS = {curve: Keypair.generate(curve) for curve in CURVES}

#: Field primes and curve equations y^2 = x^3 + a x + b (SEC 2).
FIELD = {
    "k256": 2**256 - 2**32 - 977,
    "p256": 2**256 - 2**224 + 2**192 + 2**96 - 1,
}
CURVE_AB = {
    "k256": (0, 7),
    "p256": (-3, 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B),
}

curves = pytest.mark.parametrize("curve", CURVES)


def _off_curve_x(curve: str) -> bytes:
    """An x for which x^3 + a x + b has no square root: no point has it (Euler's criterion)."""
    p = FIELD[curve]
    a, b = CURVE_AB[curve]
    x = 1
    while pow((x**3 + a * x + b) % p, (p - 1) // 2, p) == 1:
        x += 1
    return x.to_bytes(32, "big")


def _did_key(payload: bytes) -> str:
    return "did:key:z" + b58encode(payload)


def _refused(parse: object, value: object, *args: object) -> str:
    """The message of the InvalidKeyError that ``parse(value, *args)`` raises."""
    with pytest.raises(InvalidKeyError) as info:
        parse(value, *args)  # type: ignore[operator]
    return str(info.value)


# --- the accepted forms --------------------------------------------------------------------


@curves
def test_did_key_and_multikey_forms(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    did_key = key.did_key()
    assert len(did_key) < 64
    assert parse_did_key(did_key) == key
    assert parse_did_key(key.multikey()) == key  # a bare Multikey is accepted too
    assert parse_multikey(key.multikey()) == key
    assert parse_did_key(did_key).did_key() == did_key
    assert b58decode(key.multikey()[1:]) == MULTICODEC_PREFIX[curve] + key.compressed


@curves
def test_legacy_forms(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    prefix = MULTICODEC_PREFIX[curve]
    for raw in (key.compressed, key.uncompressed(), prefix + key.compressed):
        parsed = parse_legacy_multibase("z" + b58encode(raw), curve)
        assert parsed == key
        assert parsed.did_key() == key.did_key()
    assert parse_legacy_multibase("z" + b58encode(prefix + key.uncompressed()), curve) == key


@curves
def test_verify_signature(curve: str) -> None:
    keypair = KEYPAIRS[curve]
    sig = keypair.sign(b"data")
    assert verify_signature(keypair.did_key(), b"data", sig) is True
    assert verify_signature(keypair.public_key.multikey(), b"data", sig) is True
    assert verify_signature(keypair.did_key(), b"data!", sig) is False
    assert verify_signature(keypair.did_key(), b"data", sig[:-1]) is False
    assert verify_signature(keypair.did_key(), b"data", b"") is False
    message = _refused(verify_signature, "did:key:zNotAKey", b"data", sig)
    assert "did:key" in message


# --- hostile strings -----------------------------------------------------------------------


def test_huge_string_is_refused_by_its_length() -> None:
    huge = "did:key:z" + "2" * 5_000_000
    start = time.perf_counter()
    message = _refused(parse_did_key, huge)
    assert time.perf_counter() - start < 0.1
    assert "too long" in message
    assert str(MAX_KEY_STRING_LENGTH) in message
    assert "too long" in _refused(parse_multikey, huge[8:])
    assert "too long" in _refused(parse_legacy_multibase, huge[8:], "k256")
    assert "too long" in _refused(parse_did_key, "did:key:z" + "1" * MAX_KEY_STRING_LENGTH)


@curves
def test_hostile_did_keys(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    prefix = MULTICODEC_PREFIX[curve]
    did_key = key.did_key()
    off_curve = prefix + b"\x02" + _off_curve_x(curve)
    cases = {
        "": "empty",
        "did:key:": "empty",
        "did:key:z": "empty",
        "did:web:example.com": "not a did:key",
        "did:plc:ewvi7nxzyoun6zhxrhs64oiz": "not a did:key",
        "did:key:z0OIl": "base58btc character",
        did_key[:-5] + "0" + did_key[-4:]: "'0' is not a base58btc character",
        did_key + "\u00e9": "base58btc character",
        "did:key:f" + (prefix + key.compressed).hex(): "multibase prefix 'f'",
        "did:key:m" + "5wE": "multibase prefix 'm'",
        "did:key:u" + "5wE": "multibase prefix 'u'",
        "did:key:" + key.multikey().upper(): "multibase prefix 'Z'",
        "DID:KEY:" + key.multikey(): "multibase prefix 'D'",
        _did_key(b"\xed\x01" + bytes(32)): "unknown multicodec 0xed",
        _did_key(b"\x00"): "unknown multicodec 0x0",
        _did_key(b"\xff\xff\xff\xff\xff"): "unknown multicodec",
        _did_key(prefix): "got 0 bytes",
        _did_key(prefix + key.compressed[:20]): "got 20 bytes",
        _did_key(prefix + key.compressed[:31]): "got 31 bytes",
        did_key[:-3]: "invalid did:key",  # the base58 number shrinks: any precise reason
        _did_key(prefix + key.compressed + b"\x00"): "got 34 bytes",
        _did_key(prefix + key.uncompressed()): "got 65 bytes",
        _did_key(off_curve): "not on the curve",
        _did_key(prefix + b"\x04" + key.compressed[1:]): "starts with 0x02 or 0x03",
        _did_key(prefix + b"\x02" + b"\xff" * 32): "not on the curve",
    }
    for value, reason in cases.items():
        message = _refused(parse_did_key, value)
        assert reason in message, (value, message)


@pytest.mark.parametrize("value", [None, 1, b"did:key:z", ["did:key:z"], bytearray(b"z")])
def test_not_a_str(value: object) -> None:
    assert "must be a str" in _refused(parse_did_key, value)
    assert "must be a str" in _refused(parse_multikey, value)
    assert "must be a str" in _refused(parse_legacy_multibase, value, "k256")


@curves
def test_multikey_is_the_bare_form(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    assert "not a DID" in _refused(parse_multikey, key.did_key())
    assert "multibase prefix" in _refused(parse_multikey, key.multikey()[1:])


@curves
def test_hostile_legacy_values(curve: str) -> None:
    key = KEYPAIRS[curve].public_key
    other = "p256" if curve == "k256" else "k256"
    cases = {
        "": "empty",
        "z": "empty",
        key.did_key(): "multibase prefix 'd'",
        "f" + key.compressed.hex(): "multibase prefix 'f'",
        "z" + b58encode(key.compressed[:32]): "got 32",
        "z" + b58encode(key.uncompressed()[:64]): "got 64",
        "z" + b58encode(b"\x06" + key.uncompressed()[1:]): "starts with 0x04",
        "z" + b58encode(b"\x02" + _off_curve_x(curve)): "not on the curve",
        "z" + b58encode(MULTICODEC_PREFIX[other] + key.compressed): f"names {other}",
        "z0" + b58encode(key.compressed): "base58btc character",
    }
    for value, reason in cases.items():
        message = _refused(parse_legacy_multibase, value, curve)
        assert reason in message, (value, message)
    assert "unknown curve" in _refused(parse_legacy_multibase, key.multikey(), "secp256k1")


def test_point_of_one_curve_read_as_the_other() -> None:
    """An x on K-256 is on P-256 about half the time: the result must be a clean either-or."""
    for _ in range(20):
        point = Keypair.generate("k256").public_key.compressed
        try:
            key = parse_legacy_multibase("z" + b58encode(point), "p256")
        except InvalidKeyError:
            continue
        assert key.curve == "p256"
        assert key != PublicKey.from_bytes(point, "k256")


# --- fuzzing -------------------------------------------------------------------------------


def _parses_or_refuses(parse: object, value: object, *args: object) -> None:
    try:
        key = parse(value, *args)  # type: ignore[operator]
    except InvalidKeyError:
        return
    assert isinstance(key, PublicKey)
    assert parse_did_key(key.did_key()) == key


@settings(max_examples=500, deadline=None)
@given(value=st.text(max_size=200))
def test_random_text_only_raises_invalid_key_error(value: str) -> None:
    _parses_or_refuses(parse_did_key, value)
    _parses_or_refuses(parse_did_key, "did:key:" + value)
    _parses_or_refuses(parse_did_key, "did:key:z" + value)
    _parses_or_refuses(parse_multikey, "z" + value)
    for curve in CURVES:
        _parses_or_refuses(parse_legacy_multibase, "z" + value, curve)


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@settings(max_examples=500, deadline=None)
@given(value=st.text(alphabet=_B58, max_size=130))
def test_random_base58_only_raises_invalid_key_error(value: str) -> None:
    _parses_or_refuses(parse_did_key, "did:key:z" + value)
    for curve in CURVES:
        _parses_or_refuses(parse_legacy_multibase, "z" + value, curve)


_PREFIXES = st.sampled_from([b"", b"\xe7\x01", b"\x80\x24", b"\xed\x01", b"\xe7", b"\x80"])
_POINT_HEADS = st.sampled_from([b"", b"\x02", b"\x03", b"\x04", b"\x06", b"\x00"])


@settings(max_examples=1000, deadline=None)
@given(prefix=_PREFIXES, head=_POINT_HEADS, body=st.binary(max_size=70))
def test_random_payloads_only_raise_invalid_key_error(
    prefix: bytes, head: bytes, body: bytes
) -> None:
    """Structured payloads: known and unknown multicodecs, point prefixes, any lengths."""
    encoded = "z" + b58encode(prefix + head + body)
    _parses_or_refuses(parse_did_key, "did:key:" + encoded)
    _parses_or_refuses(parse_multikey, encoded)
    for curve in CURVES:
        _parses_or_refuses(parse_legacy_multibase, encoded, curve)
        try:
            key = PublicKey.from_bytes(head + body, curve)
        except InvalidKeyError:
            continue
        assert key.curve == curve


@settings(max_examples=300, deadline=None)
@given(x=st.binary(min_size=32, max_size=32), odd=st.booleans())
def test_random_compressed_points(x: bytes, odd: bool) -> None:
    """About half of all x are on each curve; the others are refused as off the curve."""
    for curve in CURVES:
        prefix = MULTICODEC_PREFIX[curve]
        point = (b"\x03" if odd else b"\x02") + x
        try:
            key = parse_did_key(_did_key(prefix + point))
        except InvalidKeyError as exc:
            assert "not on the curve" in str(exc)
            continue
        assert key.compressed == point
        assert PublicKey.from_bytes(key.uncompressed(), curve) == key
