"""OAuth discovery against hostile servers, over real sockets on 127.0.0.1.

The fake servers of the other tests answer through `MockTransport`, which has no size cap,
deadline or address filter: those live in the real transport, so they are attacked here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from atproto_async.exceptions import RequestTimeout, TransportError
from atproto_async.oauth import OAuthClient, OAuthError

REDIRECT = "http://127.0.0.1:8080/callback"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/.well-known/oauth-protected-resource", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://localhost:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_oversize_metadata_is_refused_without_reading_it_all(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    sent: list[int] = []

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * 65536
        try:
            for _ in range(160):  # 10 MiB offered
                await response.write(chunk)
                sent.append(len(chunk))
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    url = await serve(huge)
    async with OAuthClient.loopback(REDIRECT, allow_insecure=True) as oauth:
        with pytest.raises(OAuthError) as info:
            await oauth.discover(url)
    assert info.value.error == "invalid_metadata"
    assert sum(sent) < 10 * 1024 * 1024  # the client stopped reading early


async def test_slow_server_hits_the_deadline(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)  # well past the 0.5 s deadline; short for the teardown
        return web.json_response({})

    url = await serve(stall)
    async with OAuthClient.loopback(REDIRECT, allow_insecure=True, timeout=0.5) as oauth:
        with pytest.raises(RequestTimeout):
            await oauth.discover(url)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
async def test_loopback_and_private_servers_are_not_contacted_without_allow_insecure(
    serve: Callable[[Handler], Awaitable[str]], host: str
) -> None:
    hits: list[str] = []

    async def resource(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        return web.json_response({})

    port = (await serve(resource)).rsplit(":", 1)[1]
    async with OAuthClient.loopback(REDIRECT) as oauth:
        with pytest.raises((TransportError, OAuthError)):
            await oauth.discover(f"https://{host}:{port}")
    assert hits == []  # refused before connecting (SSRF), not after
