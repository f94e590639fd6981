"""The `Client` side of an OAuth session: DPoP proofs, nonces and refresh for every call.

`OAuthAuthState` stands in for the password `AuthState` of a ``Client(oauth=session)``; the
request loop in ``xrpc/client.py`` is the same for both:

- each request carries ``Authorization: DPoP <access token>`` and a fresh ``DPoP`` proof
  bound to its method and URL, with the token's hash (``ath``) and the PDS's latest nonce;
- an answer refusing the proof for want of a new nonce (``WWW-Authenticate: DPoP
  error="use_dpop_nonce"``) is retried once with it;
- the token is refreshed ahead of its expiry and once after ``invalid_token``, through
  `OAuthClient.refresh` (single-flight in the process, locked in the session store across
  processes); a refused refresh ends the session with `AuthenticationError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from atproto_async.exceptions import AuthenticationError, OAuthError, XrpcError
from atproto_async.oauth.dpop import is_nonce_error
from atproto_async.oauth.session import OAuthSession
from atproto_async.xrpc.auth import REFRESH_MARGIN, AuthState
from atproto_async.xrpc.session import check_service_url

if TYPE_CHECKING:
    from atproto_async.xrpc.call import Send
    from atproto_async.xrpc.transport import Response

__all__ = ["OAuthAuthState"]


class OAuthAuthState(AuthState):
    """Auth of a Client made with ``Client(oauth=session)``."""

    dpop = True

    def __init__(self, session: OAuthSession, *, clock: Callable[[], float] = time.time) -> None:
        oauth = session.oauth  # raises for a session no OAuthClient made
        pds = check_service_url(session.pds, allow_insecure=oauth.allow_insecure)
        super().__init__(pds, allow_insecure=oauth.allow_insecure, clock=clock)
        self.oauth_session = session
        self._oauth = oauth

    def __repr__(self) -> str:
        return f"OAuthAuthState(session={self.oauth_session!r})"

    @property
    def token(self) -> str | None:
        return self.oauth_session.tokens.access_token or None

    @property
    def bearer(self) -> str | None:
        token = self.token
        return f"DPoP {token}" if token is not None else None

    @bearer.setter
    def bearer(self, value: str | None) -> None:
        pass  # computed from the session's current tokens (AuthState.__init__ assigns it)

    @property
    def refresh_at(self) -> float:
        tokens = self.oauth_session.tokens
        expires = tokens.expires_at
        if expires is None or not tokens.access_token:
            return math.inf
        margin = REFRESH_MARGIN
        if tokens.issued_at is not None and expires > tokens.issued_at:
            margin = min(margin, (expires - tokens.issued_at) / 4)  # short-lived test tokens
        return expires - margin

    @refresh_at.setter
    def refresh_at(self, value: float) -> None:
        pass  # computed from the session's current tokens

    def secrets(self) -> list[str]:
        tokens = self.oauth_session.tokens
        return [t for t in (tokens.access_token, tokens.refresh_token) if t]

    def proof(self, method: str, url: str) -> str:
        return self.oauth_session.dpop.proof(
            method, url, nonce=self._oauth.nonces.get(url), access_token=self.token
        )

    def observe(self, url: str, headers: Mapping[str, str]) -> None:
        self._oauth.nonces.observe(url, headers)

    def nonce_refused(self, response: Response, error: XrpcError) -> bool:
        return is_nonce_error(response.status, response.headers, error.error)

    async def login(self, send: Send, *args: Any, **kwargs: Any) -> Any:
        raise AuthenticationError(
            400, "OAuthSession", "this client uses an OAuth session: there is no password login"
        )

    async def refresh(self, send: Send, stale: str | None = None) -> None:
        try:
            await self._oauth.refresh(self.oauth_session, stale)
        except OAuthError as exc:
            if exc.error == "session_ended":
                raise AuthenticationError(401, "SessionEnded", exc.description) from exc
            raise

    async def check(self, send: Send) -> None:
        self.needs_check = False  # an OAuth session is checked by its first call

    async def logout(self, send: Send) -> None:
        await self._oauth.revoke(self.oauth_session)
