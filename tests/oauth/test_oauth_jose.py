"""JWK round trips, refusals and RFC 7638 thumbprints, checked against pyjwt and by hand."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest

from atproto_async.crypto import Keypair
from atproto_async.exceptions import InvalidKeyError
from atproto_async.oauth import DPoPKey, private_jwk, public_jwk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwk_round_trip_keeps_the_key() -> None:
    key = DPoPKey.generate()
    again = DPoPKey.from_jwk(key.to_jwk())
    assert again.jkt == key.jkt
    assert again.public_jwk == key.public_jwk
    assert "d" not in key.public_jwk


def test_private_jwk_is_read_by_pyjwt() -> None:
    keypair = Keypair.generate("p256")
    jwk = private_jwk(keypair, kid="k1")
    assert jwt.PyJWK(jwk).key_type == "EC"
    assert set(public_jwk(keypair)) == {"kty", "crv", "x", "y"}


def test_jwk_whose_public_members_belong_to_another_key_is_refused() -> None:
    jwk = DPoPKey.generate().to_jwk()
    other = DPoPKey.generate().public_jwk
    jwk["x"], jwk["y"] = other["x"], other["y"]
    with pytest.raises(InvalidKeyError) as info:
        DPoPKey.from_jwk(jwk)
    assert jwk["d"] not in str(info.value)


@pytest.mark.parametrize(
    "change",
    [
        {"kty": "RSA"},
        {"kty": "OKP"},
        {"crv": "P-384"},
        {"crv": "Ed25519"},
        {"d": "AAAA"},
        {"d": None},
    ],
)
def test_unsupported_or_broken_jwk_is_refused(change: dict[str, object]) -> None:
    jwk: dict[str, object] = {**DPoPKey.generate().to_jwk(), **change}
    with pytest.raises(InvalidKeyError):
        DPoPKey.from_jwk(jwk)


def test_secp256k1_jwk_is_not_a_dpop_key() -> None:
    jwk = private_jwk(Keypair.generate("k256"))
    with pytest.raises(InvalidKeyError):
        DPoPKey.from_jwk(jwk)


def test_thumbprint_matches_an_independent_computation() -> None:
    key = DPoPKey.generate()
    jwk = key.public_jwk
    canonical = f'{{"crv":"{jwk["crv"]}","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    assert key.jkt == _b64(hashlib.sha256(canonical.encode()).digest())


def test_thumbprint_ignores_kid_and_alg() -> None:
    keypair = Keypair.generate("p256")
    bare, named = public_jwk(keypair), public_jwk(keypair, kid="x")
    canonical = json.dumps(
        {k: named[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    assert DPoPKey(keypair).jkt == _b64(hashlib.sha256(canonical.encode()).digest())
    assert named["alg"] == "ES256" and bare.items() <= named.items()


def test_repr_shows_no_private_material() -> None:
    key = DPoPKey.generate()
    jwk = key.to_jwk()
    text = repr(key)
    assert key.jkt in text
    assert jwk["d"] not in text
