"""`FeedGenerator`: the serving half of a feed-generator backend, on ``aiohttp.web``.

A feed generator answers ``app.bsky.feed.getFeedSkeleton`` with a list of post URIs; the
AppView hydrates them for the user. Requests come from the user's AppView or PDS, signed on the
user's behalf with a service-auth token (`atproto_async.server.auth`). Register one handler per
feed record ``at://<publisher>/app.bsky.feed.generator/<rkey>``::

    fg = FeedGenerator("did:web:feeds.example.com", publisher_did=MY_DID,
                       hostname="feeds.example.com")

    @fg.feed("cats", require_auth=True)
    async def cats(request: FeedRequest) -> FeedSkeleton:
        uris = await db.latest(request.limit, request.cursor)
        return FeedSkeleton([u for u in uris], cursor=uris[-1] if uris else None)

    fg.run(port=3000)        # or: web.run_app(fg.app()), or: async with fg.serve() as url

Served paths:

- ``GET /.well-known/did.json``: the ``did:web`` document with the ``#bsky_fg`` service
  (only when the service DID is ``did:web:<hostname>``; 404 otherwise).
- ``GET /xrpc/app.bsky.feed.describeFeedGenerator``: the service DID and its feed URIs.
- ``GET /xrpc/app.bsky.feed.getFeedSkeleton?feed=...&limit=...&cursor=...``: ``limit`` 1-100
  (default 50); errors ``InvalidRequest`` and ``UnknownFeed`` (400), ``AuthenticationRequired``
  or the token's ``BadJwt*`` (401), ``InternalServerError`` (500, the handler failed; logged).
- ``GET /xrpc/_health``: ``{"version": ...}``.
- CORS on everything (``*`` by default), ``OPTIONS`` preflights answered; every error, even
  aiohttp's own 404 / 405, as an XRPC JSON error body.

Auth: a request carrying ``Authorization: Bearer <token>`` has the token verified (cached per
token until expiry) whether or not the feed requires it: a token that was sent and is bad is
refused, never ignored. A feed with ``require_auth`` refuses requests without one.
Spec: https://atproto.com/specs/xrpc, https://docs.bsky.app/docs/starter-templates/custom-feeds
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs
from aiohttp import hdrs, web

from atproto_async.exceptions import ServiceAuthError
from atproto_async.identity.resolver import Resolver
from atproto_async.server.auth import ServiceAuth, ServiceAuthVerifier
from atproto_async.syntax import is_valid_at_uri, is_valid_did, is_valid_record_key

if TYPE_CHECKING:
    from atproto_async.models.app.bsky.feed.defs import SkeletonFeedPost
    from atproto_async.models.app.bsky.feed.get_feed_skeleton import Output as SkeletonOutput

__all__ = [
    "DESCRIBE_FEED_GENERATOR",
    "GENERATOR_COLLECTION",
    "GET_FEED_SKELETON",
    "FeedError",
    "FeedGenerator",
    "FeedHandler",
    "FeedRequest",
    "FeedSkeleton",
]

logger = logging.getLogger("atproto_async.server")

GET_FEED_SKELETON: Final = "app.bsky.feed.getFeedSkeleton"
DESCRIBE_FEED_GENERATOR: Final = "app.bsky.feed.describeFeedGenerator"
GENERATOR_COLLECTION: Final = "app.bsky.feed.generator"

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 100
# aiohttp refuses a header field over 8190 bytes with a plain-text 400 before any handler runs;
# raised so that an oversize Authorization header reaches the token check and gets an XRPC
# error body. The token itself is capped at 8 KiB (`MAX_TOKEN_LENGTH`) before decoding.
MAX_HEADER_FIELD: Final = 128 * 1024
_CORS_HEADERS: Final = (
    "Authorization, Content-Type, Accept-Language, Atproto-Accept-Labelers, Atproto-Proxy"
)
_LIMIT_DIGITS = re.compile(r"[0-9]{1,3}")


class FeedError(Exception):
    """Raise from a feed handler to answer with an XRPC error instead of a skeleton.

    ``raise FeedError("InvalidRequest", "malformed cursor")`` answers 400
    ``{"error": "InvalidRequest", "message": "malformed cursor"}``.
    """

    def __init__(self, error: str, message: str | None = None, status: int = 400) -> None:
        self.error = error
        self.message = message
        self.status = status
        super().__init__(f"{error}: {message}" if message else error)


@attrs.frozen(slots=True)
class FeedRequest:
    """One ``getFeedSkeleton`` call, as handed to a feed handler.

    Attributes:
        feed: The feed's AT-URI.
        limit: Items wanted, 1-100 (50 when the caller gave none).
        cursor: The caller's cursor (what the handler returned last time), or None.
        requester: The calling account's DID when a service token was verified, else None.
        auth: The verified token's claims, or None.
        request: The ``aiohttp.web.Request`` (headers such as ``Accept-Language``).
    """

    feed: str
    limit: int
    cursor: str | None
    requester: str | None
    auth: ServiceAuth | None = attrs.field(default=None, repr=False)
    request: web.Request | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen(slots=True)
class FeedSkeleton:
    """A handler's answer: post URIs in feed order, and the cursor of the next page.

    Attributes:
        feed: Items: a post AT-URI string, a ``{"post": uri, ...}`` mapping (``reason``,
            ``feedContext``), or a generated ``SkeletonFeedPost`` model.
        cursor: Where the next page starts (opaque to callers), or None at the end.
        req_id: Optional id the AppView passes back with interactions.
    """

    feed: Sequence[str | Mapping[str, Any] | SkeletonFeedPost]
    cursor: str | None = None
    req_id: str | None = None


FeedAnswer: TypeAlias = "FeedSkeleton | SkeletonOutput | Mapping[str, Any]"
FeedHandler: TypeAlias = Callable[[FeedRequest], Awaitable[Any]]


def _error(status: int, error: str, message: str | None = None) -> web.Response:
    body: dict[str, str] = {"error": error}
    if message:
        body["message"] = message
    return web.json_response(body, status=status)


def _skeleton_item(item: object, index: int) -> dict[str, Any]:
    if isinstance(item, str):
        entry: dict[str, Any] = {"post": item}
    elif isinstance(item, Mapping):
        entry = dict(item)
    elif hasattr(item, "to_dict"):
        entry = item.to_dict()
    else:
        raise TypeError(f"feed[{index}] is a {type(item).__name__}, not a post URI or mapping")
    post = entry.get("post")
    if not isinstance(post, str) or not is_valid_at_uri(post):
        raise TypeError(f"feed[{index}].post is not an AT-URI: {post!r:.100}")
    return entry


def _skeleton_body(answer: object) -> dict[str, Any]:
    """A handler's return value as the JSON body; TypeError names what is wrong."""
    items: object
    if isinstance(answer, FeedSkeleton):
        items, cursor, req_id = answer.feed, answer.cursor, answer.req_id
    elif isinstance(answer, Mapping):
        items, cursor, req_id = answer.get("feed"), answer.get("cursor"), answer.get("reqId")
    elif hasattr(answer, "to_dict"):
        return _skeleton_body(answer.to_dict())
    else:
        raise TypeError(f"the handler returned a {type(answer).__name__}, not a FeedSkeleton")
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError("the skeleton's feed is not a list")
    body: dict[str, Any] = {"feed": [_skeleton_item(item, i) for i, item in enumerate(items)]}
    if cursor is not None:
        if not isinstance(cursor, str):
            raise TypeError(f"the cursor is a {type(cursor).__name__}, not a string")
        body["cursor"] = cursor
    if req_id is not None:
        body["reqId"] = str(req_id)
    return body


