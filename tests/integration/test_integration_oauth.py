"""OAuth against the real PDS: the whole flow, refresh, rotation, revocation and refusals.

The PDS is its own authorization server (PAR, PKCE, DPoP with nonces). `oauth_helpers.sign_in`
stands in for the person at the sign-in page. The harness starts the PDS with OAuth access
tokens of ``OAUTH_TOKEN_TTL_SECONDS`` (the released server hard-codes 60 minutes), so expiry is
real, not faked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import OAUTH_TOKEN_TTL_SECONDS, Account, create_account, post
from localpds import LocalPds
from oauth_helpers import sign_in
from tls_helpers import CLIENT_HOST, TestCa

from atproto_async import AuthenticationError, Client
from atproto_async.crypto import Keypair
from atproto_async.identity import DidDocument, IdentityResolver, StaticIdentityResolver
from atproto_async.oauth import (
    DPoPKey,
    MemorySessionStore,
    MemoryStateStore,
    OAuthClient,
    OAuthError,
    OAuthSession,
)
from atproto_async.xrpc.transport import AiohttpTransport, Request, Response

pytestmark = pytest.mark.integration

REDIRECT = "http://127.0.0.1:8765/callback"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "oauth_login.py"


class CountingTransport(AiohttpTransport):
    """The real transport, counting the requests made to each URL."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request.url)
        return await super().send(request)

    def count(self, suffix: str) -> int:
        return sum(1 for url in self.sent if url.endswith(suffix))


