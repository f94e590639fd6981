"""The official crypto vectors: signature fixtures and the W3C did:key test keys.

``../shared/fixtures/interop/crypto/``: ``signature-fixtures.json`` (each vector checked through
``publicKeyDid`` and through its DID document form, whose ``publicKeyMultibase`` is the legacy
raw point), ``w3c_didkey_K256.json`` and ``w3c_didkey_P256.json`` (private key -> did:key).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from atproto_async._base58 import b58decode
from atproto_async.crypto import (
    JWT_ALG,
    Keypair,
    parse_did_key,
    parse_legacy_multibase,
    verify_signature,
)
from tests.conftest import FIXTURES, fixture_path

CRYPTO_DIR = FIXTURES / "interop" / "crypto"

#: DID document verification method type -> curve.
SUITE_CURVE = {
    "EcdsaSecp256k1VerificationKey2019": "k256",
    "EcdsaSecp256r1VerificationKey2019": "p256",
}

#: The signature vectors there are (valid and high-S and DER-encoded on each curve).
EXPECTED_SIGNATURE_VECTORS = 6


def _load(name: str) -> list[Any]:
    path = CRYPTO_DIR / name
    if not path.exists():
        return [pytest.param(None, id="vectors-absent")]
    vectors = json.loads(path.read_text(encoding="utf-8"))
    return [
        pytest.param(v, id=f"{i}-{v.get('comment') or v.get('publicDidKey')}"[:70])
        for i, v in enumerate(vectors)
    ]


def _b64(text: str) -> bytes:
    """The fixtures' base64: standard alphabet, padding left off."""
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


SIGNATURE_VECTORS = _load("signature-fixtures.json")
K256_VECTORS = _load("w3c_didkey_K256.json")
P256_VECTORS = _load("w3c_didkey_P256.json")


@pytest.mark.parametrize("vector", SIGNATURE_VECTORS)
def test_signature_vector(vector: dict[str, Any] | None) -> None:
    if vector is None:
        fixture_path("interop", "crypto", "signature-fixtures.json")
        return
    message = _b64(vector["messageBase64"])
    signature = _b64(vector["signatureBase64"])
    expected = vector["validSignature"]

    key = parse_did_key(vector["publicKeyDid"])
    assert key.verify(message, signature) is expected
    assert verify_signature(vector["publicKeyDid"], message, signature) is expected
    assert JWT_ALG[key.curve] == vector["algorithm"] == key.jwt_alg

    curve = SUITE_CURVE[vector["didDocSuite"]]
    legacy = parse_legacy_multibase(vector["publicKeyMultibase"], curve)
    assert legacy == key
    assert legacy.did_key() == vector["publicKeyDid"]
    assert legacy.verify(message, signature) is expected


@pytest.mark.parametrize("vector", SIGNATURE_VECTORS)
def test_signature_vector_malleable(vector: dict[str, Any] | None) -> None:
    """A high-S vector is a valid signature once malleability is allowed; DER never is."""
    if vector is None:
        fixture_path("interop", "crypto", "signature-fixtures.json")
        return
    key = parse_did_key(vector["publicKeyDid"])
    message = _b64(vector["messageBase64"])
    signature = _b64(vector["signatureBase64"])
    expected = vector["validSignature"] or "high-s" in vector["tags"]
    assert key.verify(message, signature, allow_malleable=True) is expected


def test_signature_vectors_cover_every_case() -> None:
    path = fixture_path("interop", "crypto", "signature-fixtures.json")
    vectors = json.loads(path.read_text(encoding="utf-8"))
    assert len(vectors) == EXPECTED_SIGNATURE_VECTORS
    seen = {(v["algorithm"], tuple(v["tags"]), v["validSignature"]) for v in vectors}
    for alg in ("ES256", "ES256K"):
        assert {(alg, (), True), (alg, ("high-s",), False), (alg, ("der-encoded",), False)} <= seen


@pytest.mark.parametrize("vector", K256_VECTORS)
def test_w3c_did_key_k256(vector: dict[str, Any] | None) -> None:
    if vector is None:
        fixture_path("interop", "crypto", "w3c_didkey_K256.json")
        return
    keypair = Keypair.from_private_bytes(bytes.fromhex(vector["privateKeyBytesHex"]), "k256")
    assert keypair.did_key() == vector["publicDidKey"]
    assert keypair.curve == "k256"
    key = parse_did_key(vector["publicDidKey"])
    assert key.did_key() == vector["publicDidKey"]
    assert key == keypair.public_key
    assert key.verify(b"vector", keypair.sign(b"vector"))


@pytest.mark.parametrize("vector", P256_VECTORS)
def test_w3c_did_key_p256(vector: dict[str, Any] | None) -> None:
    if vector is None:
        fixture_path("interop", "crypto", "w3c_didkey_P256.json")
        return
    raw = b58decode(vector["privateKeyBytesBase58"])
    keypair = Keypair.from_private_bytes(raw, "p256")
    assert keypair.did_key() == vector["publicDidKey"]
    assert keypair.curve == "p256"
    key = parse_did_key(vector["publicDidKey"])
    assert key.did_key() == vector["publicDidKey"]
    assert key == keypair.public_key
    assert key.verify(b"vector", keypair.sign(b"vector"))
