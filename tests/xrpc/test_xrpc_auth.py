"""Auth through the transport seam: proactive refresh, hooks, warnings, secrets out of sight."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from xrpc_fakes import DID, HANDLE, PASSWORD, Sleeps, make_jwt, session_json

from atproto_async.exceptions import AuthenticationError, DecodeError, XrpcError
from atproto_async.xrpc import (
    Client,
    MockTransport,
    Request,
    Response,
    Session,
    looks_like_app_password,
)
from atproto_async.xrpc import auth as auth_module
from atproto_async.xrpc.auth import basic_admin_authorization

BASE = "https://pds.example.com"
JSON = {"Content-Type": "application/json"}


class Server:
    """A scripted PDS behind a MockTransport, issuing tokens that live ``lifetime`` seconds."""

    def __init__(self, clock: list[float], lifetime: float = 120.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.serial = 0
        self.access = ""
        self.refresh = ""
        self.refresh_dead = False
        self.login_ok = True
        self.refreshes = 0
        self.echo_message = ""
        self.forbid = False
        self.transport = MockTransport(self.handle)

    def issue(self) -> bytes:
        self.serial += 1
        now = self.clock[0]
        self.access = make_jwt(now + self.lifetime, iat=now, tag=f"access-{self.serial}")
        self.refresh = make_jwt(now + 86400, iat=now, tag=f"refresh-{self.serial}")
        return json.dumps(session_json(self.access, self.refresh, BASE)).encode()

    async def handle(self, request: Request) -> Response:
        nsid = request.url.rsplit("/", 1)[1]
        auth = request.headers.get("Authorization", "")
        if nsid == "com.atproto.server.createSession":
            if not self.login_ok:
                body = {"error": "AuthenticationRequired", "message": "Invalid password"}
                return Response(401, JSON, json.dumps(body).encode())
            return Response(200, JSON, self.issue())
        if nsid == "com.atproto.server.refreshSession":
            self.refreshes += 1
            await asyncio.sleep(0)
            if self.refresh_dead or auth != f"Bearer {self.refresh}":
                body = {"error": "ExpiredToken", "message": f"bad token {auth}"}
                return Response(400, JSON, json.dumps(body).encode())
            return Response(200, JSON, self.issue())
        if auth != f"Bearer {self.access}":
            body = {"error": "InvalidToken", "message": f"rejected {auth[7:]}"}
            return Response(400, JSON, json.dumps(body).encode())
        if self.forbid:
            body = {"error": "Forbidden", "message": f"rejected {auth[7:]}"}
            return Response(403, JSON, json.dumps(body).encode())
        return Response(200, JSON, json.dumps({"ok": True, "echo": self.echo_message}).encode())


@pytest.fixture
def clock() -> list[float]:
    return [1_800_000_000.0]


@pytest.fixture
def server(clock: list[float]) -> Server:
    return Server(clock)


def make_client(server: Server, clock: list[float], **kwargs: Any) -> Client:
    return Client(
        BASE, transport=server.transport, clock=lambda: clock[0], sleep=Sleeps(), **kwargs
    )


async def test_token_is_refreshed_before_it_expires(server: Server, clock: list[float]) -> None:
    client = make_client(server, clock)
    await client.login(HANDLE, PASSWORD)
    clock[0] += 60  # margin is a quarter of the 120 s lifetime: not yet
    await client.query("com.example.q")
    assert server.refreshes == 0
    clock[0] += 35
    await client.query("com.example.q")
    assert server.refreshes == 1
    assert [r.url.rsplit("/", 1)[1] for r in server.transport.requests][-2:] == [
        "com.atproto.server.refreshSession",
        "com.example.q",
    ]


async def test_concurrent_proactive_refresh_is_single_flight(
    server: Server, clock: list[float]
) -> None:
    client = make_client(server, clock)
    await client.login(HANDLE, PASSWORD)
    clock[0] += 1000
    results = await asyncio.gather(*(client.query("com.example.q") for _ in range(50)))
    assert all(r["ok"] for r in results)
    assert server.refreshes == 1


async def test_a_cancelled_waiter_does_not_cancel_the_shared_refresh(
    server: Server, clock: list[float]
) -> None:
    client = make_client(server, clock)
    await client.login(HANDLE, PASSWORD)
    clock[0] += 1000
    first = asyncio.ensure_future(client.query("com.example.q"))
    second = asyncio.ensure_future(client.query("com.example.q"))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second)["ok"]
    assert server.refreshes == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_sync_and_async_hooks_see_every_change(server: Server, clock: list[float]) -> None:
    sync_seen: list[Session | None] = []
    async_seen: list[Session | None] = []

    async def async_hook(session: Session | None) -> None:
        async_seen.append(session)

    for hook, seen in ((sync_seen.append, sync_seen), (async_hook, async_seen)):
        client = make_client(server, clock, on_session_change=hook)
        await client.login(HANDLE, PASSWORD)
        await client.refresh_session()
        server.refresh_dead = True
        with pytest.raises(AuthenticationError):
            await client.refresh_session()
        server.refresh_dead = False
        assert [s.access_jwt[-6:] if s else None for s in seen][-1] is None
        assert len(seen) == 3


async def test_a_failing_hook_is_logged_not_raised(
    server: Server, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: Session | None) -> None:
        raise RuntimeError("hook bug")

    client = make_client(server, clock, on_session_change=broken)
    with caplog.at_level(logging.ERROR, logger="atproto_async.xrpc"):
        session = await client.login(HANDLE, PASSWORD)
    assert client.session == session
    assert "on_session_change" in caplog.text


def test_app_password_shape() -> None:
    assert looks_like_app_password("abcd-efgh-ijkl-mnop")
    assert looks_like_app_password("a1b2-c3d4-e5f6-g7h8")
    assert not looks_like_app_password("hunter2")
    assert not looks_like_app_password("ABCD-EFGH-IJKL-MNOP")


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no login had advised an app password yet in this process."""
    monkeypatch.setattr(auth_module, "_password_advice_given", False, raising=False)


