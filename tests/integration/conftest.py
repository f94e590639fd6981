"""Fixtures for the integration tests: one real PDS for the whole session, fresh accounts per test.

The PDS comes from ``localpds.py`` beside this file (a cached npm install outside the repository,
started on loopback). When node/npm or the install is missing the tests skip with the reason;
in CI (``CI=true``) that is a failure instead, since CI must prove the library end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from integration_helpers import ACCESS_TTL_SECONDS, OAUTH_TOKEN_TTL_SECONDS, Account, create_account
from localpds import LocalPds, PdsUnavailable, unavailable_reason
from tls_helpers import CLIENT_HOST, TestCa

from tests.conftest import require_server


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    """A private CA the PDS trusts, for https servers of the tests (published OAuth clients)."""
    return TestCa(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def local_pds(test_ca: TestCa) -> Iterator[LocalPds]:
    """The running PDS + PLC pair, started once per test session and stopped by PID at the end.

    It trusts `test_ca` and resolves `CLIENT_HOST` to 127.0.0.1, without DNS.
    """
    require_server(unavailable_reason(), "the integration tests")
    pds = LocalPds(
        access_ttl=f"{ACCESS_TTL_SECONDS}s",
        oauth_token_ttl=OAUTH_TOKEN_TTL_SECONDS,
        extra_ca=test_ca.ca_path,
        hosts={CLIENT_HOST: "127.0.0.1"},
    )
    try:
        pds.start()
    except PdsUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield pds
    finally:
        pds.stop()


@pytest.fixture
async def account(local_pds: LocalPds) -> Account:
    """A new account for one test."""
    return await create_account(local_pds)


@pytest.fixture
async def client(local_pds: LocalPds, account: Account) -> AsyncIterator[Any]:
    """A `Client` logged in to ``account`` on the local PDS."""
    from atproto_async import Client

    async with Client(local_pds.url) as c:
        await c.login(account.handle, account.password)
        yield c