class RecordingStateStore(MemoryStateStore):
    """A state store that also keeps a copy of every pending sign-in (to replay one)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, dict[str, Any]] = {}

    async def set(self, key: str, value: dict[str, Any]) -> None:
        self.seen[key] = dict(value)
        await super().set(key, value)


@pytest.fixture
async def resolver(local_pds: LocalPds) -> AsyncIterator[IdentityResolver]:
    async with IdentityResolver(plc_url=local_pds.plc_url, allow_insecure=True) as r:
        yield r


@pytest.fixture
async def oauth(resolver: IdentityResolver) -> AsyncIterator[OAuthClient]:
    async with OAuthClient.loopback(REDIRECT, resolver=resolver, allow_insecure=True) as client:
        yield client


async def signed_in(
    oauth: OAuthClient, account: Account, target: str | None = None
) -> OAuthSession:
    """Authorize, sign in as ``account`` and finish the callback."""
    url = await oauth.authorize(target or account.did)
    back = await sign_in(url, account.handle, account.password)
    return await oauth.callback(back)


async def test_whole_flow_then_post_as_the_user(
    local_pds: LocalPds, oauth: OAuthClient, account: Account
) -> None:
    url = await oauth.authorize(account.did)
    assert url.startswith(f"{local_pds.pds_url}/oauth/authorize?client_id=")
    assert "request_uri=" in url  # PAR: nothing else travels through the browser
    back = await sign_in(url, account.handle, account.password)
    assert "code=" in back and "iss=" in back and "state=" in back
    session = await oauth.callback(back)

    assert session.did == account.did
    assert session.pds == local_pds.pds_url
    assert session.scope.split() == ["atproto", "transition:generic"]
    assert session.tokens.access_token not in repr(session)
    async with oauth.client(session) as client:
        assert client.oauth_session is session
        assert session.tokens.access_token not in repr(client)
        created = await client.com.atproto.repo.create_record(
            repo=account.did, collection="app.bsky.feed.post", record=post("hello over OAuth")
        )
        got = await client.com.atproto.repo.get_record(
            repo=account.did, collection="app.bsky.feed.post", rkey=created.uri.rsplit("/", 1)[1]
        )
    assert got.value.text == "hello over OAuth"
    stored = await oauth.session_store.get(account.did)
    assert stored is not None and stored["access_token"] == session.tokens.access_token


async def test_flow_started_from_the_pds_url_checks_the_subject(
    local_pds: LocalPds, oauth: OAuthClient, account: Account
) -> None:
    session = await signed_in(oauth, account, target=local_pds.pds_url)
    assert session.did == account.did  # resolved and checked: its PDS names this issuer
    async with Client(oauth=session) as client:
        out = await client.com.atproto.server.get_session()
    assert out.did == account.did


async def test_expired_token_is_refreshed_and_the_call_replayed(
    local_pds: LocalPds, oauth: OAuthClient, account: Account
) -> None:
    session = await signed_in(oauth, account)
    assert session.expires_at is not None
    assert session.expires_at - time.time() <= OAUTH_TOKEN_TTL_SECONDS + 1  # short TTL in force
    first = session.tokens
    # A clock an hour slow never refreshes ahead of time: the server's refusal must be
    # what triggers the refresh here.
    async with oauth.client(session, clock=lambda: time.time() - 3600) as client:
        await client.com.atproto.server.get_session()
        await asyncio.sleep(max(0.0, session.expires_at - time.time()) + 1.5)
        out = await client.com.atproto.repo.create_record(
            repo=account.did, collection="app.bsky.feed.post", record=post("after expiry")
        )
    assert out.uri.startswith(f"at://{account.did}/")
    assert session.tokens.access_token != first.access_token
    assert session.tokens.refresh_token != first.refresh_token


async def test_token_is_refreshed_before_it_expires_by_one_request_for_all(
    oauth: OAuthClient, account: Account
) -> None:
    transport = CountingTransport()
    async with OAuthClient.loopback(
        REDIRECT, resolver=oauth.resolver, allow_insecure=True, transport=transport
    ) as client_oauth:
        session = await signed_in(client_oauth, account)
        first = session.tokens.access_token
        assert session.expires_at is not None
        late = session.expires_at - 0.5  # inside the refresh margin, not yet expired
        async with client_oauth.client(session, clock=lambda: late) as client:
            results = await asyncio.gather(
                *(client.com.atproto.server.get_session() for _ in range(10))
            )
    await transport.close()
    assert {r.did for r in results} == {account.did}
    assert session.tokens.access_token != first
    assert transport.count("/oauth/token") == 2  # the code exchange, then one refresh


async def test_rotated_refresh_token_is_refused_and_the_stale_copy_removed(
    oauth: OAuthClient, account: Account
) -> None:
    session = await signed_in(oauth, account)
    snapshot = session.to_dict()
    await oauth.refresh(session)
    assert session.tokens.refresh_token != snapshot["refresh_token"]

    # Another process still holding the old tokens in its own store tries to spend them.
    other_store = MemorySessionStore()
    await other_store.set(account.did, snapshot)
    async with OAuthClient.loopback(
        REDIRECT, resolver=oauth.resolver, allow_insecure=True, session_store=other_store
    ) as other:
        stale = await other.restore(account.did)
        with pytest.raises(OAuthError) as caught:
            await other.refresh(stale)
    assert caught.value.error == "session_ended"
    assert isinstance(caught.value.__cause__, OAuthError)
    assert caught.value.__cause__.error == "invalid_grant"
    assert snapshot["refresh_token"] not in str(caught.value)
    assert await other_store.get(account.did) is None  # its own stale copy is gone
    # The reference server treats a replayed refresh token as theft and revokes the whole
    # grant: the session that rotated it ends too, reported as the session ending.
    async with oauth.client(session) as client:
        with pytest.raises(AuthenticationError):
            await client.com.atproto.server.get_session()
    assert await oauth.session_store.get(account.did) is None


async def test_two_concurrent_refreshes_spend_the_refresh_token_once(
    oauth: OAuthClient, account: Account
) -> None:
    transport = CountingTransport()
    shared = MemorySessionStore()  # what two processes would share (a database)
    clients = [
        OAuthClient.loopback(
            REDIRECT,
            resolver=oauth.resolver,
            allow_insecure=True,
            transport=transport,
            session_store=shared,
        )
        for _ in range(2)
    ]
    try:
        await signed_in(clients[0], account)
        spent = transport.count("/oauth/token")
        sessions = [await c.restore(account.did) for c in clients for _ in range(2)]
        await asyncio.gather(*(c.refresh(s) for c, s in zip(clients * 2, sessions, strict=True)))
        assert transport.count("/oauth/token") == spent + 1
        tokens = {s.tokens.refresh_token for s in sessions}
        assert len(tokens) == 1
        for c, s in zip(clients * 2, sessions, strict=True):
            async with c.client(s) as client:
                assert (await client.com.atproto.server.get_session()).did == account.did
    finally:
        for c in clients:
            await c.close()
        await transport.close()


async def test_logout_revokes_the_session(oauth: OAuthClient, account: Account) -> None:
    session = await signed_in(oauth, account)
    snapshot = session.to_dict()
    async with oauth.client(session) as client:
        await client.com.atproto.server.get_session()
        await client.logout()
    assert await oauth.session_store.get(account.did) is None
    assert session.tokens.access_token == ""

    # The revoked tokens are refused by the server, access and refresh alike.
    store = MemorySessionStore()
    await store.set(account.did, snapshot)
    async with OAuthClient.loopback(
        REDIRECT, resolver=oauth.resolver, allow_insecure=True, session_store=store
    ) as other:
        revoked = await other.restore(account.did)
        async with other.client(revoked) as client:
            with pytest.raises(AuthenticationError):
                await client.com.atproto.server.get_session()


async def test_proof_signed_by_another_key_is_refused(oauth: OAuthClient, account: Account) -> None:
    session = await signed_in(oauth, account)
    session.dpop = DPoPKey.generate()  # the token is bound to the original key
    async with oauth.client(session, max_retries=0) as client:
        with pytest.raises(AuthenticationError):
            await client.com.atproto.repo.create_record(
                repo=account.did, collection="app.bsky.feed.post", record=post("forged")
            )


async def test_callback_with_a_wrong_state_is_refused(oauth: OAuthClient, account: Account) -> None:
    url = await oauth.authorize(account.did)
    back = await sign_in(url, account.handle, account.password)
    with pytest.raises(OAuthError) as caught:
        await oauth.callback(back.replace("state=", "state=x"))
    assert caught.value.error == "invalid_state"
    assert len(oauth.session_store) == 0  # type: ignore[arg-type]


async def test_callback_with_a_wrong_issuer_is_refused(
    local_pds: LocalPds, oauth: OAuthClient, account: Account
) -> None:
    url = await oauth.authorize(account.did)
    back = await sign_in(url, account.handle, account.password)
    with pytest.raises(OAuthError) as caught:
        await oauth.callback(back.replace("iss=http", "iss=https"))
    assert caught.value.error == "issuer_mismatch"
    # The pending sign-in was spent: the genuine callback cannot be completed afterwards.
    with pytest.raises(OAuthError) as again:
        await oauth.callback(back)
    assert again.value.error == "invalid_state"


async def test_token_for_another_account_is_refused(
    local_pds: LocalPds, oauth: OAuthClient, account: Account
) -> None:
    other = await create_account(local_pds, prefix="o")
    url = await oauth.authorize(account.did)  # the app asked for `account`...
    back = await sign_in(url, other.handle, other.password)  # ...the person signed in as `other`
    with pytest.raises(OAuthError) as caught:
        await oauth.callback(back)
    assert caught.value.error == "sub_mismatch"
    assert await oauth.session_store.get(other.did) is None


async def test_replayed_code_is_refused_by_the_server(
    resolver: IdentityResolver, account: Account
) -> None:
    states = RecordingStateStore()
    async with OAuthClient.loopback(
        REDIRECT, resolver=resolver, allow_insecure=True, state_store=states
    ) as oauth:
        url = await oauth.authorize(account.did)
        back = await sign_in(url, account.handle, account.password)
        await oauth.callback(back)
        ((state, pending),) = states.seen.items()
        await states.set(state, pending)  # an attacker replaying the pending sign-in too
        with pytest.raises(OAuthError) as caught:
            await oauth.callback(back)
    assert caught.value.error == "invalid_grant"
    assert caught.value.status == 400
    code = back.split("code=")[1].split("&")[0]
    assert code not in str(caught.value)


async def test_authorization_server_that_is_not_the_accounts_pds_is_refused(
    local_pds: LocalPds, resolver: IdentityResolver, account: Account
) -> None:
    # As this resolver sees it, the account's DID document names another PDS, served by
    # another authorization server (complete, well-formed metadata). A token the local PDS's
    # server minted for this DID must then be refused when the flow started from a server URL:
    # that server does not speak for the account.
    import copy
    import json

    import aiohttp
    from aiohttp import web

    async with aiohttp.ClientSession() as http:
        metadata_url = f"{local_pds.pds_url}/.well-known/oauth-authorization-server"
        async with http.get(metadata_url) as answer:
            genuine = await answer.json()

    def base(request: web.Request) -> str:
        return f"http://localhost:{request.url.port}"

    async def resource(request: web.Request) -> web.Response:
        return web.json_response(
            {"resource": base(request), "authorization_servers": [base(request)]}
        )

    async def server(request: web.Request) -> web.Response:
        metadata = json.loads(json.dumps(genuine).replace(local_pds.pds_url, base(request)))
        return web.json_response(metadata)

    app = web.Application()
    app.router.add_get("/.well-known/oauth-protected-resource", resource)
    app.router.add_get("/.well-known/oauth-authorization-server", server)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        document = copy.deepcopy(dict((await resolver.resolve_did(account.did)).raw))
        document["service"] = [
            {**service, "serviceEndpoint": f"http://localhost:{port}"}
            if service["id"].endswith("#atproto_pds")
            else service
            for service in document["service"]
        ]
        static = StaticIdentityResolver([DidDocument.from_dict(document)])
        async with OAuthClient.loopback(REDIRECT, resolver=static, allow_insecure=True) as oauth:
            url = await oauth.authorize(local_pds.pds_url)
            back = await sign_in(url, account.handle, account.password)
            with pytest.raises(OAuthError) as caught:
                await oauth.callback(back)
            assert caught.value.error == "sub_mismatch"
            assert f"localhost:{port}" in caught.value.description
            assert await oauth.session_store.get(account.did) is None
    finally:
        await runner.cleanup()


async def test_example_signs_in_posts_and_logs_out(local_pds: LocalPds, account: Account) -> None:
    import sys

    import aiohttp

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        account.did,
        "posted by the example",
        "--plc",
        local_pds.plc_url,
        "--allow-insecure",
        "--logout",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):
            lines = []
            while not (lines and lines[-1].startswith(local_pds.pds_url)):
                line = (await process.stdout.readline()).decode()
                assert line, f"the example ended early: {lines}"
                lines.append(line.strip())
            back = await sign_in(lines[-1], account.handle, account.password)
            assert back.startswith("http://127.0.0.1:")
            async with aiohttp.ClientSession() as browser, browser.get(back) as page:
                assert page.status == 200  # the browser lands on the example's callback page
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    printed = out.decode().splitlines()
    assert printed[0] == f"signed in as {account.did} (atproto transition:generic)"
    uri = printed[1]
    assert uri.startswith(f"at://{account.did}/app.bsky.feed.post/")
    assert printed[2] == "session revoked"
    async with Client(local_pds.url) as anonymous:
        record = await anonymous.com.atproto.repo.get_record(
            repo=account.did, collection="app.bsky.feed.post", rkey=uri.rsplit("/", 1)[1]
        )
    assert record.value.text == "posted by the example"


async def test_flow_started_from_a_handle_resolved_through_dns(
    local_pds: LocalPds, account: Account
) -> None:
    from tests.conftest import require_server
    from tests.identity.dnsmasq import Dnsmasq, unavailable_reason

    require_server(unavailable_reason(), "the OAuth handle test")
    with Dnsmasq({f"_atproto.{account.handle}": [[f"did={account.did}"]]}) as dns:
        async with (
            IdentityResolver(
                plc_url=local_pds.plc_url, nameservers=dns.nameservers, allow_insecure=True
            ) as resolver,
            OAuthClient.loopback(REDIRECT, resolver=resolver, allow_insecure=True) as oauth,
        ):
            session = await signed_in(oauth, account, target="@" + account.handle.upper())
    assert session.did == account.did


REFRESHER = """
import asyncio, hashlib, logging, sys
from atproto_async.identity import IdentityResolver
from atproto_async.oauth import OAuthClient, SQLiteSessionStore

