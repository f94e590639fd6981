"""Client behaviour with aiohttp mocked by aioresponses: the wire format, errors, retries, auth."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses
from xrpc_fakes import DID, HANDLE, PASSWORD, Sleeps, make_jwt, mock_aiohttp, session_json

from atproto_async.exceptions import (
    AtprotoError,
    AuthenticationError,
    DecodeError,
    InvalidRequestError,
    InvalidSyntaxError,
    NotImplementedByServerError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
    XrpcError,
)
from atproto_async.xrpc import Client, RetryPolicy, Session

BASE = "https://pds.example.com"


def url(nsid: str) -> re.Pattern[str]:
    return re.compile(re.escape(f"{BASE}/xrpc/{nsid}") + r"(\?.*)?$")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with mock_aiohttp() as m:
        yield m


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[Client]:
    c = Client(BASE, sleep=sleeps, retry_policy=RetryPolicy(random=lambda: 0.5))
    yield c
    await c.close()


def calls(m: aioresponses, nsid: str) -> list[Any]:
    return [
        call
        for (method, u), found in m.requests.items()
        if u.path == f"/xrpc/{nsid}"
        for call in found
    ]


def fresh_session(access: str = "", refresh: str = "") -> dict[str, Any]:
    now = time.time()
    return session_json(
        access or make_jwt(now + 7200, iat=now, tag="a1"),
        refresh or make_jwt(now + 86400, iat=now, tag="r1"),
        BASE,
    )


# -- requests on the wire ----------------------------------------------------------------------


async def test_query_encodes_params_xrpc_style(mocked: aioresponses, client: Client) -> None:
    mocked.get(url("com.example.q"), payload={"ok": True})
    out = await client.query(
        "com.example.q", {"s": "a b&c", "t": True, "f": False, "n": 7, "l": ["x", "y"], "z": None}
    )
    assert out == {"ok": True}
    [(method, sent)] = list(mocked.requests)
    assert method == "GET"
    # aioresponses sorts the query; the real-server test checks the order on the wire
    assert sorted(sent.query.items()) == [
        ("f", "false"),
        ("l", "x"),
        ("l", "y"),
        ("n", "7"),
        ("s", "a b&c"),
        ("t", "true"),
    ]


async def test_unsupported_param_type_is_a_type_error(client: Client) -> None:
    with pytest.raises(TypeError, match="'x'"):
        await client.query("com.example.q", {"x": 1.5})


async def test_procedure_sends_compact_json(mocked: aioresponses, client: Client) -> None:
    mocked.post(url("com.example.p"), payload={"uri": "at://x"})
    out = await client.procedure("com.example.p", {"text": "héllo", "n": [1]})
    assert out == {"uri": "at://x"}
    [call] = calls(mocked, "com.example.p")
    assert call.kwargs["data"] == '{"text":"héllo","n":[1]}'.encode()
    assert call.kwargs["headers"]["Content-Type"] == "application/json"


async def test_procedure_with_raw_bytes_uses_the_encoding(
    mocked: aioresponses, client: Client
) -> None:
    mocked.post(url("com.atproto.repo.uploadBlob"), payload={"blob": {"size": 3}})
    out = await client.procedure("com.atproto.repo.uploadBlob", b"abc", encoding="image/png")
    assert out == {"blob": {"size": 3}}
    [call] = calls(mocked, "com.atproto.repo.uploadBlob")
    assert call.kwargs["data"] == b"abc"
    assert call.kwargs["headers"]["Content-Type"] == "image/png"


async def test_non_json_data_is_a_type_error_naming_where(client: Client) -> None:
    with pytest.raises(TypeError, match=r"^x: object of type object is not a data-model value"):
        await client.procedure("com.example.p", {"x": object()})


async def test_headers_per_client_and_per_call(mocked: aioresponses, sleeps: Sleeps) -> None:
    mocked.get(url("com.example.q"), payload={}, repeat=True)
    async with Client(BASE, headers={"X-App": "bot", "X-Both": "client"}, sleep=sleeps) as client:
        await client.query("com.example.q", headers={"X-Both": "call"})
    [call] = calls(mocked, "com.example.q")
    assert call.kwargs["headers"]["X-App"] == "bot"
    assert call.kwargs["headers"]["X-Both"] == "call"


async def test_json_non_json_and_empty_bodies(mocked: aioresponses, client: Client) -> None:
    mocked.get(url("com.example.bin"), body=b"\x00\x01", content_type="application/octet-stream")
    mocked.get(url("com.example.empty"), body=b"")
    mocked.get(url("com.example.bad"), body=b"{nope", content_type="application/json")
    assert await client.query("com.example.bin") == b"\x00\x01"
    assert await client.query("com.example.empty") is None
    with pytest.raises(DecodeError, match=r"com\.example\.bad"):
        await client.query("com.example.bad")


async def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ValueError, match="allow_insecure"):
        Client("http://pds.example.com")
    assert Client("http://pds.example.com", allow_insecure=True).service == (
        "http://pds.example.com"
    )
    assert Client("http://localhost:2583/").service == "http://localhost:2583"
    assert Client("http://[::1]:80").service == "http://[::1]:80"
    with pytest.raises(ValueError, match="http"):
        Client("ftp://pds.example.com")


async def test_a_service_url_yarl_cannot_parse_is_refused_at_construction() -> None:
    """Not accepted as a loopback URL, then failing in the transport with a bare yarl error."""
    with pytest.raises(ValueError, match="service URL must be http") as caught:
        Client("http://example.invalid\\@127.0.0.1:9")
    assert "backslash" in str(caught.value)
    with pytest.raises(ValueError, match="service URL must be http"):
        Client("http://example.invalid\\@127.0.0.1:9", allow_insecure=True)


# -- errors ------------------------------------------------------------------------------------


async def test_xrpc_error_body_fills_the_error(mocked: aioresponses, client: Client) -> None:
    mocked.post(
        url("com.example.p"),
        status=400,
        payload={"error": "InvalidSwap", "message": "record was modified"},
        headers={"X-Trace": "1"},
    )
    with pytest.raises(InvalidRequestError) as caught:
        await client.procedure("com.example.p", {})
    err = caught.value
    assert (err.status, err.error, err.message, err.nsid) == (
        400,
        "InvalidSwap",
        "record was modified",
        "com.example.p",
    )
    assert err.headers["X-Trace"] == "1"
    assert not err.retryable


async def test_html_502_page_becomes_a_server_error(mocked: aioresponses, client: Client) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    mocked.get(url("com.example.q"), status=502, body=page, content_type="text/html", repeat=True)
    with pytest.raises(XrpcError) as caught:
        await client.query("com.example.q", max_retries=1)
    assert isinstance(caught.value, ServerError)
    assert (caught.value.status, caught.value.error) == (502, None)
    assert caught.value.message == "502 Bad Gateway"
    assert len(calls(mocked, "com.example.q")) == 2


async def test_empty_error_body_and_plain_text(mocked: aioresponses, client: Client) -> None:
    mocked.get(url("com.example.a"), status=404, body=b"")
    mocked.get(
        url("com.example.b"),
        status=403,
        body="  Forbidden\n by  policy ",
        content_type="text/plain",
    )
    with pytest.raises(XrpcError) as first:
        await client.query("com.example.a")
    with pytest.raises(XrpcError) as second:
        await client.query("com.example.b")
    assert (first.value.status, first.value.error, first.value.message) == (404, None, None)
    assert second.value.message == "Forbidden by policy"


@pytest.mark.parametrize("nsid", ["not-an-nsid", "getProfile", "app.bsky.actor.", ""])
async def test_a_method_name_that_is_not_an_nsid_is_refused_before_sending(
    mocked: aioresponses, client: Client, nsid: str
) -> None:
    with pytest.raises(InvalidSyntaxError) as query:
        await client.query(nsid)
    with pytest.raises(ValueError, match="NSID"):
        await client.procedure(nsid, {"a": 1})
    assert query.value.kind == "NSID" and query.value.value == nsid
    assert mocked.requests == {}


async def test_a_pds_without_an_appview_hints_at_service_proxying(
    mocked: aioresponses, client: Client
) -> None:
    nsid = "app.bsky.actor.getProfile"
    text = f"No service configured for {nsid}"
    mocked.get(url(nsid), status=400, payload={"error": "InvalidRequest", "message": text})
    with pytest.raises(InvalidRequestError) as caught:
        await client.query(nsid, {"actor": "alice.test"})
    assert caught.value.message is not None and caught.value.message.startswith(text)
    assert "client.with_proxy('did:web:api.bsky.app', 'bsky_appview')" in str(caught.value)
    assert "AppView" in str(caught.value)


async def test_501_is_never_retried(mocked: aioresponses, client: Client, sleeps: Sleeps) -> None:
    mocked.get(url("com.example.q"), status=501, payload={"error": "MethodNotImplemented"})
    with pytest.raises(NotImplementedByServerError):
        await client.query("com.example.q")
    assert sleeps.delays == []


# -- retries -----------------------------------------------------------------------------------


async def test_503_then_200_succeeds_after_backoff(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    mocked.get(url("com.example.q"), status=503, payload={"error": "Unavailable"})
    mocked.get(url("com.example.q"), status=503, body="")
    mocked.get(url("com.example.q"), payload={"ok": 1})
    assert await client.query("com.example.q") == {"ok": 1}
    assert sleeps.delays == [0.25, 0.5]  # 0.5 * min(8, 0.5 * 2**n)


async def test_retries_stop_at_max_retries(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    mocked.get(url("com.example.q"), status=500, payload={"error": "Internal"}, repeat=True)
    with pytest.raises(ServerError):
        await client.query("com.example.q")
    assert len(calls(mocked, "com.example.q")) == 4
    with pytest.raises(ServerError):
        await client.query("com.example.q", max_retries=0)
    assert len(calls(mocked, "com.example.q")) == 5


async def test_procedure_not_replayed_after_a_read_timeout(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    mocked.post(url("com.example.p"), exception=TimeoutError())
    mocked.post(url("com.example.p"), payload={"replayed": True})
    with pytest.raises(RequestTimeout) as caught:
        await client.procedure("com.example.p", {"x": 1})
    assert caught.value.sent is True
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert len(calls(mocked, "com.example.p")) == 1
    assert sleeps.delays == []


async def test_query_retried_after_a_timeout(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    mocked.get(url("com.example.q"), exception=TimeoutError())
    mocked.get(url("com.example.q"), payload={"ok": 1})
    assert await client.query("com.example.q") == {"ok": 1}
    assert sleeps.delays == [0.25]


async def test_procedure_not_retried_on_500(mocked: aioresponses, client: Client) -> None:
    mocked.post(url("com.example.p"), status=500, payload={"error": "Internal"})
    with pytest.raises(ServerError):
        await client.procedure("com.example.p", {})
    assert len(calls(mocked, "com.example.p")) == 1


async def test_procedure_retried_on_503_with_retry_after(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    mocked.post(url("com.example.p"), status=503, body="", headers={"Retry-After": "2"})
    mocked.post(url("com.example.p"), payload={"ok": 1})
    assert await client.procedure("com.example.p", {}) == {"ok": 1}
    assert sleeps.delays == [2.0]


async def test_429_with_ratelimit_reset_waits_within_the_cap(
    mocked: aioresponses, sleeps: Sleeps
) -> None:
    now = 1_800_000_000.0
    headers = {"RateLimit-Reset": str(int(now) + 7), "RateLimit-Remaining": "0"}
    mocked.get(
        url("com.example.q"), status=429, payload={"error": "RateLimitExceeded"}, headers=headers
    )
    mocked.get(url("com.example.q"), payload={"ok": 1})
    async with Client(BASE, sleep=sleeps, clock=lambda: now) as client:
        assert await client.query("com.example.q") == {"ok": 1}
    assert sleeps.delays[0] == pytest.approx(7, abs=1.5)  # retry.py reads the real clock


async def test_429_beyond_the_cap_raises_at_once(mocked: aioresponses, client: Client) -> None:
    reset = int(time.time()) + 3600
    mocked.get(
        url("com.example.q"),
        status=429,
        payload={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"RateLimit-Reset": str(reset)},
        repeat=True,
    )
    with pytest.raises(RateLimitError) as caught:
        await client.query("com.example.q")
    assert caught.value.reset_at is not None
    assert int(caught.value.reset_at.timestamp()) == reset
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 3000
    assert len(calls(mocked, "com.example.q")) == 1


async def test_429_retry_after_seconds(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    mocked.post(url("com.example.p"), status=429, body="", headers={"Retry-After": "3"})
    mocked.post(url("com.example.p"), payload={})
    assert await client.procedure("com.example.p", {}) == {}
    assert sleeps.delays == [3.0]


async def test_connection_error_of_a_sent_procedure_is_not_retried(
    mocked: aioresponses, client: Client
) -> None:
    import aiohttp

    mocked.post(url("com.example.p"), exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(TransportError) as caught:
        await client.procedure("com.example.p", {})
    assert caught.value.sent is True
    assert not isinstance(caught.value, RequestTimeout)
    assert isinstance(caught.value.__cause__, aiohttp.ServerDisconnectedError)


async def test_stream_body_is_never_retried(
    mocked: aioresponses, client: Client, sleeps: Sleeps
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    mocked.post(url("com.example.p"), status=429, body="", headers={"Retry-After": "1"})
    with pytest.raises(RateLimitError):
        await client.procedure("com.example.p", chunks(), encoding="video/mp4")
    assert sleeps.delays == []


# -- auth --------------------------------------------------------------------------------------


async def test_login_uses_the_pds_from_the_did_document(
    mocked: aioresponses, sleeps: Sleeps
) -> None:
    entry = "https://entryway.example.com"
    mocked.post(f"{entry}/xrpc/com.atproto.server.createSession", payload=fresh_session())
    mocked.get(url("com.example.q"), payload={"ok": 1})
    async with Client(entry, sleep=sleeps) as client:
        session = await client.login(HANDLE, PASSWORD, auth_factor_token="123456")
        assert client.service == BASE
        await client.query("com.example.q")
    [(_, created)] = [
        (k, v) for k, v in mocked.requests.items() if k[1].host == "entryway.example.com"
    ]
    assert json.loads(created[0].kwargs["data"]) == {
        "identifier": HANDLE,
        "password": PASSWORD,
        "authFactorToken": "123456",
    }
    [call] = calls(mocked, "com.example.q")
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {session.access_jwt}"


async def test_insecure_pds_endpoint_is_ignored(mocked: aioresponses, sleeps: Sleeps) -> None:
    out = fresh_session()
    out["didDoc"]["service"][0]["serviceEndpoint"] = "http://evil.example.com"
    mocked.post(url("com.atproto.server.createSession"), payload=out)
    async with Client(BASE, sleep=sleeps) as client:
        await client.login(HANDLE, PASSWORD)
        assert client.service == BASE


async def test_expired_token_400_refreshed_and_replayed_once(
    mocked: aioresponses, client: Client
) -> None:
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    second = fresh_session(make_jwt(time.time() + 7200, tag="a2"), make_jwt(None, tag="r2"))
    mocked.post(url("com.atproto.server.refreshSession"), payload=second)
    mocked.get(url("com.example.q"), status=400, payload={"error": "ExpiredToken"})
    mocked.get(url("com.example.q"), payload={"ok": 1})
    first = await client.login(HANDLE, PASSWORD)
    assert await client.query("com.example.q") == {"ok": 1}
    sent = [c.kwargs["headers"]["Authorization"] for c in calls(mocked, "com.example.q")]
    assert sent == [f"Bearer {first.access_jwt}", f"Bearer {second['accessJwt']}"]
    [refresh] = calls(mocked, "com.atproto.server.refreshSession")
    assert refresh.kwargs["headers"]["Authorization"] == f"Bearer {first.refresh_jwt}"


async def test_second_expired_answer_is_not_refreshed_again(
    mocked: aioresponses, client: Client
) -> None:
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    mocked.post(url("com.atproto.server.refreshSession"), payload=fresh_session(), repeat=True)
    mocked.get(url("com.example.q"), status=400, payload={"error": "ExpiredToken"}, repeat=True)
    await client.login(HANDLE, PASSWORD)
    with pytest.raises(AuthenticationError):
        await client.query("com.example.q")
    assert len(calls(mocked, "com.atproto.server.refreshSession")) == 1
    assert len(calls(mocked, "com.example.q")) == 2


async def test_50_concurrent_calls_share_one_refresh(mocked: aioresponses, client: Client) -> None:
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())

    renewed = fresh_session(make_jwt(time.time() + 7200, tag="a2"))

    async def slow_refresh(u: Any, **kwargs: Any) -> CallbackResult:
        await asyncio.sleep(0.005)
        return CallbackResult(payload=renewed)

    mocked.post(url("com.atproto.server.refreshSession"), callback=slow_refresh, repeat=True)

    def answer(u: Any, **kwargs: Any) -> CallbackResult:
        if kwargs["headers"]["Authorization"] == f"Bearer {renewed['accessJwt']}":
            return CallbackResult(payload={"ok": 1})
        return CallbackResult(status=400, payload={"error": "ExpiredToken"})

    mocked.get(url("com.example.q"), callback=answer, repeat=True)
    await client.login(HANDLE, PASSWORD)
    results = await asyncio.gather(*(client.query("com.example.q") for _ in range(50)))
    assert results == [{"ok": 1}] * 50
    assert len(calls(mocked, "com.atproto.server.refreshSession")) == 1


async def test_dead_refresh_token_ends_the_session(mocked: aioresponses, sleeps: Sleeps) -> None:
    seen: list[Session | None] = []
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    mocked.post(
        url("com.atproto.server.refreshSession"),
        status=400,
        payload={"error": "ExpiredToken", "message": "Token has expired"},
    )
    mocked.get(url("com.example.q"), status=401, payload={"error": "ExpiredToken"})
    async with Client(BASE, sleep=sleeps, on_session_change=seen.append) as client:
        await client.login(HANDLE, PASSWORD)
        with pytest.raises(AuthenticationError) as caught:
            await client.query("com.example.q")
        assert client.session is None
        with pytest.raises(AtprotoError, match="log in"):
            client.export_session()
    assert caught.value.error == "ExpiredToken"
    assert caught.value.nsid == "com.atproto.server.refreshSession"
    assert [s is None for s in seen] == [False, True]


async def test_refresh_network_failure_keeps_the_session(
    mocked: aioresponses, client: Client
) -> None:
    import aiohttp

    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    mocked.post(
        url("com.atproto.server.refreshSession"), exception=aiohttp.ServerDisconnectedError()
    )
    mocked.get(url("com.example.q"), status=400, payload={"error": "ExpiredToken"})
    await client.login(HANDLE, PASSWORD)
    with pytest.raises(TransportError):
        await client.query("com.example.q")
    assert client.session is not None


async def test_admin_methods_use_basic_auth(mocked: aioresponses, sleeps: Sleeps) -> None:
    mocked.post(url("com.atproto.admin.updateSubjectStatus"), payload={})
    mocked.post(url("com.atproto.server.createInviteCode"), payload={"code": "x"})
    mocked.get(url("com.example.q"), payload={})
    async with Client(BASE, admin_password="secret-token", sleep=sleeps) as client:
        await client.procedure("com.atproto.admin.updateSubjectStatus", {})
        await client.procedure("com.atproto.server.createInviteCode", {"useCount": 1})
        await client.query("com.example.q", admin=True)
    basic = "Basic YWRtaW46c2VjcmV0LXRva2Vu"  # base64("admin:secret-token")
    for nsid in (
        "com.atproto.admin.updateSubjectStatus",
        "com.atproto.server.createInviteCode",
        "com.example.q",
    ):
        [call] = calls(mocked, nsid)
        assert call.kwargs["headers"]["Authorization"] == basic


async def test_admin_true_without_a_token_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="admin_password"):
        await client.query("com.example.q", admin=True)


async def test_derived_clients_share_the_session_and_add_headers(
    mocked: aioresponses, client: Client
) -> None:
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    mocked.get(url("chat.bsky.convo.listConvos"), payload={"convos": []})
    mocked.get(url("app.bsky.feed.getTimeline"), payload={"feed": []})
    session = await client.login(HANDLE, PASSWORD)
    chat = client.with_proxy("did:web:api.bsky.chat", "#bsky_chat")
    labelled = client.with_labelers("did:plc:lab1;redact", "did:plc:lab2")
    await chat.query("chat.bsky.convo.listConvos")
    await labelled.query("app.bsky.feed.getTimeline")
    await chat.close()  # a derived client leaves the shared transport open
    [c] = calls(mocked, "chat.bsky.convo.listConvos")
    [t] = calls(mocked, "app.bsky.feed.getTimeline")
    assert c.kwargs["headers"]["atproto-proxy"] == "did:web:api.bsky.chat#bsky_chat"
    assert c.kwargs["headers"]["Authorization"] == f"Bearer {session.access_jwt}"
    assert t.kwargs["headers"]["atproto-accept-labelers"] == "did:plc:lab1;redact, did:plc:lab2"
    assert "atproto-proxy" not in t.kwargs["headers"]
    assert chat.session is client.session is labelled.session
    with pytest.raises(ValueError, match="DID"):
        client.with_proxy("api.bsky.chat", "bsky_chat")


async def test_refresh_through_a_derived_client_is_seen_by_all(
    mocked: aioresponses, client: Client
) -> None:
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    renewed = fresh_session(make_jwt(time.time() + 9000, tag="a9"))
    mocked.post(url("com.atproto.server.refreshSession"), payload=renewed)
    await client.login(HANDLE, PASSWORD)
    proxied = client.with_proxy("did:web:x.example.com", "svc")
    await proxied.refresh_session()
    assert client.session is not None
    assert client.session.access_jwt == renewed["accessJwt"]
    [refresh] = calls(mocked, "com.atproto.server.refreshSession")
    assert "atproto-proxy" not in refresh.kwargs["headers"]  # session calls are not proxied


async def test_zero_timeout_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await client.query("com.example.q", timeout=0)


async def test_logout_sends_the_refresh_token(mocked: aioresponses, client: Client) -> None:
    mocked.post(url("com.atproto.server.createSession"), payload=fresh_session())
    mocked.post(url("com.atproto.server.deleteSession"), body=b"")
    session = await client.login(HANDLE, PASSWORD)
    await client.logout()
    [call] = calls(mocked, "com.atproto.server.deleteSession")
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {session.refresh_jwt}"
    assert client.session is None
    await client.logout()  # no session: nothing to do


async def test_resumed_session_is_checked_on_enter(mocked: aioresponses, sleeps: Sleeps) -> None:
    saved = Session(
        did=DID,
        handle="old.test",
        access_jwt=make_jwt(time.time() + 3600, tag="a"),
        refresh_jwt=make_jwt(None, tag="r"),
        pds_url=BASE,
    )
    seen: list[Session | None] = []
    mocked.get(url("com.atproto.server.getSession"), payload={"did": DID, "handle": HANDLE})
    async with Client(BASE, session=saved, sleep=sleeps, on_session_change=seen.append) as client:
        assert client.session is not None
        assert client.session.handle == HANDLE
    assert len(calls(mocked, "com.atproto.server.getSession")) == 1
    assert [s.handle if s else None for s in seen] == [HANDLE]


def test_a_bad_saved_session_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="saved session"):
        Client(BASE, session="{}")
