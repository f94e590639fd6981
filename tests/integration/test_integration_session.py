"""Accounts and sessions against the real PDS: create, log in, resume, log out."""

from __future__ import annotations

from typing import Any

import pytest
from integration_helpers import Account, create_account
from localpds import LocalPds

from atproto_async import AuthenticationError, Client, Session, XrpcError

pytestmark = pytest.mark.integration


async def test_create_account_then_login(local_pds: LocalPds) -> None:
    account = await create_account(local_pds)
    changes: list[Session | None] = []
    async with Client(local_pds.url, on_session_change=changes.append) as client:
        session = await client.login(account.handle, account.password)
        me: Any = await client.query("com.atproto.server.getSession")
    assert account.did.startswith("did:plc:")
    assert (session.did, session.handle) == (account.did, account.handle)
    assert session.access_jwt and session.refresh_jwt
    assert changes == [session]
    assert (me["did"], me["handle"]) == (account.did, account.handle)
    # The session names the account's PDS (from its DID document): this server.
    assert session.pds_url is not None
    assert session.pds_url.rstrip("/") == local_pds.pds_url


async def test_handle_resolves_to_the_new_did(local_pds: LocalPds, account: Account) -> None:
    async with Client(local_pds.url) as client:
        out: Any = await client.query(
            "com.atproto.identity.resolveHandle", {"handle": account.handle}
        )
    assert out == {"did": account.did}


async def test_wrong_password_is_an_authentication_error(
    local_pds: LocalPds, account: Account
) -> None:
    async with Client(local_pds.url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.login(account.handle, account.password + "-wrong")
        assert client.session is None
    assert caught.value.status == 401
    assert account.password not in str(caught.value)


async def test_duplicate_handle_is_refused(local_pds: LocalPds, account: Account) -> None:
    async with Client(local_pds.url) as client:
        with pytest.raises(XrpcError) as caught:
            await client.procedure(
                "com.atproto.server.createAccount",
                {"handle": account.handle, "email": "other@example.com", "password": "pw-12345"},
            )
    assert caught.value.status == 400
    assert caught.value.error in ("InvalidRequest", "HandleNotAvailable")
    assert "already taken" in (caught.value.message or "")


async def test_exported_session_resumes_in_a_new_client(
    local_pds: LocalPds, account: Account
) -> None:
    async with Client(local_pds.url) as first:
        session = await first.login(account.handle, account.password)
        saved = first.export_session()
    assert account.password not in saved

    async with Client(local_pds.url, session=saved) as resumed:
        assert resumed.session is not None
        assert resumed.session.did == session.did
        me: Any = await resumed.query("com.atproto.server.getSession")
    assert me["did"] == account.did


async def test_logout_ends_the_session_here_and_on_the_server(
    local_pds: LocalPds, account: Account
) -> None:
    changes: list[Session | None] = []
    async with Client(local_pds.url, on_session_change=changes.append) as client:
        session = await client.login(account.handle, account.password)
        await client.logout()
        assert client.session is None
    assert changes == [session, None]

    # The refresh token was revoked by deleteSession: it cannot be refreshed any more.
    async with Client(local_pds.url) as raw:
        with pytest.raises(XrpcError) as caught:
            await raw.procedure(
                "com.atproto.server.refreshSession",
                headers={"Authorization": f"Bearer {session.refresh_jwt}"},
            )
    assert caught.value.status in (400, 401)
    assert caught.value.error in ("ExpiredToken", "InvalidToken")


async def test_generated_endpoint_reads_the_session(client: Any, account: Account) -> None:
    out = await client.com.atproto.server.get_session()
    assert (out.did, out.handle) == (account.did, account.handle)
