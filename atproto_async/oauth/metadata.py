"""Reading and checking OAuth metadata documents: JSON in, checked values out (sans-I/O).

Discovery goes account -> PDS -> its protected-resource metadata
(``/.well-known/oauth-protected-resource``), which names one authorization server -> that
server's metadata (``/.well-known/oauth-authorization-server``). Each document comes from a
server that may be hostile or mistaken, so each is checked before anything is sent on its word:
the ``resource`` and ``issuer`` must be the URL they were fetched from, every endpoint must be
``https://`` (``allow_insecure`` permits loopback ``http://`` for development), and the server
must support what the atproto profile requires (PAR, PKCE S256, DPoP with ES256, the ``iss``
parameter, client metadata documents, the ``atproto`` scope).

Client metadata (what a published client serves at its ``client_id`` URL) is checked here too.

Spec: https://atproto.com/specs/oauth (RFC 8414, RFC 9728, RFC 7591)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import attrs
from yarl import URL

from atproto_async._loopback import is_loopback_host
from atproto_async.exceptions import OAuthError

__all__ = [
    "AuthorizationServer",
    "ClientMetadata",
    "check_client_metadata",
    "check_url",
    "loopback_client_id",
    "parse_authorization_server",
    "parse_protected_resource",
]

#: The longest metadata document read (the reference server's is about 2 KiB).
MAX_METADATA_SIZE = 64 * 1024


def check_url(url: object, what: str, *, allow_insecure: bool = False) -> str:
    """Check that ``url`` is an absolute ``https://`` URL without credentials or fragment.

    ``allow_insecure`` permits ``http://`` to a loopback host (a development PDS), nothing
    else: tokens never cross a network in clear text.

    Raises:
        OAuthError: ``invalid_metadata`` (not a URL) or ``insecure_url``.
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise OAuthError("invalid_metadata", f"{what} is not a URL")
    try:
        parsed = URL(url)
        host = parsed.host
    except (ValueError, TypeError):
        raise OAuthError("invalid_metadata", f"{what} is not a URL: {url[:200]!r}") from None
    if not parsed.is_absolute() or not host or parsed.scheme not in ("https", "http"):
        raise OAuthError("invalid_metadata", f"{what} is not an http(s) URL: {url[:200]!r}")
    if parsed.raw_user is not None or parsed.raw_password is not None or parsed.fragment:
        raise OAuthError("invalid_metadata", f"{what} carries credentials or a fragment")
    if parsed.scheme == "http" and not (allow_insecure and is_loopback_host(host)):
        raise OAuthError(
            "insecure_url",
            f"{what} must be https:// (allow_insecure permits http:// to loopback): {url[:200]}",
        )
    return url


def _origin(url: str) -> str:
    return str(URL(url).origin())


