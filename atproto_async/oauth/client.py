"""`OAuthClient`: signing people in with OAuth, the way Bluesky asks apps to.

The flow (https://atproto.com/specs/oauth), each step checked before the next:

1. ``authorize(handle_or_did_or_pds_url)``: resolve the account (handle -> DID -> DID document
   -> PDS) with the identity resolver, read the PDS's protected-resource metadata and its
   authorization server's metadata (`metadata.py` checks both), make a PKCE verifier, a random
   ``state`` and a fresh DPoP key, and push the request (PAR) to the server. The pending
   sign-in goes into the state store; the URL to send the person to comes back.
2. The person signs in and consents on their server, which sends the browser to the client's
   ``redirect_uri`` with ``code``, ``state`` and ``iss``.
3. ``callback(params)``: take the pending sign-in for ``state`` (once: a replayed callback
   finds nothing), check that ``iss`` is the server it went to, exchange the code (PKCE
   verifier, DPoP proof), and check the token's ``sub``: the DID the flow started with, or,
   when it started from a server URL, a DID whose own PDS names this same authorization server.
   The session goes into the session store and comes back as an `OAuthSession`.

Afterwards ``Client(oauth=session)`` (or ``oauth.client(session)``) calls the PDS with
DPoP-bound tokens, refreshed before they expire and after ``invalid_token``; `refresh` spends
each single-use refresh token once, under the session store's lock (see `stores.py`);
`revoke` logs out.

DPoP nonces: the first request to a server is usually refused with ``use_dpop_nonce`` and a
``DPoP-Nonce`` header; the request is made again once with it, and the nonce is remembered per
origin for later requests (`NonceCache`).

Clients: `OAuthClient.loopback` is the development client (no document to publish; redirect to
``http://127.0.0.1:<port>/...``); a published client passes its metadata document and, when
confidential (``private_key_jwt``), its signing keys, whose public half `jwks` gives.

Secrets (codes, verifiers, tokens, private keys) never appear in logs, reprs or errors; error
descriptions from the server are passed through with any of them masked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from atproto_async.crypto import Keypair
from atproto_async.exceptions import (
    DecodeError,
    IdentityError,
    InvalidKeyError,
    OAuthError,
    TransportError,
)
from atproto_async.oauth._jose import b64url, keypair_from_jwk, public_jwk, sign_jws
from atproto_async.oauth.dpop import DPoPKey, NonceCache, is_nonce_error
from atproto_async.oauth.metadata import (
    MAX_METADATA_SIZE,
    AuthorizationServer,
    ClientMetadata,
    check_client_metadata,
    check_loopback_redirect,
    check_url,
    loopback_client_id,
    parse_authorization_server,
    parse_protected_resource,
)
from atproto_async.oauth.session import OAuthSession, TokenSet
from atproto_async.oauth.stores import (
    MemorySessionStore,
    MemoryStateStore,
    SessionStore,
    StateStore,
)

if TYPE_CHECKING:
    from atproto_async.identity import Resolver
    from atproto_async.xrpc import Client
    from atproto_async.xrpc.transport import Response, Transport

__all__ = ["DEFAULT_SCOPE", "OAuthClient"]

logger = logging.getLogger("atproto_async.oauth")

#: What a client that acts for people asks for by default: account access plus the
#: transitional scope that covers what app passwords could do.
DEFAULT_SCOPE = "atproto transition:generic"
#: Seconds allowed for each request to an authorization server or PDS metadata.
DEFAULT_TIMEOUT = 30.0
#: Lifetime of a ``private_key_jwt`` client assertion (the server keeps its ``jti``).
ASSERTION_LIFETIME = 60
#: Largest token-endpoint answer read (tokens are a few KiB).
MAX_TOKEN_RESPONSE_SIZE = 64 * 1024
_FORM = "application/x-www-form-urlencoded"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Errors about the DPoP proof, refused before the refresh token is looked at (RFC 9449 7.1).
_PROOF_ERRORS = frozenset({"use_dpop_nonce", "invalid_dpop_proof"})


def _random() -> str:
    return b64url(os.urandom(32))


def _pkce_challenge(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _mask(text: str, secrets: Sequence[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class OAuthClient:
    """An OAuth client for atproto: sign-in, callback, sessions, refresh and revocation.

    Args:
        client_metadata: This client's metadata document (the JSON its ``client_id`` URL
            serves), checked against the atproto profile. For a development client use
            `OAuthClient.loopback`.
        keys: Private signing keys of a confidential client (``private_key_jwt``): private
            EC JWKs with a ``kid`` (ES256), or ``(kid, Keypair)`` pairs. The first signs the
            client assertions; `jwks` gives the public set to publish.
        resolver: Resolves handles and DIDs; by default an `IdentityResolver` made here and
            closed with the client.
        state_store: Pending sign-ins; by default in memory (10 minutes each).
        session_store: Sessions; by default in memory. Share one across processes (with a
            real lock) when several processes use the same sessions.
        allow_insecure: Accept ``http://`` loopback servers (a local development PDS).
        transport: Carries the HTTP requests to the servers (tests pass their own).
        timeout: Seconds allowed for each request.
        clock: POSIX time source (token expiry).

    Raises:
        OAuthError: ``invalid_client_metadata`` for a document the profile refuses, or keys
            missing for a confidential client.
    """

    def __init__(
        self,
        client_metadata: Mapping[str, Any],
        *,
        keys: Sequence[Mapping[str, Any] | tuple[str, Keypair]] | None = None,
        resolver: Resolver | None = None,
        state_store: StateStore | None = None,
        session_store: SessionStore | None = None,
        allow_insecure: bool = False,
        transport: Transport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metadata: ClientMetadata = check_client_metadata(client_metadata)
        self._keys = _load_keys(keys or ())
        if self.metadata.auth_method == "private_key_jwt" and not self._keys:
            raise OAuthError(
                "invalid_client_metadata", "a private_key_jwt client needs keys=[...] to sign"
            )
        self._resolver = resolver
        self._owns_resolver = False
        self.state_store: StateStore = (
            state_store if state_store is not None else MemoryStateStore()
        )
        self.session_store: SessionStore = (
            session_store if session_store is not None else MemorySessionStore()
        )
        self.allow_insecure = allow_insecure
        self._timeout = float(timeout)
        self._clock = clock
        self.nonces = NonceCache()
        self._transport = transport
        self._owns_transport = transport is None
        # Refreshes in flight in this process, by DID: one task spends a refresh token while
        # the others wait for its outcome (the store's lock covers other processes).
        self._refreshing: dict[str, tuple[asyncio.Future[None], OAuthSession]] = {}

    @classmethod
    def loopback(
        cls,
        redirect_uri: str | Sequence[str],
        *,
        scope: str = DEFAULT_SCOPE,
        resolver: Resolver | None = None,
        allow_insecure: bool = False,
        **kwargs: Any,
    ) -> OAuthClient:
        """The development client: nothing to publish, the person's browser on this machine.

        Its ``client_id`` is ``http://localhost?redirect_uri=...&scope=...`` (the scope must be
        in it, or the server grants only ``atproto``); servers treat it as a public client
        and keep its sessions short.

        Args:
            redirect_uri: Where the browser comes back: ``http://127.0.0.1[:port]/path`` or
                ``http://[::1][:port]/path`` (not ``localhost``), or several.
            scope: The scopes asked for.
            resolver: As for `OAuthClient`.
            allow_insecure: Accept a ``http://localhost`` PDS (a local development server).
            **kwargs: Passed to `OAuthClient`.

        Raises:
            ValueError: A redirect URI that is not a loopback IP URL.
        """
        uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
        if not uris:
            raise ValueError("a loopback client needs a redirect_uri")
        for uri in uris:
            check_loopback_redirect(uri)
        metadata = {
            "client_id": loopback_client_id(uris, scope),
            "redirect_uris": uris,
            "scope": scope,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "dpop_bound_access_tokens": True,
        }
        return cls(metadata, resolver=resolver, allow_insecure=allow_insecure, **kwargs)

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id}>"

    @property
    def client_id(self) -> str:
        """This client's ``client_id``."""
        return self.metadata.client_id

    @property
    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys of a confidential client, as a JWKS to publish (``jwks_uri``)."""
        return {"keys": [public_jwk(keypair, kid=kid) for kid, keypair in self._keys]}

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> OAuthClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections and the resolver this client made."""
        if self._owns_transport and self._transport is not None:
            await self._transport.close()
            self._transport = None
        if self._owns_resolver and self._resolver is not None:
            await self._resolver.close()  # type: ignore[attr-defined]
            self._resolver = None

    @property
    def resolver(self) -> Resolver:
        """The identity resolver (made on first use unless one was given)."""
        if self._resolver is None:
            from atproto_async.identity import IdentityResolver

            self._resolver = IdentityResolver(
                timeout=self._timeout, allow_insecure=self.allow_insecure
            )
            self._owns_resolver = True
        return self._resolver

    def _http(self) -> Transport:
        if self._transport is None:
            from atproto_async.identity.resolver import _refused_address
            from atproto_async.xrpc.transport import AiohttpTransport

            # Metadata URLs come from other servers' answers: without allow_insecure, a host
            # name resolving to a private or loopback address is not connected to (SSRF).
            self._transport = AiohttpTransport(
                max_response_size=MAX_METADATA_SIZE,
                refuse_address=None if self.allow_insecure else _refused_address,
            )
            self._owns_transport = True
        return self._transport

    # -- the flow ----------------------------------------------------------------------------

    async def authorize(
        self,
        target: str,
        *,
        scope: str | None = None,
        redirect_uri: str | None = None,
        prompt: str | None = None,
    ) -> str:
        """Start a sign-in and return the URL to send the person to.

        Args:
            target: A handle (``alice.bsky.social``), a DID, or the URL of a PDS or entryway
                (``https://bsky.social``) when the account is not known yet.
            scope: The scopes to ask for (default: the client metadata's).
            redirect_uri: One of the client's redirect URIs (default: the first).
            prompt: ``login``, ``consent``, ``select_account``, ``create`` or ``none``.

        Returns:
            The authorization URL (``...?client_id=...&request_uri=...``).

        Raises:
            IdentityError: The handle or DID cannot be resolved, or names no PDS.
            OAuthError: Metadata refused (``invalid_metadata``, ``insecure_url``) or the
                pushed request refused by the server.
            TransportError: The network failed.
        """
        did, login_hint, pds = await self._resolve_target(target)
        server = await self.discover(pds)
        scope = scope if scope is not None else self.metadata.scope
        if "atproto" not in scope.split(" "):
            raise ValueError("the scope must include 'atproto'")
        redirect = redirect_uri or self.metadata.redirect_uris[0]
        if redirect not in self.metadata.redirect_uris:
            raise ValueError(f"{redirect!r} is not one of this client's redirect_uris")
        state, verifier, dpop = _random(), _random(), DPoPKey.generate(clock=self._clock)
        fields = [
            ("response_type", "code"),
            ("code_challenge", _pkce_challenge(verifier)),
            ("code_challenge_method", "S256"),
            ("state", state),
            ("redirect_uri", redirect),
            ("scope", scope),
        ]
        if login_hint is not None:
            fields.append(("login_hint", login_hint))
        if prompt is not None:
            fields.append(("prompt", prompt))
        answer = await self._post(
            server, server.par_endpoint, fields, dpop, secrets=(verifier, state)
        )
        request_uri = answer.get("request_uri")
        if not isinstance(request_uri, str) or not request_uri:
            raise OAuthError("invalid_response", "the PAR answer holds no request_uri")
        await self.state_store.set(
            state,
            {
                "issuer": server.issuer,
                "server": server.to_dict(),
                "did": did,
                "pds": pds,
                "verifier": verifier,
                "dpop_key": dpop.to_jwk(),
                "redirect_uri": redirect,
            },
        )
        query = urlencode([("client_id", self.client_id), ("request_uri", request_uri)])
        return f"{server.authorization_endpoint}?{query}"

    async def callback(self, params: Mapping[str, str] | str) -> OAuthSession:
        """Finish a sign-in from the parameters the browser came back with.

        Args:
            params: The callback's query parameters (``request.query`` of a web framework),
                or the full callback URL, or its query string.

        Returns:
            The new session (also put in the session store).

        Raises:
            OAuthError: ``invalid_state`` (unknown, expired or already used), the server's
                error (``access_denied``...), ``issuer_mismatch``, ``sub_mismatch``, a refused
                code (``invalid_grant``), or an unusable token answer.
            TransportError: The network failed.
        """
        query = _callback_params(params)
        state = query.get("state")
        if not state:
            raise OAuthError("invalid_request", "the callback has no state")
        pending = await self.state_store.pop(state)
        if pending is None:
            raise OAuthError("invalid_state", "unknown, expired or already used state")
        server = AuthorizationServer.from_dict(pending["server"])
        iss = query.get("iss")
        if iss != server.issuer:
            # A mix-up attack: the code (or the error) may come from another server than the
            # one we asked. Checked for error answers too (RFC 9207 section 2.4).
            raise OAuthError(
                "issuer_mismatch",
                f"the callback names issuer {str(iss)[:200]!r}, not {server.issuer!r}",
            )
        if "error" in query:
            description = query.get("error_description", "")[:500]
            raise OAuthError(query["error"][:100], description)
        code = query.get("code")
        if not code:
            raise OAuthError("invalid_request", "the callback has no code")
        dpop = DPoPKey.from_jwk(pending["dpop_key"], clock=self._clock)
        fields = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending["redirect_uri"]),
            ("code_verifier", pending["verifier"]),
        ]
        answer = await self._post(
            server, server.token_endpoint, fields, dpop, secrets=(code, pending["verifier"])
        )
        tokens, sub = self._read_tokens(answer)
        expected = pending.get("did")
        if expected is not None:
            if sub != expected:
                raise OAuthError("sub_mismatch", f"the token is for {sub[:200]}, not {expected}")
            pds = str(pending["pds"])
        else:
            pds = await self._check_account_server(sub, server)
        session = OAuthSession(
            did=sub, pds=pds, server=server, dpop=dpop, tokens=tokens, oauth=self
        )
        await self.session_store.set(sub, session.to_dict())
        logger.info("%s signed in with OAuth (scope %s)", sub, tokens.scope)
        return session

    # -- sessions ----------------------------------------------------------------------------

    async def restore(self, did: str) -> OAuthSession:
        """The stored session of ``did`` (the Client refreshes it when it needs to).

        Raises:
            OAuthError: ``session_not_found``, or ``invalid_session`` for a stored value this
                version cannot read.
        """
        data = await self.session_store.get(did)
        if data is None:
            raise OAuthError("session_not_found", f"no stored OAuth session for {did[:200]}")
        return OAuthSession.from_dict(data, self)

    def client(self, session: OAuthSession, **kwargs: Any) -> Client:
        """A `Client` calling the account's PDS as ``session`` (``Client(oauth=session)``).

        Args:
            session: A session of this client.
            **kwargs: Other `Client` arguments (timeout, retries...).
        """
        from atproto_async.xrpc import Client

        if session._oauth is None:
            session._oauth = self
        return Client(oauth=session, **kwargs)

    async def refresh(self, session: OAuthSession, stale: str | None = None) -> None:
        """Spend the refresh token for new tokens, once, whoever else is refreshing.

        In this process, concurrent calls for one account share a single refresh. Across
        processes, the session store's lock serializes them, and inside it the stored copy is
        read first: if another process already refreshed, its tokens are taken and nothing is
        spent. The new tokens are stored before they are used.

        Args:
            session: The session; its tokens are replaced.
            stale: The access token the caller found wanting. If the session already holds
                another one, somebody refreshed meanwhile and nothing is done.

        Raises:
            OAuthError: ``session_ended``: the server refused the refresh token (the stored
                session is deleted, unless it was meanwhile replaced by a newer one), or the
                session was logged out elsewhere.
            TransportError: The network failed (the session is kept).
        """
        if stale is not None and session.tokens.access_token != stale:
            return
        key = session.did
        running = self._refreshing.get(key)
        if running is None:
            task: asyncio.Future[None] = asyncio.ensure_future(self._refresh_locked(session))
            task.add_done_callback(_consume)
            task.add_done_callback(lambda _f: self._refreshing.pop(key, None))
            running = self._refreshing[key] = (task, session)
        future, refreshed = running
        await asyncio.shield(future)
        if refreshed is not session:
            # Another session object of the same account was refreshed: take its tokens.
            session.adopt(refreshed.to_dict())

    async def _refresh_locked(self, session: OAuthSession) -> None:
        async with self.session_store.lock(session.did):
            stored = await self.session_store.get(session.did)
            if stored is None:
                raise OAuthError("session_ended", f"the session of {session.did} was logged out")
            if stored.get("refresh_token") != session.tokens.refresh_token:
                session.adopt(stored)  # refreshed elsewhere: take its tokens, spend nothing
                logger.debug("%s was refreshed elsewhere: took its new tokens", session.did)
                return
            spent = session.tokens.refresh_token
            if spent is None:
                raise OAuthError("session_ended", "the server gave this session no refresh token")
            fields = [("grant_type", "refresh_token"), ("refresh_token", spent)]
            try:
                answer = await self._post(
                    session.server, session.server.token_endpoint, fields, session.dpop,
                    secrets=(spent, session.tokens.access_token),
                )  # fmt: skip
                tokens, sub = self._read_tokens(answer, previous=session.tokens)
            except OAuthError as exc:
                if exc.status is None or exc.status >= 500 or exc.error in _PROOF_ERRORS:
                    raise  # our own check, a server failure or a refused proof: token unspent
                latest = await self.session_store.get(session.did)
                if latest is not None and latest.get("refresh_token") == spent:
                    await self.session_store.delete(session.did)  # never a newer session
                logger.info(
                    "OAuth session of %s ended: refresh refused (%s)", session.did, exc.error
                )
                raise OAuthError(
                    "session_ended",
                    f"the server refused the refresh token ({exc.error})",
                    exc.status,
                ) from exc
            if sub != session.did:
                raise OAuthError("sub_mismatch", f"the refreshed token is for {sub[:200]}")
            session.tokens = tokens
            await self.session_store.set(session.did, session.to_dict())
            logger.debug("OAuth tokens of %s refreshed", session.did)

    async def revoke(self, session: OAuthSession) -> None:
        """Log out: revoke the tokens at the server and forget the session.

        The session is removed from the store and its tokens cleared even when the server
        cannot be reached (the error is raised afterwards).
        """
        tokens = session.tokens
        failure: Exception | None = None
        try:
            endpoint = session.server.revocation_endpoint
            if endpoint is not None:
                for token in (tokens.refresh_token, tokens.access_token):
                    if not token:
                        continue
                    try:  # each token is revoked even if the other one could not be
                        await self._post(
                            session.server, endpoint, [("token", token)], session.dpop,
                            secrets=(token,), expect_json=False,
                        )  # fmt: skip
                    except (OAuthError, TransportError) as exc:
                        failure = failure or exc
            if failure is not None:
                raise failure
        finally:
            latest = await self.session_store.get(session.did)
            if latest is None or latest.get("refresh_token") == tokens.refresh_token:
                await self.session_store.delete(session.did)
            session.tokens = TokenSet(access_token="", refresh_token=None, scope=tokens.scope)
            logger.info("OAuth session of %s revoked", session.did)

    # -- discovery ---------------------------------------------------------------------------

    async def discover(self, pds_url: str) -> AuthorizationServer:
        """The checked metadata of the authorization server of a PDS (or entryway).

        Raises:
            OAuthError: A document refused (``invalid_metadata``, ``insecure_url``).
            TransportError: The network failed.
        """
        pds = check_url(pds_url, "PDS URL", allow_insecure=self.allow_insecure).rstrip("/")
        resource = await self._get_json(f"{pds}/.well-known/oauth-protected-resource")
        issuer = parse_protected_resource(resource, pds, allow_insecure=self.allow_insecure)
        document = await self._get_json(
            f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server"
        )
        server = parse_authorization_server(document, issuer, allow_insecure=self.allow_insecure)
        if self.metadata.auth_method not in server.auth_methods:
            raise OAuthError(
                "invalid_metadata",
                f"{server.issuer} does not accept {self.metadata.auth_method!r} client auth",
            )
        return server

    async def _resolve_target(self, target: str) -> tuple[str | None, str | None, str]:
        """(DID or None, login hint or None, PDS URL) for what `authorize` was given."""
        target = target.strip()
        if target.startswith(("https://", "http://")):
            return None, None, target
        resolver = self.resolver
        if target.startswith("did:"):
            did, hint = target, target
        else:
            handle = target.removeprefix("@").lower()
            did, hint = await resolver.resolve_handle(handle), handle
        document = await resolver.resolve_did(did)
        if document.pds is None:
            raise IdentityError(did, "the DID document names no PDS (#atproto_pds)")
        return did, hint, document.pds

    async def _check_account_server(self, did: str, server: AuthorizationServer) -> str:
        """Check that ``did``'s own PDS names ``server``; return that PDS."""
        try:
            document = await self.resolver.resolve_did(did)
        except IdentityError as exc:
            raise OAuthError(
                "sub_mismatch", f"the token's subject cannot be resolved: {exc}"
            ) from None
        if document.pds is None:
            raise OAuthError("sub_mismatch", f"{did} names no PDS")
        account_server = await self.discover(document.pds)
        if account_server.issuer != server.issuer:
            raise OAuthError(
                "sub_mismatch",
                f"{did} is served by {account_server.issuer}, not by {server.issuer}",
            )
        return document.pds

    # -- HTTP --------------------------------------------------------------------------------

    async def _get_json(self, url: str) -> Any:
        from atproto_async.xrpc.transport import Request

        check_url(url, "metadata URL", allow_insecure=self.allow_insecure)
        try:
            response = await self._http().send(
                Request("GET", url, headers={"Accept": "application/json"}, timeout=self._timeout)
            )
        except DecodeError as exc:
            raise OAuthError("invalid_metadata", f"{url}: {exc}") from None
        if response.status != 200:
            raise OAuthError("invalid_metadata", f"{url} answered HTTP {response.status}")
        if response.content_type != "application/json":
            raise OAuthError("invalid_metadata", f"{url} is not JSON ({response.content_type})")
        try:
            return json.loads(response.body)
        except (ValueError, RecursionError):
            raise OAuthError("invalid_metadata", f"{url} is not JSON") from None

    def _client_auth(self, server: AuthorizationServer) -> list[tuple[str, str]]:
        fields = [("client_id", self.client_id)]
        if self.metadata.auth_method == "private_key_jwt":
            kid, keypair = self._keys[0]
            now = int(self._clock())
            assertion = sign_jws(
                {"alg": "ES256", "kid": kid, "typ": "JWT"},
                {
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "aud": server.issuer,
                    "jti": _random(),
                    "iat": now,
                    "exp": now + ASSERTION_LIFETIME,
                },
                keypair,
            )
            fields += [("client_assertion_type", _ASSERTION_TYPE), ("client_assertion", assertion)]
        return fields

    async def _post(
        self,
        server: AuthorizationServer,
        url: str,
        fields: list[tuple[str, str]],
        dpop: DPoPKey,
        *,
        secrets: Sequence[str | None] = (),
        expect_json: bool = True,
    ) -> dict[str, Any]:
        """POST a form to the authorization server with a DPoP proof; retry once for a nonce."""
        from atproto_async.xrpc.transport import Request

        for attempt in (1, 2):
            body = urlencode(self._client_auth(server) + fields).encode("ascii")
            headers = {
                "Content-Type": _FORM,
                "Accept": "application/json",
                "DPoP": dpop.proof("POST", url, nonce=self.nonces.get(url)),
            }
            try:
                response = await self._http().send(
                    Request("POST", url, headers=headers, body=body, timeout=self._timeout)
                )
            except DecodeError as exc:
                raise OAuthError("invalid_response", f"{url}: {exc}") from None
            self.nonces.observe(url, response.headers)
            if 200 <= response.status < 300:
                if not expect_json:
                    return {}
                return _json_object(response, url)
            error, description = _error_of(response)
            if attempt == 1 and is_nonce_error(response.status, response.headers, error):
                continue
            raise OAuthError(error, _mask(description, secrets), response.status)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_tokens(
        self, answer: Mapping[str, Any], previous: TokenSet | None = None
    ) -> tuple[TokenSet, str]:
        """Check a token answer (RFC 6749 5.1, atproto profile); return the tokens and ``sub``."""

        def refuse(what: str) -> OAuthError:
            return OAuthError("invalid_response", f"the token answer {what}")

        access = answer.get("access_token")
        if not isinstance(access, str) or not access or len(access) > 16384:
            raise refuse("has no access_token")
        token_type = answer.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "dpop":
            raise refuse(f"is not DPoP-bound (token_type {str(token_type)[:50]!r})")
        sub = answer.get("sub")
        if not isinstance(sub, str) or not sub.startswith("did:") or len(sub) > 2048:
            raise refuse("has no DID in 'sub'")
        scope = answer.get("scope")
        if not isinstance(scope, str) or "atproto" not in scope.split(" "):
            raise refuse("does not grant the 'atproto' scope")
        refresh = answer.get("refresh_token", previous.refresh_token if previous else None)
        if refresh is not None and (not isinstance(refresh, str) or not refresh):
            raise refuse("has an unusable refresh_token")
        expires_in = answer.get("expires_in")
        now = self._clock()
        expires_at = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            expires_at = now + max(0.0, float(expires_in))
        tokens = TokenSet(
            access_token=access,
            refresh_token=refresh,
            expires_at=expires_at,
            scope=scope,
            issued_at=now,
        )
        return tokens, sub


