"""TXT lookups through a real dnsmasq, hostile UDP servers, and picking the ``did=`` record.

Spec: https://atproto.com/specs/handle#handle-resolution
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.resolver
import dns.rrset
import pytest

from atproto_async.exceptions import IdentityError
from atproto_async.identity._dns import DnsResolver, did_from_txt, lookup_txt

ALICE_DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
BOB_DID = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
ATPROTO_COM_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
HANG_GUARD = 10.0  # seconds; only so that a bug fails the test instead of hanging it
SHORT = 0.5  # the lookup timeout where the server never answers

Reply = Callable[[bytes], bytes | None]


# -- a scripted UDP "DNS server" for what dnsmasq will not do -----------------------------------


class ScriptedDns(asyncio.DatagramProtocol):
    """Answers each datagram with ``reply(datagram)``; None means silence."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.queries = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        answer = self.reply(data)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


@contextlib.asynccontextmanager
async def scripted(reply: Reply) -> AsyncIterator[tuple[ScriptedDns, list[tuple[str, int]]]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: ScriptedDns(reply), local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol, [("127.0.0.1", transport.get_extra_info("sockname")[1])]
    finally:
        transport.close()


def silence(query: bytes) -> None:
    return None


def garbage(query: bytes) -> bytes:
    return b"\xde\xad\xbe\xef not DNS at all"


def garbage_with_the_query_id(query: bytes) -> bytes:
    # a response header (same ID, QR set) claiming records that are not there
    return query[:2] + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00" + b"\xff" * 7


def servfail(query: bytes) -> bytes:
    response = dns.message.make_response(dns.message.from_wire(query))
    response.set_rcode(dns.rcode.SERVFAIL)
    return response.to_wire()


def txt_reply(*records: tuple[bytes, ...]) -> Reply:
    """Answer every query with these TXT records (raw bytes, so not necessarily UTF-8)."""

    def reply(query: bytes) -> bytes:
        request = dns.message.from_wire(query)
        response = dns.message.make_response(request)
        rdatas = [
            dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)
            for strings in records
        ]
        response.answer.append(dns.rrset.from_rdata_list(request.question[0].name, 60, rdatas))
        return response.to_wire()

    return reply


def unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def failing_lookup(name: str, nameservers: Any, budget: float = 2.0) -> IdentityError:
    """Run a lookup that must fail; return its error, checked to be exactly `IdentityError`."""
    with pytest.raises(IdentityError) as caught:
        async with asyncio.timeout(HANG_GUARD):
            await lookup_txt(name, nameservers=nameservers, timeout=budget)
    error = caught.value
    assert type(error) is IdentityError
    assert error.identifier == name
    assert not type(error).__module__.startswith("dns")
    return error


# -- records served by dnsmasq ------------------------------------------------------------------


