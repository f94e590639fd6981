"""Service-auth JWTs: minting, each refusal the spec lists, caching, rotation, PyJWT interop."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from atproto_async.crypto import K256, K256_ORDER, P256, Keypair
from atproto_async.exceptions import IdentityNotFound, ServiceAuthError
from atproto_async.identity import DidDocument, StaticIdentityResolver
from atproto_async.server import (
    MAX_TOKEN_LENGTH,
    ServiceAuth,
    ServiceAuthVerifier,
    create_service_jwt,
    verify_service_jwt,
)
from tests.identity.identity_servers import did_document

ALICE = "did:plc:alice7zzzzzzzzzzzzzzzzzzzz"
FEEDS = "did:web:feeds.example.com"
LXM = "app.bsky.feed.getFeedSkeleton"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(key: Keypair, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A token with exactly the given header and claims, signed by ``key``."""
    head = {"typ": "JWT", "alg": key.public_key.jwt_alg} if header is None else header
    payload = {"iss": ALICE, "aud": FEEDS, "exp": NOW + 60, "iat": NOW, "lxm": LXM}
    payload.update(claims)
    for name in [k for k, v in payload.items() if v is None]:
        del payload[name]
    signing_input = b64(json.dumps(head).encode()) + "." + b64(json.dumps(payload).encode())
    return signing_input + "." + b64(key.sign(signing_input.encode()))


class CountingResolver(StaticIdentityResolver):
    """A static resolver that counts lookups and can swap documents (rotation)."""

    def __init__(self, *documents: dict[str, Any]) -> None:
        super().__init__(documents)
        self.lookups = 0
        self.invalidated: list[str] = []
        self.next: dict[str, Any] | None = None

    async def resolve_did(self, did: str) -> DidDocument:
        self.lookups += 1
        return await super().resolve_did(did)

    def invalidate(self, did_or_handle: str) -> None:
        self.invalidated.append(did_or_handle)
        if self.next is not None:
            self.add(self.next)
            self.next = None


@pytest.fixture
def key() -> Keypair:
    return Keypair.generate(K256)


@pytest.fixture
def resolver(key: Keypair) -> CountingResolver:
    return CountingResolver(did_document(ALICE, "alice.test", key=key))


async def verify(token: str, resolver: Any, **kwargs: Any) -> ServiceAuth:
    kwargs.setdefault("audience", FEEDS)
    kwargs.setdefault("lxm", LXM)
    kwargs.setdefault("now", NOW)
    return await verify_service_jwt(token, resolver=resolver, **kwargs)


async def refused(token: str, resolver: Any, error: str, **kwargs: Any) -> ServiceAuthError:
    with pytest.raises(ServiceAuthError) as info:
        await verify(token, resolver, **kwargs)
    assert info.value.error == error, info.value
    if len(token) > 8:  # the reason never quotes the token
        assert token not in str(info.value)
    return info.value


# -- minting and the happy path ------------------------------------------------------------


@pytest.mark.parametrize("curve", [K256, P256])
async def test_minted_token_verifies_and_reads_back(curve: str) -> None:
    key = Keypair.generate(curve)
    resolver = StaticIdentityResolver([did_document(ALICE, key=key)])
    token = create_service_jwt(key, iss=ALICE, aud=FEEDS, lxm=LXM, now=NOW)
    header = json.loads(unb64(token.split(".")[0]))
    assert header == {"typ": "JWT", "alg": "ES256K" if curve == K256 else "ES256"}
    auth = await verify(token, resolver)
    assert (auth.iss, auth.did, auth.aud, auth.lxm) == (ALICE, ALICE, FEEDS, LXM)
    assert (auth.iat, auth.exp) == (NOW, NOW + 60)
    assert auth.jti is not None and len(auth.jti) == 32


def test_each_minted_token_has_a_fresh_jti(key: Keypair) -> None:
    tokens = {create_service_jwt(key, iss=ALICE, aud=FEEDS, lxm=LXM, now=NOW) for _ in range(20)}
    jtis = {json.loads(unb64(t.split(".")[1]))["jti"] for t in tokens}
    assert len(jtis) == 20