async def main(path, did, plc, redirect):
    logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s", stream=sys.stdout)
    async with (
        IdentityResolver(plc_url=plc, allow_insecure=True) as resolver,
        OAuthClient.loopback(
            redirect, resolver=resolver, allow_insecure=True,
            session_store=SQLiteSessionStore(path),
        ) as oauth,
    ):
        session = await oauth.restore(did)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await oauth.refresh(session)
        digest = hashlib.sha256(session.tokens.refresh_token.encode()).hexdigest()
        print("token", digest, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_processes_refreshing_one_session_spend_the_token_once(
    tmp_path: Path, local_pds: LocalPds, resolver: IdentityResolver, account: Account
) -> None:
    import hashlib
    import sys

    from atproto_async.oauth import SQLiteSessionStore

    path = tmp_path / "sessions.db"
    store = SQLiteSessionStore(path)
    async with OAuthClient.loopback(
        REDIRECT, resolver=resolver, allow_insecure=True, session_store=store
    ) as oauth:
        await signed_in(oauth, account)
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                REFRESHER,
                str(path),
                account.did,
                local_pds.plc_url,
                REDIRECT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        try:
            async with asyncio.timeout(60):
                for process in processes:
                    assert process.stdout is not None
                    assert (await process.stdout.readline()).strip() == b"ready"
                for process in processes:  # both at once
                    assert process.stdin is not None
                    process.stdin.write(b"go\n")
                outputs = [(await p.communicate())[0].decode() for p in processes]
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        assert [p.returncode for p in processes] == [0, 0], outputs
        log = "".join(outputs)
        assert log.count("OAuth tokens of") == 1  # one process spent the refresh token...
        assert log.count("refreshed elsewhere") == 1  # ...the other adopted its result
        digests = {line.split()[1] for line in log.splitlines() if line.startswith("token ")}
        stored = await oauth.restore(account.did)
        assert stored.tokens.refresh_token is not None
        assert digests == {hashlib.sha256(stored.tokens.refresh_token.encode()).hexdigest()}
        async with oauth.client(stored) as client:
            assert (await client.com.atproto.server.get_session()).did == account.did


@pytest.fixture
async def published_client(test_ca: TestCa) -> AsyncIterator[tuple[dict[str, Any], Keypair]]:
    """A confidential web client: its metadata document served over https under CLIENT_HOST.

    Yields the metadata and the private key of its ``private_key_jwt`` JWKS.
    """
    from aiohttp import web

    from atproto_async.oauth import public_jwk

    key = Keypair.generate("p256")
    document: dict[str, Any] = {}

    async def metadata(request: web.Request) -> web.Response:
        # No keep-alive: a TLS connection the PDS keeps open would outlive the test's server.
        return web.json_response(document, headers={"Connection": "close"})

    app = web.Application()
    app.router.add_get("/client-metadata.json", metadata)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=test_ca.server_context(CLIENT_HOST))
    await site.start()
    origin = f"https://{CLIENT_HOST}:{runner.addresses[0][1]}"
    document.update(
        {
            "client_id": f"{origin}/client-metadata.json",
            "client_name": "atproto-async integration test",
            "client_uri": origin,
            "redirect_uris": [f"{origin}/callback"],
            "scope": "atproto transition:generic",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "dpop_bound_access_tokens": True,
            "jwks": {"keys": [public_jwk(key, kid="key-1")]},
        }
    )
    try:
        yield document, key
    finally:
        await runner.cleanup()


