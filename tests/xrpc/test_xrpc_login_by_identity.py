"""``Client(service=None)``: log in with a handle or DID alone, the PDS found by resolution."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from xrpc_fakes import DID, HANDLE, PASSWORD, FakePds

from atproto_async import Client
from atproto_async.exceptions import (
    AtprotoError,
    AuthenticationError,
    IdentityError,
    IdentityNotFound,
)
from atproto_async.identity import IdentityResolver, StaticIdentityResolver


@pytest.fixture
async def pds() -> AsyncIterator[FakePds]:
    fake = FakePds()
    await fake.start()
    yield fake
    await fake.stop()


def directory(pds_url: str | None) -> StaticIdentityResolver:
    doc: dict[str, Any] = {"id": DID, "alsoKnownAs": [f"at://{HANDLE}"], "service": []}
    if pds_url is not None:
        doc["service"].append(
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds_url}
        )
    return StaticIdentityResolver([doc])


async def test_login_by_did_asks_the_pds_of_the_did(pds: FakePds) -> None:
    async with Client(service=None, resolver=directory(pds.url)) as client:
        with pytest.raises(AuthenticationError):  # this fake PDS knows its account by handle
            await client.login(DID, PASSWORD)
        assert client.service == pds.url
    assert pds.hits["com.atproto.server.createSession"] == 1


async def test_login_finds_the_pds(pds: FakePds) -> None:
    async with Client(service=None, resolver=directory(pds.url)) as client:
        session = await client.login(HANDLE, PASSWORD)
        assert session.did == DID
        assert client.service == pds.url
        assert await client.query("com.atproto.server.getSession") is not None
    assert pds.hits["com.atproto.server.createSession"] == 1


async def test_no_pds_in_the_document_is_an_identity_error(pds: FakePds) -> None:
    async with Client(service=None, resolver=directory(None)) as client:
        with pytest.raises(IdentityError, match="no PDS"):
            await client.login(HANDLE, PASSWORD)
    assert pds.hits["com.atproto.server.createSession"] == 0


async def test_unknown_handle_is_not_found(pds: FakePds) -> None:
    async with Client(service=None, resolver=directory(pds.url)) as client:
        with pytest.raises(IdentityNotFound):
            await client.login("nobody.test", PASSWORD)


async def test_email_needs_a_service_url() -> None:
    async with Client(service=None, resolver=directory(None)) as client:
        with pytest.raises(ValueError, match="email"):
            await client.login("alice@example.com", PASSWORD)


async def test_calls_before_login_say_what_is_missing() -> None:
    async with Client(service=None) as client:
        with pytest.raises(AtprotoError, match="no service URL"):
            await client.query("com.atproto.server.describeServer")


async def test_an_insecure_pds_endpoint_is_refused(pds: FakePds) -> None:
    async with Client(service=None, resolver=directory("http://pds.example.com")) as client:
        with pytest.raises(IdentityError, match="unusable PDS"):
            await client.login(HANDLE, PASSWORD)


async def test_the_default_resolver_is_made_once_and_closed_with_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = Client(service=None)
    resolver = client.resolver
    assert isinstance(resolver, IdentityResolver)
    assert client.resolver is resolver
    closed: list[bool] = []
    real_close = resolver.close

    async def close() -> None:
        closed.append(True)
        await real_close()

    monkeypatch.setattr(resolver, "close", close)
    await client.close()
    assert closed == [True]


async def test_a_given_resolver_is_left_open() -> None:
    shared = directory(None)
    async with Client(resolver=shared) as client:
        assert client.resolver is shared
    assert await shared.resolve_did(DID)  # still usable