def test_minting_refuses_bad_arguments(key: Keypair) -> None:
    with pytest.raises(ValueError, match="iss"):
        create_service_jwt(key, iss="alice.test", aud=FEEDS, lxm=LXM)
    with pytest.raises(ValueError, match="aud"):
        create_service_jwt(key, iss=ALICE, aud="https://feeds.example.com", lxm=LXM)
    with pytest.raises(ValueError, match="lxm"):
        create_service_jwt(key, iss=ALICE, aud=FEEDS, lxm="getFeedSkeleton")
    with pytest.raises(ValueError, match="expires_in"):
        create_service_jwt(key, iss=ALICE, aud=FEEDS, lxm=LXM, expires_in=0)


async def test_audience_with_or_without_fragment(key: Keypair, resolver: Any) -> None:
    with_fragment = forge(key, aud=FEEDS + "#bsky_fg")
    await verify(with_fragment, resolver)
    await verify(forge(key), resolver, audience=FEEDS + "#bsky_fg")
    await refused(with_fragment, resolver, "BadJwtAudience", audience=FEEDS + "#other")


async def test_lxm_none_accepts_any_method_and_none(key: Keypair, resolver: Any) -> None:
    assert (await verify(forge(key, lxm=None), resolver, lxm=None)).lxm is None
    assert (await verify(forge(key), resolver, lxm=None)).lxm == LXM


async def test_high_s_signature_is_accepted_for_jwts(key: Keypair, resolver: Any) -> None:
    token = forge(key)
    head, body, sig = token.split(".")
    raw = unb64(sig)
    s = int.from_bytes(raw[32:], "big")
    high = raw[:32] + (K256_ORDER - s).to_bytes(32, "big")
    assert await verify(f"{head}.{body}.{b64(high)}", resolver)


async def test_labeler_issuer_uses_the_label_key(key: Keypair) -> None:
    label_key = Keypair.generate(K256)
    doc = did_document(ALICE, key=key)
    doc["verificationMethod"].append(
        {
            "id": f"{ALICE}#atproto_label",
            "type": "Multikey",
            "controller": ALICE,
            "publicKeyMultibase": label_key.public_key.multikey(),
        }
    )
    resolver = StaticIdentityResolver([doc])
    iss = ALICE + "#atproto_labeler"
    auth = await verify(forge(label_key, iss=iss), resolver)
    assert auth.iss == iss and auth.did == ALICE
    # The account key does not sign for the labeler service, nor the reverse.
    await refused(forge(key, iss=iss), resolver, "BadJwtSignature")
    await refused(forge(label_key), resolver, "BadJwtSignature")
    no_label = StaticIdentityResolver([did_document(ALICE, key=key)])
    await refused(forge(label_key, iss=iss), no_label, "BadJwtIssuer")


# -- refusals --------------------------------------------------------------------------------


async def test_wrong_audience_method_and_expiry(key: Keypair, resolver: Any) -> None:
    await refused(forge(key, aud="did:web:other.example.com"), resolver, "BadJwtAudience")
    await refused(forge(key, lxm="app.bsky.feed.getTimeline"), resolver, "BadJwtLexiconMethod")
    await refused(forge(key, lxm=None), resolver, "BadJwtLexiconMethod")
    await refused(forge(key), resolver, "JwtExpired", now=NOW + 60 + 31)
    await verify(forge(key), resolver, now=NOW + 60 + 29)  # within the 30 s leeway
    await refused(forge(key), resolver, "JwtExpired", now=NOW + 61, leeway=0)


async def test_lifetime_and_issue_time_limits(key: Keypair, resolver: Any) -> None:
    err = await refused(forge(key, exp=NOW + 7200), resolver, "BadJwt")
    assert "longer" in err.reason
    await verify(forge(key, exp=NOW + 7200), resolver, max_lifetime=7200)
    err = await refused(forge(key, iat=NOW + 600), resolver, "BadJwt")
    assert "future" in err.reason


