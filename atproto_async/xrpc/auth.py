"""Login, token refresh and logout: the auth state shared by a client and its derivatives.

One `AuthState` belongs to a root `Client`; clients made with ``with_proxy`` / ``with_labelers``
hold the same object, so a refresh made through any of them is seen by all.

Refresh is single-flight, proactive and reactive (https://atproto.com/specs/xrpc#authentication):

- before a request, when the access token's ``exp`` is near, the token is refreshed first;
- after an answer saying the token is expired or invalid (``ExpiredToken`` / ``InvalidToken``,
  a bare 401; see ``wire.token_refused``), the token is refreshed once and the request
  replayed - not after a 401 about permission (``AuthRequired``), which a refresh cannot cure;
- however many calls need a refresh at the same moment, one ``refreshSession`` request is made
  and every caller waits for it (an ``asyncio`` future shared by all).

A refresh the server refuses ends the session: `AuthenticationError` is raised, the session is
cleared and ``on_session_change(None)`` is called. With ``relogin=True`` the password given to
``login`` is kept in memory (wrapped, never shown) and one fresh login is tried first - for bots
that run for longer than a refresh token lives. A network failure during a refresh ends nothing:
the error is raised and the session kept for the next call.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from atproto_async.exceptions import AuthenticationError, DecodeError, XrpcError
from atproto_async.xrpc.call import Call, Send
from atproto_async.xrpc.session import Session, check_service_url, is_loopback_url, jwt_claims

if TYPE_CHECKING:
    from atproto_async.xrpc.transport import Response

__all__ = [
    "REFRESH_MARGIN",
    "AuthState",
    "SessionCallback",
    "basic_admin_authorization",
    "looks_like_app_password",
]

logger = logging.getLogger("atproto_async.xrpc")

#: Refresh the access token this many seconds before its ``exp`` (or a quarter of its lifetime
#: when that is shorter).
REFRESH_MARGIN = 60.0

#: Called with the new `Session`, or None when the session ends; may be sync or async.
SessionCallback = Callable[[Session | None], Awaitable[None] | None]

_APP_PASSWORD = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")
#: Whether the app-password advice was logged: it is said once per process, not per login.
_password_advice_given = False


def looks_like_app_password(password: str) -> bool:
    """Whether ``password`` has the ``xxxx-xxxx-xxxx-xxxx`` shape of an app password.

    Spec: https://atproto.com/specs/xrpc#app-passwords
    """
    return _APP_PASSWORD.fullmatch(password) is not None


def basic_admin_authorization(token: str) -> str:
    """Return the ``Authorization`` value for the admin token: HTTP Basic, user ``admin``.

    Spec: https://atproto.com/specs/xrpc#admin-token
    """
    encoded = base64.b64encode(f"admin:{token}".encode()).decode("ascii")
    return f"Basic {encoded}"


@attrs.define(repr=False)
class _Secret:
    """A string that never shows up in a repr (a password kept for ``relogin``)."""

    value: str

    def __repr__(self) -> str:
        return "_Secret('***')"


def _refresh_deadline(session: Session) -> float:
    """POSIX time after which the access token should be refreshed before use."""
    exp = session.access_expires_at
    if exp is None:
        return math.inf  # opaque token: rely on the reactive refresh
    claims = jwt_claims(session.access_jwt) or {}
    iat = claims.get("iat")
    margin = REFRESH_MARGIN
    if isinstance(iat, int | float) and not isinstance(iat, bool) and exp > iat:
        margin = min(margin, (exp - iat) / 4)
    return exp - margin


class AuthState:
    """Session, credentials and in-flight refresh shared by a client and its derivatives.

    Attributes:
        session: The current session, or None.
        base_url: Where requests go: the session's PDS, else the service.
        bearer: The ``Authorization`` header value for the session, or None.
        refresh_at: POSIX time after which the token is refreshed before a request.
        needs_check: True while a resumed session has not been checked with getSession.
        dpop: True when requests need a DPoP proof (an OAuth session, `OAuthAuthState`).
    """

    dpop = False

    def __init__(
        self,
        service: str,
        *,
        on_session_change: SessionCallback | None = None,
        relogin: bool = False,
        admin_password: str | None = None,
        allow_insecure: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.allow_insecure = allow_insecure
        self.session: Session | None = None
        self.base_url = service
        self.bearer: str | None = None
        self.refresh_at = math.inf
        self.needs_check = False
        self.admin_authorization = (
            basic_admin_authorization(admin_password) if admin_password else None
        )
        self._admin = _Secret(admin_password) if admin_password else None
        self._warned_pds = False
        self._on_change = on_session_change
        self._relogin = relogin
        self._credentials: tuple[str, _Secret, str | None] | None = None
        self._clock = clock
        self._refreshing: asyncio.Future[None] | None = None
        self._checking: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"AuthState(session={self.session!r})"

    @property
    def token(self) -> str | None:
        """The access token requests are sent with, or None without a session."""
        return self.session.access_jwt if self.session is not None else None

    # DPoP (OAuth sessions; see atproto_async.oauth._auth). Password sessions send none.

    def proof(self, method: str, url: str) -> str:
        """A DPoP proof for one request with the current token."""
        raise NotImplementedError("password sessions send no DPoP proof")

    def observe(self, url: str, headers: Mapping[str, str]) -> None:
        """Remember the ``DPoP-Nonce`` a server sent."""

    def nonce_refused(self, response: Response, error: XrpcError) -> bool:
        """Whether the server refused the request for want of its latest DPoP nonce."""
        return False

    def secrets(self) -> list[str]:
        """Every secret held (to scrub from error messages)."""
        found = []
        if self.session is not None:
            found += [self.session.access_jwt, self.session.refresh_jwt]
        if self._credentials is not None:
            found.append(self._credentials[1].value)
        if self.admin_authorization is not None and self._admin is not None:
            found += [self.admin_authorization.partition(" ")[2], self._admin.value]
        return found

    def install(self, session: Session | None, *, fresh: bool = False) -> None:
        """Make ``session`` current without notifying anyone.

        Args:
            session: The session, or None to forget it.
            fresh: True when the server just issued the tokens (not a resumed session).
        """
        self.session = session
        if session is None:
            self.base_url = self.service
            self.bearer = None
            self.refresh_at = math.inf
            return
        self.base_url = self.service
        if session.pds_url is not None:
            try:
                self.base_url = check_service_url(
                    session.pds_url, allow_insecure=self.allow_insecure
                )
            except ValueError as exc:
                if not self._warned_pds:
                    self._warned_pds = True
                    logger.warning("ignoring the PDS endpoint of %s: %s", session.did, exc)
        self.bearer = f"Bearer {session.access_jwt}"
        self.refresh_at = _refresh_deadline(session)
        if fresh and self.refresh_at <= self._clock():
            # A token that looks expired the moment it is issued means the clocks disagree:
            # stop refreshing ahead of time and rely on the server's ExpiredToken answers.
            self.refresh_at = math.inf

    async def _set(self, session: Session | None) -> None:
        self.install(session, fresh=True)
        callback = self._on_change
        if callback is None:
            return
        try:
            result = callback(session)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_session_change callback failed")

    def _warn_password_shape(self, password: str) -> None:
        """Advise an app password, once per process; not for a local server (a dev PDS), whose
        accounts are throwaway ones without app passwords."""
        global _password_advice_given
        if (
            _password_advice_given
            or looks_like_app_password(password)
            or is_loopback_url(self.service)
        ):
            return
        _password_advice_given = True
        logger.warning(
            "the password given to login() does not look like an app password "
            "(xxxx-xxxx-xxxx-xxxx); prefer an app password for bots and third-party clients"
        )

    async def login(
        self,
        send: Send,
        identifier: str,
        password: str,
        auth_factor_token: str | None = None,
    ) -> Session:
        """Create a session with ``com.atproto.server.createSession``; see ``Client.login``."""
        self._warn_password_shape(password)
        session = await self._create_session(send, identifier, password, auth_factor_token)
        if self._relogin:
            self._credentials = (identifier, _Secret(password), auth_factor_token)
        self.needs_check = False
        await self._set(session)
        logger.info("logged in as %s", session.did)
        return session

    async def _create_session(
        self, send: Send, identifier: str, password: str, auth_factor_token: str | None
    ) -> Session:
        body: dict[str, Any] = {"identifier": identifier, "password": password}
        secrets: tuple[str, ...] = (password,)
        if auth_factor_token is not None:
            body["authFactorToken"] = auth_factor_token
            secrets += (auth_factor_token,)
        nsid = "com.atproto.server.createSession"
        # createSession goes to the service the client was made with (the entryway); later
        # requests go to the PDS its answer names. A refusal that echoes the password (or
        # the emailed code) shows it masked.
        out = await send(Call.post(nsid, body, None, base_url=self.service, secrets=secrets))
        if not isinstance(out, dict):
            raise DecodeError(f"{nsid} answered no session")
        try:
            return Session.from_response(out)
        except ValueError as exc:
            raise DecodeError(f"{nsid}: {exc}") from None

    async def refresh(self, send: Send, stale: str | None = None) -> None:
        """Refresh the access token, sharing one request between all concurrent callers.

        Args:
            send: Runs the refresh request (the root client's request loop).
            stale: The access token the caller found wanting; if the session already holds
                another one, somebody refreshed meanwhile and nothing is done.

        Raises:
            AuthenticationError: There is no session, or the server refused to refresh it
                (the session is then ended).
            TransportError: The network failed (the session is kept).
        """
        session = self.session
        if session is None:
            raise AuthenticationError(401, "AuthMissing", "not logged in")
        if stale is not None and session.access_jwt != stale:
            return
        future = self._refreshing
        if future is None:
            future = asyncio.ensure_future(self._refresh_once(send, session))
            future.add_done_callback(_consume)
            self._refreshing = future
        # shield: a caller that gets cancelled must not cancel the refresh the others wait for
        await asyncio.shield(future)

    async def _refresh_once(self, send: Send, session: Session) -> None:
        nsid = "com.atproto.server.refreshSession"
        try:
            try:
                out = await send(Call.post(nsid, None, f"Bearer {session.refresh_jwt}"))
                fresh = Session.from_response(out, pds_url=session.pds_url)
            except XrpcError as exc:
                if exc.status not in (400, 401) or self.session is not session:
                    raise
                if await self._relogin_once(send):
                    return
                await self._set(None)
                logger.info("session of %s ended: refresh refused (%s)", session.did, exc.error)
                raise AuthenticationError(
                    exc.status, exc.error, exc.message, exc.headers, nsid=nsid
                ) from exc
            except (ValueError, TypeError, AttributeError):
                raise DecodeError(f"{nsid} answered no session") from None
            if self.session is session:  # not logged out meanwhile
                await self._set(fresh)
                logger.debug("access token of %s refreshed", fresh.did)
        finally:
            self._refreshing = None

    async def _relogin_once(self, send: Send) -> bool:
        if self._credentials is None:
            return False
        identifier, secret, factor = self._credentials
        try:
            fresh = await self._create_session(send, identifier, secret.value, factor)
        except XrpcError as exc:
            logger.warning("relogin failed (%s); the session ends", exc.error or exc.status)
            self._credentials = None
            return False
        await self._set(fresh)
        logger.info("refresh token expired; logged in again as %s", fresh.did)
        return True

    async def check(self, send: Send) -> None:
        """Check a resumed session once with ``getSession`` (refreshing it if needed).

        Concurrent first calls share the check; a check that fails for a network reason is
        tried again by the next call.
        """
        future = self._checking
        if future is None:
            future = asyncio.ensure_future(self._check_once(send))
            future.add_done_callback(_consume)
            self._checking = future
        try:
            await asyncio.shield(future)
        finally:
            if future.done() and self._checking is future:
                self._checking = None

    async def _check_once(self, send: Send) -> None:
        try:
            out = await send(Call.session_check("com.atproto.server.getSession"))
        except XrpcError as exc:
            if isinstance(exc, AuthenticationError):
                raise
            # The server cannot check sessions (or failed to): do not block every call on it.
            logger.warning("could not check the resumed session: %s", exc)
            self.needs_check = False
            return
        self.needs_check = False
        session = self.session
        if session is None or not isinstance(out, dict) or out.get("did") != session.did:
            return
        changes: dict[str, Any] = {}
        for key, name in (("handle", "handle"), ("email", "email"), ("active", "active")):
            value = out.get(key)
            if value is not None and value != getattr(session, name):
                changes[name] = value
        if changes:
            await self._set(attrs.evolve(session, **changes))

    async def logout(self, send: Send) -> None:
        """Delete the session on the server (``deleteSession``) and forget it here."""
        session = self.session
        if session is None:
            return
        self._credentials = None
        try:
            await send(
                Call.post("com.atproto.server.deleteSession", None, f"Bearer {session.refresh_jwt}")
            )
        except AuthenticationError:
            pass  # already dead on the server: the goal is reached
        finally:
            if self.session is session:
                await self._set(None)


def _consume(future: asyncio.Future[None]) -> None:
    # Mark the outcome as seen even when every waiter was cancelled, so asyncio does not log
    # "exception was never retrieved" for a refresh nobody waits for any more.
    if not future.cancelled():
        future.exception()
