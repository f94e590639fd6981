"""Fixtures for the identity tests: one real dnsmasq for the session, serving `DNS_RECORDS`.

dnsmasq comes from ``dnsmasq.py`` beside this file. When it is not installed the DNS tests skip
with the reason; in CI (``CI=true``) that is a failure instead, since CI must run them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dnsmasq import Dnsmasq, DnsmasqUnavailable, TxtRecords, unavailable_reason

from tests.conftest import require_server

ALICE_DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
BOB_DID = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
ATPROTO_COM_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"

#: Enough unrelated records to push the answer past 512 bytes: UDP truncates, TCP is used.
BIG_PADDING = [[f"padding-{i}=" + "x" * 100] for i in range(6)]

#: What dnsmasq serves: name -> TXT records, each record the strings it is made of.
#: Names under ``test`` that are not here (and not in `DNS_HOSTS`) are NXDOMAIN; names outside
#: ``test`` are REFUSED. Add rows as tests need them.
DNS_RECORDS: TxtRecords = {
    # for the identity resolver tests
    "_atproto.alice.test": [[f"did={ALICE_DID}"]],
    "_atproto.mismatch.test": [[f"did={BOB_DID}"]],
    "_atproto.dns-only.test": [["did=did:web:dns-only.test"]],
    "_atproto.two-dids.test": [[f"did={ALICE_DID}"], [f"did={BOB_DID}"]],
    # one record of each kind for the DNS tests
    "_atproto.one.test": [[f"did={ATPROTO_COM_DID}"]],
    "_atproto.split.test": [["did=did:plc:ewvi7nxzy", "oun6zhxrhs64oiz"]],
    "_atproto.mixed.test": [
        ["v=spf1 include:_spf.example.com ~all"],
        [f"did={ATPROTO_COM_DID}"],
        ["note=commas, spaces", " and a second string"],
    ],
    "_atproto.unrelated.test": [["v=spf1 -all"], ["did:plc:no-prefix"]],
    "_atproto.malformed.test": [["did=not a did"]],
    "_atproto.utf8.test": [["note=h\u00e9llo \u2603"]],
    "_atproto.big.test": [*BIG_PADDING, [f"did={ATPROTO_COM_DID}"]],
}

#: Names that exist (an A record) but have no TXT record: NOERROR with an empty answer.
DNS_HOSTS = ("host-only.test",)


@pytest.fixture(scope="session")
def dns_server() -> Iterator[Dnsmasq]:
    """A dnsmasq on 127.0.0.1 serving `DNS_RECORDS`; ``.nameservers`` is ``[(host, port)]``."""
    require_server(unavailable_reason(), "the DNS tests")
    server = Dnsmasq(DNS_RECORDS, host_records=DNS_HOSTS)
    try:
        server.start()
    except DnsmasqUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
