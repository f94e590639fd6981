"""`OAuthSession`: one account signed in through OAuth, with its DPoP key and tokens.

A session is made by `OAuthClient.callback` (or read back by `OAuthClient.restore`) and used
through ``Client(oauth=session)``. Its tokens change with every refresh; clients made from the
same session object see the change at once, other processes through the session store.

Nothing secret is shown: ``repr()`` gives the DID, PDS and scope; tokens and the private key
leave the object only through `OAuthSession.to_dict`, for a session store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from atproto_async.exceptions import InvalidKeyError, OAuthError
from atproto_async.oauth.dpop import DPoPKey
from atproto_async.oauth.metadata import AuthorizationServer

if TYPE_CHECKING:
    from atproto_async.oauth.client import OAuthClient

__all__ = ["OAuthSession", "TokenSet"]

#: Version of the stored form written by `OAuthSession.to_dict`.
STORE_VERSION = 1


@attrs.frozen(kw_only=True)
class TokenSet:
    """The tokens of one grant (secrets: their repr shows none of them).

    Attributes:
        access_token: The DPoP-bound access token.
        refresh_token: The single-use refresh token, or None when the server gave none.
        expires_at: POSIX time the access token expires, or None if not said.
        scope: The scopes granted (space-separated).
        issued_at: POSIX time the tokens were received.
    """

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(repr=False, default=None)
    expires_at: float | None = None
    scope: str = ""
    issued_at: float | None = None


class OAuthSession:
    """An account signed in with OAuth.

    Attributes:
        did: The account (the token's ``sub``, checked against identity).
        pds: The account's PDS, where its calls go.
        issuer: The authorization server that issued the tokens.
        server: That server's checked metadata (endpoints).
        dpop: The session's own DPoP key.
        tokens: The current tokens (replaced by every refresh).
    """

    __slots__ = ("_oauth", "did", "dpop", "issuer", "pds", "server", "tokens")

    def __init__(
        self,
        *,
        did: str,
        pds: str,
        server: AuthorizationServer,
        dpop: DPoPKey,
        tokens: TokenSet,
        oauth: OAuthClient | None = None,
    ) -> None:
        self.did = did
        self.pds = pds
        self.server = server
        self.issuer = server.issuer
        self.dpop = dpop
        self.tokens = tokens
        self._oauth = oauth

    @property
    def scope(self) -> str:
        """The scopes granted, space-separated (e.g. ``atproto transition:generic``)."""
        return self.tokens.scope

    @property
    def expires_at(self) -> float | None:
        """POSIX time the access token expires (refreshed before that by the Client)."""
        return self.tokens.expires_at

    @property
    def oauth(self) -> OAuthClient:
        """The `OAuthClient` that refreshes and revokes this session."""
        if self._oauth is None:
            raise OAuthError(
                "no_client", "this session was not made by an OAuthClient (use oauth.restore)"
            )
        return self._oauth

    def __repr__(self) -> str:
        return f"OAuthSession(did={self.did!r}, pds={self.pds!r}, scope={self.scope!r})"

    def to_dict(self) -> dict[str, Any]:
        """The session as a JSON object, for a session store. Holds secrets."""
        return {
            "version": STORE_VERSION,
            "did": self.did,
            "pds": self.pds,
            "server": self.server.to_dict(),
            "dpop_key": self.dpop.to_jwk(),
            "access_token": self.tokens.access_token,
            "refresh_token": self.tokens.refresh_token,
            "expires_at": self.tokens.expires_at,
            "scope": self.tokens.scope,
            "issued_at": self.tokens.issued_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], oauth: OAuthClient | None = None) -> OAuthSession:
        """Read what `to_dict` wrote.

        Raises:
            OAuthError: ``invalid_session``: not a stored session of this version.
        """
        try:
            if data.get("version") != STORE_VERSION:
                raise ValueError("unknown version")
            tokens = tokens_from_dict(data)
            did, pds = data["did"], data["pds"]
            if not isinstance(did, str) or not did.startswith("did:") or not isinstance(pds, str):
                raise ValueError("did and pds are strings")
            return cls(
                did=did,
                pds=pds,
                server=AuthorizationServer.from_dict(data["server"]),
                dpop=DPoPKey.from_jwk(data["dpop_key"]),
                tokens=tokens,
                oauth=oauth,
            )
        except (KeyError, TypeError, ValueError, AttributeError, InvalidKeyError) as exc:
            reason = type(exc).__name__ if isinstance(exc, KeyError) else str(exc)
            raise OAuthError("invalid_session", f"not a stored OAuth session ({reason})") from None

    def adopt(self, data: Mapping[str, Any]) -> None:
        """Take the tokens (and DPoP key) of a newer stored copy of this session."""
        fresh = OAuthSession.from_dict(data, self._oauth)
        if fresh.did != self.did:
            raise OAuthError("invalid_session", "the stored session is another account's")
        self.pds, self.server, self.issuer = fresh.pds, fresh.server, fresh.issuer
        self.dpop, self.tokens = fresh.dpop, fresh.tokens


def tokens_from_dict(data: Mapping[str, Any]) -> TokenSet:
    """The `TokenSet` of a stored session."""
    access = data["access_token"]
    refresh = data.get("refresh_token")
    expires = data.get("expires_at")
    issued = data.get("issued_at")
    scope = data.get("scope", "")
    if not isinstance(access, str) or not (refresh is None or isinstance(refresh, str)):
        raise ValueError("tokens are strings")
    if not isinstance(scope, str):
        raise ValueError("scope is a string")
    for value in (expires, issued):
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise ValueError("expires_at and issued_at are numbers")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_at=float(expires) if expires is not None else None,
        scope=scope,
        issued_at=float(issued) if issued is not None else None,
    )
