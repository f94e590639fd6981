"""Moving one XRPC request to a server and its answer back: the only module importing aiohttp.

The session logic (auth, retries, errors) talks to a `Transport`: an object with
``async send(request) -> Response`` and ``async close()``. `AiohttpTransport` is the real one,
built on one long-lived ``aiohttp.ClientSession``; `MockTransport` answers from a function, so the
session can be tested without a network (the seam httpx calls a mock transport).

Every aiohttp exception is mapped here, and only here, to `TransportError` or `RequestTimeout`
with ``raise ... from``; no aiohttp type leaves this module through a return value or exception.
``TransportError.sent`` is False only when the request certainly never reached the server (the
connection could not be opened), because that is the one case where a procedure may be replayed.
One `send` is one HTTP request: aiohttp's own replay of a query on a dropped connection is
switched off, so that `RetryPolicy` alone decides what is sent again.

Bodies are read up to a cap, counted after decompression and checked as they arrive: a small
one for answers the client parses (JSON, text, error bodies), a large one for bytes handed back
as they are (blobs, CAR files).

Spec: https://atproto.com/specs/xrpc
"""

from __future__ import annotations

import inspect
import io
import ipaddress
import socket
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import Final, Protocol, TypeAlias

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from atproto_async.exceptions import DecodeError, HostNotFound, RequestTimeout, TransportError

__all__ = [
    "DEFAULT_MAX_BINARY_SIZE",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "AddressFilter",
    "AiohttpTransport",
    "HostLookup",
    "RefusedAddress",
    "Body",
    "MockTransport",
    "Request",
    "Response",
    "Transport",
]

#: A request body: nothing, bytes sent as they are, or a one-shot stream of byte chunks.
Body: TypeAlias = bytes | AsyncIterable[bytes] | None

_URL_CACHE_LIMIT = 512

#: The largest JSON, text or error body `AiohttpTransport` reads (after decompression) by
#: default. The largest real answers (a 100-item page of posts with their embeds, a deep
#: thread, a DID document) are well under 1 MiB; 16 times that leaves room for any of them,
#: while parsing what is read stays bounded (``json.loads`` builds several times the size of
#: its input in Python objects) and a gzip bomb is refused after 16 MiB, not 512.
DEFAULT_MAX_RESPONSE_SIZE: Final = 16 * 1024 * 1024

#: The largest binary body (blob, CAR file, image, video) `AiohttpTransport` reads by default:
#: room for a large repository export (``getRepo``) or a video blob, yet a broken or hostile
#: server cannot make the client hold more than this in memory.
DEFAULT_MAX_BINARY_SIZE: Final = 512 * 1024 * 1024


class Request:
    """One HTTP attempt, as the session built it.

    Attributes:
        method: ``"GET"`` for queries, ``"POST"`` for procedures.
        url: The full URL without query string (``https://host/xrpc/<nsid>``).
        params: Query parameters, already encoded to strings (a key may repeat).
        headers: Request headers (contains secrets: never log them).
        body: The body, see `Body`.
        timeout: Seconds allowed for this attempt.
    """

    __slots__ = ("body", "headers", "method", "params", "timeout", "url")

    def __init__(
        self,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        timeout: float = 30.0,
    ) -> None:
        self.method = method
        self.url = url
        self.params = params
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.body = body
        self.timeout = timeout

    def __repr__(self) -> str:  # headers left out on purpose: they carry tokens
        return f"Request({self.method} {self.url})"


class Response:
    """The answer to one attempt, fully read.

    Attributes:
        status: HTTP status code.
        headers: Case-insensitive response headers.
        body: The raw body (``b""`` when empty).
        content_type: The media type without parameters, lower case (``""`` when absent).
    """

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        self.status = status
        if not isinstance(headers, CIMultiDictProxy | CIMultiDict):
            headers = CIMultiDict(headers or {})
        self.headers: Mapping[str, str] = headers
        self.body = body
        if content_type is None:
            content_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.content_type or 'no content type'})"