async def test_one_did_record(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.one.test", nameservers=dns_server.nameservers)
    assert records == [f"did={ATPROTO_COM_DID}"]
    assert did_from_txt(records, "one.test") == ATPROTO_COM_DID


async def test_strings_of_one_record_are_joined(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.split.test", nameservers=dns_server.nameservers)
    assert records == [f"did={ATPROTO_COM_DID}"]


async def test_two_did_records_are_both_returned_and_refused(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.two-dids.test", nameservers=dns_server.nameservers)
    assert sorted(records) == [f"did={ALICE_DID}", f"did={BOB_DID}"]
    with pytest.raises(IdentityError, match="2 did= TXT records") as caught:
        did_from_txt(records, "two-dids.test")
    assert type(caught.value) is IdentityError
    assert caught.value.identifier == "two-dids.test"


async def test_unrelated_records_are_ignored(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.mixed.test", nameservers=dns_server.nameservers)
    assert sorted(records) == sorted(
        [
            "v=spf1 include:_spf.example.com ~all",
            f"did={ATPROTO_COM_DID}",
            "note=commas, spaces and a second string",
        ]
    )
    assert did_from_txt(records, "mixed.test") == ATPROTO_COM_DID


async def test_only_unrelated_records_name_no_did(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.unrelated.test", nameservers=dns_server.nameservers)
    assert sorted(records) == ["did:plc:no-prefix", "v=spf1 -all"]
    assert did_from_txt(records, "unrelated.test") is None


async def test_malformed_did_record_is_an_error(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.malformed.test", nameservers=dns_server.nameservers)
    assert records == ["did=not a did"]
    with pytest.raises(IdentityError, match="not hold a valid DID") as caught:
        did_from_txt(records, "malformed.test")
    assert type(caught.value) is IdentityError


async def test_utf8_records_are_decoded(dns_server: Any) -> None:
    records = await lookup_txt("_atproto.utf8.test", nameservers=dns_server.nameservers)
    assert records == ["note=h\u00e9llo \u2603"]


async def test_large_answer_is_fetched_over_tcp(dns_server: Any) -> None:
    """Over 512 bytes: dnsmasq truncates the UDP answer and the lookup retries over TCP."""
    records = await lookup_txt("_atproto.big.test", nameservers=dns_server.nameservers)
    assert sum(len(r) for r in records) > 512
    assert sorted(records) == sorted("".join(r) for r in dns_server.records["_atproto.big.test"])
    assert f"did={ATPROTO_COM_DID}" in records
    assert did_from_txt(records, "big.test") == ATPROTO_COM_DID


@pytest.mark.parametrize("name", ["_atproto.one.test.", "_ATPROTO.One.TEST"])
async def test_final_dot_and_case_do_not_matter(dns_server: Any, name: str) -> None:
    assert await lookup_txt(name, nameservers=dns_server.nameservers) == [f"did={ATPROTO_COM_DID}"]


async def test_every_table_row_is_served(dns_server: Any) -> None:
    resolver = DnsResolver(dns_server.nameservers, timeout=2.0)
    for name, records in dns_server.records.items():
        assert sorted(await resolver.txt(name)) == sorted("".join(r) for r in records), name


async def test_nxdomain_is_no_records(dns_server: Any) -> None:
    assert await lookup_txt("_atproto.nobody.test", nameservers=dns_server.nameservers) == []


async def test_name_without_txt_is_no_records(dns_server: Any) -> None:
    assert await lookup_txt("host-only.test", nameservers=dns_server.nameservers) == []


async def test_refused_answer_is_an_error(dns_server: Any) -> None:
    """dnsmasq refuses names outside its ``test`` domain (it has no upstream)."""
    error = await failing_lookup("_atproto.alice.example", dns_server.nameservers)
    assert "REFUSED" in error.reason


async def test_one_resolver_serves_concurrent_lookups(dns_server: Any) -> None:
    """The first lookups race to build the dnspython resolver; all of them get answers."""
    resolver = DnsResolver(dns_server.nameservers, timeout=2.0)
    names = ["_atproto.alice.test", "_atproto.one.test", "_atproto.nobody.test"] * 5
    async with asyncio.timeout(HANG_GUARD):
        results = await asyncio.gather(*(resolver.txt(name) for name in names))
    assert results[:3] == [[f"did={ALICE_DID}"], [f"did={ATPROTO_COM_DID}"], []]
    assert results == results[:3] * 5


async def test_a_silent_server_before_a_live_one_is_skipped(dns_server: Any) -> None:
    """Each server gets at most half the budget, so the second one still answers in time."""
    nameservers = [("127.0.0.1", unused_udp_port()), *dns_server.nameservers]
    records = await lookup_txt("_atproto.alice.test", nameservers=nameservers, timeout=2.0)
    assert records == [f"did={ALICE_DID}"]


# -- names that are not looked up ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "_atproto..test",
        ".alice.test",
        "_atproto.alice.test..",
        "a" * 64 + ".test",
        "a." * 125 + "test",  # 254 characters
        "_atproto.bad name.test",
        "_atproto.h\u00e9llo.test",
        "_atproto.a\\.b.test",
        "*.test",
        "_atproto.alice.test\x00",
    ],
)
async def test_invalid_names_are_no_records_without_a_query(name: str) -> None:
    async with scripted(silence) as (server, nameservers):
        assert await lookup_txt(name, nameservers=nameservers, timeout=SHORT) == []
    assert server.queries == 0


async def test_longest_name_is_looked_up() -> None:
    name = "a." * 124 + "tests"  # 253 characters
    async with scripted(txt_reply((b"ok",))) as (server, nameservers):
        assert await lookup_txt(name, nameservers=nameservers) == ["ok"]
    assert server.queries == 1


# -- servers that fail -------------------------------------------------------------------------


async def test_silent_server_times_out() -> None:
    async with scripted(silence) as (server, nameservers):
        error = await failing_lookup("_atproto.alice.test", nameservers, budget=SHORT)
    assert "no DNS answer within 0.5 s" in error.reason
    assert server.queries >= 1


@pytest.mark.parametrize("reply", [garbage, garbage_with_the_query_id])
async def test_garbage_answer_is_an_error(reply: Reply) -> None:
    async with scripted(reply) as (server, nameservers):
        await failing_lookup("_atproto.alice.test", nameservers, budget=SHORT)
    assert server.queries >= 1


async def test_servfail_is_an_error() -> None:
    async with scripted(servfail) as (_, nameservers):
        error = await failing_lookup("_atproto.alice.test", nameservers)
    assert "SERVFAIL" in error.reason


async def test_nothing_listening_is_a_timeout() -> None:
    """dnspython's UDP sockets are not connected, so the ICMP refusal is not seen: it times out."""
    error = await failing_lookup("_atproto.alice.test", [("127.0.0.1", unused_udp_port())], SHORT)
    assert "no DNS answer within 0.5 s" in error.reason


async def test_records_that_are_not_utf8_are_left_out() -> None:
    reply = txt_reply((b"\xff\xfe",), (b"did=", ATPROTO_COM_DID.encode()), (b"ok \xc3", b"\xa9"))
    async with scripted(reply) as (_, nameservers):
        records = await lookup_txt("_atproto.alice.test", nameservers=nameservers)
    assert sorted(records) == [f"did={ATPROTO_COM_DID}", "ok \u00e9"]


async def test_missing_system_configuration_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_configuration(self: object, f: object) -> None:
        raise dns.resolver.NoResolverConfiguration

    monkeypatch.setattr(dns.resolver.BaseResolver, "read_resolv_conf", no_configuration)
    error = await failing_lookup("_atproto.alice.test", None)
    assert "no system DNS configuration" in error.reason


# -- construction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nameservers", "timeout"),
    [
        ([], 1.0),
        ([("localhost", 53)], 1.0),
        ([("127.0.0.1",)], 1.0),
        ([("127.0.0.1", 0)], 1.0),
        ([("127.0.0.1", 70000)], 1.0),
        ([("127.0.0.1", "53")], 1.0),
        (None, 0),
        (None, -1.0),
    ],
)
def test_bad_arguments_are_value_errors(nameservers: Any, timeout: float) -> None:
    with pytest.raises(ValueError):
        DnsResolver(nameservers, timeout=timeout)


def test_resolver_shows_its_configuration() -> None:
    resolver = DnsResolver([("::1", 5353)], timeout=1.5)
    assert resolver.nameservers == (("::1", 5353),)
    assert resolver.timeout == 1.5
    assert repr(resolver) == "DnsResolver(nameservers=[('::1', 5353)], timeout=1.5)"
    assert DnsResolver().nameservers is None


def test_importing_the_module_does_not_import_dnspython() -> None:
    code = (
        "import sys, atproto_async.identity._dns; "
        "sys.exit('dns' in sys.modules or 'dns.resolver' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- did_from_txt --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "records",
    [[], ["v=spf1 -all"], ["DID=did:plc:x"], [" did=did:plc:x"], ["did:plc:x"], [""]],
)
def test_no_did_record(records: list[str]) -> None:
    assert did_from_txt(records, "h.test") is None


@pytest.mark.parametrize(
    ("records", "did"),
    [
        ([f"did={ALICE_DID}"], ALICE_DID),
        (["v=spf1 -all", f"did={BOB_DID}", "x=y"], BOB_DID),
        (["did=did:web:example.com"], "did:web:example.com"),
    ],
)
def test_one_did_record_is_picked(records: list[str], did: str) -> None:
    assert did_from_txt(records, "h.test") == did


@pytest.mark.parametrize(
    "records",
    [
        [f"did={ALICE_DID}", f"did={BOB_DID}"],
        [f"did={ALICE_DID}", f"did={ALICE_DID}"],  # the spec says exactly one, even if equal
        [f"did={ALICE_DID}", "did=junk", "v=spf1 -all"],
    ],
)
def test_several_did_records_are_an_error(records: list[str]) -> None:
    with pytest.raises(IdentityError, match="did= TXT records, the spec allows one") as caught:
        did_from_txt(records, "h.test")
    assert type(caught.value) is IdentityError
    assert caught.value.identifier == "h.test"


@pytest.mark.parametrize(
    "value",
    ["", "not a did", " did:plc:x", "did:plc:x ", "did:plc:x\n", "DID:plc:x", "did:plc", "x" * 300],
)
def test_malformed_did_record_is_an_error_not_none(value: str) -> None:
    with pytest.raises(IdentityError, match="does not hold a valid DID") as caught:
        did_from_txt([f"did={value}"], "h.test")
    assert type(caught.value) is IdentityError
    assert caught.value.identifier == "h.test"
    assert len(caught.value.reason) < 200  # a long record is shortened in the message


# -- host addresses (the identity resolver's HTTP lookups use them) -----------------------------


async def test_addresses_of_a_host_from_the_given_nameservers(dns_server: Any) -> None:
    resolver = DnsResolver(dns_server.nameservers, timeout=HANG_GUARD)
    assert await resolver.addresses("host-only.test") == ["127.0.0.1"]
    assert await resolver.addresses("no-such-host.test") == []
    assert await resolver.addresses("not a name") == []
