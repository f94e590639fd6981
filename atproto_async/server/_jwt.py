"""Compact JWS (JWT) reading and writing for inter-service auth: bytes in, values out.

Only what atproto's service tokens use: a JSON header and payload, base64url without padding,
an ECDSA signature as the 64 raw bytes ``r || s`` (JWS form, not DER). Nothing here trusts a
token: `split_token` only checks that it is well formed; `auth.py` decides whether it is valid.
Spec: https://atproto.com/specs/xrpc#inter-service-authentication-jwt (RFC 7515 / 7519 framing).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from atproto_async.crypto import Keypair
from atproto_async.exceptions import ServiceAuthError

# A service token from a PDS is about 400-700 characters (a did:web issuer and audience make it
# longer). 8 KiB leaves room for anything legitimate and bounds the work done on a hostile one
# before any base64 or JSON decoding runs.
MAX_TOKEN_LENGTH = 8192

# Base64url alphabet only: no padding, no whitespace (the stdlib decoder would skip junk).
_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")


def _b64_decode(segment: bytes, what: str) -> bytes:
    if _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise ServiceAuthError(f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the regex admits only valid input
        raise ServiceAuthError(f"the {what} is not base64url") from None


def _b64_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # Two values for one claim: which one a verifier reads is a classic confusion attack.
        raise ValueError("duplicate member")
    return out


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        raise ServiceAuthError(f"the {what} is not a JSON object") from None
    if not isinstance(value, dict):
        raise ServiceAuthError(f"the {what} is not a JSON object")
    return value


class Token:
    """A compact JWS split into its parts; not verified.

    Attributes:
        header: The decoded protected header.
        payload: The decoded claims.
        signing_input: ``header_b64 "." payload_b64``, the bytes the signature covers.
        signature: The raw signature bytes.
    """

    __slots__ = ("header", "payload", "signature", "signing_input")

    def __init__(
        self, header: dict[str, Any], payload: dict[str, Any], signing_input: bytes, sig: bytes
    ) -> None:
        self.header = header
        self.payload = payload
        self.signing_input = signing_input
        self.signature = sig

    def __repr__(self) -> str:  # never the token itself: it is a bearer credential
        return f"<Token alg={self.header.get('alg')!r} iss={self.payload.get('iss')!r}>"


def split_token(token: str | bytes) -> Token:
    """Split and decode a compact JWS, checking only its form.

    Raises:
        ServiceAuthError: ``BadJwt`` for a token that is too long, not three base64url
            segments, or whose header or payload is not a JSON object (duplicate members
            refused).
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise ServiceAuthError(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    if isinstance(token, str):
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise ServiceAuthError("the token is not ASCII") from None
    else:
        raw = bytes(token)
    parts = raw.split(b".")
    if len(parts) != 3:
        raise ServiceAuthError(f"a JWT has 3 dot-separated parts, not {len(parts)}")
    header_b64, payload_b64, sig_b64 = parts
    header = _json_object(_b64_decode(header_b64, "header"), "header")
    payload = _json_object(_b64_decode(payload_b64, "payload"), "payload")
    signature = _b64_decode(sig_b64, "signature")
    return Token(header, payload, raw[: len(header_b64) + 1 + len(payload_b64)], signature)


def _compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_token(header: dict[str, Any], payload: dict[str, Any], keypair: Keypair) -> str:
    """Encode and sign a compact JWS with ``keypair`` (low-S ``r || s``)."""
    signing_input = _b64_encode(_compact_json(header)) + "." + _b64_encode(_compact_json(payload))
    signature = keypair.sign(signing_input.encode("ascii"))
    return signing_input + "." + _b64_encode(signature)
