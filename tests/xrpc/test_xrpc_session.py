"""Session values: parsing, export and import, JWT expiry, PDS endpoint, URL checks."""

from __future__ import annotations

import pickle

import pytest
from xrpc_fakes import DID, HANDLE, make_jwt, session_json

from atproto_async.xrpc.session import (
    Session,
    check_service_url,
    is_loopback_url,
    jwt_claims,
    pds_endpoint,
)

ACCESS = make_jwt(1_800_000_000, iat=1_799_992_800, tag="access-secret")
REFRESH = make_jwt(1_900_000_000, tag="refresh-secret")


def test_from_response_reads_fields_and_the_pds() -> None:
    data = session_json(ACCESS, REFRESH, "https://pds.example.com/")
    data.update(email="a@example.com", emailConfirmed=True, active=False, status="deactivated")
    session = Session.from_response(data)
    assert (session.did, session.handle, session.pds_url) == (
        DID,
        HANDLE,
        "https://pds.example.com",
    )
    assert (session.email, session.email_confirmed, session.active, session.status) == (
        "a@example.com",
        True,
        False,
        "deactivated",
    )
    assert session.access_expires_at == 1_800_000_000
    assert session.refresh_expires_at == 1_900_000_000


def test_from_response_keeps_the_known_pds_without_a_did_document() -> None:
    session = Session.from_response(session_json(ACCESS, REFRESH), pds_url="https://old")
    assert session.pds_url == "https://old"


@pytest.mark.parametrize("missing", ["did", "handle", "accessJwt", "refreshJwt"])
def test_from_response_requires_the_tokens_and_identity(missing: str) -> None:
    data = session_json(ACCESS, REFRESH)
    del data[missing]
    with pytest.raises(ValueError, match=missing):
        Session.from_response(data)


def test_repr_and_str_hide_the_tokens() -> None:
    session = Session(did=DID, handle=HANDLE, access_jwt=ACCESS, refresh_jwt=REFRESH)
    for text in (repr(session), str(session), repr([session])):
        assert ACCESS not in text
        assert REFRESH not in text
        assert DID in text


def test_export_round_trip() -> None:
    session = Session(
        did=DID, handle=HANDLE, access_jwt=ACCESS, refresh_jwt=REFRESH, pds_url="https://p"
    )
    assert Session.from_json(session.to_json()) == session
    assert pickle.loads(pickle.dumps(session)) == session


@pytest.mark.parametrize("text", ["", "[]", '{"v": 2}', '{"v": 1, "did": "x"}', "nope"])
def test_import_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="saved session"):
        Session.from_json(text)


def test_sessions_are_frozen() -> None:
    session = Session(did=DID, handle=HANDLE, access_jwt=ACCESS, refresh_jwt=REFRESH)
    with pytest.raises(AttributeError):
        session.handle = "x"  # type: ignore[misc]


@pytest.mark.parametrize("token", ["opaque", "a.b", "a.!!!.c", "a.bnVsbA.c", "a.e30.c"])
def test_unreadable_jwts_have_no_expiry(token: str) -> None:
    session = Session(did=DID, handle=HANDLE, access_jwt=token, refresh_jwt=token)
    assert session.access_expires_at is None


def test_jwt_claims_reads_the_payload() -> None:
    claims = jwt_claims(ACCESS)
    assert claims is not None
    assert claims["exp"] == 1_800_000_000
    assert jwt_claims("x.y") is None


def test_pds_endpoint() -> None:
    doc = {
        "service": [
            {"id": "#atproto_labeler", "serviceEndpoint": "https://lab"},
            {"id": f"{DID}#atproto_pds", "serviceEndpoint": "https://pds/"},
        ]
    }
    assert pds_endpoint(doc) == "https://pds"
    assert pds_endpoint({"service": [{"id": "#atproto_pds", "serviceEndpoint": "ftp://x"}]}) is None
    assert pds_endpoint({"service": "nope"}) is None
    assert pds_endpoint({}) is None


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:1", True),
        ("http://127.0.0.1", True),
        ("http://127.5.0.1:9", True),
        ("http://[::1]:2583", True),
        ("http://localhost.example.com", False),
        ("http://10.0.0.1", False),
        ("https://bsky.social", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_check_service_url() -> None:
    assert check_service_url("https://bsky.social/") == "https://bsky.social"
    assert check_service_url("http://127.0.0.1:2583") == "http://127.0.0.1:2583"
    assert check_service_url("http://pds.lan", allow_insecure=True) == "http://pds.lan"
    for bad in ("http://pds.lan", "bsky.social", "https://", "https://x?y=1", "wss://x"):
        with pytest.raises(ValueError):
            check_service_url(bad)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # urllib reads the host as 127.0.0.1 (loopback: plain http allowed), yarl refuses it
        ("http://example.invalid\\@127.0.0.1:9", "backslash"),
        ("http://127.0.0.1:65536", "Port out of range"),
    ],
)
def test_a_url_the_transport_cannot_parse_is_a_clear_value_error(url: str, reason: str) -> None:
    for allow_insecure in (False, True):
        with pytest.raises(ValueError, match="service URL must be http") as caught:
            check_service_url(url, allow_insecure=allow_insecure)
        assert reason in str(caught.value)
        assert repr(url) in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://user@127.0.0.1:9", "https://user:pw@pds.example.com", "http://:pw@localhost"]
)
def test_a_service_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="user name or password") as caught:
        check_service_url(url)
    assert "pw" not in str(caught.value)  # the password is not repeated in the error


@pytest.mark.parametrize("url", ["https://pds.example.com?", "https://pds.example.com/#"])
def test_an_empty_query_or_fragment_is_refused(url: str) -> None:
    """The method path is appended to the service URL: a ``?`` would swallow it."""
    with pytest.raises(ValueError, match="query or fragment"):
        check_service_url(url)


def test_is_loopback_url_reads_the_host_as_the_transport_does() -> None:
    assert is_loopback_url("http://127.0.0.1:9") is True
    assert is_loopback_url("http://example.invalid\\@127.0.0.1:9") is False
