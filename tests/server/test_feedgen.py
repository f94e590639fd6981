"""FeedGenerator served for real on loopback: routes, parameters, auth, errors, CORS, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from atproto_async.crypto import K256, Keypair
from atproto_async.identity import StaticIdentityResolver
from atproto_async.server import (
    FeedError,
    FeedGenerator,
    FeedRequest,
    FeedSkeleton,
    create_service_jwt,
)
from tests.identity.identity_servers import did_document

ALICE = "did:plc:alice7zzzzzzzzzzzzzzzzzzzz"
PUBLISHER = "did:plc:publisher7zzzzzzzzzzzzzzz"
SERVICE = "did:web:feeds.example.com"
LXM = "app.bsky.feed.getFeedSkeleton"
POST = f"at://{ALICE}/app.bsky.feed.post/3l2uygzaf5q2b"
OPEN = f"at://{PUBLISHER}/app.bsky.feed.generator/open"
LOCKED = f"at://{PUBLISHER}/app.bsky.feed.generator/locked"
SKELETON = "/xrpc/app.bsky.feed.getFeedSkeleton"


@pytest.fixture
def key() -> Keypair:
    return Keypair.generate(K256)


@pytest.fixture
def generator(key: Keypair) -> FeedGenerator:
    resolver = StaticIdentityResolver([did_document(ALICE, key=key)])
    fg = FeedGenerator(
        SERVICE, publisher_did=PUBLISHER, hostname="feeds.example.com", resolver=resolver
    )
    seen: list[FeedRequest] = []
    fg.seen = seen  # type: ignore[attr-defined]

    @fg.feed("open")
    async def open_feed(request: FeedRequest) -> FeedSkeleton:
        seen.append(request)
        return FeedSkeleton([POST] * min(request.limit, 3), cursor="next")

    @fg.feed("locked", require_auth=True)
    async def locked_feed(request: FeedRequest) -> dict[str, Any]:
        seen.append(request)
        return {"feed": [{"post": POST, "feedContext": "ctx"}]}

    return fg


@pytest.fixture
async def http(generator: FeedGenerator) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with generator.serve() as url, aiohttp.ClientSession(url) as session:
        yield session, url


async def call(
    http: tuple[aiohttp.ClientSession, str], path: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    session, _ = http
    method = kwargs.pop("method", "GET")
    async with session.request(method, path, **kwargs) as resp:
        body = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, body, resp


def token(key: Keypair, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("iss", ALICE)
    kwargs.setdefault("aud", SERVICE)
    kwargs.setdefault("lxm", LXM)
    return {"Authorization": "Bearer " + create_service_jwt(key, **kwargs)}


async def test_did_json_describe_and_health(http: Any) -> None:
    status, body, _ = await call(http, "/.well-known/did.json")
    assert status == 200
    assert body["id"] == SERVICE
    assert body["service"] == [
        {
            "id": "#bsky_fg",
            "type": "BskyFeedGenerator",
            "serviceEndpoint": "https://feeds.example.com",
        }
    ]
    status, body, _ = await call(http, "/xrpc/app.bsky.feed.describeFeedGenerator")
    assert status == 200
    assert body == {"did": SERVICE, "feeds": [{"uri": OPEN}, {"uri": LOCKED}]}
    status, body, _ = await call(http, "/xrpc/_health")
    assert status == 200 and "version" in body


async def test_did_json_only_for_its_own_did_web() -> None:
    fg = FeedGenerator(
        "did:plc:service7zzzzzzzzzzzzzzzzz", publisher_did=PUBLISHER, hostname="feeds.example.com"
    )
    async with (
        fg.serve() as url,
        aiohttp.ClientSession(url) as session,
        session.get("/.well-known/did.json") as resp,
    ):
        assert resp.status == 404
        assert (await resp.json())["error"] == "NotFound"


async def test_skeleton_without_token(http: Any, generator: Any) -> None:
    status, body, resp = await call(http, SKELETON, params={"feed": OPEN})
    assert status == 200
    assert body == {"feed": [{"post": POST}] * 3, "cursor": "next"}
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    request = generator.seen[-1]
    assert (request.feed, request.limit, request.cursor, request.requester) == (
        OPEN,
        50,
        None,
        None,
    )
    await call(http, SKELETON, params={"feed": OPEN, "limit": "2", "cursor": "abc"})
    assert (generator.seen[-1].limit, generator.seen[-1].cursor) == (2, "abc")


async def test_requester_is_the_verified_caller(http: Any, generator: Any, key: Keypair) -> None:
    status, body, _ = await call(http, SKELETON, params={"feed": LOCKED}, headers=token(key))
    assert status == 200, body
    assert body == {"feed": [{"post": POST, "feedContext": "ctx"}]}
    assert generator.seen[-1].requester == ALICE
    assert generator.seen[-1].auth.lxm == LXM
    # Optional auth: a valid token is still read and handed over.
    await call(http, SKELETON, params={"feed": OPEN}, headers=token(key))
    assert generator.seen[-1].requester == ALICE


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "AuthenticationRequired"),
        ({"Authorization": "Basic YWRtaW46cGFzcw=="}, "BadJwt"),
        ({"Authorization": "Bearer "}, "BadJwt"),
        ({"Authorization": "Bearer a.b"}, "BadJwt"),
        ({"Authorization": "Bearer " + "A" * (100 * 1024)}, "BadJwt"),
        ({"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}, "BadJwt"),
    ],
)
async def test_locked_feed_refuses(http: Any, generator: Any, headers: Any, error: str) -> None:
    status, body, _ = await call(http, SKELETON, params={"feed": LOCKED}, headers=headers)
    assert (status, body["error"]) == (401, error)
    assert "message" in body
    assert generator.seen == []


async def test_token_checks_reach_the_http_answer(http: Any, generator: Any, key: Keypair) -> None:
    cases = [
        (token(key, aud="did:web:other.example.com"), "BadJwtAudience"),
        (token(key, lxm="app.bsky.feed.getTimeline"), "BadJwtLexiconMethod"),
        (token(key, now=1_000_000_000), "JwtExpired"),
        (token(Keypair.generate(K256)), "BadJwtSignature"),
        (token(key, iss="did:plc:nobody7zzzzzzzzzzzzzzzzzz"), "BadJwtIssuer"),
    ]
    for headers, error in cases:
        # A token that was sent and is bad is refused even on a feed that needs none.
        for feed in (LOCKED, OPEN):
            status, body, _ = await call(http, SKELETON, params={"feed": feed}, headers=headers)
            assert (status, body["error"]) == (401, error), (feed, body)
    assert generator.seen == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"feed": OPEN, "limit": "0"}, "InvalidRequest"),
        ({"feed": OPEN, "limit": "101"}, "InvalidRequest"),
        ({"feed": OPEN, "limit": "x"}, "InvalidRequest"),
        ({"feed": OPEN, "limit": "-1"}, "InvalidRequest"),
        ({"feed": OPEN, "limit": "1.5"}, "InvalidRequest"),
        ({"feed": OPEN, "limit": ""}, "InvalidRequest"),
        ({"feed": OPEN, "limit": "0050"}, "InvalidRequest"),
        ({}, "InvalidRequest"),
        ({"feed": "not a uri"}, "InvalidRequest"),
        ({"feed": f"at://{PUBLISHER}/app.bsky.feed.generator/nope"}, "UnknownFeed"),
        ([("feed", OPEN), ("feed", LOCKED)], "InvalidRequest"),
        ([("feed", OPEN), ("cursor", "a"), ("cursor", "b")], "InvalidRequest"),
        ([("feed", OPEN), ("limit", "1"), ("limit", "2")], "InvalidRequest"),
    ],
)
async def test_bad_parameters(http: Any, generator: Any, params: Any, error: str) -> None:
    status, body, _ = await call(http, SKELETON, params=params)
    assert (status, body["error"]) == (400, error), body
    assert generator.seen == []


async def test_limit_bounds_are_inclusive(http: Any, generator: Any) -> None:
    for limit in ("1", "100"):
        status, _, _ = await call(http, SKELETON, params={"feed": OPEN, "limit": limit})
        assert status == 200
    assert [r.limit for r in generator.seen] == [1, 100]


async def test_unknown_method_and_wrong_http_method(http: Any) -> None:
    status, body, _ = await call(http, "/xrpc/app.bsky.feed.getTimeline")
    assert (status, body["error"]) == (501, "MethodNotImplemented")
    status, body, resp = await call(http, SKELETON, method="POST", params={"feed": OPEN})
    assert (status, body["error"]) == (405, "InvalidRequest")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_preflight(http: Any) -> None:
    status, _, resp = await call(http, SKELETON, method="OPTIONS")
    assert status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    assert "GET" in resp.headers["Access-Control-Allow-Methods"]


async def test_handler_errors(caplog: pytest.LogCaptureFixture) -> None:
    fg = FeedGenerator(SERVICE, publisher_did=PUBLISHER, hostname="feeds.example.com")

    @fg.feed("refuses")
    async def refuses(request: FeedRequest) -> FeedSkeleton:
        raise FeedError("InvalidRequest", "malformed cursor")

    @fg.feed("crashes")
    async def crashes(request: FeedRequest) -> FeedSkeleton:
        raise RuntimeError("secret database detail")

    @fg.feed("garbage")
    async def garbage(request: FeedRequest) -> Any:
        return {"feed": [{"post": "not a uri"}]}

    @fg.feed("model")
    async def model(request: FeedRequest) -> Any:
        from atproto_async.models.app.bsky.feed.defs import SkeletonFeedPost
        from atproto_async.models.app.bsky.feed.get_feed_skeleton import Output

        return Output(feed=[SkeletonFeedPost(post=POST)], cursor="c")

    async with fg.serve() as url, aiohttp.ClientSession(url) as session:

        async def get(rkey: str) -> tuple[int, Any]:
            params = {"feed": fg.uri(rkey)}
            async with session.get(SKELETON, params=params) as resp:
                return resp.status, await resp.json()

        assert await get("refuses") == (
            400,
            {"error": "InvalidRequest", "message": "malformed cursor"},
        )
        with caplog.at_level(logging.ERROR, logger="atproto_async.server"):
            status, body = await get("crashes")
        assert (status, body["error"]) == (500, "InternalServerError")
        assert "secret" not in body["message"]
        assert "secret database detail" in caplog.text
        status, body = await get("garbage")
        assert (status, body["error"]) == (500, "InternalServerError")
        assert await get("model") == (200, {"feed": [{"post": POST}], "cursor": "c"})


async def test_graceful_shutdown_finishes_requests_in_flight() -> None:
    fg = FeedGenerator(SERVICE, publisher_did=PUBLISHER, hostname="feeds.example.com")
    started = asyncio.Event()

    @fg.feed("slow")
    async def slow(request: FeedRequest) -> FeedSkeleton:
        started.set()
        await asyncio.sleep(0.3)
        return FeedSkeleton([POST])

    async with aiohttp.ClientSession() as session:
        async with fg.serve() as url:
            pending = asyncio.create_task(
                session.get(url + SKELETON, params={"feed": fg.uri("slow")})
            )
            await started.wait()
        # The server is closed now, and the request that was running got its answer.
        resp = await pending
        assert resp.status == 200
        assert (await resp.json())["feed"] == [{"post": POST}]
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url + "/xrpc/_health")


def test_registration_rules() -> None:
    fg = FeedGenerator(SERVICE, publisher_did=PUBLISHER, hostname="feeds.example.com")

    @fg.feed("one")
    async def one(request: FeedRequest) -> FeedSkeleton:
        return FeedSkeleton([])

    with pytest.raises(ValueError, match="already"):
        fg.feed("one")
    with pytest.raises(ValueError, match="record key"):
        fg.feed("a/b")
    assert fg.feeds == [fg.uri("one")] == [f"at://{PUBLISHER}/app.bsky.feed.generator/one"]
    with pytest.raises(ValueError, match="service_did"):
        FeedGenerator("feeds.example.com", publisher_did=PUBLISHER, hostname="x")
    with pytest.raises(ValueError, match="publisher_did"):
        FeedGenerator(SERVICE, publisher_did="alice.test", hostname="x")
    with pytest.raises(ValueError, match="hostname"):
        FeedGenerator(SERVICE, publisher_did=PUBLISHER, hostname="https://x/")


async def test_default_resolver_is_opened_and_closed_with_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from atproto_async.identity import IdentityResolver

    closed: list[object] = []
    real_close = IdentityResolver.close

    async def close(self: IdentityResolver) -> None:
        closed.append(self)
        await real_close(self)

    monkeypatch.setattr(IdentityResolver, "close", close)
    fg = FeedGenerator(SERVICE, publisher_did=PUBLISHER, hostname="feeds.example.com")
    async with fg.serve():
        verifier = fg._verifier
        assert verifier is not None
        assert isinstance(verifier.resolver, IdentityResolver)
        assert closed == []
    assert closed == [verifier.resolver]
    assert fg._verifier is None
