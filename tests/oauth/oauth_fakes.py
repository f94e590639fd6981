"""A fake authorization server and PDS for the OAuth tests, answering through MockTransport."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import attrs

from atproto_async.xrpc.transport import Request, Response

ISSUER = "https://auth.example"
PDS = "https://pds.example"
DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
OTHER_DID = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
HANDLE = "alice.test"
REDIRECT = "http://127.0.0.1:8765/callback"
#: A second PDS with its own authorization server (the account of OTHER_DID in some tests).
PDS2 = "https://pds2.example"
ISSUER2 = "https://auth2.example"
PAR = f"{ISSUER}/oauth/par"
TOKEN = f"{ISSUER}/oauth/token"
REVOKE = f"{ISSUER}/oauth/revoke"
AUTHORIZE = f"{ISSUER}/oauth/authorize"


def did_document(did: str = DID, handle: str = HANDLE, pds: str = PDS) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"],
        "verificationMethod": [],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        ],
    }


def resource_metadata(resource: str = PDS) -> dict[str, Any]:
    return {"resource": resource, "authorization_servers": [ISSUER]}


def server_metadata(issuer: str = ISSUER) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "scopes_supported": ["atproto", "transition:generic"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": True,
        "require_pushed_authorization_requests": True,
        "client_id_metadata_document_supported": True,
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
    }


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


@attrs.frozen
class Seen:
    """One request the fake servers received."""

    method: str
    url: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    params: list[tuple[str, str]]


TokenHandler = Callable[[dict[str, list[str]]], Response | Awaitable[Response]]


class FakeServers:
    """The authorization server (``auth.example``) and the PDS (``pds.example``).

    Attributes:
        seen: Every request, in order.
        par_nonce_refusals: PAR requests still to refuse with ``use_dpop_nonce``.
        pds_nonce_refusals: XRPC requests still to refuse with ``use_dpop_nonce``.
        token: Answers the token endpoint (default: `issue`).
        revoke_status: Status of the revocation endpoint.
        sub: The ``sub`` of issued tokens.
        extra: Members merged into every token answer.
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.par_nonce_refusals = 0
        self.pds_nonce_refusals = 0
        self.pds_invalid_token = 0
        self.token: TokenHandler = self.issue
        self.revoke_status = 200
        self.sub = DID
        self.extra: dict[str, Any] = {}
        self.issued = 0

    def to(self, url: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.url == url]

    def issue(self, form: dict[str, list[str]]) -> Response:
        self.issued += 1
        answer = {
            "access_token": f"access-token-{self.issued}",
            "refresh_token": f"refresh-token-{self.issued}",
            "token_type": "DPoP",
            "expires_in": 3600,
            "scope": "atproto transition:generic",
            "sub": self.sub,
            **self.extra,
        }
        return json_response(200, answer, {"DPoP-Nonce": f"as-nonce-{self.issued}"})

    async def handle(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, bytes) else b""
        form = parse_qs(body.decode(), keep_blank_values=True) if body else {}
        self.seen.append(
            Seen(request.method, request.url, dict(request.headers), form, list(request.params))
        )
        url = request.url
        if url == f"{PDS}/.well-known/oauth-protected-resource":
            return json_response(200, resource_metadata())
        if url == f"{ISSUER}/.well-known/oauth-authorization-server":
            return json_response(200, server_metadata())
        if url == f"{PDS2}/.well-known/oauth-protected-resource":
            return json_response(200, {"resource": PDS2, "authorization_servers": [ISSUER2]})
        if url == f"{ISSUER2}/.well-known/oauth-authorization-server":
            return json_response(200, server_metadata(ISSUER2))
        if url == PAR:
            if self.par_nonce_refusals > 0:
                self.par_nonce_refusals -= 1
                return json_response(400, {"error": "use_dpop_nonce"}, {"DPoP-Nonce": "n1"})
            return json_response(201, {"request_uri": "urn:ietf:params:oauth:request_uri:r1"})
        if url == TOKEN:
            result = self.token(form)
            return result if isinstance(result, Response) else await result
        if url == REVOKE:
            return Response(self.revoke_status)
        if url.startswith(f"{PDS}/xrpc/"):
            return self.xrpc(request)
        return json_response(404, {"error": "NotFound"})

    def xrpc(self, request: Request) -> Response:
        if self.pds_nonce_refusals > 0:
            self.pds_nonce_refusals -= 1
            return json_response(
                401,
                {"error": "use_dpop_nonce", "message": "nonce"},
                {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "r1"},
            )
        if self.pds_invalid_token > 0:
            self.pds_invalid_token -= 1
            return json_response(
                401,
                {"error": "invalid_token", "message": "expired"},
                {"WWW-Authenticate": 'DPoP error="invalid_token"'},
            )
        return json_response(200, {"ok": True})