def _consume(future: asyncio.Future[None]) -> None:
    # Mark the outcome as seen even when every waiter was cancelled (no "never retrieved" log).
    if not future.cancelled():
        future.exception()


def _load_keys(
    keys: Sequence[Mapping[str, Any] | tuple[str, Keypair]],
) -> list[tuple[str, Keypair]]:
    loaded: list[tuple[str, Keypair]] = []
    for entry in keys:
        kid: object
        if isinstance(entry, tuple):
            kid, keypair = entry
        else:
            kid = entry.get("kid")
            try:
                keypair = keypair_from_jwk(entry)
            except InvalidKeyError as exc:
                raise OAuthError("invalid_client_metadata", f"unusable client key: {exc}") from None
        if not isinstance(kid, str) or not kid:
            raise OAuthError("invalid_client_metadata", "every client key needs a 'kid'")
        if keypair.curve != "p256":
            raise OAuthError("invalid_client_metadata", "client keys are P-256 (ES256)")
        loaded.append((kid, keypair))
    return loaded


def _callback_params(params: Mapping[str, str] | str) -> dict[str, str]:
    if isinstance(params, str):
        query = urlsplit(params).query if "://" in params else params.lstrip("?")
        pairs = parse_qsl(query, keep_blank_values=True)
    else:
        pairs = [(str(k), str(v)) for k, v in params.items()]
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            # Two values for one parameter: which one counts is an attack surface.
            raise OAuthError("invalid_request", f"the callback repeats the parameter {key!r}")
        out[key] = value
    return out


def _json_object(response: Response, url: str) -> dict[str, Any]:
    try:
        value = json.loads(response.body)
    except (ValueError, RecursionError):
        raise OAuthError("invalid_response", f"{url} answered no JSON", response.status) from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_response", f"{url} answered no JSON object", response.status)
    return value


def _error_of(response: Response) -> tuple[str, str]:
    """The ``error`` code and description of an error answer (RFC 6749 5.2)."""
    try:
        value = json.loads(response.body)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        description = value.get("error_description")
        return value["error"][:100], str(description)[:500] if description else ""
    return f"http_{response.status}", ""
