"""`Client`: the XRPC session object every bot and backend lives in.

A request goes ``query`` / ``procedure`` -> a `Call` (what the call asks for) -> `Client._run`
(the request loop: authorize, one request per attempt, recover, retry) -> a `Transport` (the
network) -> back as JSON, bytes or None, or as an `XrpcError`. The records of
``createRecord``, ``putRecord`` and ``applyWrites`` are checked against their lexicons in
``procedure``, before anything is sent (`atproto_async.xrpc.records`).

Auth lives in `AuthState`, which sends the session's own requests (login, refresh, check,
logout) through a `Send` callable, the root client's loop; retry decisions live in
`RetryPolicy`. What a client shares with the clients derived from it (``with_proxy``,
``with_labelers``: session, transport, settings) is one `_Core`; a derived client is built
over it with its own headers.

Spec: https://atproto.com/specs/xrpc
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from atproto_async.exceptions import (
    AtprotoError,
    AuthenticationError,
    ClientClosedError,
    DecodeError,
    InvalidSyntaxError,
    TransportError,
    XrpcError,
)
from atproto_async.xrpc.auth import AuthState, SessionCallback
from atproto_async.xrpc.call import Call, Send
from atproto_async.xrpc.paginate import paginate as _paginate
from atproto_async.xrpc.records import WRITE_METHODS, check_writes, default_catalog
from atproto_async.xrpc.retry import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, RetryPolicy
from atproto_async.xrpc.session import Session, check_service_url
from atproto_async.xrpc.transport import AiohttpTransport, Body, Request, Response, Transport
from atproto_async.xrpc.wire import (
    decode_body,
    encode_body,
    encode_params,
    error_from_response,
    is_admin_method,
    token_refused,
)

if TYPE_CHECKING:
    from atproto_async._model import Blob
    from atproto_async.api import AppNamespace, ChatNamespace, ComNamespace, ToolsNamespace
    from atproto_async.identity import Resolver
    from atproto_async.lexicon import Catalog
    from atproto_async.oauth import OAuthSession

__all__ = ["Client"]

logger = logging.getLogger("atproto_async.xrpc")
_json_loads = json.loads

#: Method names remembered as valid by a client (and its derived clients): each is checked once.
_MAX_KNOWN_NSIDS = 4096


@attrs.define(eq=False, repr=False)
class _Core:
    """What a root `Client` shares with the clients derived from it (``with_proxy``...)."""

    auth: AuthState
    transport: Transport
    policy: RetryPolicy
    timeout: float
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]
    resolver: Resolver | None
    validate_records: bool
    catalog: Catalog | None
    #: The root client's request loop, which the session's own requests go through.
    send: Send = attrs.field(init=False)
    owns_resolver: bool = False
    closed: bool = False  # closing the root closes its derived clients too
    #: Method names checked once (see `Client._check_nsid`).
    known_nsids: set[str] = attrs.Factory(set)


class _Attempts:
    """The bookkeeping of one call's attempts: retries made, fixes tried."""

    __slots__ = ("nonce_retried", "refreshed", "retries")

    def __init__(self) -> None:
        self.retries = 0
        self.refreshed = False
        self.nonce_retried = False


