"""Client against a real local aiohttp server (127.0.0.1, port 0): the issue's "Must show" list."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from xrpc_fakes import DID, HANDLE, PASSWORD, FakePds, Sleeps, error, make_jwt

from atproto_async._model import Blob
from atproto_async.exceptions import (
    AuthenticationError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
    XrpcError,
)
from atproto_async.ipld import cid_for_raw
from atproto_async.xrpc import Client, RetryPolicy, Session


@pytest.fixture
async def pds() -> AsyncIterator[FakePds]:
    fake = FakePds()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client_for(pds: FakePds, sleeps: Sleeps, **kwargs: Any) -> Client:
    kwargs.setdefault("retry_policy", RetryPolicy(random=lambda: 0.5))
    return Client(pds.url, sleep=sleeps, **kwargs)


async def test_login_then_calls_go_to_the_pds_with_the_access_token(
    pds: FakePds, sleeps: Sleeps
) -> None:
    async with client_for(pds, sleeps) as client:
        session = await client.login(HANDLE, PASSWORD)
        out = await client.query("com.example.echo", {"a": "x y", "n": 3, "b": True, "l": [1, 2]})
    assert session.did == DID
    assert session.pds_url == pds.url
    assert out == {"params": [["a", "x y"], ["n", "3"], ["b", "true"], ["l", "1"], ["l", "2"]]}
    assert pds.seen_auth[-1] == f"Bearer {pds.access}"


async def test_50_concurrent_calls_with_an_expired_token_share_one_refresh(
    pds: FakePds, sleeps: Sleeps
) -> None:
    # The server issues tokens that are already expired by its own clock: every call is
    # refused with 400 ExpiredToken and refreshes reactively.
    pds.access_lifetime = -10
    pds.refresh_delay = 0.005
    async with client_for(pds, sleeps) as client:
        await client.login(HANDLE, PASSWORD)
        pds.access_lifetime = 7200
        results = await asyncio.gather(*(client.query("com.example.echo") for _ in range(50)))
    assert pds.hits["com.atproto.server.refreshSession"] == 1
    assert results == [{"params": []}] * 50
    assert sleeps.delays == []


async def test_50_concurrent_calls_on_a_resumed_expired_session_refresh_first_and_once(
    pds: FakePds, sleeps: Sleeps
) -> None:
    pds.issue()
    assert pds.refresh is not None
    stale = Session(
        did=DID,
        handle=HANDLE,
        access_jwt=make_jwt(time.time() - 5, tag="old"),
        refresh_jwt=pds.refresh,
        pds_url=pds.url,
    )
    client = client_for(pds, sleeps, session=stale.to_json())
    try:
        results = await asyncio.gather(*(client.query("com.example.echo") for _ in range(50)))
    finally:
        await client.close()
    assert pds.hits["com.atproto.server.refreshSession"] == 1
    assert pds.hits["com.atproto.server.getSession"] == 1  # the resumed session is checked once
    assert pds.hits["com.example.echo"] == 50  # proactive refresh: no refused attempt
    assert results == [{"params": []}] * 50


async def test_expired_token_answer_is_refreshed_and_replayed_once(
    pds: FakePds, sleeps: Sleeps
) -> None:
    async with client_for(pds, sleeps) as client:
        await client.login(HANDLE, PASSWORD)
        first_access = pds.access
        pds.expire_access()
        out = await client.query("com.example.echo")
    assert out == {"params": []}
    assert pds.hits["com.example.echo"] == 2
    assert pds.hits["com.atproto.server.refreshSession"] == 1
    assert pds.seen_auth[-1] == f"Bearer {pds.access}" != f"Bearer {first_access}"


async def test_service_unavailable_then_ok_succeeds_after_backoff(
    pds: FakePds, sleeps: Sleeps
) -> None:
    answers = [error(503, "Unavailable", "try later"), web.json_response({"ok": True})]

    async def flaky(request: web.Request) -> web.Response:
        return answers.pop(0)

    pds.routes["com.example.flaky"] = flaky
    async with client_for(pds, sleeps) as client:
        out = await client.query("com.example.flaky")
    assert out == {"ok": True}
    assert pds.hits["com.example.flaky"] == 2
    assert sleeps.delays == [0.25]  # full jitter: 0.5 (random) * 0.5 s (first interval)


async def test_procedure_is_not_replayed_after_a_read_timeout(pds: FakePds, sleeps: Sleeps) -> None:
    async def slow(request: web.Request) -> web.Response:
        await pds.hold.wait()
        return web.json_response({})

    pds.routes["com.example.create"] = slow
    async with client_for(pds, sleeps) as client:
        with pytest.raises(RequestTimeout) as caught:
            await client.procedure("com.example.create", {"x": 1}, timeout=0.05)
    assert caught.value.sent is True
    assert pds.hits["com.example.create"] == 1
    assert sleeps.delays == []


async def test_query_is_retried_after_a_read_timeout(pds: FakePds, sleeps: Sleeps) -> None:
    async def slow_once(request: web.Request) -> web.Response:
        if pds.hits["com.example.slow"] % 2:
            await pds.hold.wait()
        return web.json_response({"ok": 1})

    pds.routes["com.example.slow"] = slow_once
    async with client_for(pds, sleeps, timeout=0.05) as client:
        out = await client.query("com.example.slow")
        with pytest.raises(RequestTimeout):
            await client.query("com.example.slow", max_retries=0)
    assert out == {"ok": 1}


async def test_rate_limit_reset_within_the_cap_is_waited_for(pds: FakePds, sleeps: Sleeps) -> None:
    reset = int(time.time()) + 5

    async def limited(request: web.Request) -> web.Response:
        if pds.hits["com.example.limited"] == 1:
            return error(429, "RateLimitExceeded", "slow down", **{"RateLimit-Reset": str(reset)})
        return web.json_response({"ok": True})

    pds.routes["com.example.limited"] = limited
    async with client_for(pds, sleeps) as client:
        out = await client.procedure("com.example.limited", {"a": 1})
    assert out == {"ok": True}
    assert len(sleeps.delays) == 1
    assert 3 <= sleeps.delays[0] <= 5


async def test_rate_limit_reset_beyond_the_cap_raises_at_once(pds: FakePds, sleeps: Sleeps) -> None:
    reset = int(time.time()) + 3600

    async def limited(request: web.Request) -> web.Response:
        return error(429, "RateLimitExceeded", "slow down", **{"RateLimit-Reset": str(reset)})

    pds.routes["com.example.limited"] = limited
    async with client_for(pds, sleeps) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.query("com.example.limited")
    assert caught.value.reset_at is not None
    assert caught.value.reset_at.timestamp() == reset
    assert caught.value.retry_after is not None and caught.value.retry_after > 3000
    assert pds.hits["com.example.limited"] == 1
    assert sleeps.delays == []


async def test_html_bad_gateway_page_becomes_an_xrpc_error(pds: FakePds, sleeps: Sleeps) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"

    async def proxy(request: web.Request) -> web.Response:
        return web.Response(status=502, text=page, content_type="text/html")

    pds.routes["com.example.proxied"] = proxy
    async with client_for(pds, sleeps) as client:
        with pytest.raises(XrpcError) as caught:
            await client.query("com.example.proxied")
    assert isinstance(caught.value, ServerError)
    assert caught.value.status == 502
    assert caught.value.error is None
    assert caught.value.message == "502 Bad Gateway"
    assert pds.hits["com.example.proxied"] == 4  # first attempt + 3 retries
    assert len(sleeps.delays) == 3


async def test_dead_refresh_token_ends_the_session_and_calls_the_hook(
    pds: FakePds, sleeps: Sleeps
) -> None:
    changes: list[Session | None] = []

    async def hook(session: Session | None) -> None:
        changes.append(session)

    async with client_for(pds, sleeps, on_session_change=hook) as client:
        await client.login(HANDLE, PASSWORD)
        pds.expire_access()
        pds.refresh_dead = True
        with pytest.raises(AuthenticationError) as caught:
            await client.query("com.example.echo")
        assert client.session is None
    assert caught.value.error == "ExpiredToken"
    assert len(changes) == 2
    assert isinstance(changes[0], Session)
    assert changes[1] is None


async def test_relogin_replaces_a_dead_refresh_token(pds: FakePds, sleeps: Sleeps) -> None:
    async with client_for(pds, sleeps, relogin=True) as client:
        await client.login(HANDLE, PASSWORD)
        pds.expire_access()
        pds.refresh_dead = True
        out = await client.query("com.example.echo")
        assert client.session is not None
    assert out == {"params": []}
    assert pds.hits["com.atproto.server.createSession"] == 2


async def test_logout_deletes_the_session(pds: FakePds, sleeps: Sleeps) -> None:
    seen: list[Session | None] = []
    async with client_for(pds, sleeps, on_session_change=seen.append) as client:
        await client.login(HANDLE, PASSWORD)
        refresh = pds.refresh
        await client.logout()
        assert client.session is None
    assert pds.hits["com.atproto.server.deleteSession"] == 1
    assert pds.seen_auth[-1] == f"Bearer {refresh}"
    assert seen[-1] is None


async def test_export_and_resume_keeps_working(pds: FakePds, sleeps: Sleeps) -> None:
    async with client_for(pds, sleeps) as first:
        await first.login(HANDLE, PASSWORD)
        saved = first.export_session()
    async with client_for(pds, sleeps, session=saved) as second:
        assert pds.hits["com.atproto.server.getSession"] == 1
        out = await second.query("com.example.echo")
    assert out == {"params": []}
    assert pds.hits["com.atproto.server.refreshSession"] == 0


async def test_connection_refused_is_a_transport_error_not_sent(sleeps: Sleeps) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with Client(f"http://127.0.0.1:{port}", sleep=sleeps, max_retries=1) as client:
        with pytest.raises(TransportError) as caught:
            await client.procedure("com.example.create", {"x": 1})
    assert caught.value.sent is False
    assert isinstance(caught.value.__cause__, OSError)
    assert len(sleeps.delays) == 1  # a procedure that never left is retried


async def test_blob_upload_streams_bytes_with_their_content_type(
    pds: FakePds, sleeps: Sleeps
) -> None:
    received: list[tuple[str, bytes]] = []

    async def upload(request: web.Request) -> web.Response:
        data = await request.read()
        received.append((request.content_type, data))
        ref = {"$link": str(cid_for_raw(data))}
        blob = {"$type": "blob", "ref": ref, "mimeType": request.content_type, "size": len(data)}
        return web.json_response({"blob": blob})

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x89PNG"
        yield b"rest"

    pds.routes["com.atproto.repo.uploadBlob"] = upload
    async with client_for(pds, sleeps) as client:
        blob = await client.upload_blob(b"\x89PNGdata", "image/png")
        streamed = await client.upload_blob(chunks(), "image/png")
    # Both uploads give a Blob, as client.com.atproto.repo.upload_blob(...).blob does.
    assert blob == Blob(ref=cid_for_raw(b"\x89PNGdata"), mime_type="image/png", size=8)
    assert streamed == Blob(ref=cid_for_raw(b"\x89PNGrest"), mime_type="image/png", size=8)
    assert received == [("image/png", b"\x89PNGdata"), ("image/png", b"\x89PNGrest")]


async def test_binary_and_empty_bodies(pds: FakePds, sleeps: Sleeps) -> None:
    async def car(request: web.Request) -> web.Response:
        return web.Response(body=b"\x0a\x01", content_type="application/vnd.ipld.car")

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=200)

    pds.routes["com.atproto.sync.getRepo"] = car
    pds.routes["com.example.empty"] = empty
    async with client_for(pds, sleeps) as client:
        assert await client.query("com.atproto.sync.getRepo", {"did": DID}) == b"\x0a\x01"
        assert await client.procedure("com.example.empty") is None


async def test_echoed_password_and_tokens_are_masked_in_errors(
    pds: FakePds, sleeps: Sleeps
) -> None:
    """A server that echoes the login password in its 401 message, and the token it was sent
    in its headers: neither shows in the exception's str, repr, message nor headers."""
    wrong = "wrong-password-1234"

    async def create_session(request: web.Request) -> web.Response:
        password = (await request.json())["password"]
        if password != PASSWORD:
            return error(
                401,
                "AuthenticationRequired",
                f"Invalid identifier or password: {password!r}",
                **{"X-Debug": f"password={password}"},
            )
        return web.json_response(pds.issue())

    async def leaky(request: web.Request) -> web.Response:
        sent = request.headers["Authorization"]
        return error(
            403,
            "Forbidden",
            f"not allowed with {sent}",
            **{
                "Set-Cookie": "sid=session-cookie-value; HttpOnly",
                "Authorization": "Bearer server-side-token",
                "DPoP": "proof-jwt",
                "X-Echo": sent,
                "DPoP-Nonce": "public-nonce",
                "WWW-Authenticate": 'Bearer realm="pds"',
            },
        )

    pds.routes["com.atproto.server.createSession"] = create_session
    pds.routes["com.example.leaky"] = leaky
    async with client_for(pds, sleeps) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.login(HANDLE, wrong)
        await client.login(HANDLE, PASSWORD)
        with pytest.raises(XrpcError) as forbidden:
            await client.query("com.example.leaky")
    assert pds.access is not None and pds.refresh is not None
    login_error, call_error = refused.value, forbidden.value
    assert str(login_error) == (
        "HTTP 401 from com.atproto.server.createSession: AuthenticationRequired"
        " - Invalid identifier or password: '***'"
    )
    assert login_error.headers["X-Debug"] == "password=***"
    assert call_error.message == "not allowed with Bearer ***"
    assert call_error.headers["X-Echo"] == "Bearer ***"
    for name in ("Set-Cookie", "Authorization", "DPoP"):
        assert call_error.headers[name] == "***"
    assert call_error.headers["DPoP-Nonce"] == "public-nonce"  # not a credential
    assert call_error.headers["WWW-Authenticate"] == 'Bearer realm="pds"'
    secrets = [wrong, pds.access, pds.refresh, "session-cookie-value", "server-side-token"]
    for exc in (login_error, call_error):
        texts = [str(exc), repr(exc), str(exc.message), repr(dict(exc.headers))]
        for text in texts:
            for secret in secrets:
                assert secret not in text, text


