"""The whole OAuth flow against a fake authorization server and PDS (no network).

The servers answer through `MockTransport`; every request is recorded and checked: PAR, PKCE,
DPoP proofs (verified by pyjwt), nonce retries, callback refusals, refresh, revocation and
confidential-client assertions. No error or repr may show a token, code, verifier or key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from multidict import MultiDict
from oauth_fakes import (
    AUTHORIZE,
    DID,
    HANDLE,
    ISSUER,
    OTHER_DID,
    PAR,
    PDS,
    PDS2,
    REDIRECT,
    REVOKE,
    TOKEN,
    FakeServers,
    did_document,
    json_response,
    server_metadata,
)

from atproto_async import AuthenticationError, Client
from atproto_async.crypto import Keypair
from atproto_async.exceptions import TransportError
from atproto_async.identity import StaticIdentityResolver
from atproto_async.oauth import (
    MemorySessionStore,
    OAuthClient,
    OAuthError,
    OAuthSession,
    private_jwk,
)
from atproto_async.xrpc.transport import MockTransport, Request, Response

NSID = "com.example.ping"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def proof_of(headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a request's DPoP proof, verified by pyjwt."""
    proof = headers["DPoP"]
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256" and "d" not in header["jwk"]
    claims = jwt.decode(proof, jwt.PyJWK(header["jwk"]), algorithms=["ES256"])
    return header, claims


def assert_hidden(text: str, secrets: Iterable[str | None]) -> None:
    for secret in secrets:
        if secret:
            assert secret not in text


@pytest.fixture
def servers() -> FakeServers:
    return FakeServers()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def resolver() -> StaticIdentityResolver:
    return StaticIdentityResolver([did_document(), did_document(OTHER_DID, "bob.test")])


@pytest.fixture
async def oauth(
    servers: FakeServers, clock: Clock, resolver: StaticIdentityResolver
) -> AsyncIterator[OAuthClient]:
    async with OAuthClient.loopback(
        REDIRECT, resolver=resolver, transport=MockTransport(servers.handle), clock=clock
    ) as client:
        yield client


async def start(oauth: OAuthClient, servers: FakeServers) -> tuple[str, str]:
    """Authorize; return the authorization URL and the state sent."""
    url = await oauth.authorize(HANDLE)
    return url, servers.to(PAR)[-1].form["state"][0]


async def sign_in(oauth: OAuthClient, servers: FakeServers) -> OAuthSession:
    _, state = await start(oauth, servers)
    return await oauth.callback({"code": "the-code-1234", "state": state, "iss": ISSUER})


def pds_client(session: OAuthSession, servers: FakeServers, clock: Clock) -> Client:
    return Client(oauth=session, transport=MockTransport(servers.handle), clock=clock)


# -- the sign-in -------------------------------------------------------------------------------


async def test_sign_in_sends_par_pkce_and_dpop(oauth: OAuthClient, servers: FakeServers) -> None:
    url, _ = await start(oauth, servers)
    (par,) = servers.to(PAR)
    form = par.form
    assert form["response_type"] == ["code"]
    assert form["code_challenge_method"] == ["S256"]
    assert form["redirect_uri"] == [REDIRECT]
    assert form["scope"] == ["atproto transition:generic"]
    assert form["login_hint"] == [HANDLE]
    assert form["client_id"] == [oauth.client_id]
    assert len(form["state"][0]) >= 32
    assert par.headers["Content-Type"] == "application/x-www-form-urlencoded"
    _, claims = proof_of(par.headers)
    assert claims["htm"] == "POST" and claims["htu"] == PAR and "ath" not in claims
    assert claims["iat"] == 1_700_000_000

    split = urlsplit(url)
    assert f"{split.scheme}://{split.netloc}{split.path}" == AUTHORIZE
    assert parse_qs(split.query) == {
        "client_id": [oauth.client_id],
        "request_uri": ["urn:ietf:params:oauth:request_uri:r1"],
    }

    session = await oauth.callback(
        {"code": "the-code-1234", "state": form["state"][0], "iss": ISSUER}
    )
    (token,) = servers.to(TOKEN)
    verifier = token.form["code_verifier"][0]
    assert form["code_challenge"] == [_b64(hashlib.sha256(verifier.encode()).digest())]
    assert 43 <= len(verifier) <= 128
    assert token.form["grant_type"] == ["authorization_code"]
    assert token.form["code"] == ["the-code-1234"]
    assert token.form["redirect_uri"] == [REDIRECT]
    header, claims = proof_of(token.headers)
    assert claims["htu"] == TOKEN
    assert header["jwk"] == session.dpop.public_jwk  # the PAR's key is the session's key
    assert proof_of(par.headers)[0]["jwk"] == session.dpop.public_jwk
    assert session.did == DID and session.pds == PDS and session.issuer == ISSUER
    assert session.tokens.access_token == "access-token-1"
    assert (await oauth.session_store.get(DID)) == session.to_dict()


