"""The transport seam: the aiohttp transport on a real local server, and the mock transport."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from xrpc_fakes import Sleeps

from atproto_async.exceptions import (
    ClientClosedError,
    DecodeError,
    HostNotFound,
    RequestTimeout,
    TransportError,
    XrpcError,
)
from atproto_async.xrpc import (
    DEFAULT_MAX_BINARY_SIZE,
    DEFAULT_MAX_RESPONSE_SIZE,
    AiohttpTransport,
    Client,
    MockTransport,
    Request,
    Response,
)
from atproto_async.xrpc.retry import RetryPolicy

MIB = 1024 * 1024


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


async def test_refuse_address_applies_to_ip_literal_hosts(server: str) -> None:
    """aiohttp does not resolve an IP literal, so its resolver never sees it: the transport
    checks the literal itself (a DID document naming http://127.0.0.1 as a PDS, say)."""
    port = server.rsplit(":", 1)[1]
    seen: list[str] = []
    remembered = 0

    def refuse(address: str) -> str | None:
        seen.append(address)
        return "loopback address" if address in ("127.0.0.1", "::1") else None

    transport = AiohttpTransport(refuse_address=refuse)
    try:
        for host in ("127.0.0.1", "[::1]"):
            with pytest.raises(TransportError, match="loopback address") as caught:
                await transport.send(Request("GET", f"http://{host}:{port}/xrpc/com.example.echo"))
            assert caught.value.sent is False
        # The verdict is remembered per host; an allowed literal still goes through the filter.
        with pytest.raises(TransportError):
            await transport.send(Request("GET", f"http://127.0.0.1:{port}/xrpc/com.example.echo"))
        remembered = len(transport._literals)
    finally:
        await transport.close()
    assert seen == ["127.0.0.1", "::1"]
    assert remembered == 2
    allowing = AiohttpTransport(refuse_address=lambda address: None)
    try:
        response = await allowing.send(
            Request("GET", f"http://127.0.0.1:{port}/xrpc/com.example.echo")
        )
    finally:
        await allowing.close()
    assert response.status == 200


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


def test_default_caps_are_small_for_json_and_large_for_blobs() -> None:
    assert DEFAULT_MAX_RESPONSE_SIZE == 16 * MIB
    assert DEFAULT_MAX_BINARY_SIZE == 512 * MIB


@functools.cache
def gzip_of_zeros(mib: int) -> bytes:
    """A gzip bomb: ``mib`` MiB of zero bytes, about a thousandth of that compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(mib)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture
async def bomb_server() -> AsyncIterator[str]:
    """``/xrpc/com.example.<kind>?mib=N``: N MiB of zeros, gzip bombs or plain, JSON or blob."""

    async def bomb(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["nsid"].rsplit(".", 1)[1]
        mib = int(request.query["mib"])
        content_type = "application/json" if kind.startswith("json") else "image/jpeg"
        if kind.endswith("gz"):
            return web.Response(
                body=gzip_of_zeros(mib),
                headers={"Content-Encoding": "gzip", "Content-Type": content_type},
            )
        # Plain: written one MiB at a time, so the server holds little of it (it shares
        # this process, and so the traced memory).
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = mib * MIB
        await response.prepare(request)
        block = bytes(MIB)
        for _ in range(mib):
            await response.write(block)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/xrpc/{nsid}", bomb)
    gzip_of_zeros(64)  # compressed before any memory is traced
    async with serving(app) as url:
        yield url


@contextlib.contextmanager
def traced_peak() -> Iterator[list[int]]:
    """Trace Python allocations; the list receives the peak (bytes) on exit."""
    out: list[int] = []
    tracemalloc.start()
    try:
        yield out
    finally:
        out.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


async def test_a_json_gzip_bomb_stops_at_the_json_cap_without_allocating_it(
    bomb_server: str,
) -> None:
    """64 MiB of zeros in ~64 KB of gzip: refused at the 16 MiB cap, never held in full."""
    with traced_peak() as peak:
        async with Client(bomb_server, max_retries=0) as client:
            with pytest.raises(
                DecodeError, match=f"above the limit of {DEFAULT_MAX_RESPONSE_SIZE}"
            ):
                await client.query("com.example.jsongz", {"mib": 64})
    assert peak[0] < 2 * DEFAULT_MAX_RESPONSE_SIZE


async def test_a_blob_gzip_bomb_stops_at_the_binary_cap(bomb_server: str) -> None:
    with traced_peak() as peak:
        async with Client(bomb_server, max_retries=0, max_binary_size=8 * MIB) as client:
            with pytest.raises(DecodeError, match=f"above the limit of {8 * MIB}"):
                await client.query("com.example.blobgz", {"mib": 64})
    assert peak[0] < 2 * 8 * MIB


@pytest.mark.parametrize("kind", ["blob", "blobgz"])
async def test_a_blob_above_the_json_cap_is_read_into_one_buffer(
    bomb_server: str, kind: str
) -> None:
    """20 MiB is over the JSON cap but within the blob cap; it is read without a second copy."""
    with traced_peak() as peak:
        async with Client(bomb_server, max_retries=0) as client:
            body = await client.query(f"com.example.{kind}", {"mib": 20})
        size = len(body)
        assert type(body) is bytes and body.count(0) == size
        del body
    assert size == 20 * MIB
    assert peak[0] < 1.5 * 20 * MIB


async def test_json_within_the_cap_is_read_whole(bomb_server: str) -> None:
    async with Client(bomb_server, max_retries=0, max_response_size=3 * MIB) as client:
        with pytest.raises(DecodeError, match="above the limit"):
            await client.query("com.example.json", {"mib": 4})
        with pytest.raises(DecodeError, match="invalid JSON"):  # read whole, then parsed
            await client.query("com.example.json", {"mib": 2})


@pytest.mark.parametrize(
    ("kwargs", "json_cap", "binary_cap"),
    [
        ({}, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MAX_BINARY_SIZE),
        ({"max_response_size": 1000}, 1000, 1000),  # one cap given: it holds for everything
        ({"max_binary_size": 2000}, DEFAULT_MAX_RESPONSE_SIZE, 2000),
        ({"max_response_size": 1000, "max_binary_size": 2000}, 1000, 2000),
    ],
)
def test_which_cap_applies(kwargs: dict[str, int], json_cap: int, binary_cap: int) -> None:
    transport = AiohttpTransport(
        max_response_size=kwargs.get("max_response_size"),
        max_binary_size=kwargs.get("max_binary_size"),
    )
    assert transport.max_response_size == json_cap
    assert transport.max_binary_size == binary_cap
    for status, content_type, cap in [
        (200, "application/json", json_cap),
        (200, "application/did+ld+json", json_cap),
        (200, "text/html", json_cap),
        (200, "application/octet-stream", binary_cap),
        (200, "application/vnd.ipld.car", binary_cap),
        (200, "image/png", binary_cap),
        (200, "video/mp4", binary_cap),
        (200, "", binary_cap),  # handed back as bytes, never parsed
        (502, "application/octet-stream", json_cap),  # an error body is never a blob
    ]:
        assert transport.limit_for(status, content_type) == cap, (status, content_type)


def test_max_binary_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_binary_size"):
        AiohttpTransport(max_binary_size=-1)


async def test_each_attempt_is_exactly_one_http_request() -> None:
    """aiohttp replays an idempotent request once when its connection drops; the client's
    retry policy must be the only one: attempts == requests on the wire."""
    requests = 0

    async def answer_once_then_drop(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal requests
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                requests += 1
                if requests > 1:
                    break  # drop the (kept-alive) connection without an answer
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\n\r\n{}"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(answer_once_then_drop, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    sleeps = Sleeps()
    try:
        async with Client(
            base, max_retries=2, sleep=sleeps, retry_policy=RetryPolicy(random=lambda: 0.5)
        ) as client:
            assert await client.query("com.example.q") == {}
            with pytest.raises(TransportError, match="ServerDisconnectedError"):
                await client.query("com.example.q")
    finally:
        listener.close()
        await listener.wait_closed()
    assert len(sleeps.delays) == 2  # three attempts
    assert requests == 1 + 3
