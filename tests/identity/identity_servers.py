"""Real servers on loopback for the identity tests: a PLC directory, did:web and handle hosts.

`IdentityHost` is one aiohttp server on 127.0.0.1 that plays every role, choosing by the
``Host`` header: ``/<did>`` is the PLC directory, ``/.well-known/did.json`` a did:web host and
``/.well-known/atproto-did`` a handle's host. `routed_transport` sends every host name to it,
so ``https``-free URLs like ``http://alice.test/.well-known/atproto-did`` reach it through the
real HTTP stack (aiohttp asks its resolver, which answers 127.0.0.1 and the server's port).

Hostile answers are scripted per path: `IdentityHost.behaviours` maps a path (and optionally a
host) to a coroutine that writes whatever a broken or malicious server would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import coincurve
from aiohttp import web
from multiformats import multibase

from atproto_async.crypto import Keypair
from atproto_async.xrpc.transport import AiohttpTransport

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


def legacy_multibase(key: Keypair) -> str:
    """The legacy K-256 ``publicKeyMultibase``: base58btc of the uncompressed point."""
    point = coincurve.PublicKey(key.public_key.compressed).format(compressed=False)
    return str(multibase.encode(point, "base58btc"))


def did_document(
    did: str,
    handle: str | None = None,
    *,
    key: Keypair | None = None,
    pds: str | None = "https://pds.example.com",
    legacy: bool = False,
) -> dict[str, Any]:
    """A DID document as a PLC directory serves it (Multikey, or the legacy key form)."""
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"] if handle else [],
        "verificationMethod": [],
        "service": [],
    }
    if key is not None:
        if legacy:  # as the local PLC directory serves it: an uncompressed point, no prefix
            method = {
                "type": "EcdsaSecp256k1VerificationKey2019",
                "publicKeyMultibase": legacy_multibase(key),
            }
        else:
            method = {"type": "Multikey", "publicKeyMultibase": key.public_key.multikey()}
        doc["verificationMethod"].append({"id": f"{did}#atproto", "controller": did, **method})
    if pds is not None:
        doc["service"].append(
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        )
    return doc


class IdentityHost:
    """One aiohttp server on 127.0.0.1 serving DID documents and handle files by host name.

    Attributes:
        plc: DID -> document (or a status code) served at ``/<did>``.
        web: Host -> document served at ``/.well-known/did.json``.
        handles: Host -> body served at ``/.well-known/atproto-did``.
        behaviours: ``(host or None, path)`` -> a handler that overrides everything above.
        requests: ``(host, path)`` of every request, in order.
    """

    def __init__(self) -> None:
        self.plc: dict[str, Any] = {}
        self.web: dict[str, Any] = {}
        self.handles: dict[str, str | bytes] = {}
        self.behaviours: dict[tuple[str | None, str], Behaviour] = {}
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").partition(":")[0]
        path = request.path
        self.requests.append((host, path))
        behaviour = self.behaviours.get((host, path)) or self.behaviours.get((None, path))
        if behaviour is not None:
            return await behaviour(request)
        if path == "/.well-known/atproto-did":
            body = self.handles.get(host)
            if body is None:
                return web.Response(status=404, text="not found")
            return web.Response(body=body if isinstance(body, bytes) else body.encode())
        if path == "/.well-known/did.json":
            doc = self.web.get(host)
            return web.json_response(doc) if doc is not None else web.Response(status=404)
        did = path.lstrip("/")
        doc = self.plc.get(did)
        if doc is None:
            return web.json_response({"message": f"DID not registered: {did}"}, status=404)
        if isinstance(doc, int):
            return web.json_response({"message": "gone"}, status=doc)
        return web.json_response(doc)


class _ToLoopback(aiohttp.abc.AbstractResolver):
    """Every host name resolves to 127.0.0.1 at one port (the test server's)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self.port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


class RoutedTransport(AiohttpTransport):
    """A real aiohttp transport whose every host name leads to 127.0.0.1:``port``."""

    def __init__(self, port: int, *, max_response_size: int = 64 * 1024) -> None:
        self._routed = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=_ToLoopback(port))
        )
        super().__init__(self._routed, max_response_size=max_response_size)

    async def close(self) -> None:
        await super().close()
        await self._routed.close()


async def routed_transport(port: int, *, max_response_size: int = 64 * 1024) -> AiohttpTransport:
    """A `RoutedTransport` (made inside the event loop, as aiohttp sessions must be)."""
    return RoutedTransport(port, max_response_size=max_response_size)


async def slow(request: web.Request) -> web.StreamResponse:
    """Answer nothing for a long time."""
    await asyncio.sleep(30)
    return web.Response(text="late")


async def trickle(request: web.Request) -> web.StreamResponse:
    """Start an answer, then send one byte a second (a slowloris server)."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for _ in range(30):
        await response.write(b" ")
        await asyncio.sleep(1)
    return response


async def huge(request: web.Request) -> web.StreamResponse:
    """A 10 MB "document", sent in chunks without a length."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    chunk = b" " * 65536
    for _ in range(160):
        await response.write(chunk)
    return response


def redirect_to(location: str) -> Behaviour:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location)

    return behaviour


def answer(
    body: bytes | str, status: int = 200, content_type: str = "application/json"
) -> Behaviour:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, status=status, content_type=content_type)

    return behaviour