@pytest.mark.parametrize(
    ("claims", "needle"),
    [
        ({"exp": None}, "'exp'"),
        ({"exp": "soon"}, "'exp'"),
        ({"exp": True}, "'exp'"),
        ({"iat": "now"}, "'iat'"),
        ({"aud": None}, "'aud'"),
        ({"aud": ["did:web:feeds.example.com"]}, "'aud'"),
        ({"iss": None}, "'iss'"),
        ({"lxm": 5}, "'lxm'"),
    ],
)
async def test_malformed_claims(
    key: Keypair, resolver: Any, claims: dict[str, Any], needle: str
) -> None:
    err = await refused(forge(key, **claims), resolver, "BadJwt")
    assert needle in err.reason
    assert resolver.lookups == 0  # nothing resolved for a token that fails its claims


@pytest.mark.parametrize("iss", ["alice.test", "did:plc", "did:plc:alice#", "x" * 3000])
async def test_issuer_must_be_a_did(key: Keypair, resolver: Any, iss: str) -> None:
    await refused(forge(key, iss=iss), resolver, "BadJwtIssuer")


@pytest.mark.parametrize(
    "header",
    [
        {"typ": "JWT", "alg": "none"},
        {"typ": "JWT", "alg": "HS256"},
        {"typ": "JWT", "alg": "RS256"},
        {"typ": "JWT", "alg": "es256k"},
        {"typ": "JWT"},
        {"typ": "JWT", "alg": ["ES256K"]},
    ],
)
async def test_only_es256k_and_es256_algorithms(
    key: Keypair, resolver: Any, header: dict[str, Any]
) -> None:
    err = await refused(forge(key, header), resolver, "BadJwt")
    assert "alg" in err.reason


async def test_alg_none_with_empty_signature(resolver: Any) -> None:
    head = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": ALICE, "aud": FEEDS, "exp": NOW + 60, "lxm": LXM}).encode())
    await refused(f"{head}.{body}.", resolver, "BadJwt")


@pytest.mark.parametrize("typ", ["at+jwt", "refresh+jwt", "dpop+jwt", "JWS"])
async def test_session_and_dpop_token_types_refused(key: Keypair, resolver: Any, typ: str) -> None:
    await refused(forge(key, {"typ": typ, "alg": "ES256K"}), resolver, "BadJwtType")


async def test_missing_typ_is_accepted(key: Keypair, resolver: Any) -> None:
    await verify(forge(key, {"alg": "ES256K"}), resolver)


async def test_alg_must_match_the_key_curve(key: Keypair, resolver: Any) -> None:
    # A K-256 signature labelled ES256 is checked as P-256 and cannot match the K-256 key.
    await refused(forge(key, {"typ": "JWT", "alg": "ES256"}), resolver, "BadJwtSignature")


async def test_altered_payload_signature_and_other_key(key: Keypair, resolver: Any) -> None:
    token = forge(key)
    head, body, sig = token.split(".")
    claims = json.loads(unb64(body))
    claims["exp"] += 1
    await refused(f"{head}.{b64(json.dumps(claims).encode())}.{sig}", resolver, "BadJwtSignature")
    raw = bytearray(unb64(sig))
    raw[10] ^= 1
    await refused(f"{head}.{body}.{b64(bytes(raw))}", resolver, "BadJwtSignature")
    await refused(forge(Keypair.generate(K256)), resolver, "BadJwtSignature")
    await refused(f"{head}.{body}.{b64(unb64(sig)[:63])}", resolver, "BadJwtSignature")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.e30",
        "e30.e30.a",  # a base64url segment of length 4n+1 cannot exist
        "e30 .e30.e30",
        "W10.e30.",  # header is a JSON list
        "e30.bnVsbA.",  # payload is JSON null
        "eyJhbGciOiJFUzI1NksiLCJhbGciOiJub25lIn0.e30.",  # duplicate "alg"
        "ey\u00e9.e30.e30",
    ],
)
async def test_malformed_tokens(resolver: Any, token: str) -> None:
    await refused(token, resolver, "BadJwt")