@pytest.mark.parametrize("name", ["AuthRequired", "AuthMissing", "AccountTakedown"])
async def test_a_401_about_permission_is_raised_without_a_refresh(
    pds: FakePds, sleeps: Sleeps, name: str
) -> None:
    """Writing to another account's repository: a new token would be refused the same way."""
    changes: list[Session | None] = []

    async def create_record(request: web.Request) -> web.Response:
        return error(401, name, "Authentication Required: not this account's repository")

    pds.routes["com.atproto.repo.createRecord"] = create_record
    async with client_for(pds, sleeps, on_session_change=changes.append) as client:
        await client.login(HANDLE, PASSWORD)
        for _ in range(2):
            with pytest.raises(AuthenticationError) as caught:
                await client.procedure(
                    "com.atproto.repo.createRecord", {"repo": "did:plc:bob", "record": {}}
                )
            assert caught.value.status == 401
            assert caught.value.error == name
        assert client.session is not None
    assert pds.hits["com.atproto.repo.createRecord"] == 2  # one attempt per call, no replay
    assert pds.hits["com.atproto.server.refreshSession"] == 0
    assert len(changes) == 1  # the login only


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (400, {"error": "ExpiredToken", "message": "Token has expired"}, {}),  # the PDS
        (401, {"error": "ExpiredToken", "message": "Token has expired"}, {}),  # the AppView
        (400, {"error": "InvalidToken", "message": "Token could not be verified"}, {}),
        (401, {"error": "InvalidToken", "message": "Token could not be verified"}, {}),
        (401, None, {}),  # a proxy's bare 401, no XRPC error name
        (
            401,
            {"error": "AuthRequired", "message": "Unauthorized"},
            {"WWW-Authenticate": 'Bearer realm="pds", error="invalid_token"'},
        ),
    ],
)
async def test_a_refused_token_is_refreshed_and_the_call_replayed(
    pds: FakePds,
    sleeps: Sleeps,
    status: int,
    body: dict[str, str] | None,
    headers: dict[str, str],
) -> None:
    changes: list[Session | None] = []
    refused: list[str] = []

    async def guarded(request: web.Request) -> web.Response:
        token = request.headers["Authorization"][7:]
        if not refused:
            refused.append(token)
            if body is None:
                return web.Response(status=status, text="Unauthorized", headers=headers)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"ok": token != refused[0]})

    pds.routes["com.example.guarded"] = guarded
    async with client_for(pds, sleeps, on_session_change=changes.append) as client:
        await client.login(HANDLE, PASSWORD)
        assert await client.query("com.example.guarded") == {"ok": True}
    assert pds.hits["com.example.guarded"] == 2
    assert pds.hits["com.atproto.server.refreshSession"] == 1
    assert len(changes) == 2