def _bearer(request: web.Request) -> str | None:
    """The Bearer token, None when there is no Authorization header."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceAuthError("the Authorization header is not 'Bearer <token>'")
    return token.strip()


@attrs.define(slots=True)
class _Feed:
    handler: FeedHandler
    require_auth: bool


class FeedGenerator:
    """An ``aiohttp.web`` server for one feed-generator service and its feeds.

    Args:
        service_did: The service's DID (``did:web:<hostname>`` for most generators); the
            ``aud`` that callers' tokens must name.
        publisher_did: The account whose repository holds the ``app.bsky.feed.generator``
            records; feed URIs are ``at://<publisher_did>/app.bsky.feed.generator/<rkey>``.
        hostname: The public host name the service is reached at (``feeds.example.com``).
        resolver: Reads callers' DID documents to check their tokens. Default: an
            `IdentityResolver` created when the app starts and closed with it.
        require_auth: Default for feeds registered without their own ``require_auth``.
        endpoint: The ``serviceEndpoint`` published in ``did.json`` (default
            ``https://<hostname>``).
        cors_origin: ``Access-Control-Allow-Origin`` value; None sends no CORS headers.
        verifier: A ready `ServiceAuthVerifier` (overrides ``resolver``), e.g. to share its
            cache or tune its leeway.
    """

    def __init__(
        self,
        service_did: str,
        *,
        publisher_did: str,
        hostname: str,
        resolver: Resolver | None = None,
        require_auth: bool = False,
        endpoint: str | None = None,
        cors_origin: str | None = "*",
        verifier: ServiceAuthVerifier | None = None,
    ) -> None:
        if not is_valid_did(service_did.partition("#")[0]):
            raise ValueError(f"service_did must be a DID, not {service_did!r}")
        if not is_valid_did(publisher_did):
            raise ValueError(f"publisher_did must be a DID, not {publisher_did!r}")
        if not hostname or "/" in hostname:
            raise ValueError(f"hostname must be a host name (with an optional port): {hostname!r}")
        self.service_did = service_did.partition("#")[0]
        self.publisher_did = publisher_did
        self.hostname = hostname
        self.endpoint = endpoint or f"https://{hostname}"
        self.require_auth = require_auth
        self.cors_origin = cors_origin
        self._resolver = resolver
        self._verifier = verifier
        self._feeds: dict[str, _Feed] = {}

    def __repr__(self) -> str:
        return f"FeedGenerator({self.service_did!r}, feeds={len(self._feeds)})"

    # -- registration ---------------------------------------------------------------------

    def uri(self, rkey: str) -> str:
        """The AT-URI of the feed record ``rkey``."""
        return f"at://{self.publisher_did}/{GENERATOR_COLLECTION}/{rkey}"

    @property
    def feeds(self) -> list[str]:
        """The registered feed URIs, in registration order."""
        return list(self._feeds)

    def feed(
        self, rkey: str, *, require_auth: bool | None = None
    ) -> Callable[[FeedHandler], FeedHandler]:
        """Register the decorated coroutine as the handler of feed ``rkey``.

        Args:
            rkey: The record key of the feed's ``app.bsky.feed.generator`` record.
            require_auth: Refuse callers without a valid service token (default: the
                generator's ``require_auth``).
        """
        if not is_valid_record_key(rkey):
            raise ValueError(f"not a record key: {rkey!r}")
        uri = self.uri(rkey)
        if uri in self._feeds:
            raise ValueError(f"feed {rkey!r} is already registered")

        def register(handler: FeedHandler) -> FeedHandler:
            auth = self.require_auth if require_auth is None else require_auth
            self._feeds[uri] = _Feed(handler, auth)
            return handler

        return register

    # -- the application ------------------------------------------------------------------

    def app(self) -> web.Application:
        """A new ``aiohttp.web.Application`` serving this generator (run it as you like)."""
        app = web.Application(
            middlewares=[self._middleware],
            handler_args={"max_field_size": MAX_HEADER_FIELD},
        )
        app.router.add_get("/.well-known/did.json", self._did_json)
        app.router.add_get(f"/xrpc/{DESCRIBE_FEED_GENERATOR}", self._describe)
        app.router.add_get(f"/xrpc/{GET_FEED_SKELETON}", self._skeleton)
        app.router.add_get("/xrpc/_health", self._health)
        app.cleanup_ctx.append(self._verifier_ctx)
        return app

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 10.0
    ) -> AsyncIterator[str]:
        """Serve on ``host:port`` for the ``async with`` block; yields the base URL.

        Leaving the block stops accepting connections, lets requests in flight finish (up to
        ``shutdown_timeout`` seconds) and closes the resolver the generator opened.
        """
        runner = web.AppRunner(self.app(), shutdown_timeout=shutdown_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            bound = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound}"
        finally:
            await runner.cleanup()

    def run(self, host: str = "127.0.0.1", port: int = 3000) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully (blocking)."""
        web.run_app(self.app(), host=host, port=port, print=None)

    async def _verifier_ctx(self, app: web.Application) -> AsyncIterator[None]:
        owned = None
        if self._verifier is None:
            resolver = self._resolver
            if resolver is None:
                from atproto_async.identity import IdentityResolver

                resolver = owned = IdentityResolver()
            self._verifier = ServiceAuthVerifier(resolver, self.service_did)
        try:
            yield
        finally:
            if owned is not None:
                await owned.close()
                self._verifier = None

    # -- handlers -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == hdrs.METH_OPTIONS and self.cors_origin is not None:
            response: web.StreamResponse = web.Response(status=204)
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "GET, OPTIONS"
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = _CORS_HEADERS
            response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "86400"
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = self._http_error(request, exc)
        if self.cors_origin is not None:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = self.cors_origin
        return response

    @staticmethod
    def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status == 404 and request.path.startswith("/xrpc/"):
            return _error(501, "MethodNotImplemented", f"{request.path[6:][:200]} is not served")
        if exc.status == 405:
            resp = _error(405, "InvalidRequest", f"{request.method} is not allowed here")
            resp.headers[hdrs.ALLOW] = "GET, OPTIONS"
            return resp
        name = "NotFound" if exc.status == 404 else "InvalidRequest"
        if exc.status >= 500:
            name = "InternalServerError"
        return _error(exc.status, name, exc.reason)

    async def _did_json(self, request: web.Request) -> web.Response:
        if self.service_did != "did:web:" + self.hostname.replace(":", "%3A"):
            return _error(404, "NotFound", f"{self.service_did} is not a did:web of this host")
        return web.json_response(
            {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": self.service_did,
                "service": [
                    {
                        "id": "#bsky_fg",
                        "type": "BskyFeedGenerator",
                        "serviceEndpoint": self.endpoint,
                    }
                ],
            }
        )

    async def _describe(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"did": self.service_did, "feeds": [{"uri": uri} for uri in self._feeds]}
        )

    async def _health(self, request: web.Request) -> web.Response:
        from atproto_async import __version__

        return web.json_response({"version": __version__})

    async def _skeleton(self, request: web.Request) -> web.Response:
        query = request.query
        feeds = query.getall("feed", [])
        if len(feeds) != 1:
            return _error(400, "InvalidRequest", "give exactly one feed parameter")
        feed = feeds[0]
        if not is_valid_at_uri(feed):
            return _error(400, "InvalidRequest", "feed must be an AT-URI")
        limits = query.getall("limit", [])
        if len(limits) > 1:
            return _error(400, "InvalidRequest", "give at most one limit parameter")
        limit = DEFAULT_LIMIT
        if limits:
            text = limits[0]
            if _LIMIT_DIGITS.fullmatch(text) is None or not 1 <= int(text) <= MAX_LIMIT:
                return _error(
                    400, "InvalidRequest", f"limit must be an integer from 1 to {MAX_LIMIT}"
                )
            limit = int(text)
        cursors = query.getall("cursor", [])
        if len(cursors) > 1:
            return _error(400, "InvalidRequest", "give at most one cursor parameter")
        cursor = cursors[0] if cursors else None

        entry = self._feeds.get(feed)
        if entry is None:
            return _error(400, "UnknownFeed", "this service does not serve that feed")

        auth: ServiceAuth | None = None
        try:
            token = _bearer(request)
            if token is not None:
                verifier = self._verifier
                if verifier is None:  # the app was run without its cleanup context
                    raise RuntimeError("FeedGenerator.app() must be run by aiohttp")
                auth = await verifier.verify(token, lxm=GET_FEED_SKELETON)
            elif entry.require_auth:
                raise ServiceAuthError("this feed needs a service token", "AuthenticationRequired")
        except ServiceAuthError as exc:
            return _error(401, exc.error, exc.reason)

        feed_request = FeedRequest(
            feed=feed,
            limit=limit,
            cursor=cursor,
            requester=None if auth is None else auth.did,
            auth=auth,
            request=request,
        )
        try:
            answer = await entry.handler(feed_request)
            body = _skeleton_body(answer)
        except FeedError as exc:
            return _error(exc.status, exc.error, exc.message)
        except Exception:
            logger.exception("feed handler for %s failed", feed)
            return _error(500, "InternalServerError", "the feed handler failed")
        return web.Response(
            body=json.dumps(body, separators=(",", ":")).encode(),
            content_type="application/json",
        )
