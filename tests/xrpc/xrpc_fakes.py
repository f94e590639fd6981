"""Test helpers for the XRPC tests: unsigned JWTs and a tiny fake PDS on a real local server."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse, web
from aioresponses import aioresponses as _aioresponses

DID = "did:plc:alice"
HANDLE = "alice.test"
PASSWORD = "abcd-efgh-ijkl-mnop"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(exp: float | None, *, iat: float | None = None, tag: str = "") -> str:
    """An unsigned JWT (header.payload.signature) with this ``exp``; ``tag`` makes it unique."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
    claims: dict[str, Any] = {"sub": DID, "jti": tag}
    if exp is not None:
        claims["exp"] = int(exp)
    if iat is not None:
        claims["iat"] = int(iat)
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'sig-' + tag.encode())}"


def session_json(access: str, refresh: str, pds_url: str | None = None) -> dict[str, Any]:
    """A createSession / refreshSession output."""
    out: dict[str, Any] = {"did": DID, "handle": HANDLE, "accessJwt": access, "refreshJwt": refresh}
    if pds_url is not None:
        out["didDoc"] = {
            "id": DID,
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": pds_url,
                }
            ],
        }
    return out


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakePds:
    """A small PDS: sessions with rotating tokens, an echo query and scripted endpoints.

    Attributes:
        hits: Requests per NSID.
        access_lifetime: Seconds an access token lives (negative: issued already expired).
        refresh_dead: When True, refreshSession answers 400 ExpiredToken.
        routes: Extra handlers by NSID (tests script answers with them).
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.access_lifetime = 7200.0
        self.refresh_dead = False
        self.refresh_delay = 0.0
        self.routes: dict[str, Handler] = {}
        self.access: str | None = None
        self.refresh: str | None = None
        self.expired_tokens: set[str] = set()
        self.seen_auth: list[str | None] = []
        self.url = ""
        self._serial = 0
        self._runner: web.AppRunner | None = None
        #: Handlers that must hang wait on this; stop() releases them.
        self.hold = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/xrpc/{nsid}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def issue(self) -> dict[str, Any]:
        """Rotate the tokens and return a session output."""
        self._serial += 1
        now = time.time()
        self.access = make_jwt(now + self.access_lifetime, iat=now, tag=f"a{self._serial}")
        self.refresh = make_jwt(now + 86400, iat=now, tag=f"r{self._serial}")
        return session_json(self.access, self.refresh, self.url)

    def expire_access(self) -> None:
        """Make the server answer ExpiredToken for the current access token."""
        if self.access is not None:
            self.expired_tokens.add(self.access)

    def _bearer(self, request: web.Request) -> str | None:
        value = request.headers.get("Authorization", "")
        return value[7:] if value.startswith("Bearer ") else None

    def check_access(self, request: web.Request) -> web.Response | None:
        """Return an error answer unless the request carries the current access token."""
        token = self._bearer(request)
        if token is None:
            return error(401, "AuthMissing", "Authentication Required")
        if token in self.expired_tokens:
            return error(400, "ExpiredToken", "Token has expired")
        if token != self.access:
            return error(400, "InvalidToken", "Token could not be verified")
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        if payload["exp"] <= time.time():
            return error(400, "ExpiredToken", "Token has expired")
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        nsid = request.match_info["nsid"]
        self.hits[nsid] += 1
        self.seen_auth.append(request.headers.get("Authorization"))
        custom = self.routes.get(nsid)
        if custom is not None:
            return await custom(request)
        if nsid == "com.atproto.server.createSession":
            body = await request.json()
            if body.get("identifier") != HANDLE or body.get("password") != PASSWORD:
                return error(401, "AuthenticationRequired", "Invalid identifier or password")
            return web.json_response(self.issue())
        if nsid == "com.atproto.server.refreshSession":
            if self.refresh_delay:
                await asyncio.sleep(self.refresh_delay)
            if self.refresh_dead or self._bearer(request) != self.refresh:
                return error(400, "ExpiredToken", "Token has expired")
            return web.json_response(self.issue())
        if nsid == "com.atproto.server.deleteSession":
            if self._bearer(request) != self.refresh:
                return error(400, "InvalidToken", "Token could not be verified")
            self.access = self.refresh = None
            return web.Response(status=200)
        if nsid == "com.atproto.server.getSession":
            refused = self.check_access(request)
            if refused is not None:
                return refused
            return web.json_response({"did": DID, "handle": HANDLE, "active": True})
        if nsid == "com.example.echo":
            refused = self.check_access(request)
            if refused is not None:
                return refused
            return web.json_response({"params": [[k, v] for k, v in request.query.items()]})
        return error(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")


def error(status: int, name: str, message: str, **headers: str) -> web.Response:
    """An XRPC error answer."""
    return web.json_response({"error": name, "message": message}, status=status, headers=headers)


class Sleeps:
    """A fake ``sleep`` that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class _DoneWriter:
    output_size = 0


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` aiohttp 3.14 needs."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _DoneWriter())
        super().__init__(method, url, **kwargs)


@contextmanager
def mock_aiohttp() -> Iterator[_aioresponses]:
    """``aioresponses()`` working with the installed aiohttp."""
    original = aioresponses.core.ClientResponse  # type: ignore[attr-defined]
    aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[attr-defined]
    try:
        with _aioresponses() as mocked:
            yield mocked
    finally:
        aioresponses.core.ClientResponse = original  # type: ignore[attr-defined]
