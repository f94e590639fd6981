"""`Call`: one XRPC call as the request loop of `Client` runs it, and `Send`, what runs it.

``Client.query`` and ``procedure`` describe a call with a `Call` and hand it to the client's
request loop (``Client._run``: auth, one request per attempt, recovery, retries). The session
machinery (`AuthState`: login, refresh, check, logout) sends its own requests the same way,
through a `Send` callable the client gives it, never through the client's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from atproto_async.xrpc.transport import Body
from atproto_async.xrpc.wire import encode_body

__all__ = ["Call", "Send"]


class Call:
    """What one call asks for; the loop decides the rest (URL, headers, proofs, attempts).

    Attributes:
        method: ``"GET"`` for a query, ``"POST"`` for a procedure.
        nsid: The method's NSID.
        params: Encoded query parameters (a key may repeat).
        body: The encoded body (see `Body`), None for none.
        content_type: The body's Content-Type, None for none.
        replayable: Whether the body can be sent again (a stream cannot): only a replayable
            call is retried or replayed after a refresh.
        headers: Extra headers for this call.
        timeout: Seconds per attempt, None for the client's.
        max_retries: Retries for this call, None for the client's policy.
        admin: Force (True) or refuse (False) admin Basic auth; None decides by method.
        session: Authorize with the session (its token, refreshed as needed). When False,
            ``authorization`` is sent as it is (None: no ``Authorization`` header).
        authorization: The ``Authorization`` value of a call made without the session.
        base_url: Send there rather than to the session's PDS or the service.
        check: Check a resumed session first (False for the check's own request).
        secrets: Strings the call carries that an error must not show (a login password).
    """

    # No __slots__: the five fields below keep their class defaults on nearly every call, so
    # a call sets ten attributes, not fifteen (a query's Call: 0.39 -> 0.32 us, timeit).
    session = True
    authorization: str | None = None
    base_url: str | None = None
    check = True
    secrets: tuple[str, ...] = ()

    def __init__(
        self,
        method: str,
        nsid: str,
        params: list[tuple[str, str]] | tuple[()] = (),
        body: Body = None,
        content_type: str | None = None,
        *,
        replayable: bool = True,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        admin: bool | None = None,
    ) -> None:
        self.method = method
        self.nsid = nsid
        self.params = params
        self.body = body
        self.content_type = content_type
        self.replayable = replayable
        self.headers = headers
        self.timeout = timeout
        self.max_retries = max_retries
        self.admin = admin

    @classmethod
    def post(
        cls,
        nsid: str,
        data: Any,
        authorization: str | None,
        *,
        base_url: str | None = None,
        secrets: tuple[str, ...] = (),
    ) -> Call:
        """A JSON procedure sent with ``authorization`` rather than the session (the session
        requests themselves: createSession, refreshSession, deleteSession)."""
        body, content_type, _ = encode_body(data, None)
        call = cls("POST", nsid, (), body, content_type, admin=False)
        call.session = False
        call.authorization = authorization
        call.base_url = base_url
        call.secrets = secrets
        return call

    @classmethod
    def session_check(cls, nsid: str) -> Call:
        """A GET with the session that does not wait for the session's check (it is the
        check: it would otherwise wait for itself)."""
        call = cls("GET", nsid, admin=False)
        call.check = False
        return call

    def __repr__(self) -> str:  # headers, bodies and credentials stay out of it
        return f"<Call {self.method} {self.nsid}>"


#: Runs a `Call` and returns the decoded answer (or raises its error): what a client lends
#: the session machinery for the session's own requests.
Send = Callable[[Call], Awaitable[Any]]
