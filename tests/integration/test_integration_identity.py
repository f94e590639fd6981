"""Identity against the official PDS and its PLC directory, with handles served by dnsmasq.

The PDS creates accounts with ``*.test`` handles and registers them with its did:plc directory,
which serves the legacy key form (uncompressed K-256 point). A real dnsmasq answers the
``_atproto.<handle>`` TXT records, as a handle's owner would publish them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from integration_helpers import Account, create_account
from localpds import LocalPds

from atproto_async import Client
from atproto_async.cli import main
from atproto_async.crypto import verify_signature
from atproto_async.identity import IdentityNotFound, IdentityResolver
from tests.conftest import require_server
from tests.identity.dnsmasq import Dnsmasq, unavailable_reason

pytestmark = pytest.mark.integration


@pytest.fixture
async def accounts(local_pds: LocalPds) -> list[Account]:
    return [await create_account(local_pds, "id") for _ in range(2)]


@pytest.fixture
def dns(accounts: list[Account]) -> Iterator[Dnsmasq]:
    """dnsmasq naming the first account's DID; the second account publishes no TXT record."""
    require_server(unavailable_reason(), "the identity integration tests")
    first = accounts[0]
    with Dnsmasq({f"_atproto.{first.handle}": [[f"did={first.did}"]]}) as server:
        yield server


@pytest.fixture
async def resolver(local_pds: LocalPds, dns: Dnsmasq) -> AsyncIterator[IdentityResolver]:
    async with IdentityResolver(
        plc_url=local_pds.plc_url, nameservers=dns.nameservers, allow_insecure=True
    ) as r:
        yield r


async def test_resolve_an_account_of_the_pds(
    resolver: IdentityResolver, accounts: list[Account], local_pds: LocalPds
) -> None:
    account = accounts[0]
    ident = await resolver.resolve(account.handle)
    assert ident.did == account.did
    assert ident.handle == account.handle  # DNS names the DID, the document names the handle
    assert ident.pds == local_pds.pds_url
    assert ident.signing_key is not None
    assert ident.signing_key.startswith("did:key:zQ3s")  # compressed K-256, from the legacy form
    by_did = await resolver.resolve(account.did)
    assert by_did.handle == account.handle
    assert by_did.signing_key == ident.signing_key


async def test_a_handle_without_dns_record_is_unverified(
    resolver: IdentityResolver, accounts: list[Account]
) -> None:
    other = accounts[1]
    ident = await resolver.resolve(other.did)  # the document is real...
    assert ident.claimed_handle == other.handle
    assert ident.handle is None  # ...but nothing on DNS or HTTPS names the DID back
    with pytest.raises(IdentityNotFound):
        await resolver.resolve_handle("nobody-here.test")


async def test_the_service_token_verifies_with_the_resolved_key(
    resolver: IdentityResolver, accounts: list[Account], local_pds: LocalPds
) -> None:
    """The PDS signs service JWTs with the account's #atproto key: the resolved key checks it."""
    account = accounts[0]
    async with Client(local_pds.url) as client:
        await client.login(account.handle, account.password)
        out: Any = await client.query(
            "com.atproto.server.getServiceAuth",
            {"aud": "did:web:feeds.test", "lxm": "app.bsky.feed.getFeedSkeleton"},
        )
    header, payload, signature = out["token"].split(".")
    pad = lambda part: base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # noqa: E731
    assert json.loads(pad(header))["alg"] == "ES256K"
    assert json.loads(pad(payload))["iss"] == account.did
    key = (await resolver.resolve_did(account.did)).signing_key
    assert key is not None
    signed = f"{header}.{payload}".encode()
    assert verify_signature(key, signed, pad(signature), allow_malleable=True)
    assert not verify_signature(key, signed + b"x", pad(signature), allow_malleable=True)


async def test_login_with_a_handle_alone(
    resolver: IdentityResolver, accounts: list[Account], local_pds: LocalPds
) -> None:
    account = accounts[0]
    async with Client(service=None, resolver=resolver) as client:
        session = await client.login(account.handle, account.password)
        assert session.did == account.did
        assert client.service == local_pds.pds_url
        out: Any = await client.query("com.atproto.server.getSession")
    assert out["handle"] == account.handle


async def test_login_with_a_did_alone(
    resolver: IdentityResolver, accounts: list[Account], local_pds: LocalPds
) -> None:
    account = accounts[1]  # no DNS record needed: the DID document names the PDS
    async with Client(service=None, resolver=resolver) as client:
        session = await client.login(account.did, account.password)
    assert session.handle == account.handle


def test_cli_resolve(
    accounts: list[Account], local_pds: LocalPds, dns: Dnsmasq, capsys: pytest.CaptureFixture[str]
) -> None:
    account = accounts[0]
    host, port = dns.nameservers[0]
    argv = ["resolve", account.handle, "--plc", local_pds.plc_url, "--insecure"]
    argv += ["--nameserver", f"{host}:{port}"]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["did"] == account.did
    assert printed["handle"] == account.handle
    assert printed["pds"] == local_pds.pds_url
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "verified both ways" in text
    assert account.did in text