async def test_confidential_client_signs_in_refreshes_and_revokes(
    resolver: IdentityResolver,
    account: Account,
    published_client: tuple[dict[str, Any], Keypair],
) -> None:
    metadata, key = published_client
    async with OAuthClient(
        metadata, keys=[("key-1", key)], resolver=resolver, allow_insecure=True
    ) as oauth:
        url = await oauth.authorize(account.did)
        back = await sign_in(url, account.handle, account.password)
        assert back.startswith(metadata["redirect_uris"][0] + "?")
        session = await oauth.callback(back)
        assert session.did == account.did
        async with oauth.client(session) as client:
            await client.com.atproto.repo.create_record(
                repo=account.did, collection="app.bsky.feed.post", record=post("confidential")
            )
            first = session.tokens.refresh_token
            await oauth.refresh(session)  # a client assertion again, at the token endpoint
            assert session.tokens.refresh_token != first
            assert (await client.com.atproto.server.get_session()).did == account.did
            await client.logout()
        assert await oauth.session_store.get(account.did) is None


async def test_client_assertion_by_a_key_outside_the_jwks_is_refused(
    resolver: IdentityResolver,
    account: Account,
    published_client: tuple[dict[str, Any], Keypair],
) -> None:
    metadata, _ = published_client
    impostor = Keypair.generate("p256")  # same kid, another key: whoever copied the metadata
    async with OAuthClient(
        metadata, keys=[("key-1", impostor)], resolver=resolver, allow_insecure=True
    ) as oauth:
        with pytest.raises(OAuthError) as caught:
            await oauth.authorize(account.did)
    assert caught.value.status in (400, 401)
    assert caught.value.error.startswith("invalid_client")