#: getaddrinfo errors meaning "this name has no address" (not "DNS is failing right now").
_NO_SUCH_HOST: Final = frozenset(
    {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
)

#: Given an IP address a host name resolved to, the reason to refuse connecting to it, or None.
AddressFilter: TypeAlias = Callable[[str], str | None]


class RefusedAddress(OSError):
    """Every address a host name resolved to was refused by the transport's `AddressFilter`."""


#: Looks up the IP addresses of a host name (an empty list: the name does not exist).
HostLookup: TypeAlias = Callable[[str], Awaitable[list[str]]]


class _HostResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver, or a `HostLookup`, minus the addresses an `AddressFilter` refuses.

    Checking the resolved addresses (not the host name) is what stops a public name that
    points at 127.0.0.1 or 10.0.0.0/8 from reaching a private service (SSRF, DNS rebinding).
    """

    def __init__(self, refuse: AddressFilter | None, lookup: HostLookup | None) -> None:
        self._inner = aiohttp.DefaultResolver() if lookup is None else None
        self._lookup = lookup
        self._refuse = refuse

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        if self._inner is not None:
            results = await self._inner.resolve(host, port, family)
        else:
            assert self._lookup is not None
            results = [_result(host, address, port) for address in await self._lookup(host)]
            if not results:
                raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
        if self._refuse is None:
            return results
        reasons = [self._refuse(result["host"]) for result in results]
        kept = [result for result, reason in zip(results, reasons, strict=True) if reason is None]
        if not kept:
            reason = next((r for r in reasons if r is not None), "no address")
            raise RefusedAddress(f"{host} resolves only to refused addresses ({reason})")
        return kept

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


def _result(host: str, address: str, port: int) -> aiohttp.abc.ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return {
        "hostname": host,
        "host": address,
        "port": port,
        "family": family,
        "proto": 0,
        "flags": socket.AI_NUMERICHOST,
    }


class Transport(Protocol):
    """What the XRPC session needs from the network."""

    async def send(self, request: Request) -> Response:
        """Send one attempt and read its whole answer.

        Raises:
            TransportError: The network failed (``sent=False`` if nothing reached the server).
            RequestTimeout: The attempt ran out of time.
        """
        ...

    async def close(self) -> None:
        """Release connections (the transport may not be used afterwards)."""
        ...


class AiohttpTransport:
    """A `Transport` on one long-lived ``aiohttp.ClientSession`` (connection pooling, keep-alive).

    Args:
        session: A ``ClientSession`` to use instead of creating one; it is then left open by
            `close` (its owner closes it), and its settings are left alone: aiohttp may then
            send a query a second time when a kept-alive connection drops (aiohttp 3.10+).
        max_response_size: The cap for bodies the client parses or shows: JSON and other
            ``+json`` types, ``text/*``, and every non-2xx answer (16 MiB by default; see
            `limit_for`). A longer body is not read: `send` raises `DecodeError` as soon as
            the announced length, or the bytes decompressed so far, exceed it.
        max_binary_size: The cap for other 2xx bodies (blobs, CAR files). None: 512 MiB, or
            ``max_response_size`` when that is given (a caller that sets one cap means it
            for every answer).
        refuse_address: Checked against every address a host name resolves to, and against
            a host given as an IP literal; a connection is only made to addresses it returns
            None for (`send` raises `TransportError` with its reason when none is left).
            Resolved names are not checked with a ``session`` passed in; IP literals are.
        lookup_host: Finds a host name's addresses instead of the system resolver (the
            identity resolver sends these lookups to its own nameservers). Not applied to a
            ``session`` passed in.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        max_response_size: int | None = None,
        max_binary_size: int | None = None,
        refuse_address: AddressFilter | None = None,
        lookup_host: HostLookup | None = None,
    ) -> None:
        if max_binary_size is None:
            max_binary_size = (
                DEFAULT_MAX_BINARY_SIZE if max_response_size is None else max_response_size
            )
        if max_response_size is None:
            max_response_size = DEFAULT_MAX_RESPONSE_SIZE
        for name, value in (
            ("max_response_size", max_response_size),
            ("max_binary_size", max_binary_size),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be > 0, not {value}")
        self._max_response_size = max_response_size
        self._max_binary_size = max_binary_size
        self._refuse_address = refuse_address
        self._lookup_host = lookup_host
        self._session = session
        self._owns_session = session is None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}
        # IP-literal host -> why refuse_address refuses it (None: allowed). aiohttp does not
        # call the resolver for an IP literal, so those hosts are checked here instead.
        self._literals: dict[str, str | None] = {}

    @property
    def max_response_size(self) -> int:
        """The cap for JSON, text and error bodies (bytes, after decompression)."""
        return self._max_response_size

    @property
    def max_binary_size(self) -> int:
        """The cap for binary bodies: blobs, CAR files (bytes, after decompression)."""
        return self._max_binary_size

    def limit_for(self, status: int, content_type: str) -> int:
        """Return the cap for an answer with this status and (lower-case) media type.

        What the client parses - JSON, text, and any error body, which is never a blob - gets
        the small cap; bytes handed back as they are (``application/octet-stream``,
        ``application/vnd.ipld.car``, ``image/*``...) get the binary one.
        """
        if (
            200 <= status < 300
            and content_type != "application/json"
            and not content_type.endswith("+json")
            and not content_type.startswith("text/")
        ):
            return self._max_binary_size
        return self._max_response_size

    def _client_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            # Created on first use: a ClientSession binds to the running event loop.
            connector = None
            if self._refuse_address is not None or self._lookup_host is not None:
                resolver = _HostResolver(self._refuse_address, self._lookup_host)
                connector = aiohttp.TCPConnector(resolver=resolver)
            session = aiohttp.ClientSession(auto_decompress=True, connector=connector)
            # aiohttp (3.10+) sends a GET again, once, when its connection drops before the
            # answer: inside the client's retry loop that doubles every attempt. aiohttp has
            # no public switch for it; this attribute is the one its own test client turns
            # off (3.11+; 3.10 cannot be told).
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
            self._owns_session = True
        return session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=seconds, sock_connect=seconds)
            self._timeouts[seconds] = timeout
        return timeout

    def _url(self, url: str, params: Sequence[tuple[str, str]]) -> URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URL_CACHE_LIMIT:
                self._urls.clear()
            parsed = URL(url)
            self._urls[url] = parsed
        # Repeated keys encode arrays; yarl percent-encodes values (strings are never quoted).
        return parsed.with_query(params) if params else parsed

    async def send(self, request: Request) -> Response:
        """Send one attempt; see `Transport.send`."""
        session = self._client_session()
        url = self._url(request.url, request.params)
        if self._refuse_address is not None:
            reason = self._refused_literal(url.raw_host)
            if reason is not None:
                raise TransportError(f"cannot connect ({reason})", url=request.url, sent=False)
        try:
            async with session.request(
                request.method,
                url,
                headers=request.headers or None,
                data=request.body,
                timeout=self._timeout(request.timeout),
                allow_redirects=False,  # never carry an Authorization header to another host
            ) as resp:
                content_type = resp.content_type.lower()
                limit = self.limit_for(resp.status, content_type)
                body = await _read_body(resp, limit, request.url)
                return Response(resp.status, resp.headers, body, content_type)
        except aiohttp.ConnectionTimeoutError as exc:
            raise RequestTimeout("timed out connecting", url=request.url, sent=False) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RequestTimeout(
                f"no answer within {request.timeout:g} s", url=request.url
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            reason = type(exc.os_error).__name__ if exc.os_error else type(exc).__name__
            if isinstance(exc.os_error, RefusedAddress):
                reason = str(exc.os_error)
            elif isinstance(exc.os_error, socket.gaierror) and exc.os_error.errno in _NO_SUCH_HOST:
                raise HostNotFound(f"no such host {exc.host}", url=request.url, sent=False) from exc
            raise TransportError(f"cannot connect ({reason})", url=request.url, sent=False) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"connection failed ({type(exc).__name__})", url=request.url
            ) from exc

    def _refused_literal(self, host: str | None) -> str | None:
        """Why ``refuse_address`` refuses ``host`` when it is an IP literal, else None."""
        if host is None:
            return None
        if host in self._literals:
            return self._literals[host]
        try:
            ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            reason = None  # a host name: its addresses are checked when it is resolved
        else:
            assert self._refuse_address is not None
            reason = self._refuse_address(host.strip("[]"))
        if len(self._literals) >= _URL_CACHE_LIMIT:
            self._literals.clear()
        self._literals[host] = reason
        return reason

    async def close(self) -> None:
        """Close the ``ClientSession`` if this transport created it."""
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()


async def _read_body(resp: aiohttp.ClientResponse, limit: int, url: str) -> bytes:
    """Read the whole body, refusing one longer than ``limit`` bytes after decompression.

    Reading stops at the first chunk that passes the limit (aiohttp inflates a compressed body
    a bounded piece at a time), so a gzip bomb costs at most ``limit`` bytes. The body is
    gathered in one buffer that becomes the returned ``bytes`` without a copy: preallocated
    when the length is announced, grown in place otherwise.
    """
    length = resp.content_length
    plain = "Content-Encoding" not in resp.headers  # else the length is the compressed one
    if plain and length is not None and length > limit:
        raise DecodeError(f"response of {length} bytes is above the limit of {limit} ({url})")
    content = resp.content
    chunk = await content.readany()
    if not chunk or content.at_eof():  # the whole body at once: most answers
        if len(chunk) > limit:
            raise DecodeError(f"response is above the limit of {limit} bytes ({url})")
        return chunk
    # BytesIO keeps its data in one bytes object and hands that very object to getvalue()
    # when its size is exact; bytes(length) is only referenced by the buffer, so it is
    # written in place rather than copied.
    buffer = io.BytesIO(bytes(length)) if plain and length is not None else io.BytesIO()
    size = 0
    while chunk:
        size += len(chunk)
        if size > limit:
            raise DecodeError(f"response is above the limit of {limit} bytes ({url})")
        buffer.write(chunk)
        chunk = await content.readany()
    buffer.truncate()  # a shorter body than announced keeps no zero tail
    return buffer.getvalue()


#: What a `MockTransport` handler may return: a Response, or an awaitable of one.
Handler: TypeAlias = Callable[[Request], Response | Awaitable[Response]]


class MockTransport:
    """A `Transport` that answers every request by calling ``handler(request)``.

    The handler may be sync or async, return a `Response`, or raise `TransportError` to act out
    a network failure. ``requests`` keeps every request seen, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        """Record the request and return the handler's answer."""
        self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            return await result
        return result

    async def close(self) -> None:
        """Mark the transport closed."""
        self.closed = True
