"""IdentityResolver against real servers on loopback: dnsmasq for DNS, aiohttp for HTTP.

The PLC directory, did:web hosts and handle hosts are one `IdentityHost`; handle lookups reach
it through `routed_transport` (every host name -> 127.0.0.1:port), DNS through dnsmasq.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from identity_servers import (
    IdentityHost,
    answer,
    did_document,
    huge,
    routed_transport,
    slow,
    trickle,
)

from atproto_async.crypto import Keypair
from atproto_async.exceptions import TransportError
from atproto_async.identity import (
    DidDocument,
    IdentityError,
    IdentityNotFound,
    IdentityResolver,
    StaticIdentityResolver,
)
from atproto_async.identity.resolver import _refused_address
from atproto_async.xrpc.transport import MockTransport, Request, Response

ALICE = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
BOB = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
CAROL = "did:plc:cccccccccccccccccccccccc"
UNKNOWN = "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"


@pytest.fixture
async def host() -> AsyncIterator[IdentityHost]:
    server = IdentityHost()
    await server.start()
    server.plc[ALICE] = did_document(ALICE, "alice.test", key=Keypair.generate("k256"))
    server.plc[BOB] = did_document(BOB, "bob.test", key=Keypair.generate("p256"))
    yield server
    await server.stop()


@pytest.fixture
async def resolver(host: IdentityHost, dns_server: Any) -> AsyncIterator[IdentityResolver]:
    transport = await routed_transport(host.port)
    async with IdentityResolver(
        plc_url=host.url,
        nameservers=dns_server.nameservers,
        allow_insecure=True,
        timeout=1.0,
        transport=transport,
    ) as r:
        yield r
    await transport.close()


# -- DID -> document -------------------------------------------------------------------------


async def test_did_plc_from_the_directory(resolver: IdentityResolver, host: IdentityHost) -> None:
    doc = await resolver.resolve_did(ALICE)
    assert doc.did == ALICE
    assert doc.handle == "alice.test"
    assert host.requests[-1][1] == f"/{ALICE}"


async def test_unknown_did_is_not_found(resolver: IdentityResolver) -> None:
    with pytest.raises(IdentityNotFound):
        await resolver.resolve_did(UNKNOWN)


async def test_tombstoned_did_is_not_found(resolver: IdentityResolver, host: IdentityHost) -> None:
    host.plc[UNKNOWN] = 410
    with pytest.raises(IdentityNotFound, match="tombstone"):
        await resolver.resolve_did(UNKNOWN)


async def test_did_web_from_its_host(host: IdentityHost, resolver: IdentityResolver) -> None:
    did = f"did:web:localhost%3A{host.port}"
    host.web["localhost"] = did_document(did, pds=None)
    host.web["localhost"]["service"] = [
        {"id": "#bsky_fg", "type": "BskyFeedGenerator", "serviceEndpoint": "https://fg.example"}
    ]
    async with IdentityResolver(allow_insecure=True) as direct:  # the real default transport
        doc = await direct.resolve_did(did)
    assert doc.service("bsky_fg") == "https://fg.example"
    assert ("localhost", "/.well-known/did.json") in host.requests


@pytest.mark.parametrize(
    ("did", "reason"),
    [
        ("did:web:example.com:u:alice", "path"),
        ("did:web:localhost%3A8080", "port"),
        ("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", "unsupported"),
        ("did:plc:short", "24"),
        ("did:plc:" + "a" * 3000, "not a valid DID"),
        ("alice.test", "not a valid DID"),
    ],
)
async def test_dids_refused_before_any_request(did: str, reason: str) -> None:
    transport = MockTransport(lambda request: Response(500))
    async with IdentityResolver(transport=transport) as r:
        with pytest.raises(IdentityError, match=reason) as caught:
            await r.resolve_did(did)
    assert not isinstance(caught.value, IdentityNotFound)
    assert transport.requests == []


HOSTILE = {
    "server error": (answer("oops", status=500), "HTTP 500"),
    "not JSON": (answer("<html>"), "JSON"),
    "deeply nested JSON": (answer("[" * 30000 + "]" * 30000), "JSON"),
    "JSON array": (answer("[]"), "JSON object"),
    "another DID's document": (answer('{"id": "' + BOB + '"}'), "another DID"),
    "id missing": (answer('{"alsoKnownAs": []}'), "not a DID"),
    "10 MB document": (huge, "bytes"),
    "slow answer": (slow, "within"),
    "trickling answer": (trickle, "within"),
}


@pytest.mark.parametrize(("behaviour", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_directory_answers_raise_identity_error(
    resolver: IdentityResolver, host: IdentityHost, behaviour: Any, reason: str
) -> None:
    host.behaviours[(None, f"/{CAROL}")] = behaviour
    async with asyncio.timeout(10):  # a hang guard, not a timing assertion
        with pytest.raises(IdentityError, match=reason) as caught:
            await resolver.resolve_did(CAROL)
    assert not isinstance(caught.value, IdentityNotFound)


async def test_failures_are_cached_then_retried(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    host.behaviours[(None, f"/{CAROL}")] = answer("oops", status=503)
    for _ in range(3):
        with pytest.raises(IdentityError):
            await resolver.resolve_did(CAROL)
    assert host.requests.count(("127.0.0.1", f"/{CAROL}")) == 1


async def test_concurrent_lookups_make_one_request(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    docs = await asyncio.gather(*(resolver.resolve_did(ALICE) for _ in range(20)))
    assert all(doc.did == ALICE for doc in docs)
    assert host.requests.count(("127.0.0.1", f"/{ALICE}")) == 1


async def test_invalidate_fetches_the_rotated_key(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    before = (await resolver.resolve_did(ALICE)).signing_key
    rotated = Keypair.generate("k256")
    host.plc[ALICE] = did_document(ALICE, "alice.test", key=rotated)
    assert (await resolver.resolve_did(ALICE)).signing_key == before  # cached
    resolver.invalidate(ALICE)
    assert (await resolver.resolve_did(ALICE)).signing_key == rotated.did_key()


# -- refused hosts (allow_insecure off) -------------------------------------------------------


def test_insecure_plc_url_is_refused_without_allow_insecure() -> None:
    with pytest.raises(ValueError, match="https"):
        IdentityResolver(plc_url="http://plc.example.com")
    with pytest.raises(ValueError, match="loopback"):
        IdentityResolver(plc_url="https://localhost:2582")


@pytest.mark.parametrize(
    "did",
    ["did:web:10.0.0.1", "did:web:127.0.0.1", "did:web:localhost", "did:web:169.254.169.254"],
)
async def test_private_and_loopback_hosts_are_refused(did: str) -> None:
    transport = MockTransport(lambda request: Response(200, body=b"{}"))
    async with IdentityResolver(transport=transport) as r:
        with pytest.raises(IdentityError, match="allow_insecure"):
            await r.resolve_did(did)
    assert transport.requests == []


async def test_a_redirect_to_a_private_address_is_refused() -> None:
    def handler(request: Request) -> Response:
        return Response(302, {"Location": "https://10.1.2.3/did.json"})

    transport = MockTransport(handler)
    async with IdentityResolver(transport=transport) as r:
        with pytest.raises(IdentityError, match="not a public address"):
            await r.resolve_did("did:web:example.com")
    assert [req.url for req in transport.requests] == ["https://example.com/.well-known/did.json"]


async def test_redirects_are_bounded() -> None:
    transport = MockTransport(lambda request: Response(302, {"Location": "/again"}))
    async with IdentityResolver(transport=transport) as r:
        with pytest.raises(IdentityError, match="redirects"):
            await r.resolve_did("did:web:example.com")
    assert len(transport.requests) == 4


async def test_the_default_transport_refuses_names_resolving_to_loopback() -> None:
    """A host name (not an IP literal) resolving to 127.0.0.1 is refused when connecting."""
    async with IdentityResolver() as r:
        transport = r._transport  # the transport it made: the one guarding every lookup
        with pytest.raises(TransportError, match="loopback address") as caught:
            await transport.send(Request("GET", "https://localhost:1/.well-known/did.json"))
    assert caught.value.sent is False


# -- handle -> DID ------------------------------------------------------------------------------


async def test_handle_from_dns(resolver: IdentityResolver) -> None:
    assert await resolver.resolve_handle("alice.test") == ALICE
    assert await resolver.resolve_handle("ALICE.Test") == ALICE


async def test_handle_from_https_when_dns_has_none(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    host.handles["web-only.test"] = f"{CAROL}\n"
    assert await resolver.resolve_handle("web-only.test") == CAROL
    assert ("web-only.test", "/.well-known/atproto-did") in host.requests


async def test_dns_wins_when_both_answer_and_disagree(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    host.handles["mismatch.test"] = CAROL
    assert await resolver.resolve_handle("mismatch.test") == BOB


async def test_dns_answer_does_not_wait_for_a_hanging_https_host(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    host.behaviours[("alice.test", "/.well-known/atproto-did")] = slow
    async with asyncio.timeout(5):  # the slow host sleeps 30 s
        assert await resolver.resolve_handle("alice.test") == ALICE


async def test_handle_with_no_record_anywhere_is_not_found(resolver: IdentityResolver) -> None:
    with pytest.raises(IdentityNotFound):
        await resolver.resolve_handle("nobody.test")


async def test_duplicate_dns_records_are_not_trusted(resolver: IdentityResolver) -> None:
    with pytest.raises(IdentityError, match="DNS") as caught:
        await resolver.resolve_handle("two-dids.test")
    assert not isinstance(caught.value, IdentityNotFound)


@pytest.mark.parametrize(
    "body", [b"not a did", b"did:plc:" + b"a" * 5000, b"\xff\xfe", b"did:plc:x did:plc:y"]
)
async def test_well_known_garbage_is_an_error(
    resolver: IdentityResolver, host: IdentityHost, body: bytes
) -> None:
    host.handles["garbage.test"] = body
    with pytest.raises(IdentityError, match="HTTPS"):
        await resolver.resolve_handle("garbage.test")


@pytest.mark.parametrize("handle", ["", "alice", "-a.test", "a" * 300 + ".test", "did:plc:x"])
async def test_invalid_handles_are_refused(resolver: IdentityResolver, handle: str) -> None:
    with pytest.raises(IdentityError, match="not a valid handle"):
        await resolver.resolve_handle(handle)


# -- both ways ----------------------------------------------------------------------------------


async def test_resolve_handle_verified_both_ways(resolver: IdentityResolver) -> None:
    ident = await resolver.resolve("alice.test")
    assert (ident.did, ident.handle) == (ALICE, "alice.test")
    assert ident.pds == "https://pds.example.com"
    assert ident.signing_key is not None
    assert ident.signing_key.startswith("did:key:zQ3s")


async def test_resolve_did_verified_both_ways(resolver: IdentityResolver) -> None:
    ident = await resolver.resolve(ALICE)
    assert ident.handle == "alice.test"


async def test_a_handle_claimed_by_another_did_is_not_verified(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    # BOB's document claims bob.test, which DNS does not name; mismatch.test names BOB in DNS
    # but BOB's document does not claim it.
    ident = await resolver.resolve(BOB)
    assert (ident.handle, ident.claimed_handle) == (None, "bob.test")
    ident = await resolver.resolve("mismatch.test")
    assert (ident.did, ident.handle, ident.claimed_handle) == (BOB, None, "bob.test")


async def test_a_document_claiming_a_handle_that_points_elsewhere(
    resolver: IdentityResolver, host: IdentityHost
) -> None:
    host.plc[CAROL] = did_document(CAROL, "alice.test")  # alice.test names ALICE
    ident = await resolver.resolve(CAROL)
    assert ident.handle is None
    assert ident.claimed_handle == "alice.test"


# -- StaticIdentityResolver ----------------------------------------------------------------------


async def test_static_resolver_answers_from_its_documents() -> None:
    key = Keypair.generate("k256")
    doc = DidDocument.from_dict(did_document(ALICE, "alice.test", key=key))
    async with StaticIdentityResolver([doc, did_document(BOB)]) as r:
        assert await r.resolve_handle("Alice.test") == ALICE
        assert await r.resolve_did(ALICE) is doc
        ident = await r.resolve("alice.test")
        assert (ident.did, ident.handle, ident.signing_key) == (ALICE, "alice.test", key.did_key())
        assert (await r.resolve(BOB)).handle is None
        with pytest.raises(IdentityNotFound):
            await r.resolve_did(CAROL)
        with pytest.raises(IdentityNotFound):
            await r.resolve_handle("carol.test")


async def test_nameservers_also_answer_the_https_host_lookups(dns_server: Any) -> None:
    """With nameservers=, the HTTPS host of a handle is looked up there too: a handle whose
    domain does not exist is not found (no system DNS involved)."""
    async with IdentityResolver(
        nameservers=dns_server.nameservers, allow_insecure=True, timeout=2.0
    ) as r:
        with pytest.raises(IdentityNotFound):
            await r.resolve_handle("nobody.test")
        # host-only.test resolves to 127.0.0.1 there; nothing listens on port 80: an error,
        # not "not found" (the host exists).
        did, problem = await r._handle_from_https("host-only.test")
    assert did is None
    assert problem is not None


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "not a public"),
        ("10.0.0.1", "not a public"),
        ("172.16.5.4", "not a public"),
        ("192.168.1.1", "not a public"),
        ("100.64.0.1", "not a public"),  # carrier-grade NAT
        ("169.254.169.254", "not a public"),  # cloud metadata
        ("0.0.0.0", "not a public"),
        ("fc00::1", "not a public"),
        ("fe80::1%eth0", "not a public"),
        ("224.0.0.1", "not a public"),
        ("not-an-ip", "not an IP"),
    ],
)
def test_address_filter_of_the_default_transport(address: str, refused: str | None) -> None:
    """The filter the resolver's own transport applies to every address it would connect to."""
    reason = _refused_address(address)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None
        assert refused in reason


async def test_failing_nameservers_make_https_lookups_an_error_not_a_miss() -> None:
    """A DNS server that never answers: the host lookup of a did:web fails as an error."""
    async with IdentityResolver(nameservers=[("127.0.0.1", 9)], timeout=0.5) as r:
        async with asyncio.timeout(10):  # a hang guard
            with pytest.raises(IdentityError) as caught:
                await r.resolve_did("did:web:example.com")
    assert not isinstance(caught.value, IdentityNotFound)