class Client:
    """An XRPC client: raw calls, login and refresh, retries, and the generated endpoints.

    Args:
        service: Base URL of the service (the entryway, a PDS, an AppView...). After ``login``
            requests go to the PDS named in the account's DID document. None: find the
            account's PDS at `login` by resolving the handle or DID given there.
        timeout: Seconds allowed for each attempt (a call may override it).
        max_retries: Retries after the first attempt (a call may override it).
        session: A `Session` or the string of ``export_session()`` to resume; it is checked
            with ``getSession`` on entering the context or before the first call.
        on_session_change: Called (sync or async) with the new `Session` after login and
            refresh, and with None when the session ends.
        headers: Headers sent with every request of this client.
        relogin: Keep the login password in memory and log in again once when the refresh
            token is dead (for long-running bots).
        admin_password: The admin token: admin methods (``com.atproto.admin.*``, invite codes)
            are sent with HTTP Basic ``admin:<token>`` instead of the session.
        allow_insecure: Allow plain ``http://`` to non-loopback hosts.
        transport: Where requests go; defaults to an `AiohttpTransport` owned by the client.
            Pass ``AiohttpTransport(your_aiohttp_session)`` to share a connection pool.
        max_response_size: The longest JSON, text or error body read, after decompression
            (16 MiB by default); longer answers raise `DecodeError`, and reading stops there.
        max_binary_size: The longest blob or CAR body read (512 MiB by default, or
            ``max_response_size`` when only that is given; raise it for exports of very
            large repositories). Both caps apply to the transport the client creates (pass
            them to your own transport).
        retry_policy: Retry tuning (backoff, caps, random source); ``max_retries`` is applied
            on top of it.
        sleep: The coroutine used to wait between attempts (tests pass a fake).
        clock: POSIX time source used to decide when a token needs refreshing.
        resolver: Resolves handles and DIDs (``client.resolver``); share one between clients.
            By default an `IdentityResolver` is made on first use and closed with the client.
        validate_records: Check the records of ``createRecord``, ``putRecord`` and
            ``applyWrites`` against their lexicons before sending them, and refuse a broken
            one with `LexiconValidationError` (nothing is sent). Records of collections the
            catalog does not know go to the server unchecked; a call whose ``validate`` is
            ``False`` is not checked either. See `atproto_async.xrpc.records`.
        catalog: The lexicons records are checked against: by default the bundled ones, read
            on the first checked write and shared by all clients. Pass
            ``Catalog.default().extend(your_lexicons)`` to check your own collections too.
        oauth: An `OAuthSession` (from ``OAuthClient.callback`` or ``restore``): calls go to
            the account's PDS with DPoP-bound tokens, refreshed by themselves; ``service`` is
            then ignored, and ``logout()`` revokes the session. See `atproto_async.oauth`.

    Raises:
        ValueError: ``service`` is not a usable URL, or ``session`` is not a saved session.
    """

    def __init__(
        self,
        service: str | None = "https://bsky.social",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        session: Session | str | None = None,
        on_session_change: SessionCallback | None = None,
        headers: Mapping[str, str] | None = None,
        relogin: bool = False,
        admin_password: str | None = None,
        allow_insecure: bool = False,
        transport: Transport | None = None,
        max_response_size: int | None = None,
        max_binary_size: int | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        resolver: Resolver | None = None,
        validate_records: bool = True,
        catalog: Catalog | None = None,
        oauth: OAuthSession | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, not {timeout}")
        auth: AuthState
        if oauth is not None:
            if session is not None:
                raise ValueError("pass either session= or oauth=, not both")
            from atproto_async.oauth._auth import OAuthAuthState  # loaded only when used

            auth = OAuthAuthState(oauth, clock=clock)
        else:
            # "" stands for "no service yet": login resolves the account's PDS (see _authorize).
            base = (
                "" if service is None else check_service_url(service, allow_insecure=allow_insecure)
            )
            auth = AuthState(
                base,
                on_session_change=on_session_change,
                relogin=relogin,
                admin_password=admin_password,
                allow_insecure=allow_insecure,
                clock=clock,
            )
        if session is not None:
            if isinstance(session, str):
                session = Session.from_json(session)
            auth.install(session)
            auth.needs_check = True
        if transport is None:
            transport = AiohttpTransport(
                max_response_size=max_response_size, max_binary_size=max_binary_size
            )
        policy = retry_policy if retry_policy is not None else RetryPolicy()
        core = _Core(
            auth=auth,
            transport=transport,
            policy=attrs.evolve(policy, max_retries=max_retries),
            timeout=float(timeout),
            sleep=sleep,
            clock=clock,
            resolver=resolver,
            validate_records=validate_records,
            catalog=catalog,
        )
        # Session requests (login, refresh, check, logout) go through this root client's loop:
        # the proxy and labeler headers of a derived client must not go with them.
        core.send = self._run
        self._attach(core, dict(headers or {}), root=True)

    def _attach(self, core: _Core, headers: dict[str, str], *, root: bool) -> None:
        """Set up a client over ``core``, what it shares with its root and derived clients."""
        self._core = core
        self._auth = core.auth  # read by every call: one attribute lookup, not two
        self._headers = headers
        self._with_auth: tuple[str | None, dict[str, str]] = (None, headers)
        self._is_root = root

    @classmethod
    def _over(cls, core: _Core, headers: dict[str, str]) -> Client:
        """A derived client: the same session, transport and settings, its own headers."""
        client = cls.__new__(cls)
        client._attach(core, headers, root=False)
        return client

    def __repr__(self) -> str:
        oauth = self.oauth_session
        if oauth is not None:
            who = f"{oauth.did}, OAuth"
        else:
            who = self._auth.session.did if self._auth.session else "no session"
        return f"<Client {self._auth.base_url} ({who})>"

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        if self._auth.needs_check:
            await self._auth.check(self._core.send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections (derived clients leave the shared transport to their root).

        Calls made afterwards raise `ClientClosedError` (on derived clients too): a closed
        client would otherwise open a new connection pool that nothing closes.
        """
        core = self._core
        if self._is_root:
            core.closed = True
            await core.transport.close()
            if core.owns_resolver and core.resolver is not None:
                await core.resolver.close()  # type: ignore[attr-defined]

    @property
    def resolver(self) -> Resolver:
        """The identity resolver: the one given, or an `IdentityResolver` made on first use."""
        core = self._core
        if core.resolver is None:
            from atproto_async.identity import IdentityResolver  # loaded only when used

            core.resolver = IdentityResolver(timeout=core.timeout)
            core.owns_resolver = True
        return core.resolver

    # -- session -----------------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The current session, or None when not logged in."""
        return self._auth.session

    @property
    def oauth_session(self) -> OAuthSession | None:
        """The `OAuthSession` of a ``Client(oauth=...)``, else None."""
        return getattr(self._auth, "oauth_session", None)

    @property
    def service(self) -> str:
        """Where requests go now: the session's PDS, else the service URL."""
        return self._auth.base_url

    async def login(
        self, identifier: str, password: str, *, auth_factor_token: str | None = None
    ) -> Session:
        """Log in with ``com.atproto.server.createSession``.

        Use an app password (``xxxx-xxxx-xxxx-xxxx``); anything else is logged as a warning
        (logger ``atproto_async.xrpc``) once per process, except for a loopback service (a
        local development PDS). Later requests go to the account's PDS. A client made with
        ``service=None`` first resolves ``identifier`` (a handle or DID) to the account's PDS
        and logs in there.

        Args:
            identifier: Handle, DID or email of the account (not an email with ``service=None``).
            password: Its (app) password; kept in memory only with ``relogin=True``.
            auth_factor_token: The emailed code, when the server asks for one
                (``AuthFactorTokenRequired``).

        Returns:
            The new session (also passed to ``on_session_change``).

        Raises:
            AuthenticationError: Wrong identifier or password.
            XrpcError: Another refusal (e.g. ``AuthFactorTokenRequired``, ``AccountTakedown``).
            TransportError: The network failed.
            DecodeError: The server answered something that is not a session.
            IdentityError: ``service=None`` and the account's PDS could not be resolved.
        """
        if not self._auth.service:
            await self._use_pds_of(identifier)
        return await self._auth.login(self._core.send, identifier, password, auth_factor_token)

    async def _use_pds_of(self, identifier: str) -> None:
        """Point a client made with ``service=None`` at the PDS of ``identifier``."""
        from atproto_async.exceptions import IdentityError

        if "@" in identifier:
            raise ValueError("logging in by email needs the service URL: Client(service=...)")
        resolver = self.resolver
        did = identifier
        if not identifier.startswith("did:"):
            did = await resolver.resolve_handle(identifier)
        document = await resolver.resolve_did(did)
        if document.pds is None:
            raise IdentityError(did, "the DID document names no PDS (#atproto_pds)")
        try:
            pds = check_service_url(document.pds, allow_insecure=self._auth.allow_insecure)
        except ValueError as exc:
            raise IdentityError(did, f"unusable PDS endpoint: {exc}") from None
        logger.info("%s is hosted on %s", identifier, pds)
        self._auth.service = self._auth.base_url = pds

    async def refresh_session(self) -> Session:
        """Refresh the access token now (normally automatic).

        Raises:
            AuthenticationError: Not logged in, or the refresh token is dead (session ended).
        """
        await self._auth.refresh(self._core.send)
        session = self._auth.session
        if session is None:
            raise AuthenticationError(401, "AuthMissing", "the session ended")
        return session

    async def logout(self) -> None:
        """End the session on the server and here (an OAuth session is revoked); a no-op
        without one."""
        await self._auth.logout(self._core.send)

    def export_session(self) -> str:
        """Return the session as a JSON string for ``Client(session=...)``.

        The string holds the tokens: store it like a password.

        Raises:
            AtprotoError: Not logged in.
        """
        session = self._auth.session
        if session is None:
            if self.oauth_session is not None:
                raise AtprotoError(
                    "an OAuth session is kept by its OAuthClient's session store "
                    "(oauth.restore(did) reads it back), not exported"
                )
            raise AtprotoError("no session to export: log in first")
        return session.to_json()

    # -- derived clients ---------------------------------------------------------------------

    def _derive(self, extra: Mapping[str, str]) -> Client:
        return Client._over(self._core, {**self._headers, **extra})

    def with_proxy(self, did: str, service_id: str) -> Client:
        """Return a client whose requests the PDS forwards to another service.

        The new client shares this one's session, refresh and connections
        (https://atproto.com/specs/xrpc - service proxying, ``atproto-proxy`` header).

        Args:
            did: DID of the service (e.g. ``did:web:api.bsky.chat``).
            service_id: Service entry in its DID document (``bsky_chat``, ``#atproto_labeler``).
        """
        if not did.startswith("did:"):
            raise ValueError(f"not a DID: {did!r}")
        return self._derive({"atproto-proxy": f"{did}#{service_id.lstrip('#')}"})

    def with_labelers(self, *dids: str) -> Client:
        """Return a client asking for labels from these labelers (``atproto-accept-labelers``).

        Each entry is a DID, optionally followed by ``;redact``. The new client shares this
        one's session, refresh and connections.
        """
        return self._derive({"atproto-accept-labelers": ", ".join(dids)})

    # -- generated namespaces ----------------------------------------------------------------

    @cached_property
    def com(self) -> ComNamespace:
        """Endpoints under ``com.*`` (generated)."""
        from atproto_async.api import ComNamespace

        return ComNamespace(self)

    @cached_property
    def app(self) -> AppNamespace:
        """Endpoints under ``app.*`` (generated)."""
        from atproto_async.api import AppNamespace

        return AppNamespace(self)

    @cached_property
    def chat(self) -> ChatNamespace:
        """Endpoints under ``chat.*`` (generated)."""
        from atproto_async.api import ChatNamespace

        return ChatNamespace(self)

    @cached_property
    def tools(self) -> ToolsNamespace:
        """Endpoints under ``tools.*`` (generated)."""
        from atproto_async.api import ToolsNamespace

        return ToolsNamespace(self)

    # -- raw calls ---------------------------------------------------------------------------

    async def query(
        self,
        nsid: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (per-call timeout is the API)
        max_retries: int | None = None,
        admin: bool | None = None,
    ) -> Any:
        """Call a query (HTTP GET).

        Args:
            nsid: The method, e.g. ``com.atproto.identity.resolveHandle``.
            params: Query parameters: str, int, bool, lists of those (repeated keys); None
                values are left out.
            headers: Extra headers for this call.
            timeout: Seconds per attempt for this call.
            max_retries: Retries for this call.
            admin: Force (True) or refuse (False) admin Basic auth; by default it is used for
                admin methods when the client has an admin token.

        Returns:
            Parsed JSON (dicts and lists as they come), ``bytes`` for other content types,
            None for an empty body.

        Raises:
            XrpcError: A non-2xx answer (a subclass per status, see ``atproto_async.exceptions``).
            TransportError: The network failed; `RequestTimeout` when an attempt timed out.
            DecodeError: The server said JSON but sent something else.
            InvalidSyntaxError: ``nsid`` is not an NSID (a ``ValueError``; nothing is sent).
        """
        call = Call(
            "GET",
            nsid,
            encode_params(params) if params else (),
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            admin=admin,
        )
        return await self._run(call)

    async def procedure(
        self,
        nsid: str,
        data: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        encoding: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (per-call timeout is the API)
        max_retries: int | None = None,
        admin: bool | None = None,
    ) -> Any:
        """Call a procedure (HTTP POST).

        Args:
            nsid: The method, e.g. ``com.atproto.repo.createRecord``.
            data: A JSON value (sent as ``application/json``), or ``bytes`` / an async
                iterable of ``bytes`` sent as they are with ``encoding`` as Content-Type.
                A stream is sent once: never retried nor replayed after a refresh.
            params: Query parameters, as for `query`.
            encoding: Content-Type of a raw body (default ``application/octet-stream``).
            headers: Extra headers for this call.
            timeout: Seconds per attempt for this call.
            max_retries: Retries for this call (only ever made when the server cannot have
                run the method).
            admin: As for `query`.

        Returns:
            As for `query`.

        Raises:
            LexiconValidationError: A record written with ``createRecord``, ``putRecord`` or
                ``applyWrites`` does not match its lexicon (see ``Client(validate_records=)``);
                nothing was sent.
            TypeError: ``data`` holds a value with no JSON form; the message names where.
            As for `query`.
        """
        body, content_type, replayable = encode_body(data, encoding)
        if (
            nsid in WRITE_METHODS
            and self._core.validate_records
            and content_type == "application/json"
        ):
            self._check_records(nsid, body)
        call = Call(
            "POST",
            nsid,
            encode_params(params) if params else (),
            body,
            content_type,
            replayable=replayable,
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            admin=admin,
        )
        return await self._run(call)

    async def upload_blob(self, data: bytes | AsyncIterable[bytes], encoding: str) -> Blob:
        """Upload a blob with ``com.atproto.repo.uploadBlob`` and return its blob reference.

        Args:
            data: The blob bytes, or an async iterable of chunks (sent once, not retried).
            encoding: Its MIME type, e.g. ``image/png``.

        Returns:
            The `Blob` to put into a record, as it is (in a model or a plain dict): it is
            written as ``{"$type": "blob", "ref": {"$link": ...}, "mimeType": ..., "size":
            ...}``. The same as ``client.com.atproto.repo.upload_blob(...).blob``.

        Raises:
            DecodeError: The server's answer holds no blob reference.
            As for `procedure`.
        """
        from atproto_async._model import Blob
        from atproto_async.ipld import from_json

        out = await self.procedure("com.atproto.repo.uploadBlob", data, encoding=encoding)
        blob = out.get("blob") if isinstance(out, dict) else None
        if not isinstance(blob, dict):
            raise DecodeError("com.atproto.repo.uploadBlob answered without a 'blob' object")
        return Blob.from_dict(from_json(blob))

    def paginate(
        self,
        method: Callable[..., Awaitable[Any]],
        items: str,
        /,
        *,
        max_items: int | None = None,
        max_pages: int | None = None,
        **params: Any,
    ) -> AsyncIterator[Any]:
        """Iterate over the items of every page of a cursor-paginated call.

        Example::

            async for follower in client.paginate(
                client.app.bsky.graph.get_followers, "followers", actor=did, max_items=500
            ):
                ...

        Args:
            method: An async callable taking ``cursor=`` plus ``params``.
            items: Name of the list field of a page.
            max_items: Stop after this many items.
            max_pages: Stop after this many requests.
            **params: Passed to every call.
        """
        return _paginate(method, items, max_items=max_items, max_pages=max_pages, **params)

    # -- the request loop --------------------------------------------------------------------

    def _check_records(self, nsid: str, body: Body) -> None:
        """Check the records of a write body (``body`` is its JSON, as it will be sent)."""
        if type(body) is not bytes:
            return
        try:
            sent = _json_loads(body)
        except ValueError:
            return  # not JSON after all: the server answers for it
        catalog = self._core.catalog
        check_writes(default_catalog() if catalog is None else catalog, nsid, sent)

    def _check_nsid(self, nsid: str) -> None:
        """Refuse a method name that is not an NSID before anything is sent.

        A typo would otherwise reach the server and come back as a 404 or a 501 that hides it.
        Valid names are remembered (up to `_MAX_KNOWN_NSIDS`), so a call pays a set lookup.
        """
        known = self._core.known_nsids
        if nsid in known:
            return
        from atproto_async.syntax import is_valid_nsid  # loaded by the first call, not import

        if not is_valid_nsid(nsid):
            raise InvalidSyntaxError(
                "NSID", nsid, "an XRPC method is named by an NSID, e.g. com.atproto.repo.getRecord"
            )
        if len(known) < _MAX_KNOWN_NSIDS:
            known.add(nsid)

    def _request_headers(
        self,
        authorization: str | None,
        content_type: str | None,
        extra: Mapping[str, str] | None,
    ) -> dict[str, str]:
        cached_auth, headers = self._with_auth
        if cached_auth is not authorization:
            headers = dict(self._headers)
            if authorization is not None:
                headers["Authorization"] = authorization
            self._with_auth = (authorization, headers)
        if content_type is None and not extra:
            return headers  # shared, never mutated
        headers = dict(headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if extra:
            headers.update(extra)
        return headers

    async def _run(self, call: Call) -> Any:
        """Run one call: authorize, send, recover (nonce, refresh), retry; return the answer.

        Each pass of the loop is one HTTP request. An error answer is first offered to
        `_recover` (a DPoP nonce to adopt, an expired token to refresh: replay at once), then
        to the retry policy (`_backoff`: wait and try again, or raise it).
        """
        core = self._core
        if core.closed:
            raise ClientClosedError("this Client is closed; make a new one")
        self._check_nsid(call.nsid)
        timeout = call.timeout
        if timeout is None:
            timeout = core.timeout
        elif timeout <= 0:
            raise ValueError(f"timeout must be > 0, not {timeout}")
        auth = self._auth
        use_session = call.session
        authorization = call.authorization
        admin = call.admin
        if use_session and (admin or (admin is None and is_admin_method(call.nsid))):
            if auth.admin_authorization is None:
                if admin:
                    raise ValueError("admin=True needs Client(admin_password=...)")
            else:
                authorization, use_session = auth.admin_authorization, False
        dpop = auth.dpop and use_session
        attempts: _Attempts | None = None  # made at the first failure: most calls have none
        path = "/xrpc/" + call.nsid
        while True:
            if use_session:
                if auth.needs_check or auth.token is None or core.clock() >= auth.refresh_at:
                    await self._prepare_session(call)
                sent_auth = auth.bearer
            else:
                sent_auth = authorization
            url = call.base_url or auth.base_url
            if not url:
                raise AtprotoError(
                    "this client has no service URL: log in with a handle or DID first, "
                    "or pass Client(service=...)"
                )
            extra = call.headers
            if dpop and sent_auth is not None:
                # An OAuth session: every request carries a fresh DPoP proof of its own.
                proof = auth.proof(call.method, url + path)
                extra = {**extra, "DPoP": proof} if extra else {"DPoP": proof}
            request = Request(
                call.method,
                url + path,
                call.params,
                self._request_headers(sent_auth, call.content_type, extra),
                call.body,
                timeout,
            )
            try:
                response = await core.transport.send(request)
            except TransportError as exc:
                attempts = attempts or _Attempts()
                await self._backoff(call, exc, attempts)
                continue
            if dpop:
                auth.observe(request.url, response.headers)
            if 200 <= response.status < 300:
                return decode_body(response, call.nsid)
            error = error_from_response(
                response,
                call.nsid,
                secrets=self._secrets(request, call.secrets),
                now=core.clock(),
            )
            attempts = attempts or _Attempts()
            if use_session and await self._recover(response, error, sent_auth, attempts):
                if call.replayable:
                    continue
                raise error
            await self._backoff(call, error, attempts)

    async def _prepare_session(self, call: Call) -> None:
        """Make the session fit to send: a resumed session is checked first, a token about to
        expire refreshed first (the loop calls this only when one of them is due)."""
        auth = self._auth
        if auth.token is not None:
            if call.check and auth.needs_check:
                await auth.check(self._core.send)
            if self._core.clock() >= auth.refresh_at and auth.token is not None:
                await auth.refresh(self._core.send, auth.token)
        elif auth.dpop:  # a Client bound to an OAuth session that was logged out
            raise AuthenticationError(
                401, "SessionEnded", "the OAuth session was revoked: sign in again"
            )

    async def _recover(
        self, response: Response, error: XrpcError, sent_auth: str | None, attempts: _Attempts
    ) -> bool:
        """Whether a session's refused request should be sent again at once, once fixed.

        Each fix is tried once per call: the server's new DPoP nonce adopted, or the token
        refreshed after an answer saying it is expired or invalid (not after one about
        permissions, which a new token would not change).
        """
        auth = self._auth
        if auth.dpop and not attempts.nonce_retried and auth.nonce_refused(response, error):
            attempts.nonce_retried = True  # the nonce is kept by observe(): replay with it
            return True
        if (
            not attempts.refreshed
            and sent_auth is not None
            and response.status in (400, 401)
            and token_refused(error)
            and auth.token is not None
        ):
            attempts.refreshed = True
            await auth.refresh(self._core.send, sent_auth.partition(" ")[2])  # the token alone
            return True
        return False

    async def _backoff(self, call: Call, error: AtprotoError, attempts: _Attempts) -> None:
        """Wait before the next attempt if the retry policy allows one; else raise ``error``."""
        core = self._core
        delay = core.policy.delay(
            error,
            attempts.retries,
            idempotent=call.method == "GET",
            replayable=call.replayable,
            max_retries=call.max_retries,
        )
        if delay is None:
            raise error
        attempts.retries += 1
        self._log_retry(call.nsid, error, delay, attempts.retries)
        await core.sleep(delay)

    def _secrets(self, request: Request, extra: tuple[str, ...]) -> list[str]:
        """Everything an error must not show: held tokens and passwords, the credential this
        request carried (the session may have moved on since), and the call's own."""
        found = self._auth.secrets()
        sent = request.headers.get("Authorization")
        if sent:
            found.append(sent.partition(" ")[2] or sent)
        found += extra
        return found

    @staticmethod
    def _log_retry(nsid: str, error: AtprotoError, delay: float, retry: int) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s failed (%s); retry %d in %.2f s", nsid, error, retry, delay)
