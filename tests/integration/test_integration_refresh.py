"""Token expiry against the real PDS, started with a short access-token lifetime.

The released PDS hard-codes 120 minutes; the harness makes it ``ACCESS_TTL_SECONDS`` (see
``localpds.py``), so these tests wait for real expiry instead of faking clocks.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from integration_helpers import ACCESS_TTL_SECONDS, Account, create_account
from localpds import LocalPds

from atproto_async import AuthenticationError, Client, Session, XrpcError

pytestmark = pytest.mark.integration


async def sleep_past_expiry(session: Session) -> None:
    """Sleep until the session's access token has expired on the server's clock."""
    exp = session.access_expires_at
    assert exp is not None
    assert exp - time.time() <= ACCESS_TTL_SECONDS + 1  # the short lifetime is in force
    await asyncio.sleep(max(0.0, exp - time.time()) + 1.5)


async def test_many_calls_after_expiry_share_one_refresh(
    local_pds: LocalPds, account: Account
) -> None:
    changes: list[Session | None] = []
    async with Client(local_pds.url, on_session_change=changes.append) as client:
        first = await client.login(account.handle, account.password)
        await sleep_past_expiry(first)
        results: list[Any] = await asyncio.gather(
            *(client.query("com.atproto.server.getSession") for _ in range(25))
        )
        assert client.session is not None
        assert client.session.access_jwt != first.access_jwt
    assert all(result["did"] == account.did for result in results)
    assert changes[0] == first
    assert len(changes) == 2  # login, then exactly one refresh for all 25 calls
    assert changes[1] is not None
    assert changes[1].did == account.did


async def test_expired_exported_session_is_refreshed_on_resume(
    local_pds: LocalPds, account: Account
) -> None:
    async with Client(local_pds.url) as first:
        session = await first.login(account.handle, account.password)
        saved = first.export_session()
    await sleep_past_expiry(session)

    # The server itself refuses the stale token...
    async with Client(local_pds.url) as raw:
        with pytest.raises(XrpcError) as caught:
            await raw.query(
                "com.atproto.server.getSession",
                headers={"Authorization": f"Bearer {session.access_jwt}"},
            )
    assert caught.value.status == 400
    assert caught.value.error == "ExpiredToken"

    # ...and a client resumed from it refreshes once and carries on.
    changes: list[Session | None] = []
    async with Client(local_pds.url, session=saved, on_session_change=changes.append) as resumed:
        me: Any = await resumed.query("com.atproto.server.getSession")
        out: Any = await resumed.procedure(
            "com.atproto.repo.createRecord",
            {
                "repo": account.did,
                "collection": "app.bsky.feed.post",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "text": "after a refresh",
                    "createdAt": "2026-01-01T00:00:00.000Z",
                },
            },
        )
    assert me["did"] == account.did
    assert out["uri"].startswith(f"at://{account.did}/")
    assert len(changes) == 1
    assert changes[0] is not None
    assert changes[0].access_jwt != session.access_jwt


async def test_revoked_refresh_token_ends_the_session_cleanly(
    local_pds: LocalPds, account: Account
) -> None:
    changes: list[Session | None] = []
    async with Client(local_pds.url, on_session_change=changes.append) as victim:
        session = await victim.login(account.handle, account.password)
        # Another client holding the same session logs out: the refresh token is revoked.
        async with Client(local_pds.url, session=victim.export_session()) as other:
            await other.logout()
        await sleep_past_expiry(session)

        with pytest.raises(AuthenticationError) as caught:
            await victim.query("com.atproto.server.getSession")
        assert victim.session is None
        # Later calls fail at once for lack of a session; none hangs or retries forever.
        with pytest.raises(XrpcError):
            await victim.procedure(
                "com.atproto.repo.createRecord",
                {
                    "repo": account.did,
                    "collection": "app.bsky.feed.post",
                    "record": {},
                    "validate": False,  # the point is the missing session, not the record
                },
            )
    assert changes == [session, None]
    assert session.refresh_jwt not in str(caught.value)
    assert session.access_jwt not in str(caught.value)


async def test_expired_refresh_token_ends_the_session_cleanly(local_pds: LocalPds) -> None:
    # A second server whose refresh tokens live a few seconds (the shared one keeps 90 days).
    with LocalPds(access_ttl="3s", refresh_ttl="6s") as short_lived:
        account = await create_account(short_lived)
        changes: list[Session | None] = []
        async with Client(short_lived.url, on_session_change=changes.append) as client:
            session = await client.login(account.handle, account.password)
            refresh_exp = session.refresh_expires_at
            assert refresh_exp is not None
            assert refresh_exp - time.time() <= 7
            await asyncio.sleep(max(0.0, refresh_exp - time.time()) + 1.5)
            with pytest.raises(AuthenticationError) as caught:
                await client.query("com.atproto.server.getSession")
            assert client.session is None
    assert changes == [session, None]
    assert caught.value.error in ("ExpiredToken", "InvalidToken")