async def test_par_nonce_is_retried_once_with_the_nonce(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    servers.par_nonce_refusals = 1
    await start(oauth, servers)
    first, second = servers.to(PAR)
    assert "nonce" not in proof_of(first.headers)[1]
    assert proof_of(second.headers)[1]["nonce"] == "n1"
    assert proof_of(first.headers)[1]["jti"] != proof_of(second.headers)[1]["jti"]


async def test_second_nonce_refusal_is_raised(oauth: OAuthClient, servers: FakeServers) -> None:
    servers.par_nonce_refusals = 5
    with pytest.raises(OAuthError) as info:
        await oauth.authorize(HANDLE)
    assert info.value.error == "use_dpop_nonce"
    assert len(servers.to(PAR)) == 2


async def test_nonce_is_remembered_for_the_next_request(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    servers.par_nonce_refusals = 1
    await sign_in(oauth, servers)
    (token,) = servers.to(TOKEN)
    assert proof_of(token.headers)[1]["nonce"] == "n1"


# -- callback refusals -------------------------------------------------------------------------


async def test_access_denied(oauth: OAuthClient, servers: FakeServers) -> None:
    _, state = await start(oauth, servers)
    with pytest.raises(OAuthError) as info:
        await oauth.callback(
            {"error": "access_denied", "error_description": "no", "state": state, "iss": ISSUER}
        )
    assert info.value.error == "access_denied"
    assert servers.to(TOKEN) == []


async def test_missing_state(oauth: OAuthClient, servers: FakeServers) -> None:
    await start(oauth, servers)
    with pytest.raises(OAuthError) as info:
        await oauth.callback({"code": "c0de", "iss": ISSUER})
    assert info.value.error == "invalid_request"


async def test_unknown_state(oauth: OAuthClient, servers: FakeServers) -> None:
    await start(oauth, servers)
    with pytest.raises(OAuthError) as info:
        await oauth.callback({"code": "c0de", "state": "forged", "iss": ISSUER})
    assert info.value.error == "invalid_state"
    assert servers.to(TOKEN) == []


async def test_callback_replayed(oauth: OAuthClient, servers: FakeServers) -> None:
    _, state = await start(oauth, servers)
    params = f"{REDIRECT}?code=c0de&state={state}&iss={ISSUER}"
    await oauth.callback(params)
    with pytest.raises(OAuthError) as info:
        await oauth.callback(params)
    assert info.value.error == "invalid_state"
    assert len(servers.to(TOKEN)) == 1


@pytest.mark.parametrize("iss", [None, "https://evil.example", f"{ISSUER}/"])
async def test_issuer_mismatch(oauth: OAuthClient, servers: FakeServers, iss: str | None) -> None:
    _, state = await start(oauth, servers)
    params = {"code": "c0de", "state": state}
    if iss is not None:
        params["iss"] = iss
    with pytest.raises(OAuthError) as info:
        await oauth.callback(params)
    assert info.value.error == "issuer_mismatch"
    assert servers.to(TOKEN) == []


async def test_repeated_parameter_refused(oauth: OAuthClient, servers: FakeServers) -> None:
    _, state = await start(oauth, servers)
    with pytest.raises(OAuthError) as info:
        await oauth.callback(f"code=a&code=b&state={state}&iss={ISSUER}")
    assert info.value.error == "invalid_request"
    with pytest.raises(OAuthError) as info:
        await oauth.callback(
            MultiDict([("code", "a"), ("state", state), ("state", "x"), ("iss", ISSUER)])
        )
    assert info.value.error == "invalid_request"
    assert servers.to(TOKEN) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"token_type": "Bearer"},
        {"token_type": None},
        {"scope": "transition:generic"},
        {"scope": None},
        {"sub": "alice.test"},
        {"sub": None},
        {"access_token": ""},
        {"refresh_token": 5},
    ],
)
async def test_unusable_token_answer_refused(
    oauth: OAuthClient, servers: FakeServers, answer: dict[str, Any]
) -> None:
    servers.extra = answer
    with pytest.raises(OAuthError) as info:
        await sign_in(oauth, servers)
    assert info.value.error == "invalid_response"
    assert await oauth.session_store.get(DID) is None
    assert_hidden(str(info.value), ["access-token-1", "refresh-token-1", "the-code-1234"])


