"""DPoP proofs verified by pyjwt (an independent implementation), nonces and nonce errors."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jwt
import pytest

from atproto_async.oauth import DPoPKey, NonceCache
from atproto_async.oauth.dpop import MAX_NONCE_LENGTH, is_nonce_error


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a DPoP proof, its signature checked by pyjwt."""
    header = jwt.get_unverified_header(proof)
    key = jwt.PyJWK(header["jwk"])
    claims = jwt.decode(proof, key, algorithms=["ES256"], options={"verify_aud": False})
    return header, claims


def test_proof_verifies_with_its_public_jwk() -> None:
    key = DPoPKey.generate(clock=lambda: 1_700_000_000.7)
    header, claims = verify(key.proof("post", "https://as.example/par?x=1#frag"))
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == "ES256"
    assert "d" not in header["jwk"]
    assert header["jwk"] == key.public_jwk
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://as.example/par"
    assert claims["iat"] == 1_700_000_000
    assert "nonce" not in claims and "ath" not in claims


def test_proof_carries_nonce_and_token_hash() -> None:
    key = DPoPKey.generate()
    _, claims = verify(
        key.proof("GET", "https://pds.example/xrpc/a.b.c?q=1", nonce="n-1", access_token="tok")
    )
    assert claims["nonce"] == "n-1"
    assert claims["ath"] == _b64(hashlib.sha256(b"tok").digest())
    assert claims["htu"] == "https://pds.example/xrpc/a.b.c"


def test_every_proof_has_a_new_jti() -> None:
    key = DPoPKey.generate()
    jtis = {verify(key.proof("GET", "https://pds.example/x"))[1]["jti"] for _ in range(50)}
    assert len(jtis) == 50


def test_proof_of_another_key_does_not_verify() -> None:
    proof = DPoPKey.generate().proof("GET", "https://pds.example/x")
    other = jwt.PyJWK(DPoPKey.generate().public_jwk)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(proof, other, algorithms=["ES256"])


def test_nonces_are_kept_per_origin_with_default_ports_normalised() -> None:
    cache = NonceCache()
    assert cache.get("https://as.example/token") is None
    assert cache.observe("https://as.example:443/par", {"DPoP-Nonce": "n1"})
    assert cache.get("https://AS.example/token") == "n1"
    assert cache.get("https://as.example:8443/token") is None
    assert cache.get("http://as.example/token") is None
    assert not cache.observe("https://as.example/x", {"DPoP-Nonce": "n1"})  # unchanged
    assert cache.observe("https://as.example/x", {"DPoP-Nonce": "n2"})
    assert cache.get("https://as.example/") == "n2"
    assert len(cache) == 1


def test_nonce_cache_is_bounded() -> None:
    cache = NonceCache(max_size=3)
    for i in range(10):
        cache.observe(f"https://s{i}.example/", {"DPoP-Nonce": f"n{i}"})
    assert len(cache) == 3
    assert cache.get("https://s0.example/") is None
    assert cache.get("https://s9.example/") == "n9"


@pytest.mark.parametrize(
    "nonce", ["", "x" * (MAX_NONCE_LENGTH + 1), "a b", "line\nbreak", "caf\u00e9", "\x00"]
)
def test_unusable_nonces_are_ignored(nonce: str) -> None:
    cache = NonceCache()
    cache.observe("https://as.example/", {"DPoP-Nonce": "good"})
    assert not cache.observe("https://as.example/", {"DPoP-Nonce": nonce})
    assert cache.get("https://as.example/") == "good"


def test_answer_without_nonce_header_changes_nothing() -> None:
    cache = NonceCache()
    assert not cache.observe("https://as.example/", {})
    assert len(cache) == 0


@pytest.mark.parametrize(
    ("status", "headers", "error", "expected"),
    [
        (400, {}, "use_dpop_nonce", True),
        (401, {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"'}, None, True),
        (401, {"WWW-Authenticate": 'DPoP algs="ES256", error="use_dpop_nonce"'}, "x", True),
        (401, {"WWW-Authenticate": 'DPoP error="invalid_token"'}, "InvalidToken", False),
        (400, {}, "invalid_grant", False),
        (400, {}, None, False),
        (403, {}, "use_dpop_nonce", False),
        (500, {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"'}, None, False),
        (200, {}, "use_dpop_nonce", False),
    ],
)
def test_is_nonce_error(
    status: int, headers: dict[str, str], error: str | None, expected: bool
) -> None:
    assert is_nonce_error(status, headers, error) is expected
