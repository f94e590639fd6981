"""JWK and JWS for OAuth: ES256 keys as JSON Web Keys, their thumbprints, signed tokens.

Only what the atproto OAuth profile needs: elliptic-curve keys (P-256, ``ES256``, the one
algorithm every authorization server supports; K-256, ``ES256K``, read as well) and compact
JWS with the raw ``r || s`` signature. Signing and verification are `atproto_async.crypto`'s;
this module only moves keys between that form and RFC 7517 JSON.

Specs: RFC 7517 (JWK), RFC 7518 section 6.2 (EC keys), RFC 7638 (thumbprints),
https://atproto.com/specs/oauth
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from atproto_async.crypto import Keypair, PublicKey
from atproto_async.exceptions import InvalidKeyError

__all__ = [
    "b64url",
    "b64url_decode",
    "keypair_from_jwk",
    "private_jwk",
    "public_jwk",
    "public_key_from_jwk",
    "sign_jws",
    "thumbprint",
]

# JWK curve names <-> ours, and the JWS algorithm each curve signs with.
_CRV_TO_CURVE = {"P-256": "p256", "secp256k1": "k256"}
_CURVE_TO_CRV = {curve: crv for crv, curve in _CRV_TO_CURVE.items()}
ALG_FOR_CURVE = {"p256": "ES256", "k256": "ES256K"}

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly (no padding, whitespace or other alphabets).

    Raises:
        ValueError: Not base64url.
    """
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the regex admits only valid input
        raise ValueError("not base64url") from None


def public_jwk(key: Keypair | PublicKey, *, kid: str | None = None) -> dict[str, str]:
    """The public JWK of a key: ``{"kty": "EC", "crv", "x", "y"}`` (plus ``kid``/``alg``)."""
    public = key.public_key if isinstance(key, Keypair) else key
    point = public.uncompressed()  # 0x04 || x || y
    jwk = {
        "kty": "EC",
        "crv": _CURVE_TO_CRV[public.curve],
        "x": b64url(point[1:33]),
        "y": b64url(point[33:65]),
    }
    if kid is not None:
        jwk["kid"] = kid
        jwk["alg"] = ALG_FOR_CURVE[public.curve]
    return jwk


def private_jwk(keypair: Keypair, *, kid: str | None = None) -> dict[str, str]:
    """The private JWK of a keypair (the public members plus ``d``). A secret."""
    jwk = public_jwk(keypair, kid=kid)
    jwk["d"] = b64url(keypair.private_bytes())
    return jwk


def _coordinate(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    try:
        raw = b64url_decode(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidKeyError(f"JWK member {name!r} must be 32 bytes of base64url")
    return raw


def _curve_of(jwk: Mapping[str, Any]) -> str:
    if not isinstance(jwk, Mapping):
        raise InvalidKeyError(f"a JWK is a JSON object, not {type(jwk).__name__}")
    if jwk.get("kty") != "EC":
        raise InvalidKeyError(f"only EC keys are supported, not kty={jwk.get('kty')!r}")
    curve = _CRV_TO_CURVE.get(jwk.get("crv"))  # type: ignore[arg-type]
    if curve is None:
        raise InvalidKeyError(f"unsupported JWK curve {jwk.get('crv')!r} (P-256 or secp256k1)")
    return curve


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Read the public key of an EC JWK.

    Raises:
        InvalidKeyError: Not an EC key of a supported curve, or not a point of the curve.
    """
    curve = _curve_of(jwk)
    point = b"\x04" + _coordinate(jwk, "x") + _coordinate(jwk, "y")
    return PublicKey.from_bytes(point, curve)


def keypair_from_jwk(jwk: Mapping[str, Any]) -> Keypair:
    """Read a private EC JWK; its public members must match ``d``.

    Raises:
        InvalidKeyError: No ``d``, a bad curve or scalar, or public members of another key.
            The message never repeats the private key.
    """
    curve = _curve_of(jwk)
    keypair = Keypair.from_private_bytes(_coordinate(jwk, "d"), curve)
    if ("x" in jwk or "y" in jwk) and public_key_from_jwk(jwk) != keypair.public_key:
        raise InvalidKeyError("the JWK's x and y are not the public key of its d")
    return keypair


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an EC JWK, base64url (what ``jkt`` binds to)."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _compact(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def sign_jws(header: Mapping[str, Any], payload: Mapping[str, Any], keypair: Keypair) -> str:
    """Encode and sign a compact JWS (``alg`` in ``header`` must match the key's curve)."""
    if header.get("alg") != ALG_FOR_CURVE[keypair.curve]:
        raise ValueError(f"alg {header.get('alg')!r} does not match a {keypair.curve} key")
    signing_input = _compact(header) + "." + _compact(payload)
    return signing_input + "." + b64url(keypair.sign(signing_input.encode("ascii")))