async def test_sub_of_another_account_is_refused(oauth: OAuthClient, servers: FakeServers) -> None:
    servers.sub = OTHER_DID
    with pytest.raises(OAuthError) as info:
        await sign_in(oauth, servers)
    assert info.value.error == "sub_mismatch"
    assert await oauth.session_store.get(DID) is None
    assert await oauth.session_store.get(OTHER_DID) is None


async def test_error_description_echoing_secrets_is_masked(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    def refuse(form: dict[str, list[str]]) -> Response:
        echo = f"bad code {form['code'][0]} for verifier {form['code_verifier'][0]}"
        return json_response(400, {"error": "invalid_grant", "error_description": echo})

    servers.token = refuse
    with pytest.raises(OAuthError) as info:
        await sign_in(oauth, servers)
    assert info.value.error == "invalid_grant" and info.value.status == 400
    verifier = servers.to(TOKEN)[0].form["code_verifier"][0]
    assert "***" in str(info.value)
    assert_hidden(str(info.value), ["the-code-1234", verifier])


async def test_sign_in_from_a_server_url_checks_the_account_server(
    oauth: OAuthClient, servers: FakeServers, resolver: StaticIdentityResolver
) -> None:
    await oauth.authorize(PDS)
    form = servers.to(PAR)[-1].form
    assert "login_hint" not in form
    session = await oauth.callback({"code": "c0de", "state": form["state"][0], "iss": ISSUER})
    assert session.did == DID and session.pds == PDS

    resolver.add(did_document(OTHER_DID, "bob.test", pds=PDS2))
    servers.sub = OTHER_DID
    await oauth.authorize(PDS)
    form = servers.to(PAR)[-1].form
    with pytest.raises(OAuthError) as info:
        await oauth.callback({"code": "c0de", "state": form["state"][0], "iss": ISSUER})
    assert info.value.error == "sub_mismatch"
    assert await oauth.session_store.get(OTHER_DID) is None


async def test_sign_in_from_a_server_url_with_an_unknown_sub(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    servers.sub = "did:plc:cccccccccccccccccccccccc"
    await oauth.authorize(PDS)
    form = servers.to(PAR)[-1].form
    with pytest.raises(OAuthError) as info:
        await oauth.callback({"code": "c0de", "state": form["state"][0], "iss": ISSUER})
    assert info.value.error == "sub_mismatch"


async def test_discovery_refusing_the_client_auth_method(
    servers: FakeServers, resolver: StaticIdentityResolver
) -> None:
    original = servers.handle

    async def only_private_key_jwt(request: Request) -> Response:
        if request.url.endswith("/.well-known/oauth-authorization-server"):
            doc = {
                **server_metadata(),
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
            return json_response(200, doc)
        return await original(request)

    async with OAuthClient.loopback(
        REDIRECT, resolver=resolver, transport=MockTransport(only_private_key_jwt)
    ) as oauth:
        with pytest.raises(OAuthError) as info:
            await oauth.authorize(HANDLE)
    assert info.value.error == "invalid_metadata"
    assert servers.to(PAR) == []


@pytest.mark.parametrize(
    "answer",
    [
        Response(500, {"Content-Type": "application/json"}, b"{}"),
        Response(200, {"Content-Type": "text/html"}, b"<html>"),
        Response(200, {"Content-Type": "application/json"}, b"{not json"),
        Response(200, {"Content-Type": "application/json"}, b"[1]"),
    ],
)
async def test_broken_metadata_answers_are_refused(
    servers: FakeServers, resolver: StaticIdentityResolver, answer: Response
) -> None:
    original = servers.handle

    async def broken(request: Request) -> Response:
        if request.url.endswith("/.well-known/oauth-protected-resource"):
            return answer
        return await original(request)

    async with OAuthClient.loopback(
        REDIRECT, resolver=resolver, transport=MockTransport(broken)
    ) as oauth:
        with pytest.raises(OAuthError) as info:
            await oauth.authorize(HANDLE)
    assert info.value.error == "invalid_metadata"


# -- calls to the PDS --------------------------------------------------------------------------


async def test_calls_carry_dpop_token_and_proof(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    async with pds_client(session, servers, clock) as client:
        assert await client.query(NSID, {"q": "x y"}) == {"ok": True}
        assert await client.procedure(NSID, {"a": 1}) == {"ok": True}
        text = repr(client)
    calls = [seen for seen in servers.seen if seen.url.startswith(f"{PDS}/xrpc/")]
    assert [c.method for c in calls] == ["GET", "POST"]
    for call in calls:
        assert call.headers["Authorization"] == "DPoP access-token-1"
        header, claims = proof_of(call.headers)
        assert header["jwk"] == session.dpop.public_jwk
        assert claims["htu"] == f"{PDS}/xrpc/{NSID}"
        assert claims["htm"] == call.method
        assert claims["ath"] == _b64(hashlib.sha256(b"access-token-1").digest())
    assert calls[0].params
    assert_hidden(text, ["access-token-1", "refresh-token-1", session.dpop.to_jwk()["d"]])


async def test_resource_nonce_is_retried_once(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    servers.pds_nonce_refusals = 1
    async with pds_client(session, servers, clock) as client:
        assert await client.query(NSID) == {"ok": True}
    first, second = [seen for seen in servers.seen if seen.url.startswith(f"{PDS}/xrpc/")]
    assert "nonce" not in proof_of(first.headers)[1]
    claims = proof_of(second.headers)[1]
    assert claims["nonce"] == "r1"
    assert claims["ath"] == _b64(hashlib.sha256(b"access-token-1").digest())


async def test_resource_nonce_refused_twice_is_raised(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    servers.pds_nonce_refusals = 10
    async with pds_client(session, servers, clock) as client:
        with pytest.raises(AuthenticationError):
            await client.query(NSID)
    assert len([s for s in servers.seen if s.url.startswith(f"{PDS}/xrpc/")]) == 2


# -- refresh -----------------------------------------------------------------------------------


async def test_expired_session_is_refreshed_once_for_concurrent_calls(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    clock.now += 3600
    async with pds_client(session, servers, clock) as client:
        await asyncio.gather(*(client.query(NSID) for _ in range(10)))
    refreshes = servers.to(TOKEN)[1:]
    assert len(refreshes) == 1
    assert refreshes[0].form["grant_type"] == ["refresh_token"]
    assert refreshes[0].form["refresh_token"] == ["refresh-token-1"]
    assert proof_of(refreshes[0].headers)[0]["jwk"] == session.dpop.public_jwk
    calls = [seen for seen in servers.seen if seen.url.startswith(f"{PDS}/xrpc/")]
    assert len(calls) == 10
    assert {c.headers["Authorization"] for c in calls} == {"DPoP access-token-2"}
    stored = await oauth.session_store.get(DID)
    assert stored is not None and stored["refresh_token"] == "refresh-token-2"


async def test_invalid_token_answer_refreshes_and_replays(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    servers.pds_invalid_token = 1
    async with pds_client(session, servers, clock) as client:
        assert await client.procedure(NSID, {"a": 1}) == {"ok": True}
    assert len(servers.to(TOKEN)) == 2
    assert session.tokens.access_token == "access-token-2"


async def test_refused_refresh_ends_the_session(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)

    def refuse(form: dict[str, list[str]]) -> Response:
        echo = f"token {form['refresh_token'][0]} was spent"
        return json_response(400, {"error": "invalid_grant", "error_description": echo})

    servers.token = refuse
    clock.now += 4000
    async with pds_client(session, servers, clock) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.query(NSID)
    assert await oauth.session_store.get(DID) is None
    assert_hidden(str(info.value), ["refresh-token-1", "access-token-1"])
    assert_hidden(str(info.value.__cause__), ["refresh-token-1", "access-token-1"])
    assert_hidden(str(info.value.__cause__.__cause__), ["refresh-token-1", "access-token-1"])


async def test_refused_refresh_keeps_a_newer_stored_session(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    newer = {**session.to_dict(), "access_token": "other-access", "refresh_token": "other-r"}

    async def refuse_after_another_process_refreshed(form: dict[str, list[str]]) -> Response:
        await oauth.session_store.set(DID, newer)
        return json_response(400, {"error": "invalid_grant"})

    servers.token = refuse_after_another_process_refreshed
    clock.now += 4000
    async with pds_client(session, servers, clock) as client:
        with pytest.raises(AuthenticationError):
            await client.query(NSID)
    assert await oauth.session_store.get(DID) == newer


async def test_refresh_adopts_newer_stored_tokens(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    clock.now += 4000
    newer = {
        **session.to_dict(),
        "access_token": "other-access",
        "refresh_token": "other-r",
        "expires_at": clock.now + 3600,
    }
    await oauth.session_store.set(DID, newer)
    async with pds_client(session, servers, clock) as client:
        await client.query(NSID)
    assert len(servers.to(TOKEN)) == 1  # only the sign-in
    call = servers.seen[-1]
    assert call.headers["Authorization"] == "DPoP other-access"
    assert session.tokens.refresh_token == "other-r"


async def test_network_failure_during_refresh_keeps_the_session(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    before = session.to_dict()

    def fail(form: dict[str, list[str]]) -> Response:
        raise TransportError("connection reset", url=TOKEN)

    servers.token = fail
    clock.now += 4000
    async with pds_client(session, servers, clock) as client:
        with pytest.raises(TransportError):
            await client.query(NSID)
    assert await oauth.session_store.get(DID) == before
    assert session.tokens.refresh_token == "refresh-token-1"


async def test_server_error_during_refresh_keeps_the_session(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    session = await sign_in(oauth, servers)
    before = session.to_dict()
    servers.token = lambda form: json_response(503, {"error": "temporarily_unavailable"})
    with pytest.raises(OAuthError) as info:
        await oauth.refresh(session)
    assert info.value.error == "temporarily_unavailable"
    assert await oauth.session_store.get(DID) == before


async def test_refresh_of_a_logged_out_session(oauth: OAuthClient, servers: FakeServers) -> None:
    session = await sign_in(oauth, servers)
    await oauth.session_store.delete(DID)
    with pytest.raises(OAuthError) as info:
        await oauth.refresh(session)
    assert info.value.error == "session_ended"
    assert len(servers.to(TOKEN)) == 1


async def test_refresh_for_another_account_is_refused(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    session = await sign_in(oauth, servers)
    servers.sub = OTHER_DID
    with pytest.raises(OAuthError) as info:
        await oauth.refresh(session)
    assert info.value.error == "sub_mismatch"
    assert session.tokens.access_token == "access-token-1"


# -- revocation --------------------------------------------------------------------------------


async def test_revoke_posts_both_tokens_and_forgets_the_session(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    session = await sign_in(oauth, servers)
    await oauth.revoke(session)
    revoked = servers.to(REVOKE)
    assert [r.form["token"] for r in revoked] == [["refresh-token-1"], ["access-token-1"]]
    for request in revoked:
        assert request.form["client_id"] == [oauth.client_id]
        assert proof_of(request.headers)[1]["htu"] == REVOKE
    assert await oauth.session_store.get(DID) is None
    assert session.tokens.access_token == ""


@pytest.mark.parametrize("failure", ["status", "network"])
async def test_revoke_forgets_the_session_when_the_endpoint_fails(
    oauth: OAuthClient, servers: FakeServers, failure: str
) -> None:
    session = await sign_in(oauth, servers)
    expected: type[Exception]
    if failure == "status":
        servers.revoke_status = 500
        expected = OAuthError
    else:

        def fail(request: Request) -> Response:
            if request.url == REVOKE:
                raise TransportError("down", url=REVOKE)
            raise AssertionError(request.url)

        oauth._transport = MockTransport(fail)
        expected = TransportError
    with pytest.raises(expected) as info:
        await oauth.revoke(session)
    assert await oauth.session_store.get(DID) is None
    assert_hidden(str(info.value), ["refresh-token-1", "access-token-1"])


async def test_logout_through_the_client_revokes(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    async with pds_client(session, servers, clock) as client:
        await client.logout()
    assert len(servers.to(REVOKE)) == 2
    assert await oauth.session_store.get(DID) is None


# -- confidential client -----------------------------------------------------------------------

APP = "https://app.example"


def confidential_metadata(**changes: Any) -> dict[str, Any]:
    return {
        "client_id": f"{APP}/client-metadata.json",
        "redirect_uris": [f"{APP}/callback"],
        "scope": "atproto transition:generic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks_uri": f"{APP}/jwks.json",
        "dpop_bound_access_tokens": True,
        **changes,
    }


async def test_confidential_client_signs_assertions(
    servers: FakeServers, resolver: StaticIdentityResolver
) -> None:
    jwk = private_jwk(Keypair.generate("p256"), kid="key-1")
    async with OAuthClient(
        confidential_metadata(), keys=[jwk], resolver=resolver,
        transport=MockTransport(servers.handle),
    ) as oauth:  # fmt: skip
        (public,) = oauth.jwks["keys"]
        assert "d" not in public and public["kid"] == "key-1"
        session = await sign_in(oauth, servers)
        await oauth.refresh(session)
        texts = [repr(oauth), repr(session), repr(session.tokens)]
    assertions = []
    for request in servers.to(PAR) + servers.to(TOKEN):
        form = request.form
        assert form["client_id"] == [f"{APP}/client-metadata.json"]
        assert form["client_assertion_type"] == [
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ]
        (assertion,) = form["client_assertion"]
        assert jwt.get_unverified_header(assertion)["kid"] == "key-1"
        claims = jwt.decode(
            assertion, jwt.PyJWK(public), algorithms=["ES256"], audience=ISSUER,
            issuer=f"{APP}/client-metadata.json",
        )  # fmt: skip
        assert claims["sub"] == f"{APP}/client-metadata.json"
        assert 0 < claims["exp"] - claims["iat"] <= 60
        assertions.append(claims["jti"])
    assert len(assertions) == 3 and len(set(assertions)) == 3
    for text in texts:
        assert_hidden(text, [jwk["d"], "access-token-2", "refresh-token-2"])


def test_confidential_client_without_keys_is_refused() -> None:
    with pytest.raises(OAuthError) as info:
        OAuthClient(confidential_metadata())
    assert info.value.error == "invalid_client_metadata"


@pytest.mark.parametrize(
    "keys",
    [
        [{"kty": "EC", "crv": "P-256"}],
        [private_jwk(Keypair.generate("p256"))],  # no kid
        [private_jwk(Keypair.generate("k256"), kid="k")],
    ],
)
def test_unusable_client_keys_are_refused(keys: list[dict[str, str]]) -> None:
    with pytest.raises(OAuthError) as info:
        OAuthClient(confidential_metadata(), keys=keys)
    assert info.value.error == "invalid_client_metadata"
    for key in keys:
        assert_hidden(str(info.value), [key.get("d")])


# -- what is shown, what is stored -------------------------------------------------------------


async def test_reprs_show_no_secrets(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    verifier = servers.to(TOKEN)[0].form["code_verifier"][0]
    secrets = [
        "access-token-1", "refresh-token-1", "the-code-1234", verifier,
        session.dpop.to_jwk()["d"],
    ]  # fmt: skip
    async with pds_client(session, servers, clock) as client:
        texts = [repr(oauth), repr(session), repr(session.tokens), repr(client), str(client)]
    for text in texts:
        assert_hidden(text, secrets)
    assert DID in repr(session)


async def test_session_round_trip(oauth: OAuthClient, servers: FakeServers) -> None:
    session = await sign_in(oauth, servers)
    again = OAuthSession.from_dict(session.to_dict(), oauth)
    assert again.to_dict() == session.to_dict()
    assert again.dpop.jkt == session.dpop.jkt
    assert again.tokens == session.tokens
    restored = await oauth.restore(DID)
    assert restored.to_dict() == session.to_dict()


def _stored() -> dict[str, Any]:
    from atproto_async.oauth import DPoPKey

    return {
        "version": 1,
        "did": DID,
        "pds": PDS,
        "server": {
            "issuer": ISSUER,
            "authorization_endpoint": AUTHORIZE,
            "token_endpoint": TOKEN,
            "par_endpoint": PAR,
        },
        "dpop_key": DPoPKey.generate().to_jwk(),
        "access_token": "a",
        "refresh_token": "r",
        "expires_at": 1.0,
        "scope": "atproto",
        "issued_at": 0,
    }


def test_stored_example_is_readable() -> None:
    assert OAuthSession.from_dict(_stored()).did == DID


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "text",
        [],
        {},
        {"version": 2},
        {"version": None},
        {"did": None},
        {"server": "x"},
        {"server": {}},
        {"server": None},
        {"dpop_key": {"kty": "EC"}},
        {"dpop_key": "x"},
        {"dpop_key": None},
        {"access_token": 5},
        {"refresh_token": ["r"]},
        {"expires_at": "soon"},
        {"expires_at": True},
        {"issued_at": {}},
        {"did": 5},
        {"did": "alice.test"},
        {"pds": None},
        {"scope": None},
        {
            "server": {
                "issuer": 5,
                "authorization_endpoint": AUTHORIZE,
                "token_endpoint": TOKEN,
                "par_endpoint": PAR,
            }
        },
        {
            "server": {
                "issuer": ISSUER,
                "authorization_endpoint": AUTHORIZE,
                "token_endpoint": [],
                "par_endpoint": PAR,
            }
        },
        {
            "server": {
                "issuer": ISSUER,
                "authorization_endpoint": AUTHORIZE,
                "token_endpoint": TOKEN,
                "par_endpoint": PAR,
                "revocation_endpoint": 1,
            }
        },
    ],
)
def test_garbage_stored_sessions_are_refused(garbage: Any) -> None:
    data = {**_stored(), **garbage} if isinstance(garbage, dict) and garbage else garbage
    if garbage == {"did": None}:
        data = {k: v for k, v in _stored().items() if k != "did"}  # missing, not null
    with pytest.raises(OAuthError) as info:
        OAuthSession.from_dict(data)
    assert info.value.error == "invalid_session"


async def test_restore_of_unknown_account(oauth: OAuthClient) -> None:
    with pytest.raises(OAuthError) as info:
        await oauth.restore(DID)
    assert info.value.error == "session_not_found"


async def test_shared_store_across_clients(
    servers: FakeServers, clock: Clock, resolver: StaticIdentityResolver
) -> None:
    store = MemorySessionStore()
    kwargs: dict[str, Any] = {
        "resolver": resolver, "transport": MockTransport(servers.handle), "clock": clock,
        "session_store": store,
    }  # fmt: skip
    async with OAuthClient.loopback(REDIRECT, **kwargs) as one:
        await sign_in(one, servers)
    async with OAuthClient.loopback(REDIRECT, **kwargs) as two:
        session = await two.restore(DID)
        assert session.tokens.access_token == "access-token-1"


# -- refresh races -----------------------------------------------------------------------------


async def test_two_session_objects_of_one_account_share_one_refresh(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    first = await sign_in(oauth, servers)
    second = await oauth.restore(DID)
    await asyncio.gather(oauth.refresh(first), oauth.refresh(second))
    assert len(servers.to(TOKEN)) == 2  # sign-in and one refresh
    assert first.tokens.access_token == second.tokens.access_token == "access-token-2"


async def test_two_clients_sharing_a_store_spend_the_refresh_token_once(
    servers: FakeServers, clock: Clock, resolver: StaticIdentityResolver
) -> None:
    store = MemorySessionStore()
    gate, sent = asyncio.Event(), asyncio.Event()

    async def slow_refresh(form: dict[str, list[str]]) -> Response:
        if form["grant_type"] == ["refresh_token"]:
            sent.set()
            await gate.wait()
        return servers.issue(form)

    servers.token = slow_refresh
    kwargs: dict[str, Any] = {
        "resolver": resolver, "transport": MockTransport(servers.handle), "clock": clock,
        "session_store": store,
    }  # fmt: skip
    async with (
        OAuthClient.loopback(REDIRECT, **kwargs) as one,
        OAuthClient.loopback(REDIRECT, **kwargs) as two,
    ):
        session_one = await sign_in(one, servers)
        session_two = await two.restore(DID)
        tasks = [
            asyncio.create_task(one.refresh(session_one)),
            asyncio.create_task(two.refresh(session_two)),
        ]
        await sent.wait()
        gate.set()
        await asyncio.gather(*tasks)
    refreshes = [s for s in servers.to(TOKEN) if s.form["grant_type"] == ["refresh_token"]]
    assert len(refreshes) == 1
    assert session_one.tokens.access_token == session_two.tokens.access_token
    stored = await store.get(DID)
    assert stored is not None and stored["refresh_token"] == session_one.tokens.refresh_token


async def test_cancelled_caller_does_not_cancel_the_refresh(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    session = await sign_in(oauth, servers)
    gate, sent = asyncio.Event(), asyncio.Event()

    async def slow(form: dict[str, list[str]]) -> Response:
        sent.set()
        await gate.wait()
        return servers.issue(form)

    servers.token = slow
    caller = asyncio.create_task(oauth.refresh(session))
    await sent.wait()
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    gate.set()
    await oauth.refresh(session, stale="access-token-1")  # joins it, or finds it done
    assert session.tokens.access_token == "access-token-2"
    assert len(servers.to(TOKEN)) == 2
    stored = await oauth.session_store.get(DID)
    assert stored is not None and stored["refresh_token"] == "refresh-token-2"


async def test_expired_state_is_refused(
    servers: FakeServers, resolver: StaticIdentityResolver
) -> None:
    from atproto_async.oauth import MemoryStateStore

    state_clock = Clock()
    async with OAuthClient.loopback(
        REDIRECT, resolver=resolver, transport=MockTransport(servers.handle),
        state_store=MemoryStateStore(ttl=600, clock=state_clock),
    ) as oauth:  # fmt: skip
        _, state = await start(oauth, servers)
        state_clock.now += 601
        with pytest.raises(OAuthError) as info:
            await oauth.callback({"code": "c0de", "state": state, "iss": ISSUER})
    assert info.value.error == "invalid_state"
    assert servers.to(TOKEN) == []


@pytest.mark.parametrize("error", ["use_dpop_nonce", "invalid_dpop_proof"])
async def test_refused_proof_during_refresh_keeps_the_session(
    oauth: OAuthClient, servers: FakeServers, error: str
) -> None:
    session = await sign_in(oauth, servers)
    before = session.to_dict()
    servers.token = lambda form: json_response(400, {"error": error}, {"DPoP-Nonce": "n9"})
    with pytest.raises(OAuthError) as info:
        await oauth.refresh(session)
    assert info.value.error == error
    assert await oauth.session_store.get(DID) == before


# -- follow-ups of the review ------------------------------------------------------------------


async def test_error_callback_from_another_issuer_is_a_mix_up(
    oauth: OAuthClient, servers: FakeServers
) -> None:
    # RFC 9207 2.4: iss is checked on error answers too (a forged "access_denied" is refused
    # as coming from the wrong server, not taken at its word).
    _, state = await start(oauth, servers)
    with pytest.raises(OAuthError) as info:
        await oauth.callback(
            {"error": "access_denied", "state": state, "iss": "https://evil.example"}
        )
    assert info.value.error == "issuer_mismatch"


@pytest.mark.parametrize("failure", ["status", "network"])
async def test_revoke_tries_the_access_token_when_the_refresh_token_fails(
    oauth: OAuthClient, servers: FakeServers, failure: str
) -> None:
    session = await sign_in(oauth, servers)
    tried: list[str] = []

    async def flaky(request: Request) -> Response:
        if request.url == REVOKE:
            token = parse_qs(bytes(request.body).decode())["token"][0]  # type: ignore[arg-type]
            tried.append(token)
            if token == "refresh-token-1":
                if failure == "network":
                    raise TransportError("reset", url=REVOKE)
                return json_response(500, {"error": "server_error"})
        return await servers.handle(request)

    oauth._transport = MockTransport(flaky)
    with pytest.raises((OAuthError, TransportError)):
        await oauth.revoke(session)
    assert tried == ["refresh-token-1", "access-token-1"]
    assert await oauth.session_store.get(DID) is None


async def test_client_of_a_revoked_session_refuses_to_call(
    oauth: OAuthClient, servers: FakeServers, clock: Clock
) -> None:
    session = await sign_in(oauth, servers)
    async with pds_client(session, servers, clock) as client:
        await client.logout()
        sent = len(servers.seen)
        with pytest.raises(AuthenticationError) as info:
            await client.query(NSID)
    assert info.value.error == "SessionEnded"
    assert len(servers.seen) == sent  # nothing went out unauthenticated


def test_issuer_must_match_exactly() -> None:
    from atproto_async.oauth.metadata import parse_authorization_server

    document = server_metadata()
    with pytest.raises(OAuthError) as info:
        parse_authorization_server({**document, "issuer": ISSUER + "/"}, ISSUER)
    assert info.value.error == "invalid_metadata"
    assert parse_authorization_server(document, ISSUER).issuer == ISSUER
