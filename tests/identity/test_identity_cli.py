"""``atproto-async resolve``: a real PLC directory and dnsmasq on loopback, the real command."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from identity_servers import IdentityHost, did_document

from atproto_async.cli import main
from atproto_async.crypto import Keypair

ALICE = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
BOB = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
KEY = Keypair.generate("k256")


@pytest.fixture
async def host() -> AsyncIterator[IdentityHost]:
    server = IdentityHost()
    await server.start()
    server.plc[ALICE] = did_document(ALICE, "alice.test", key=KEY, pds="https://pds.example")
    server.plc[BOB] = did_document(BOB, "bob.test")
    yield server
    await server.stop()


async def run(host: IdentityHost, dns_server: Any, *args: str) -> int:
    """Run the command in a worker thread while this loop keeps serving ``host``."""
    address, port = dns_server.nameservers[0]
    argv = ["resolve", *args, "--plc", host.url, "--insecure", "--nameserver", f"{address}:{port}"]
    return await asyncio.to_thread(main, argv)


async def test_resolve_prints_the_verified_identity(
    host: IdentityHost, dns_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(host, dns_server, "alice.test") == 0
    out = capsys.readouterr().out
    assert f"did:         {ALICE}" in out
    assert "handle:      alice.test (verified both ways)" in out
    assert "pds:         https://pds.example" in out
    assert f"signing key: {KEY.did_key()}" in out


async def test_resolve_json_marks_an_unverified_handle(
    host: IdentityHost, dns_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(host, dns_server, BOB, "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "did": BOB,
        "handle": None,
        "claimedHandle": "bob.test",
        "pds": "https://pds.example.com",
        "signingKey": None,
    }
    assert await run(host, dns_server, BOB) == 0
    assert "bob.test (UNVERIFIED" in capsys.readouterr().out


async def test_resolve_unknown_did_is_an_error_message(
    host: IdentityHost, dns_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(host, dns_server, "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz") == 1
    err = capsys.readouterr().err
    assert err.startswith("atproto-async: error: did:plc:zzzzzzzzzzzzzzzzzzzzzzzz")
    assert "does not exist" in err


def test_resolve_bad_nameserver_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "alice.test", "--nameserver", "nowhere"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
