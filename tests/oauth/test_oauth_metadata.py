"""Discovery documents and client metadata checked against the atproto OAuth profile."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth_fakes import ISSUER, PDS, resource_metadata, server_metadata

from atproto_async.oauth import OAuthClient, OAuthError
from atproto_async.oauth.metadata import (
    check_client_metadata,
    parse_authorization_server,
    parse_protected_resource,
)

# -- protected resource ------------------------------------------------------------------------


def test_protected_resource_names_its_server() -> None:
    assert parse_protected_resource(resource_metadata(), PDS) == ISSUER


def test_loopback_http_resource_with_allow_insecure() -> None:
    doc = {"resource": "http://127.0.0.1:2583", "authorization_servers": ["http://localhost:2583"]}
    got = parse_protected_resource(doc, "http://127.0.0.1:2583", allow_insecure=True)
    assert got == "http://localhost:2583"


@pytest.mark.parametrize(
    ("document", "resource_url", "allow_insecure", "error"),
    [
        ([], PDS, False, "invalid_metadata"),
        ("text", PDS, False, "invalid_metadata"),
        (None, PDS, False, "invalid_metadata"),
        ({"authorization_servers": [ISSUER]}, PDS, False, "invalid_metadata"),
        (resource_metadata("https://other.example"), PDS, False, "invalid_metadata"),
        (resource_metadata("https://pds.example:8443"), PDS, False, "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": []}, PDS, False, "invalid_metadata"),
        ({"resource": PDS}, PDS, False, "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": [ISSUER, ISSUER]}, PDS, False,
         "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": ISSUER}, PDS, False, "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": [5]}, PDS, False, "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": ["http://auth.example"]}, PDS, False,
         "insecure_url"),
        ({"resource": PDS, "authorization_servers": ["http://auth.example"]}, PDS, True,
         "insecure_url"),
        ({"resource": PDS, "authorization_servers": ["https://u:p@auth.example"]}, PDS, False,
         "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": ["https://auth.example/#f"]}, PDS, False,
         "invalid_metadata"),
        ({"resource": PDS, "authorization_servers": ["ftp://auth.example"]}, PDS, False,
         "invalid_metadata"),
        ({"resource": "http://pds.example", "authorization_servers": [ISSUER]},
         "http://pds.example", True, "insecure_url"),
    ],
)  # fmt: skip
def test_protected_resource_refusals(
    document: Any, resource_url: str, allow_insecure: bool, error: str
) -> None:
    with pytest.raises(OAuthError) as info:
        parse_protected_resource(document, resource_url, allow_insecure=allow_insecure)
    assert info.value.error == error


# -- authorization server ----------------------------------------------------------------------


def test_authorization_server_passes() -> None:
    server = parse_authorization_server(server_metadata(), ISSUER)
    assert server.issuer == ISSUER
    assert server.par_endpoint == f"{ISSUER}/oauth/par"
    assert server.revocation_endpoint == f"{ISSUER}/oauth/revoke"
    assert "atproto" in server.scopes
    assert type(server).from_dict(server.to_dict()) == server


def _without(name: str) -> dict[str, Any]:
    doc = server_metadata()
    del doc[name]
    return doc


_MISSES = {
    "no atproto scope": {"scopes_supported": ["transition:generic"]},
    "no S256": {"code_challenge_methods_supported": ["plain"]},
    "no ES256 DPoP": {"dpop_signing_alg_values_supported": ["RS256"]},
    "no iss parameter": {"authorization_response_iss_parameter_supported": False},
    "PAR not required": {"require_pushed_authorization_requests": False},
    "PAR required as a string": {"require_pushed_authorization_requests": "true"},
    "no client metadata documents": {"client_id_metadata_document_supported": False},
    "no code response": {"response_types_supported": ["token"]},
    "no refresh grant": {"grant_types_supported": ["authorization_code"]},
    "issuer of another server": {"issuer": "https://evil.example"},
    "issuer not a string": {"issuer": ["https://auth.example"]},
    "scopes not a list": {"scopes_supported": "atproto"},
    "http token endpoint": {"token_endpoint": "http://auth.example/oauth/token"},
    "token endpoint with credentials": {"token_endpoint": "https://u:p@auth.example/t"},
    "PAR endpoint with a fragment": {
        "pushed_authorization_request_endpoint": "https://auth.example/par#x"
    },
    "revocation endpoint over http": {"revocation_endpoint": "http://auth.example/revoke"},
    "authorization endpoint not a URL": {"authorization_endpoint": 5},
}


@pytest.mark.parametrize("change", list(_MISSES.values()), ids=list(_MISSES))
def test_authorization_server_refusals(change: dict[str, Any]) -> None:
    with pytest.raises(OAuthError) as info:
        parse_authorization_server({**server_metadata(), **change}, ISSUER)
    assert info.value.error in ("invalid_metadata", "insecure_url")


@pytest.mark.parametrize(
    "name",
    [
        "scopes_supported",
        "code_challenge_methods_supported",
        "dpop_signing_alg_values_supported",
        "authorization_response_iss_parameter_supported",
        "require_pushed_authorization_requests",
        "client_id_metadata_document_supported",
        "authorization_endpoint",
        "token_endpoint",
        "pushed_authorization_request_endpoint",
        "issuer",
    ],
)
def test_authorization_server_missing_member_refused(name: str) -> None:
    with pytest.raises(OAuthError) as info:
        parse_authorization_server(_without(name), ISSUER)
    assert info.value.error == "invalid_metadata"


@pytest.mark.parametrize("document", [[], "x", None, 1])
def test_authorization_server_not_an_object(document: Any) -> None:
    with pytest.raises(OAuthError) as info:
        parse_authorization_server(document, ISSUER)
    assert info.value.error == "invalid_metadata"


def test_http_server_needs_allow_insecure_and_loopback() -> None:
    local = "http://127.0.0.1:2583"
    with pytest.raises(OAuthError) as info:
        parse_authorization_server(server_metadata(local), local)
    assert info.value.error == "insecure_url"
    assert parse_authorization_server(server_metadata(local), local, allow_insecure=True)
    remote = "http://auth.example"
    with pytest.raises(OAuthError) as info:
        parse_authorization_server(server_metadata(remote), remote, allow_insecure=True)
    assert info.value.error == "insecure_url"
    mixed = {**server_metadata(local), "token_endpoint": "http://auth.example/token"}
    with pytest.raises(OAuthError) as info:
        parse_authorization_server(mixed, local, allow_insecure=True)
    assert info.value.error == "insecure_url"


# -- client metadata ---------------------------------------------------------------------------

APP = "https://app.example/client-metadata.json"


def client_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "client_id": APP,
        "redirect_uris": ["https://app.example/callback"],
        "scope": "atproto transition:generic",
        "grant_types": ["authorization_code", "refresh_token"],
        "dpop_bound_access_tokens": True,
        "token_endpoint_auth_method": "none",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_public_client_metadata_passes() -> None:
    meta = check_client_metadata(client_doc())
    assert meta.client_id == APP and meta.auth_method == "none"


def test_confidential_client_metadata_passes() -> None:
    meta = check_client_metadata(
        client_doc(
            token_endpoint_auth_method="private_key_jwt",
            token_endpoint_auth_signing_alg="ES256",
            jwks={"keys": []},
        )
    )
    assert meta.auth_method == "private_key_jwt"


_CLIENT_MISSES = {
    "not dpop bound": {"dpop_bound_access_tokens": None},
    "dpop bound false": {"dpop_bound_access_tokens": False},
    "dpop bound as a string": {"dpop_bound_access_tokens": "true"},
    "no atproto scope": {"scope": "transition:generic"},
    "atproto only as a prefix": {"scope": "atprotox"},
    "no scope": {"scope": None},
    "no redirect uris": {"redirect_uris": []},
    "redirect uris not strings": {"redirect_uris": [1]},
    "no client id": {"client_id": None},
    "http client id": {"client_id": "http://app.example/meta.json"},
    "unknown auth method": {"token_endpoint_auth_method": "client_secret_basic"},
    "no authorization_code grant": {"grant_types": ["refresh_token"]},
    "private_key_jwt without alg": {
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://app.example/jwks",
    },
    "private_key_jwt with RS256": {
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "RS256",
        "jwks_uri": "https://app.example/jwks",
    },
    "private_key_jwt without keys": {
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
    },
    "private_key_jwt with jwks and jwks_uri": {
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": {"keys": []},
        "jwks_uri": "https://app.example/jwks",
    },
    "confidential loopback": {
        "client_id": "http://localhost?scope=atproto",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks_uri": "https://app.example/jwks",
    },
}


@pytest.mark.parametrize("change", list(_CLIENT_MISSES.values()), ids=list(_CLIENT_MISSES))
def test_client_metadata_refusals(change: dict[str, Any]) -> None:
    with pytest.raises(OAuthError) as info:
        check_client_metadata(client_doc(**change))
    assert info.value.error == "invalid_client_metadata"


# -- loopback client ---------------------------------------------------------------------------


def test_loopback_client_id() -> None:
    oauth = OAuthClient.loopback("http://127.0.0.1:8765/callback")
    client_id = oauth.client_id
    split = urlsplit(client_id)
    assert f"{split.scheme}://{split.netloc}{split.path}" == "http://localhost"
    assert parse_qs(split.query) == {
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "scope": ["atproto transition:generic"],
    }
    # What the encoding is today: urlencode writes a space in the scope as '+'.
    assert client_id == (
        "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
        "&scope=atproto+transition%3Ageneric"
    )
    assert oauth.metadata.auth_method == "none"
    assert oauth.metadata.redirect_uris == ("http://127.0.0.1:8765/callback",)


def test_loopback_client_with_ipv6_and_several_uris() -> None:
    oauth = OAuthClient.loopback(["http://[::1]:9000/cb", "http://127.0.0.1/cb"], scope="atproto")
    assert parse_qs(urlsplit(oauth.client_id).query) == {
        "redirect_uri": ["http://[::1]:9000/cb", "http://127.0.0.1/cb"],
        "scope": ["atproto"],
    }


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:8765/callback",
        "https://127.0.0.1:8765/callback",
        "http://10.0.0.1/callback",
        "http://127.0.0.1:8765/callback#x",
        "http://example.com/callback",
        "not a url",
    ],
)
def test_loopback_redirect_refused(uri: str) -> None:
    with pytest.raises(ValueError, match=r"redirect_uri|URL|fragment"):
        OAuthClient.loopback(uri)


def test_loopback_needs_a_redirect_uri() -> None:
    with pytest.raises(ValueError):
        OAuthClient.loopback([])
