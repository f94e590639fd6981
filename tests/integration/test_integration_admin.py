"""Admin endpoints of the real PDS, called with the admin password (HTTP Basic)."""

from __future__ import annotations

from typing import Any

import pytest
from integration_helpers import Account
from localpds import LocalPds

from atproto_async import AuthenticationError, Client, XrpcError

pytestmark = pytest.mark.integration


def repo_ref(did: str) -> dict[str, str]:
    return {"$type": "com.atproto.admin.defs#repoRef", "did": did}


async def test_takedown_and_its_reversal(local_pds: LocalPds, account: Account) -> None:
    async with Client(local_pds.url, admin_password=local_pds.admin_password) as admin:
        info: Any = await admin.query("com.atproto.admin.getAccountInfo", {"did": account.did})
        assert (info["did"], info["handle"]) == (account.did, account.handle)

        out: Any = await admin.procedure(
            "com.atproto.admin.updateSubjectStatus",
            {"subject": repo_ref(account.did), "takedown": {"applied": True, "ref": "case-1"}},
        )
        assert out["takedown"] == {"applied": True, "ref": "case-1"}
        status: Any = await admin.query("com.atproto.admin.getSubjectStatus", {"did": account.did})
        assert status["takedown"]["applied"] is True

        async with Client(local_pds.url) as user:
            with pytest.raises(XrpcError) as caught:
                await user.login(account.handle, account.password)
            assert user.session is None
        assert caught.value.error == "AccountTakedown"

        await admin.procedure(
            "com.atproto.admin.updateSubjectStatus",
            {"subject": repo_ref(account.did), "takedown": {"applied": False}},
        )
        status = await admin.query("com.atproto.admin.getSubjectStatus", {"did": account.did})
        assert status["takedown"]["applied"] is False

    async with Client(local_pds.url) as user:
        session = await user.login(account.handle, account.password)
    assert session.did == account.did


async def test_admin_calls_need_the_password(local_pds: LocalPds, account: Account) -> None:
    async with Client(local_pds.url, admin_password="not-the-password") as wrong:
        with pytest.raises(AuthenticationError) as caught:
            await wrong.query("com.atproto.admin.getAccountInfo", {"did": account.did})
    assert caught.value.status == 401
    assert "not-the-password" not in str(caught.value)
    assert "not-the-password" not in repr(caught.value)
    assert "not-the-password" not in str(caught.value.headers)


async def test_admin_updates_an_email_and_deletes_an_account(
    local_pds: LocalPds, account: Account
) -> None:
    async with Client(local_pds.url, admin_password=local_pds.admin_password) as admin:
        await admin.procedure(
            "com.atproto.admin.updateAccountEmail",
            {"account": account.did, "email": "changed@example.com"},
        )
        info: Any = await admin.query("com.atproto.admin.getAccountInfo", {"did": account.did})
        assert info["email"] == "changed@example.com"

        await admin.procedure("com.atproto.admin.deleteAccount", {"did": account.did})
        with pytest.raises(XrpcError) as caught:
            await admin.query("com.atproto.sync.getLatestCommit", {"did": account.did})
    assert caught.value.status in (400, 404)
    assert caught.value.error == "RepoNotFound"
