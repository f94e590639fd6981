"""Inter-service auth: verify the JWTs a PDS signs for its users, and mint our own.

When a user's PDS calls a service on their behalf (a feed generator, a labeler, ...), it sends
``Authorization: Bearer <jwt>``: a token signed with the user's ``#atproto`` key whose claims
say who (``iss``), for whom (``aud``, the service's DID), for which method (``lxm``) and until
when (``exp``). Spec: https://atproto.com/specs/xrpc#inter-service-authentication-jwt

- `verify_service_jwt` checks one token (one signature check, one DID resolution through the
  resolver's cache).
- `ServiceAuthVerifier` is what a server holds: the same checks, plus a cache of tokens whose
  signature verified, so that a busy endpoint pays one signature check per token rather than
  one per request (a PDS reuses a token for up to its 60 s lifetime).
- `create_service_jwt` mints a token for a service's own outgoing calls.

Checks, in order, cheapest first and nothing on the network until the claims pass: length cap
(`MAX_TOKEN_LENGTH`) -> three base64url parts of JSON objects -> ``alg`` ES256K or ES256 only
-> ``typ`` absent or ``JWT`` -> ``exp`` in the future (with ``leeway``) and not further than
``max_lifetime`` -> ``iat`` not in the future -> ``aud`` -> ``lxm`` -> ``iss`` a DID -> the key
of the issuer's DID document, whose curve must match ``alg`` -> the signature. High-S
signatures are accepted here (as the reference does for JWTs, since common JWT libraries do not
normalise them); repository commits stay strict. A bad signature re-resolves the issuer's
document once (key rotation), at most once per `REFRESH_INTERVAL` per DID so that forged tokens
cannot turn into a flood of directory lookups.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import attrs

from atproto_async.crypto import CURVE_FOR_JWT_ALG, Keypair, PublicKey, parse_did_key
from atproto_async.exceptions import IdentityError, InvalidKeyError, ServiceAuthError
from atproto_async.identity.cache import REFRESH_INTERVAL, RefreshGate
from atproto_async.identity.resolver import Resolver
from atproto_async.server._jwt import MAX_TOKEN_LENGTH, Token, sign_token, split_token
from atproto_async.syntax import is_valid_did, is_valid_nsid

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_LIFETIME",
    "MAX_TOKEN_LENGTH",
    "REFRESH_INTERVAL",
    "ServiceAuth",
    "ServiceAuthVerifier",
    "create_service_jwt",
    "verify_service_jwt",
]

#: Seconds of clock difference tolerated on ``exp`` and ``iat``.
DEFAULT_LEEWAY: Final = 30
#: The longest lifetime accepted (``exp`` - now). A PDS mints 60 s tokens by default and at
#: most one hour on request (``com.atproto.server.getServiceAuth``'s ``exp``).
DEFAULT_MAX_LIFETIME: Final = 3600

# Token types that are not service tokens: session access / refresh tokens and DPoP proofs.
_ACCEPTED_TYP = frozenset({"JWT", "jwt"})
# Service fragment of ``iss`` -> the verification method that signs for it.
_LABELER_FRAGMENT = "atproto_labeler"


@attrs.frozen(slots=True)
class ServiceAuth:
    """The claims of a verified service token.

    Attributes:
        iss: The issuer as written, a DID optionally followed by a ``#service`` fragment.
        aud: The audience as written (the service's DID, perhaps with a fragment).
        lxm: The method the token is bound to, or None when it names none.
        exp: Expiry, Unix seconds.
        iat: Issue time, Unix seconds, or None.
        jti: The token's unique id, or None.
    """

    iss: str
    aud: str
    lxm: str | None
    exp: int
    iat: int | None = None
    jti: str | None = None

    @property
    def did(self) -> str:
        """The issuer's DID (``iss`` without its fragment): the account that made the call."""
        return self.iss.partition("#")[0]


def _did_and_fragment(value: str) -> tuple[str, str | None]:
    did, sep, fragment = value.partition("#")
    return did, (fragment if sep else None)


def _audience_matches(aud: str, audience: str) -> bool:
    """``aud`` names ``audience``: same DID; fragments must agree only when both have one.

    PDSes send both ``did:web:feed.example`` and ``did:web:feed.example#bsky_fg``.
    """
    if aud == audience:
        return True
    aud_did, aud_fragment = _did_and_fragment(aud)
    want_did, want_fragment = _did_and_fragment(audience)
    if aud_did != want_did:
        return False
    return aud_fragment is None or want_fragment is None


def _int_claim(payload: dict[str, Any], name: str, required: bool) -> int | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise ServiceAuthError(f"the token has no {name!r} claim")
        return None
    # bool is an int in Python; JSON true is not a time.
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise ServiceAuthError(f"the {name!r} claim is not an integer")
    return value


def _str_claim(payload: dict[str, Any], name: str, required: bool) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise ServiceAuthError(f"the token has no {name!r} claim")
        return None
    if not isinstance(value, str):
        raise ServiceAuthError(f"the {name!r} claim is not a string")
    return value


def _read_claims(
    token: Token,
    *,
    audience: str,
    lxm: str | None,
    now: float,
    leeway: float,
    max_lifetime: float,
) -> ServiceAuth:
    """Every check that needs no key: header, times, audience, method, issuer syntax."""
    header = token.header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in CURVE_FOR_JWT_ALG:
        shown = repr(alg)[:40]
        raise ServiceAuthError(f"alg {shown} is not accepted (ES256K or ES256 only)")
    typ = header.get("typ")
    if typ is not None and typ not in _ACCEPTED_TYP:
        shown = repr(typ)[:40]
        raise ServiceAuthError(f"typ {shown} is not a service token", "BadJwtType")

    payload = token.payload
    exp = _int_claim(payload, "exp", required=True)
    assert exp is not None
    if exp <= now - leeway:
        raise ServiceAuthError("the token has expired", "JwtExpired")
    if exp > now + max_lifetime + leeway:
        raise ServiceAuthError(f"the token lives longer than {max_lifetime:g} s")
    iat = _int_claim(payload, "iat", required=False)
    if iat is not None and iat > now + leeway:
        raise ServiceAuthError("the token was issued in the future (iat)")

    aud = _str_claim(payload, "aud", required=True)
    assert aud is not None
    if not _audience_matches(aud, audience):
        raise ServiceAuthError(
            f"the token is for {aud[:200]!r}, not this service", "BadJwtAudience"
        )

    token_lxm = _str_claim(payload, "lxm", required=False)
    if lxm is not None:
        if token_lxm is None:
            raise ServiceAuthError(
                f"the token names no method (lxm); {lxm} needs one", "BadJwtLexiconMethod"
            )
        if token_lxm != lxm:
            raise ServiceAuthError(
                f"the token is for method {token_lxm[:200]!r}, not {lxm}", "BadJwtLexiconMethod"
            )

    iss = _str_claim(payload, "iss", required=True)
    assert iss is not None
    did, fragment = _did_and_fragment(iss)
    if len(iss) > 2048 or not is_valid_did(did) or fragment == "":
        raise ServiceAuthError(f"the issuer {iss[:200]!r} is not a DID", "BadJwtIssuer")

    return ServiceAuth(
        iss=iss,
        aud=aud,
        lxm=token_lxm,
        exp=exp,
        iat=iat,
        jti=_str_claim(payload, "jti", required=False),
    )


class ServiceAuthVerifier:
    """Verifies service tokens for one service, caching the ones that passed.

    Hold one per server. `verify` runs every claim check on each call (they cost about a
    microsecond) and the signature check only the first time a token is seen; the cache is
    bounded (LRU, ``cache_size`` tokens) and an entry lives until its token expires.

    A token signed by a key that the account rotates away stays accepted until it expires
    (at most ``max_lifetime``), as it would be for any verifier holding a cached DID document.

    Args:
        resolver: Finds issuers' DID documents (an `IdentityResolver`, with its cache).
        audience: This service's DID (``did:web:feed.example``), optionally with a fragment.
        leeway: Seconds of clock skew tolerated.
        max_lifetime: The longest token lifetime accepted, seconds.
        cache_size: Verified tokens kept; 0 turns the cache off.
        clock: Time source (Unix seconds), for tests.
    """

    def __init__(
        self,
        resolver: Resolver,
        audience: str,
        *,
        leeway: float = DEFAULT_LEEWAY,
        max_lifetime: float = DEFAULT_MAX_LIFETIME,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        audience_did, _ = _did_and_fragment(audience)
        if not is_valid_did(audience_did):
            raise ValueError(f"audience must be a DID, not {audience!r}")
        self.resolver = resolver
        self.audience = audience
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self._cache_size = cache_size
        self._clock = clock
        # token -> claims of a token whose signature verified
        self._verified: OrderedDict[str, ServiceAuth] = OrderedDict()
        self._refresh = RefreshGate()

    def __repr__(self) -> str:
        return f"ServiceAuthVerifier(audience={self.audience!r}, cached={len(self._verified)})"

    async def verify(self, token: str, *, lxm: str | None, now: float | None = None) -> ServiceAuth:
        """Verify ``token`` for method ``lxm`` (None accepts a token bound to any method).

        Returns:
            The token's claims; ``.did`` is the caller's account.

        Raises:
            ServiceAuthError: The token is refused; ``.error`` names the check that failed.
        """
        if lxm is not None and not is_valid_nsid(lxm):
            raise ValueError(f"lxm must be an NSID, not {lxm!r}")
        if not isinstance(token, str):
            raise ServiceAuthError("the token is not a string")
        at = self._clock() if now is None else now
        cached = self._verified.get(token) if self._cache_size else None
        if cached is not None:
            # Same bytes, same signature: only the time- and request-dependent checks remain.
            claims = self._recheck(cached, lxm, at)
            self._verified.move_to_end(token)  # the least recently used are evicted first
            return claims
        parsed = split_token(token)
        claims = _read_claims(
            parsed,
            audience=self.audience,
            lxm=lxm,
            now=at,
            leeway=self.leeway,
            max_lifetime=self.max_lifetime,
        )
        await self._check_signature(parsed, claims)
        if self._cache_size:
            self._remember(token, claims)
        return claims

    def _recheck(self, claims: ServiceAuth, lxm: str | None, now: float) -> ServiceAuth:
        if claims.exp <= now - self.leeway:
            raise ServiceAuthError("the token has expired", "JwtExpired")
        if lxm is not None and claims.lxm != lxm:
            shown = "no method" if claims.lxm is None else f"method {claims.lxm[:200]!r}"
            raise ServiceAuthError(f"the token is for {shown}, not {lxm}", "BadJwtLexiconMethod")
        return claims

    def _remember(self, token: str, claims: ServiceAuth) -> None:
        cache = self._verified
        cache[token] = claims
        # Evict the least recently used. An expired token is never used again, so it ages out
        # first without a pass over the whole cache (such a pass made every new token cost
        # O(cache_size) once the cache was full of live tokens).
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

    async def _key(self, claims: ServiceAuth, *, refresh: bool) -> PublicKey:
        did, fragment = _did_and_fragment(claims.iss)
        if refresh:
            self.resolver.invalidate(did)
        try:
            doc = await self.resolver.resolve_did(did)
        except IdentityError as exc:
            raise ServiceAuthError(
                f"the issuer's DID document could not be read: {exc.reason}", "BadJwtIssuer"
            ) from None
        if fragment == _LABELER_FRAGMENT:
            if doc.labeler_key is None:
                raise ServiceAuthError(
                    "the issuer's DID document has no #atproto_label key", "BadJwtIssuer"
                )
            try:
                return parse_did_key(doc.labeler_key)
            except InvalidKeyError as exc:  # pragma: no cover - the document parsed it already
                raise ServiceAuthError(
                    f"the issuer's key is unreadable: {exc}", "BadJwtIssuer"
                ) from None
        if doc.signing_public_key is None:
            raise ServiceAuthError("the issuer's DID document has no #atproto key", "BadJwtIssuer")
        return doc.signing_public_key

    async def _check_signature(self, token: Token, claims: ServiceAuth) -> None:
        alg = token.header["alg"]
        key = await self._key(claims, refresh=False)
        if _signed_by(token, key, alg):
            return
        if self._refresh.allow(claims.did):
            fresh = await self._key(claims, refresh=True)
            if fresh != key and _signed_by(token, fresh, alg):
                return
        raise ServiceAuthError(
            "the signature does not verify with the issuer's key", "BadJwtSignature"
        )


def _signed_by(token: Token, key: PublicKey, alg: str) -> bool:
    if CURVE_FOR_JWT_ALG[alg] != key.curve:
        return False  # an ES256 token from a K-256 key (or the reverse) is not its signature
    return key.verify(token.signing_input, token.signature, allow_malleable=True)


async def verify_service_jwt(
    token: str,
    *,
    audience: str,
    lxm: str | None,
    resolver: Resolver,
    now: float | None = None,
    leeway: float = DEFAULT_LEEWAY,
    max_lifetime: float = DEFAULT_MAX_LIFETIME,
) -> ServiceAuth:
    """Verify one service-auth token (no token cache; a server holds a `ServiceAuthVerifier`).

    Args:
        token: The JWT (the part after ``Bearer``).
        audience: This service's DID; a token whose ``aud`` carries a ``#fragment`` matches it.
        lxm: The method being called (``app.bsky.feed.getFeedSkeleton``); None accepts a token
            bound to any method or to none.
        resolver: Reads the issuer's DID document.
        now: Unix time to check ``exp`` against (default: the clock).
        leeway: Seconds of clock skew tolerated.
        max_lifetime: The longest lifetime accepted, seconds.

    Returns:
        The verified claims; ``.did`` is the calling account.

    Raises:
        ServiceAuthError: The token is refused; ``.error`` names the check, ``.reason`` says why.
    """
    verifier = ServiceAuthVerifier(
        resolver, audience, leeway=leeway, max_lifetime=max_lifetime, cache_size=0
    )
    return await verifier.verify(token, lxm=lxm, now=now)


def create_service_jwt(
    keypair: Keypair,
    *,
    iss: str,
    aud: str,
    lxm: str | None,
    expires_in: int = 60,
    now: float | None = None,
) -> str:
    """Mint a service-auth token signed by ``keypair`` (for a service's own outgoing calls).

    Args:
        keypair: The issuer's signing key (its ``#atproto`` key, or ``#atproto_label`` for a
            labeler issuing as ``did#atproto_labeler``).
        iss: The issuer DID, optionally with a service fragment.
        aud: The DID of the service called.
        lxm: The method the token is for; None mints a token bound to no method (avoid: most
            services refuse those).
        expires_in: Lifetime in seconds (default 60, as a PDS mints).
        now: Issue time, Unix seconds (default: the clock).

    Returns:
        The compact JWT, with a fresh random ``jti``.
    """
    did, _ = _did_and_fragment(iss)
    if not is_valid_did(did):
        raise ValueError(f"iss must be a DID, not {iss!r}")
    if not is_valid_did(_did_and_fragment(aud)[0]):
        raise ValueError(f"aud must be a DID, not {aud!r}")
    if lxm is not None and not is_valid_nsid(lxm):
        raise ValueError(f"lxm must be an NSID, not {lxm!r}")
    if expires_in <= 0:
        raise ValueError("expires_in must be positive")
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iat": issued,
        "iss": iss,
        "aud": aud,
        "exp": issued + int(expires_in),
    }
    if lxm is not None:
        payload["lxm"] = lxm
    payload["jti"] = os.urandom(16).hex()
    header = {"typ": "JWT", "alg": keypair.public_key.jwt_alg}
    return sign_token(header, payload, keypair)