def _strings(document: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = document.get(name, ())
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise OAuthError("invalid_metadata", f"{name} must be a list of strings")
    return tuple(value)


@attrs.frozen(kw_only=True)
class AuthorizationServer:
    """The checked metadata of an authorization server (RFC 8414, atproto profile).

    Attributes:
        issuer: The server's identity, e.g. ``https://bsky.social``; tokens and callbacks
            must name it.
        authorization_endpoint: Where the person is sent to sign in.
        token_endpoint: Code and refresh-token exchange.
        par_endpoint: Pushed authorization requests.
        revocation_endpoint: Token revocation, or None.
        scopes: The scopes it supports.
        auth_methods: Its ``token_endpoint_auth_methods_supported``.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    par_endpoint: str
    revocation_endpoint: str | None = None
    scopes: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields, for a session store."""
        return attrs.asdict(
            self, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthorizationServer:
        """Read what `to_dict` wrote.

        Raises:
            KeyError: A required field is missing.
            ValueError: An endpoint or the issuer is not a string.
        """
        names = ("issuer", "authorization_endpoint", "token_endpoint", "par_endpoint")
        if not all(isinstance(data[name], str) for name in names) or not isinstance(
            data.get("revocation_endpoint", ""), str | None
        ):
            raise ValueError("the issuer and endpoints are strings")
        return cls(
            issuer=data["issuer"],
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            par_endpoint=data["par_endpoint"],
            revocation_endpoint=data.get("revocation_endpoint"),
            scopes=tuple(data.get("scopes", ())),
            auth_methods=tuple(data.get("auth_methods", ())),
        )


def parse_protected_resource(
    document: object, resource_url: str, *, allow_insecure: bool = False
) -> str:
    """Check a PDS's protected-resource metadata and return its authorization server URL.

    Args:
        document: The parsed JSON of ``<resource_url>/.well-known/oauth-protected-resource``.
        resource_url: The PDS URL it was fetched from.

    Raises:
        OAuthError: ``invalid_metadata``: not an object, ``resource`` is not the PDS, or not
            exactly one authorization server; ``insecure_url``.
    """
    if not isinstance(document, Mapping):
        raise OAuthError("invalid_metadata", "protected resource metadata is not a JSON object")
    resource = document.get("resource")
    if not isinstance(resource, str):
        raise OAuthError(
            "invalid_metadata", f"protected resource metadata of {resource_url} has no resource"
        )
    check_url(resource, "resource", allow_insecure=allow_insecure)
    if _origin(resource) != _origin(resource_url):
        raise OAuthError(
            "invalid_metadata",
            f"protected resource metadata of {resource_url} names another resource "
            f"({resource[:200]!r})",
        )
    servers = _strings(document, "authorization_servers")
    if len(servers) != 1:
        raise OAuthError(
            "invalid_metadata",
            f"{resource_url} must name exactly one authorization server, not {len(servers)}",
        )
    return check_url(servers[0], "authorization server", allow_insecure=allow_insecure)


def parse_authorization_server(
    document: object, issuer_url: str, *, allow_insecure: bool = False
) -> AuthorizationServer:
    """Check authorization server metadata against the atproto profile.

    Args:
        document: The parsed JSON of ``<issuer_url>/.well-known/oauth-authorization-server``.
        issuer_url: The URL the protected resource named (the document's ``issuer`` must be
            exactly it: RFC 8414 section 3.3).

    Raises:
        OAuthError: ``invalid_metadata`` naming the first requirement missed, or
            ``insecure_url``.
    """
    if not isinstance(document, Mapping):
        raise OAuthError("invalid_metadata", "authorization server metadata is not a JSON object")
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or issuer != issuer_url:  # exactly (RFC 8414 section 3.3)
        raise OAuthError(
            "invalid_metadata",
            f"the authorization server at {issuer_url} claims another issuer "
            f"({str(issuer)[:200]!r})",
        )
    check_url(issuer, "issuer", allow_insecure=allow_insecure)

    def endpoint(name: str, required: bool = True) -> str | None:
        value = document.get(name)
        if value is None and not required:
            return None
        return check_url(value, name, allow_insecure=allow_insecure)

    def require(condition: bool, what: str) -> None:
        if not condition:
            raise OAuthError("invalid_metadata", f"the authorization server {issuer}: {what}")

    scopes = _strings(document, "scopes_supported")
    auth_methods = _strings(document, "token_endpoint_auth_methods_supported")
    require("atproto" in scopes, "does not support the 'atproto' scope")
    require("code" in _strings(document, "response_types_supported"), "no 'code' response type")
    grants = _strings(document, "grant_types_supported")
    require(
        "authorization_code" in grants and "refresh_token" in grants,
        "must support the authorization_code and refresh_token grants",
    )
    require("S256" in _strings(document, "code_challenge_methods_supported"), "no PKCE S256")
    require(
        "ES256" in _strings(document, "dpop_signing_alg_values_supported"), "no DPoP with ES256"
    )
    require(
        document.get("authorization_response_iss_parameter_supported") is True,
        "does not send the 'iss' parameter in callbacks",
    )
    require(
        document.get("require_pushed_authorization_requests") is True,
        "does not require pushed authorization requests",
    )
    require(
        document.get("client_id_metadata_document_supported") is True,
        "does not support client metadata documents",
    )
    authorization = endpoint("authorization_endpoint")
    token = endpoint("token_endpoint")
    par = endpoint("pushed_authorization_request_endpoint")
    assert authorization is not None and token is not None and par is not None
    return AuthorizationServer(
        issuer=issuer,
        authorization_endpoint=authorization,
        token_endpoint=token,
        par_endpoint=par,
        revocation_endpoint=endpoint("revocation_endpoint", required=False),
        scopes=scopes,
        auth_methods=auth_methods,
    )


@attrs.frozen(kw_only=True)
class ClientMetadata:
    """The checked metadata of this client (what its ``client_id`` URL serves).

    Attributes:
        client_id: The client's identity: the URL of this document, or a loopback
            ``http://localhost?...`` id for development.
        redirect_uris: Where the person may be sent back to.
        scope: The scopes asked for (always including ``atproto``).
        auth_method: ``"none"`` (public client) or ``"private_key_jwt"`` (confidential client
            holding keys).
        raw: The document as given.
    """

    client_id: str
    redirect_uris: tuple[str, ...]
    scope: str
    auth_method: str
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)


def check_client_metadata(document: Mapping[str, Any]) -> ClientMetadata:
    """Check a client metadata document against the atproto profile.

    Raises:
        OAuthError: ``invalid_client_metadata`` naming the first requirement missed.
    """

    def require(condition: bool, what: str) -> None:
        if not condition:
            raise OAuthError("invalid_client_metadata", what)

    require(isinstance(document, Mapping), "client metadata is a JSON object")
    client_id = document.get("client_id")
    require(isinstance(client_id, str) and bool(client_id), "client_id is required")
    assert isinstance(client_id, str)
    loopback = client_id == "http://localhost" or client_id.startswith("http://localhost?")
    if not loopback:
        try:
            check_url(client_id, "client_id")
        except OAuthError as exc:
            raise OAuthError("invalid_client_metadata", exc.description) from None
    uris = document.get("redirect_uris")
    require(
        isinstance(uris, list) and bool(uris) and all(isinstance(u, str) for u in uris),
        "redirect_uris is a non-empty list of URLs",
    )
    scope = document.get("scope")
    require(
        isinstance(scope, str) and "atproto" in scope.split(" "), "scope must include 'atproto'"
    )
    require(
        document.get("dpop_bound_access_tokens") is True, "dpop_bound_access_tokens must be true"
    )
    grants = document.get("grant_types", ["authorization_code"])
    require(
        isinstance(grants, list) and "authorization_code" in grants,
        "grant_types must include authorization_code",
    )
    method = document.get("token_endpoint_auth_method", "none")
    require(
        method in ("none", "private_key_jwt"),
        "token_endpoint_auth_method is 'none' or 'private_key_jwt'",
    )
    if method == "private_key_jwt":
        require(not loopback, "a loopback client is a public client (auth method 'none')")
        require(
            document.get("token_endpoint_auth_signing_alg") == "ES256",
            "token_endpoint_auth_signing_alg must be ES256",
        )
        require(
            ("jwks" in document) != ("jwks_uri" in document),
            "a confidential client publishes its keys in jwks or jwks_uri (one of them)",
        )
    assert isinstance(uris, list) and isinstance(scope, str) and isinstance(method, str)
    return ClientMetadata(
        client_id=client_id,
        redirect_uris=tuple(uris),
        scope=scope,
        auth_method=method,
        raw=dict(document),
    )


def loopback_client_id(redirect_uris: Sequence[str], scope: str) -> str:
    """The ``client_id`` of a loopback development client: ``http://localhost?...``.

    The redirect URIs and scope travel in the id itself (there is no document to fetch).
    """
    query = [("redirect_uri", uri) for uri in redirect_uris] + [("scope", scope)]
    return "http://localhost?" + urlencode(query)


def check_loopback_redirect(uri: str) -> str:
    """Check a loopback client's redirect URI: ``http://127.0.0.1`` or ``http://[::1]``.

    Not ``localhost``: the spec asks for the IP literal, so that no other program can answer
    for the name.

    Raises:
        ValueError: Anything else.
    """
    try:
        parsed = URL(uri)
    except (ValueError, TypeError):
        raise ValueError(f"not a URL: {uri!r}") from None
    if parsed.scheme != "http" or parsed.raw_host not in ("127.0.0.1", "[::1]", "::1"):
        raise ValueError(
            "a loopback client's redirect_uri is http://127.0.0.1[:port]/path or "
            f"http://[::1][:port]/path, not {uri!r}"
        )
    if parsed.fragment:
        raise ValueError(f"a redirect_uri has no fragment: {uri!r}")
    return uri