async def test_length_is_capped_before_decoding(key: Keypair, resolver: Any) -> None:
    huge = forge(key, pad="x" * MAX_TOKEN_LENGTH)
    err = await refused(huge, resolver, "BadJwt")
    assert str(MAX_TOKEN_LENGTH) in err.reason
    await refused("." * (100 * 1024), resolver, "BadJwt")


async def test_unknown_issuer(key: Keypair) -> None:
    err = await refused(forge(key), StaticIdentityResolver(), "BadJwtIssuer")
    assert "could not be read" in err.reason


async def test_issuer_without_signing_key(key: Keypair) -> None:
    resolver = StaticIdentityResolver([did_document(ALICE)])
    await refused(forge(key), resolver, "BadJwtIssuer")


# -- the verifier: cache, rotation -----------------------------------------------------------


async def test_verified_token_is_cached_until_expiry(key: Keypair, resolver: Any) -> None:
    clock = [float(NOW)]
    verifier = ServiceAuthVerifier(resolver, FEEDS, clock=lambda: clock[0])
    token = forge(key)
    first = await verifier.verify(token, lxm=LXM)
    assert resolver.lookups == 1
    for _ in range(5):
        assert await verifier.verify(token, lxm=LXM) == first
    assert resolver.lookups == 1  # one resolution and one signature check for six requests
    # The per-request checks still run on a cached token.
    with pytest.raises(ServiceAuthError) as info:
        await verifier.verify(token, lxm="app.bsky.feed.getTimeline")
    assert info.value.error == "BadJwtLexiconMethod"
    clock[0] = NOW + 60 + 31
    with pytest.raises(ServiceAuthError) as info:
        await verifier.verify(token, lxm=LXM)
    assert info.value.error == "JwtExpired"


async def test_cache_is_bounded(key: Keypair, resolver: Any) -> None:
    verifier = ServiceAuthVerifier(resolver, FEEDS, cache_size=3, clock=lambda: NOW)
    tokens = [forge(key, jti=str(i)) for i in range(5)]
    for token in tokens:
        await verifier.verify(token, lxm=LXM)
    assert len(verifier._verified) == 3
    lookups = resolver.lookups
    await verifier.verify(tokens[-1], lxm=LXM)
    assert resolver.lookups == lookups  # the newest stayed
    await verifier.verify(tokens[0], lxm=LXM)
    assert resolver.lookups == lookups + 1  # the oldest was evicted


async def test_cache_keeps_the_tokens_in_use(key: Keypair, resolver: Any) -> None:
    """LRU, not FIFO: a token a busy caller keeps sending outlives newer unused ones."""
    verifier = ServiceAuthVerifier(resolver, FEEDS, cache_size=3, clock=lambda: NOW)
    busy = forge(key, jti="busy")
    await verifier.verify(busy, lxm=LXM)
    for i in range(5):
        await verifier.verify(forge(key, jti=str(i)), lxm=LXM)
        await verifier.verify(busy, lxm=LXM)
    assert resolver.lookups == 6  # busy once, each new token once: busy was never evicted


async def test_refused_token_is_not_cached(key: Keypair, resolver: Any) -> None:
    verifier = ServiceAuthVerifier(resolver, FEEDS, clock=lambda: NOW)
    bad = forge(Keypair.generate(K256))
    for _ in range(2):
        with pytest.raises(ServiceAuthError):
            await verifier.verify(bad, lxm=LXM)
    assert len(verifier._verified) == 0


