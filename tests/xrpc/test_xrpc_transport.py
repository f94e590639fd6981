"""The transport seam: the aiohttp transport on a real local server, and the mock transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from atproto_async.exceptions import (
    ClientClosedError,
    DecodeError,
    HostNotFound,
    RequestTimeout,
    TransportError,
    XrpcError,
)
from atproto_async.xrpc import AiohttpTransport, Client, MockTransport, Request, Response


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) and yield its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "query": list(request.query.items()),
                "body": (await request.read()).decode(),
                "ct": request.headers.get("Content-Type"),
            },
            headers={"X-Custom": "yes"},
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://elsewhere.example.com/")

    app = web.Application()
    app.router.add_route("*", "/xrpc/com.example.echo", echo)
    app.router.add_get("/xrpc/com.example.redirect", redirect)
    async with serving(app) as url:
        yield url


async def test_aiohttp_transport_sends_and_reads(server: str) -> None:
    transport = AiohttpTransport()
    try:
        response = await transport.send(
            Request(
                "POST",
                f"{server}/xrpc/com.example.echo",
                [("a", "1 2"), ("a", "é")],
                {"Content-Type": "text/plain"},
                b"hello",
                5.0,
            )
        )
    finally:
        await transport.close()
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["x-custom"] == "yes"
    assert b'"query": [["a", "1 2"], ["a", "\\u00e9"]]' in response.body
    assert b'"body": "hello"' in response.body


async def test_redirects_are_not_followed(server: str) -> None:
    async with Client(server, max_retries=0) as client:
        with pytest.raises(XrpcError) as caught:
            await client.query("com.example.redirect")
    assert caught.value.status == 302


async def test_a_supplied_aiohttp_session_is_left_open(server: str) -> None:
    async with aiohttp.ClientSession() as http:
        client = Client(server, transport=AiohttpTransport(http))
        async with client:
            out = await client.query("com.example.echo", {"x": "1"})
        assert not http.closed
    assert out["query"] == [["x", "1"]]


async def test_closed_port_is_a_transport_error_from_os_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/xrpc/x"
    listener.close()
    await listener.wait_closed()
    transport = AiohttpTransport()
    try:
        with pytest.raises(TransportError) as caught:
            await transport.send(Request("GET", url, timeout=2.0))
    finally:
        await transport.close()
    assert caught.value.sent is False
    assert caught.value.url == url
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


async def test_mock_transport_takes_sync_and_async_handlers() -> None:
    def sync(request: Request) -> Response:
        return Response(200, {"content-type": "application/json; charset=utf-8"}, b"[1]")

    async def failing(request: Request) -> Response:
        raise RequestTimeout("slow", url=request.url)

    transport = MockTransport(sync)
    async with Client("https://x.example.com", transport=transport) as client:
        assert await client.query("com.example.a") == [1]
    assert transport.closed
    assert repr(transport.requests[0]) == "Request(GET https://x.example.com/xrpc/com.example.a)"
    client = Client("https://x.example.com", transport=MockTransport(failing), max_retries=0)
    with pytest.raises(RequestTimeout):
        await client.query("com.example.a")


def test_response_headers_ignore_case() -> None:
    response = Response(429, {"Retry-After": "3", "Content-Type": "Application/JSON"})
    assert response.headers["retry-after"] == "3"
    assert response.content_type == "application/json"
    assert repr(response) == "Response(429, application/json)"


@pytest.fixture
async def big_server() -> AsyncIterator[str]:
    """Answers of 1000 bytes: with a Content-Length, streamed without one, and gzip-compressed."""

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 1000, content_type="application/octet-stream")

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 100)
        await response.write_eof()
        return response

    async def compressed(request: web.Request) -> web.Response:
        response = web.Response(body=b"z" * 1000, content_type="application/octet-stream")
        response.enable_compression(web.ContentCoding.gzip)
        return response

    app = web.Application()
    app.router.add_get("/xrpc/com.example.sized", sized)
    app.router.add_get("/xrpc/com.example.streamed", streamed)
    app.router.add_get("/xrpc/com.example.compressed", compressed)
    async with serving(app) as url:
        yield url


@pytest.mark.parametrize("name", ["sized", "streamed", "compressed"])
async def test_a_body_above_max_response_size_raises_decode_error(
    big_server: str, name: str
) -> None:
    url = f"{big_server}/xrpc/com.example.{name}"
    async with Client(big_server, max_retries=0, max_response_size=999) as client:
        with pytest.raises(DecodeError, match="above the limit of 999"):
            await client.query(f"com.example.{name}")
    transport = AiohttpTransport(max_response_size=1000)
    try:
        response = await transport.send(Request("GET", url, [], {}, None, 5.0))
    finally:
        await transport.close()
    assert len(response.body) == 1000 and response.body == response.body[:1] * 1000


def test_max_response_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_response_size"):
        AiohttpTransport(max_response_size=0)


async def test_refuse_address_stops_a_connection_before_it_is_made(server: str) -> None:
    """A name resolving only to refused addresses never connects; sent=False, reason kept."""
    port = server.rsplit(":", 1)[1]
    seen: list[str] = []

    def refuse(address: str) -> str | None:
        seen.append(address)
        return "loopback address"

    transport = AiohttpTransport(refuse_address=refuse)
    try:
        with pytest.raises(
            TransportError, match="refused addresses \\(loopback address\\)"
        ) as caught:
            await transport.send(Request("GET", f"http://localhost:{port}/xrpc/com.example.echo"))
    finally:
        await transport.close()
    assert caught.value.sent is False
    assert "127.0.0.1" in seen


async def test_refuse_address_lets_accepted_addresses_through(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    transport = AiohttpTransport(refuse_address=lambda address: None)
    try:
        response = await transport.send(
            Request("GET", f"http://localhost:{port}/xrpc/com.example.echo")
        )
    finally:
        await transport.close()
    assert response.status == 200


async def test_lookup_host_replaces_the_system_resolver(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    asked: list[str] = []

    async def lookup(host: str) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if host == "pds.example" else []

    transport = AiohttpTransport(lookup_host=lookup)
    try:
        response = await transport.send(
            Request("GET", f"http://pds.example:{port}/xrpc/com.example.echo")
        )
        with pytest.raises(HostNotFound, match="no such host") as caught:
            await transport.send(Request("GET", f"http://gone.example:{port}/"))
    finally:
        await transport.close()
    assert response.status == 200
    assert asked == ["pds.example", "gone.example"]
    assert caught.value.sent is False


async def test_a_closed_client_refuses_calls_instead_of_reopening(server: str) -> None:
    client = Client(server)
    derived = client.with_labelers("did:plc:labeler")
    assert (await client.query("com.example.echo"))["query"] == []
    await client.close()
    with pytest.raises(ClientClosedError, match="closed"):
        await client.query("com.example.echo")
    with pytest.raises(ClientClosedError):
        await derived.query("com.example.echo")
    await client.close()  # closing twice is fine
