"""The seams of the request loop: `Call`, `AuthState` over a plain `Send`, derived clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from xrpc_fakes import DID, HANDLE, PASSWORD, make_jwt

from atproto_async.exceptions import AuthenticationError, ClientClosedError, XrpcError
from atproto_async.xrpc import Client, MockTransport, Request, Response
from atproto_async.xrpc.auth import AuthState
from atproto_async.xrpc.call import Call

JSON = {"Content-Type": "application/json"}


def session_body(tag: str) -> dict[str, Any]:
    return {
        "did": DID,
        "handle": HANDLE,
        "accessJwt": make_jwt(4_000_000_000, tag=tag),
        "refreshJwt": f"refresh-{tag}",
    }


class FakeSend:
    """A `Send` that is not a Client: it records the calls and answers from a script."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[Call] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, call: Call) -> Any:
        self.calls.append(call)
        await self.gate.wait()
        answer = self.answers[call.nsid]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_the_session_machinery_needs_only_a_send_callable() -> None:
    send = FakeSend(
        {
            "com.atproto.server.createSession": session_body("one"),
            "com.atproto.server.refreshSession": session_body("two"),
            "com.atproto.server.deleteSession": None,
        }
    )
    auth = AuthState("https://entryway.example")
    await auth.login(send, HANDLE, PASSWORD)
    login = send.calls[0]
    assert (login.method, login.session, login.authorization) == ("POST", False, None)
    assert login.base_url == "https://entryway.example"
    assert PASSWORD in login.secrets  # masked in any error the server's answer makes
    assert auth.bearer == f"Bearer {session_body('one')['accessJwt']}"

    # Concurrent refreshes share one request, sent with the refresh token, not the session's.
    send.gate.clear()
    waiting = [asyncio.ensure_future(auth.refresh(send)) for _ in range(5)]
    await asyncio.sleep(0)
    send.gate.set()
    await asyncio.gather(*waiting)
    refreshes = [c for c in send.calls if c.nsid == "com.atproto.server.refreshSession"]
    assert len(refreshes) == 1
    assert refreshes[0].authorization == "Bearer refresh-one"
    assert refreshes[0].session is False
    assert auth.bearer == f"Bearer {session_body('two')['accessJwt']}"

    await auth.logout(send)
    assert send.calls[-1].authorization == "Bearer refresh-two"
    assert auth.session is None


async def test_a_refused_refresh_through_send_ends_the_session() -> None:
    refused = XrpcError(400, "ExpiredToken", "Token has expired")
    send = FakeSend(
        {
            "com.atproto.server.createSession": session_body("one"),
            "com.atproto.server.refreshSession": refused,
        }
    )
    auth = AuthState("https://pds.example")
    await auth.login(send, HANDLE, PASSWORD)
    with pytest.raises(AuthenticationError):
        await auth.refresh(send)
    assert auth.session is None


async def test_the_session_check_does_not_wait_for_itself() -> None:
    call = Call.session_check("com.atproto.server.getSession")
    assert (call.method, call.session, call.check, call.admin) == ("GET", True, False, False)
    assert Call("GET", "com.example.q").check is True


def test_a_call_shows_no_credentials() -> None:
    call = Call.post(
        "com.atproto.server.createSession",
        {"identifier": HANDLE, "password": PASSWORD},
        "Bearer secret-token",
        secrets=(PASSWORD,),
    )
    shown = repr(call)
    assert "createSession" in shown
    assert PASSWORD not in shown and "secret-token" not in shown


async def test_derived_clients_are_built_fresh_and_follow_their_root() -> None:
    seen: list[Request] = []

    async def answer(request: Request) -> Response:
        seen.append(request)
        if request.url.endswith("createSession"):
            return Response(200, JSON, json.dumps(session_body("one")).encode())
        return Response(200, JSON, b'{"feed": []}')

    client = Client("https://pds.example", transport=MockTransport(answer))
    proxied = client.with_proxy("did:web:feed.example", "bsky_fg")
    # Made before login, the derived client still sees the session its root gets afterwards.
    await client.login(HANDLE, PASSWORD)
    assert proxied.session is client.session
    # Namespaces are the derived client's own: its calls carry its headers.
    assert proxied.app is not client.app
    await proxied.app.bsky.feed.get_feed_skeleton(feed="at://did:plc:x/app.bsky.feed.generator/a")
    assert seen[-1].headers["atproto-proxy"] == "did:web:feed.example#bsky_fg"
    assert seen[-1].headers["Authorization"].startswith("Bearer ")
    # A derived client of a derived client keeps both headers, and the root keeps none.
    labelled = proxied.with_labelers("did:plc:lab")
    await labelled.query("com.example.q")
    assert seen[-1].headers["atproto-proxy"] == "did:web:feed.example#bsky_fg"
    assert seen[-1].headers["atproto-accept-labelers"] == "did:plc:lab"
    await client.query("com.example.q")
    assert "atproto-proxy" not in seen[-1].headers
    # Closing a derived client closes nothing; closing the root closes them all.
    await proxied.close()
    await labelled.query("com.example.q")
    await client.close()
    for closed in (client, proxied, labelled):
        with pytest.raises(ClientClosedError):
            await closed.query("com.example.q")