async def test_key_rotation_re_resolves_once(key: Keypair, resolver: Any) -> None:
    rotated = Keypair.generate(K256)
    resolver.next = did_document(ALICE, "alice.test", key=rotated)
    verifier = ServiceAuthVerifier(resolver, FEEDS, clock=lambda: NOW)
    await verifier.verify(forge(key), lxm=LXM)  # the cached document still has the old key
    auth = await verifier.verify(forge(rotated, jti="new"), lxm=LXM)
    assert auth.did == ALICE
    assert resolver.invalidated == [ALICE]


async def test_forged_tokens_do_not_flood_the_directory(key: Keypair, resolver: Any) -> None:
    verifier = ServiceAuthVerifier(resolver, FEEDS, clock=lambda: NOW)
    forger = Keypair.generate(K256)
    for i in range(20):
        with pytest.raises(ServiceAuthError) as info:
            await verifier.verify(forge(forger, jti=str(i)), lxm=LXM)
        assert info.value.error == "BadJwtSignature"
    assert resolver.invalidated == [ALICE]  # one forced refresh per REFRESH_INTERVAL


async def test_verifier_arguments(resolver: Any, key: Keypair) -> None:
    with pytest.raises(ValueError, match="audience"):
        ServiceAuthVerifier(resolver, "feeds.example.com")
    verifier = ServiceAuthVerifier(resolver, FEEDS)
    with pytest.raises(ValueError, match="lxm"):
        await verifier.verify(forge(key), lxm="nope")
    with pytest.raises(ServiceAuthError):
        await verifier.verify(b"abc", lxm=LXM)  # type: ignore[arg-type]
    assert "abc" not in repr(verifier)


async def test_resolution_failure_is_an_auth_error(key: Keypair) -> None:
    class Failing(StaticIdentityResolver):
        async def resolve_did(self, did: str) -> DidDocument:
            raise IdentityNotFound(did, "gone")

    err = await refused(forge(key), Failing(), "BadJwtIssuer")
    assert "gone" in err.reason


def test_error_pickles_without_the_token() -> None:
    import pickle

    err = ServiceAuthError("the token has expired", "JwtExpired")
    back = pickle.loads(pickle.dumps(err))
    assert (back.reason, back.error, str(back)) == (err.reason, err.error, str(err))


# -- interop with an independent implementation (PyJWT) --------------------------------------

jwt = pytest.importorskip("jwt", reason="PyJWT (a test dependency) is not installed")


def _pyca_private(key: Keypair) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    curve = ec.SECP256K1() if key.curve == K256 else ec.SECP256R1()
    return ec.derive_private_key(int.from_bytes(key.private_bytes(), "big"), curve)


@pytest.mark.parametrize(("curve", "alg"), [(K256, "ES256K"), (P256, "ES256")])
async def test_pyjwt_tokens_verify_with_ours(curve: str, alg: str) -> None:
    key = Keypair.generate(curve)
    resolver = StaticIdentityResolver([did_document(ALICE, key=key)])
    claims = {"iss": ALICE, "aud": FEEDS, "exp": NOW + 60, "iat": NOW, "lxm": LXM, "jti": "x"}
    # PyJWT does not normalise S: about half of these carry a high-S signature.
    for i in range(8):
        token = jwt.encode({**claims, "jti": str(i)}, _pyca_private(key), algorithm=alg)
        assert (await verify(token, resolver)).did == ALICE


@pytest.mark.parametrize(("curve", "alg"), [(K256, "ES256K"), (P256, "ES256")])
def test_our_tokens_verify_with_pyjwt(curve: str, alg: str) -> None:
    key = Keypair.generate(curve)
    token = create_service_jwt(key, iss=ALICE, aud=FEEDS, lxm=LXM, now=NOW)
    public = _pyca_private(key).public_key()
    claims = jwt.decode(
        token,
        public,
        algorithms=[alg],
        audience=FEEDS,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == ALICE and claims["lxm"] == LXM
    forged = create_service_jwt(Keypair.generate(curve), iss=ALICE, aud=FEEDS, lxm=LXM, now=NOW)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, public, algorithms=[alg], audience=FEEDS, options={"verify_exp": False})