@pytest.mark.usefixtures("fresh_process")
async def test_non_app_password_warns_once(
    server: Server, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server, clock)
    with caplog.at_level(logging.WARNING, logger="atproto_async.xrpc"):
        await client.login(HANDLE, "correct horse battery")
        await client.login(HANDLE, "correct horse battery")
    warnings = [r for r in caplog.records if "app password" in r.getMessage()]
    assert len(warnings) == 1
    assert "correct horse" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="atproto_async.xrpc"):
        await make_client(server, clock).login(HANDLE, PASSWORD)
    assert "app password" not in caplog.text


@pytest.mark.usefixtures("fresh_process")
async def test_the_app_password_advice_is_given_once_per_process_by_the_package_logger(
    server: Server, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # a script that logs in with a new client each time
            await make_client(server, clock).login(HANDLE, "correct horse battery")
    advice = [r for r in caplog.records if "app password" in r.getMessage()]
    assert len(advice) == 1
    assert advice[0].name.startswith("atproto_async")


@pytest.mark.usefixtures("fresh_process")
@pytest.mark.parametrize("service", ["http://localhost:2583", "http://127.0.0.1:2583"])
async def test_no_app_password_advice_for_a_local_server(
    service: str, server: Server, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(service, transport=server.transport, clock=lambda: clock[0], sleep=Sleeps())
    with caplog.at_level(logging.WARNING):
        await client.login("alice.test", "hunter2")
    assert "app password" not in caplog.text
    with caplog.at_level(logging.WARNING):  # still said for the first remote login
        await make_client(server, clock).login(HANDLE, "hunter2")
    assert "app password" in caplog.text


async def test_secrets_stay_out_of_logs_reprs_and_errors(
    server: Server, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    password = "my-very-secret-password"
    client = make_client(server, clock, relogin=True, admin_password="admin-secret")
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        session = await client.login(HANDLE, password)
        secrets = [password, session.access_jwt, session.refresh_jwt, "admin-secret"]
        secrets.append(basic_admin_authorization("admin-secret").split()[1])
        clock[0] += 1000
        await client.query("com.example.q")  # proactive refresh
        secrets += [server.access, server.refresh]
        # the server echoes the token it was sent into its error message
        server.forbid = True
        with pytest.raises(XrpcError) as caught:
            await client.query("com.example.q")
        server.refresh_dead = True
        server.login_ok = False
        with pytest.raises(XrpcError) as dead:
            await client.refresh_session()
    texts += [caplog.text, repr(client), repr(client._auth), repr(session), str(session)]
    texts += [str(caught.value), repr(caught.value), str(dead.value), repr(dead.value)]
    texts += [repr(request) for request in server.transport.requests]
    texts.append(repr(client.session))
    assert "rejected ***" in str(caught.value) or "***" in str(caught.value)
    for text in texts:
        for secret in secrets:
            assert secret not in text, text


async def test_relogin_password_is_not_kept_by_default(server: Server, clock: list[float]) -> None:
    client = make_client(server, clock)
    await client.login(HANDLE, "abcd-efgh-ijkl-mnop")
    assert "abcd-efgh-ijkl-mnop" not in client._auth.secrets()
    server.refresh_dead = True
    with pytest.raises(AuthenticationError):
        await client.refresh_session()
    assert server.transport.requests[-1].url.endswith("refreshSession")


async def test_relogin_logs_in_again_once(server: Server, clock: list[float]) -> None:
    client = make_client(server, clock, relogin=True)
    await client.login(HANDLE, PASSWORD)
    server.refresh_dead = True
    session = await client.refresh_session()
    assert session.access_jwt == server.access
    logins = [r for r in server.transport.requests if r.url.endswith("createSession")]
    assert len(logins) == 2


async def test_refresh_without_a_session_is_an_authentication_error(
    server: Server, clock: list[float]
) -> None:
    client = make_client(server, clock)
    with pytest.raises(AuthenticationError, match="not logged in"):
        await client.refresh_session()


async def test_resumed_expired_session_refreshes_before_checking(
    server: Server, clock: list[float]
) -> None:
    server.issue()
    saved = Session(
        did=DID,
        handle=HANDLE,
        access_jwt=make_jwt(clock[0] - 1, tag="stale"),
        refresh_jwt=server.refresh,
        pds_url=BASE,
    )
    async with make_client(server, clock, session=saved) as client:
        assert client.session is not None
        assert client.session.access_jwt == server.access
    names = [r.url.rsplit(".", 1)[1] for r in server.transport.requests]
    assert names == ["refreshSession", "getSession"]


async def test_client_repr_shows_the_did_only(server: Server, clock: list[float]) -> None:
    client = make_client(server, clock)
    assert "no session" in repr(client)
    await client.login(HANDLE, PASSWORD)
    assert DID in repr(client)


async def test_malformed_session_answers_are_decode_errors(clock: list[float]) -> None:
    answers = {"createSession": b'{"did": "did:plc:x"}', "refreshSession": b"[]"}

    def handle(request: Request) -> Response:
        name = request.url.rsplit(".", 1)[1]
        return Response(200, JSON, answers.get(name, b"{}"))

    client = Client(BASE, transport=MockTransport(handle), clock=lambda: clock[0])
    with pytest.raises(DecodeError, match="handle"):
        await client.login(HANDLE, PASSWORD)
    assert client.session is None
    saved = Session(did=DID, handle=HANDLE, access_jwt="a", refresh_jwt="r")
    client = Client(BASE, transport=MockTransport(handle), session=saved)
    with pytest.raises(DecodeError, match="refreshSession"):
        await client.refresh_session()
    assert client.session == saved  # a server bug does not end the session
