"""DPoP: proofs that the holder of a token also holds its key (RFC 9449, atproto profile).

Every request that uses an OAuth token, to the authorization server and to the PDS, carries a
fresh proof: a JWT signed by the session's own ES256 key, naming the HTTP method (``htm``) and
URL (``htu``, without query or fragment), a unique ``jti``, the time, the server's latest
``nonce``, and at the resource server the hash of the access token (``ath``). A stolen token is
useless without the key, and a stolen proof is good for one method, one URL, for minutes.

Servers hand out nonces in a ``DPoP-Nonce`` header and refuse a proof without the current one
(``use_dpop_nonce``); `NonceCache` keeps the latest nonce per origin, so after the first request
to a server the right nonce is sent at once.

Spec: https://atproto.com/specs/oauth#demonstrating-proof-of-possession-dpop, RFC 9449.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from yarl import URL

from atproto_async.crypto import Keypair
from atproto_async.exceptions import InvalidKeyError
from atproto_async.oauth._jose import (
    b64url,
    keypair_from_jwk,
    private_jwk,
    public_jwk,
    thumbprint,
)

__all__ = ["DPoPKey", "NonceCache", "htu", "is_nonce_error", "origin_of"]

#: Nonces remembered per `NonceCache` (one per server origin; a client talks to a handful).
MAX_NONCES = 1024
#: A server's nonce longer than this is not kept (the reference server's are ~40 characters).
MAX_NONCE_LENGTH = 512

_NONCE_CHALLENGE = re.compile(r'error\s*=\s*"?use_dpop_nonce"?', re.IGNORECASE)
_NONCE_CHARS = re.compile(r"[\x21-\x7e]+")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case, default ports left out."""
    parsed = URL(url)
    return str(parsed.origin())


def htu(url: str) -> str:
    """The ``htu`` claim for ``url``: the URL without query and fragment (RFC 9449 4.2)."""
    parsed = URL(url)
    return str(parsed.with_query(None).with_fragment(None))


def is_nonce_error(status: int, headers: Mapping[str, str], error: str | None) -> bool:
    """Whether an answer asks for a proof with a (new) nonce.

    An authorization server says it in its JSON body (``"error": "use_dpop_nonce"``, status
    400), a resource server in ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` (status 401).
    """
    if status not in (400, 401):
        return False
    if error == "use_dpop_nonce":
        return True
    challenge = headers.get("WWW-Authenticate")
    return challenge is not None and _NONCE_CHALLENGE.search(challenge) is not None


def _b64_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("ascii"))


class NonceCache:
    """The latest ``DPoP-Nonce`` of each server origin (bounded, least recently set evicted)."""

    def __init__(self, max_size: int = MAX_NONCES) -> None:
        self._nonces: OrderedDict[str, str] = OrderedDict()
        self._max_size = max_size

    def __len__(self) -> int:
        return len(self._nonces)

    def get(self, url: str) -> str | None:
        """The nonce to send to ``url``'s origin, or None before the server gave one."""
        return self._nonces.get(origin_of(url))

    def observe(self, url: str, headers: Mapping[str, str]) -> bool:
        """Remember the ``DPoP-Nonce`` header of an answer from ``url``; True if it changed.

        A value that is empty, too long or not printable ASCII is ignored: it goes into every
        later proof, so a hostile server must not be able to make those unbounded.
        """
        nonce = headers.get("DPoP-Nonce")
        if not nonce or len(nonce) > MAX_NONCE_LENGTH or _NONCE_CHARS.fullmatch(nonce) is None:
            return False
        origin = origin_of(url)
        if self._nonces.get(origin) == nonce:
            return False
        self._nonces[origin] = nonce
        self._nonces.move_to_end(origin)
        while len(self._nonces) > self._max_size:
            self._nonces.popitem(last=False)
        return True


class DPoPKey:
    """A session's DPoP key: an ES256 (P-256) keypair that signs the proofs.

    ``repr()`` shows the thumbprint only; the private key leaves the object through `to_jwk`,
    for a session store, and nowhere else.
    """

    __slots__ = ("_ath", "_clock", "_header", "_jwk", "_signing_prefix", "jkt", "keypair")

    def __init__(self, keypair: Keypair, *, clock: Callable[[], float] = time.time) -> None:
        if keypair.curve != "p256":
            raise ValueError("a DPoP key is a P-256 (ES256) key")
        self.keypair = keypair
        jwk = public_jwk(keypair)
        self.jkt = thumbprint(jwk)
        self._jwk = jwk
        self._header: dict[str, Any] = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
        # The header is the same in every proof: encoded once. With the ``ath`` of the last
        # token remembered, a proof costs 23 us instead of 28 (the ES256 signature is 18 of
        # them): benchmarks/bench_oauth.py.
        self._signing_prefix = _b64_json(self._header) + "."
        self._ath: tuple[str, str] = ("", "")
        self._clock = clock

    @classmethod
    def generate(cls, *, clock: Callable[[], float] = time.time) -> DPoPKey:
        """A new random key (one per session: the spec forbids sharing them)."""
        return cls(Keypair.generate("p256"), clock=clock)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], *, clock: Callable[[], float] = time.time) -> DPoPKey:
        """Load a key saved with `to_jwk`.

        Raises:
            InvalidKeyError: Not a private P-256 JWK.
        """
        keypair = keypair_from_jwk(jwk)
        if keypair.curve != "p256":
            raise InvalidKeyError("a DPoP key is a P-256 (ES256) key")
        return cls(keypair, clock=clock)

    def to_jwk(self) -> dict[str, str]:
        """The private JWK, for a session store. A secret."""
        return private_jwk(self.keypair)

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public JWK sent in every proof's header."""
        return dict(self._jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
    ) -> str:
        """A fresh proof for one request.

        Args:
            method: The HTTP method (``htm``).
            url: The request URL; query and fragment are left out of ``htu``.
            nonce: The server's latest ``DPoP-Nonce``, if it gave one.
            access_token: The token sent with the request (resource servers): its SHA-256
                goes into ``ath``.
        """
        claims: dict[str, Any] = {
            "jti": b64url(os.urandom(16)),
            "htm": method.upper(),
            "htu": htu(url),
            "iat": int(self._clock()),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            token, ath = self._ath
            if token != access_token:
                ath = b64url(hashlib.sha256(access_token.encode("ascii")).digest())
                self._ath = (access_token, ath)
            claims["ath"] = ath
        signing_input = self._signing_prefix + _b64_json(claims)
        return signing_input + "." + b64url(self.keypair.sign(signing_input.encode("ascii")))

    def __repr__(self) -> str:
        return f"DPoPKey(jkt={self.jkt!r})"
