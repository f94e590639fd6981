"""OAuth for atproto: sign people in without holding their passwords.

The flow the atproto profile asks for (https://atproto.com/specs/oauth): identity-based
discovery of the account's authorization server, pushed authorization requests (PAR), PKCE
(S256), DPoP-bound tokens with server nonces, ``iss`` and ``sub`` checks, single-use refresh
tokens spent once, and revocation.

    oauth = OAuthClient.loopback("http://127.0.0.1:8080/callback")
    url = await oauth.authorize("alice.bsky.social")      # send the person there
    session = await oauth.callback(request.query)         # where their browser comes back
    async with oauth.client(session) as client:            # Client(oauth=session)
        await client.com.atproto.repo.create_record(...)
    await oauth.revoke(session)                           # log out

Layout: `client.py` (the flow, refresh, revocation), `session.py` (`OAuthSession`),
`metadata.py` (discovery documents checked, sans-I/O), `dpop.py` (proofs and nonces),
`stores.py` (pending sign-ins and sessions; `sqlite.py`, a store shared by processes),
`_jose.py` (JWK/JWS on `atproto_async.crypto`).
The Client side (DPoP headers, nonce retry, refresh) is `_auth.py`.
"""

from __future__ import annotations

from atproto_async.exceptions import OAuthError
from atproto_async.oauth._jose import private_jwk, public_jwk
from atproto_async.oauth.client import DEFAULT_SCOPE, OAuthClient
from atproto_async.oauth.dpop import DPoPKey, NonceCache
from atproto_async.oauth.metadata import AuthorizationServer, ClientMetadata
from atproto_async.oauth.session import OAuthSession, TokenSet
from atproto_async.oauth.stores import (
    MemorySessionStore,
    MemoryStateStore,
    SessionStore,
    StateStore,
)

__all__ = [
    "DEFAULT_SCOPE",
    "AuthorizationServer",
    "ClientMetadata",
    "DPoPKey",
    "MemorySessionStore",
    "MemoryStateStore",
    "NonceCache",
    "OAuthClient",
    "OAuthError",
    "OAuthSession",
    "SessionStore",
    "StateStore",
    "SQLiteSessionStore",
    "TokenSet",
    "private_jwk",
    "public_jwk",
]


def __getattr__(name: str) -> object:
    # sqlite3 is loaded only by those who use the SQLite store.
    if name == "SQLiteSessionStore":
        from atproto_async.oauth.sqlite import SQLiteSessionStore

        return SQLiteSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
