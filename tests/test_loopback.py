"""One loopback rule for the XRPC client, stream URLs, the identity resolver and OAuth."""

from __future__ import annotations

import pytest

from atproto_async._loopback import is_loopback_host
from atproto_async.exceptions import OAuthError
from atproto_async.oauth.metadata import check_url
from atproto_async.stream.urls import stream_url
from atproto_async.xrpc.session import check_service_url

LOOPBACK = [
    "localhost",
    "LOCALHOST",
    "localhost.",
    "localhost.localdomain",
    "ip6-localhost",
    "127.0.0.1",
    "127.8.9.10",
    "[::1]",
    "::1",
    "[::ffff:127.0.0.1]",
]
NOT_LOOPBACK = [
    "example.com",
    "localhost.example.com",
    "127.0.0.1.nip.io",
    "sub.localhost",  # RFC 6761, but the system resolver may still ask DNS for it
    "0.0.0.0",
    "[::]",
    "10.0.0.1",
    "[::ffff:10.0.0.1]",
    "",
]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_other_hosts(host: str) -> None:
    assert not is_loopback_host(host)


def _accepts(check: object, url: str) -> bool:
    try:
        check(url)  # type: ignore[operator]
    except (ValueError, OAuthError):
        return False
    return True


# In a URL an IPv6 literal is bracketed: "http://::1:2583" is not a URL at all.
@pytest.mark.parametrize("host", [h for h in LOOPBACK + NOT_LOOPBACK if h and h != "::1"])
def test_every_plain_text_gate_agrees(host: str) -> None:
    # Plain http/ws without allow_insecure: allowed exactly for loopback hosts, everywhere.
    expected = is_loopback_host(host)
    assert _accepts(check_service_url, f"http://{host}:2583") == expected
    assert _accepts(
        lambda u: stream_url(u, "com.atproto.sync.subscribeRepos"), f"ws://{host}:1"
    ) == (expected)
    assert _accepts(lambda u: check_url(u, "PDS URL", allow_insecure=True), f"http://{host}:1") == (
        expected
    )
