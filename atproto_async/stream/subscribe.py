"""Live event streams over WebSocket: reconnecting, resuming from the cursor, bounded in memory.

This is the thin I/O layer: it moves messages from a ``websockets`` connection into the
sans-I/O `EventGate` and hands the events out through ``async for``. What it adds:

- Resuming: every (re)connection asks for ``?cursor=<last seq handed out>``, and replays the
  server sends anyway are dropped by the gate, so no event is lost or seen twice. A seq that
  goes down on one connection is logged and followed (see `EventGate`), so the cursor stays
  one the server knows.
- Reconnecting: dropped connections, ``ConsumerTooSlow`` error frames, idle connections (no
  message for ``idle_timeout`` seconds) and 5xx / 429 answers at the upgrade all reconnect after
  a `ReconnectPolicy` delay; ``FutureCursor`` and other error frames raise `StreamError`, and a
  4xx or a 501 (method not implemented) raises the matching `XrpcError`. While the stream is
  down, `Subscription.reconnect_attempt` and `Subscription.disconnect_reason` say so (for a
  status display); a TLS failure on a ``wss://`` URL suggests ``ws://`` (local servers rarely
  speak TLS), and an upgrade closed without an answer asks whether the host serves the method.
- Bounded memory: ``websockets`` stops reading from the socket once ``max_queue`` frames wait
  unread, so a slow consumer slows the server down (until it sends ``ConsumerTooSlow``)
  instead of growing a buffer.
- Keepalive: a consumer that stops reading for longer than ``ping_interval + ping_timeout``
  cannot see the server's pongs (they queue behind the unread events), so the connection is
  dropped and reopened from the cursor - nothing is lost; raise ``ping_timeout`` (or pass
  None) for consumers that pause for long.
- Persisting the cursor: ``on_cursor`` (sync or async) is called at most every
  ``cursor_interval`` seconds with the seq of the last event the consumer finished with
  (at-least-once: the event being handled when the process dies is delivered again).

Specs: https://atproto.com/specs/event-stream and https://atproto.com/specs/sync#firehose
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, Unpack, overload
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
)

from atproto_async._httputil import error_fields, parse_retry_after, xrpc_error_body
from atproto_async.exceptions import FrameDecodeError, StreamError, TransportError, xrpc_error_class
from atproto_async.stream.cursorhook import CursorHook
from atproto_async.stream.events import Event
from atproto_async.stream.frames import (
    DEFAULT_MAX_BLOCKS_SIZE,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_OPS,
)
from atproto_async.stream.gate import EventGate
from atproto_async.stream.raw import RawFrame, RawGate
from atproto_async.stream.reconnect import ReconnectPolicy, next_reconnect
from atproto_async.stream.urls import SUBSCRIBE_LABELS, SUBSCRIBE_REPOS, _is_loopback, stream_url

if TYPE_CHECKING:
    from atproto_async.identity.resolver import Resolver
    from atproto_async.lexicon import Catalog
    from atproto_async.sync import StateStore, Verdict, VerifiedSubscription
    from atproto_async.sync.labels import VerifiedLabels

__all__ = [
    "SUBSCRIBE_LABELS",
    "SUBSCRIBE_REPOS",
    "RawSubscription",
    "Subscription",
    "SubscriptionOptions",
    "stream_url",
    "subscribe_labels",
    "subscribe_repos",
]

logger = logging.getLogger("atproto_async.stream")


#: Seconds without any message after which a connection is considered dead.
DEFAULT_IDLE_TIMEOUT = 60.0
#: Messages buffered by ``websockets`` before it stops reading from the socket.
DEFAULT_MAX_QUEUE = 16
#: Seconds between two calls of the ``on_cursor`` hook.
DEFAULT_CURSOR_INTERVAL = 5.0

_MESSAGE_TOO_BIG = 1009  # WebSocket close code sent when a message exceeds max_size


class SubscriptionOptions(TypedDict, total=False):
    """Keyword options of `subscribe_repos` and `subscribe_labels` (see `Subscription`)."""

    collections: Iterable[str] | None
    event_types: Iterable[type[Event]] | None
    on_cursor: Callable[[int], Any] | None
    cursor_interval: float
    on_message: Callable[[bytes], Any] | None
    idle_timeout: float | None
    reconnect: ReconnectPolicy | None
    max_attempts: int | None
    fail_fast: bool
    skip_invalid: bool
    verify_records: bool
    validate_records: bool
    catalog: Catalog | None
    max_frame_size: int
    max_ops: int
    max_blocks_size: int
    max_queue: int
    open_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    close_timeout: float | None
    compression: str | None
    headers: Mapping[str, str] | None
    allow_insecure: bool
    sleep: Callable[[float], Awaitable[Any]]
    clock: Callable[[], float]


#: The value of every option not given (the types and the meaning are `SubscriptionOptions`'s
#: and `Subscription`'s; a test holds the three to the same names).
OPTION_DEFAULTS: Final[SubscriptionOptions] = {
    "collections": None,
    "event_types": None,
    "on_cursor": None,
    "cursor_interval": DEFAULT_CURSOR_INTERVAL,
    "on_message": None,
    "idle_timeout": DEFAULT_IDLE_TIMEOUT,
    "reconnect": None,
    "max_attempts": None,
    "fail_fast": False,
    "skip_invalid": False,
    "verify_records": True,
    "validate_records": False,
    "catalog": None,
    "max_frame_size": DEFAULT_MAX_FRAME_SIZE,
    "max_ops": DEFAULT_MAX_OPS,
    "max_blocks_size": DEFAULT_MAX_BLOCKS_SIZE,
    "max_queue": DEFAULT_MAX_QUEUE,
    "open_timeout": 10.0,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "close_timeout": 1.0,
    "compression": None,
    "headers": None,
    "allow_insecure": False,
    "sleep": asyncio.sleep,
    "clock": time.monotonic,
}


def _tls_hint(url: str, exc: BaseException) -> str:
    """Suggest ``ws://`` when a ``wss://`` connection failed in a way a plain server causes.

    A host given without a scheme (``127.0.0.1:2583``) becomes ``wss://``; a local development
    server answers the TLS handshake with plain HTTP (an ``SSLError``) or drops it.
    """
    parts = urlsplit(url)
    if parts.scheme != "wss" or isinstance(exc, ConnectionRefusedError):
        return ""
    if isinstance(exc, ssl.SSLError) or _is_loopback(parts.hostname or ""):
        return f"; if the server does not speak TLS, did you mean ws://{parts.netloc}?"
    return ""


def _unanswered_hint(nsid: str, exc: BaseException) -> str:
    """Explain an upgrade the server closed without any HTTP answer.

    The reference XRPC server (``@atproto/xrpc-server``) does that for a subscription it does
    not serve - a PDS asked for ``com.atproto.label.subscribeLabels``, say - instead of a 404.
    """
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return (
            "; the server closed the connection without an HTTP answer, as the reference XRPC "
            f"server does for a subscription it does not serve: is {nsid} served there?"
        )
    return ""


class _Retry(Exception):
    """Internal: the connection is lost or refused in a way worth another attempt."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Subscription:
    """An event stream that reconnects by itself; iterate it with ``async for``.

    Create it with `subscribe_repos` or `subscribe_labels`. Each ``async for`` (re)connects
    from `cursor`. A loop left with ``break`` keeps its connection until the next ``async for``,
    `aclose` or the end of ``async with``: use ``async with`` to close it for sure.

    Args:
        url: Server URL (see `stream_url`).
        nsid: The subscription method.
        cursor: Resume after this seq (None: start with live events).
        collections: Keep only commit ops of these collections (commits left empty are
            dropped); applied before any record is decoded.
        event_types: Keep only these event classes (e.g. ``{Commit, Account}``).
        on_cursor: Called (sync or async) with the seq of the last fully handled event, at most
            every ``cursor_interval`` seconds and once more when the stream closes. An async
            hook runs as a task; the loop never waits for it.
        cursor_interval: Seconds between two ``on_cursor`` calls.
        on_message: Called with each raw message whose event is handed out (for recording).
        idle_timeout: Seconds without a message after which the connection is dropped and
            reopened (None disables; the default for `subscribe_labels`, as labelers are often
            quiet for long). Time the consumer spends between events does not count; dead
            TCP connections are also caught by the keepalive pings.
        reconnect: Backoff policy (`ReconnectPolicy` defaults when None).
        max_attempts: Give up with `TransportError` after this many failed attempts in a row
            (None: never).
        fail_fast: Raise `TransportError` at once if the very first connection fails.
        skip_invalid: Log and skip malformed messages instead of raising `FrameDecodeError`.
            A commit's record that cannot be read is then None (``op.record``, read lazily
            after the commit was handed out): a warning is logged and ``op.record_error``
            says why, and the iteration goes on.
        verify_records: Check each record block against its CID when ``op.record`` reads it
            (see `decode_frame`); ``False`` trusts the relay and saves the hashing.
        validate_records: Check each record against its lexicon when ``op.record`` reads it;
            a record that does not match is treated like one that cannot be read (see
            ``skip_invalid``). Records of collections the catalog does not know pass.
        catalog: The lexicons of ``validate_records`` (default: the bundled ones).
        max_frame_size: Largest message accepted (also the WebSocket ``max_size``).
        max_ops: See `decode_frame`.
        max_blocks_size: See `decode_frame`.
        max_queue: Messages buffered before reading from the socket pauses.
        open_timeout: Seconds allowed for the TCP, TLS and WebSocket handshakes.
        ping_interval: Seconds between keepalive pings (None disables).
        ping_timeout: Seconds to wait for a pong before the connection counts as dead.
        close_timeout: Seconds allowed for the closing handshake (short: a stream closed while
            its buffer is full cannot read the server's close frame, and is then aborted).
        compression: ``"deflate"`` to offer permessage-deflate (off by default: it costs
            more CPU than the firehose saves in bandwidth on most links).
        headers: Extra HTTP headers for the upgrade request.
        allow_insecure: Allow ``ws://`` to non-loopback hosts.
        sleep: Awaitable sleep used between attempts (inject a fake in tests).
        clock: Monotonic clock used to judge whether a connection stayed healthy, when it
            went idle (``idle_timeout``) and when the cursor hook is due.
    """

    def __init__(
        self,
        url: str,
        nsid: str,
        *,
        cursor: int | None = None,
        **options: Unpack[SubscriptionOptions],
    ) -> None:
        unknown = options.keys() - OPTION_DEFAULTS.keys()
        if unknown:
            raise TypeError(f"unknown subscription options: {', '.join(sorted(unknown))}")
        o: SubscriptionOptions = {**OPTION_DEFAULTS, **options}
        self.url = stream_url(url, nsid, allow_insecure=o["allow_insecure"])
        self.nsid = nsid
        self._gate = EventGate(
            cursor=cursor,
            collections=o["collections"],
            event_types=o["event_types"],
            max_frame_size=o["max_frame_size"],
            max_ops=o["max_ops"],
            max_blocks_size=o["max_blocks_size"],
            verify_records=o["verify_records"],
            skip_invalid_records=o["skip_invalid"],
            validate_records=o["validate_records"],
            catalog=o["catalog"],
        )
        self._cursor_hook = (
            None
            if o["on_cursor"] is None
            else CursorHook(o["on_cursor"], o["cursor_interval"], cursor)
        )
        self._on_message = o["on_message"]
        self._idle_timeout = o["idle_timeout"]
        self._policy = o["reconnect"] or ReconnectPolicy()
        self._max_attempts = o["max_attempts"]
        self._fail_fast = o["fail_fast"]
        self._skip_invalid = o["skip_invalid"]
        self._connect_options: dict[str, Any] = {
            "max_size": o["max_frame_size"],
            "max_queue": o["max_queue"],
            "open_timeout": o["open_timeout"],
            "ping_interval": o["ping_interval"],
            "ping_timeout": o["ping_timeout"],
            "close_timeout": o["close_timeout"],
            "compression": o["compression"],
            "additional_headers": dict(o["headers"]) if o["headers"] else None,
        }
        self._sleep = o["sleep"]
        self._clock = o["clock"]
        #: Connections opened so far.
        self.connections = 0
        #: 0 while connected (and before the first connection); while the stream is down, the
        #: number of the reconnection attempt being waited for or made (as in the log line).
        self.reconnect_attempt = 0
        #: Why the last connection ended or could not be opened; None until one did.
        self.disconnect_reason: str | None = None
        self._current: AsyncGenerator[Event, None] | None = None
        self._waiting_since: float | None = None
        self._idle = False
        self._acked: int | None = cursor

    @property
    def cursor(self) -> int | None:
        """The seq of the last event handed out (or filtered out); None before the first."""
        return self._gate.cursor

    def __repr__(self) -> str:
        return f"<Subscription {self.url} cursor={self.cursor}>"

    def __aiter__(self) -> AsyncIterator[Event]:
        self._current = self._iterate(self._current)
        return self._current

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (if any) and flush the cursor hook one last time."""
        current, self._current = self._current, None
        if current is not None:
            await current.aclose()

    def _url_with_cursor(self) -> str:
        cursor = self._gate.cursor
        if cursor is None:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}cursor={cursor}"

    async def _iterate(
        self, previous: AsyncGenerator[Event, None] | None
    ) -> AsyncGenerator[Event, None]:
        if previous is not None:
            await previous.aclose()
        failures = 0
        try:
            while True:
                opened_at: float | None = None
                retry_after: float | None = None
                reason = "the connection ended"
                try:
                    ws = await self._open()
                    opened_at = self._clock()
                    self.connections += 1
                    self.reconnect_attempt = 0
                    receiver = self._receive(ws)
                    try:
                        async for event in receiver:
                            yield event
                    finally:
                        await receiver.aclose()
                        await ws.close()
                except _Retry as exc:
                    reason, retry_after = exc.reason, exc.retry_after
                decision = next_reconnect(
                    self._policy,
                    failures,
                    connected_for=None if opened_at is None else self._clock() - opened_at,
                    retry_after=retry_after,
                    reason=reason,
                    fail_fast=self._fail_fast,
                    ever_connected=self.connections > 0,
                    max_attempts=self._max_attempts,
                )
                failures, delay = decision.failures, decision.delay
                if delay is None:
                    raise TransportError(str(decision.give_up), url=self.url)
                self.reconnect_attempt, self.disconnect_reason = failures, reason
                logger.info(
                    "%s: %s; reconnecting in %.1f s from cursor %s (attempt %d)",
                    self.url,
                    reason,
                    delay,
                    self._gate.cursor,
                    failures,
                )
                await self._sleep(delay)
        finally:
            if self._cursor_hook is not None:
                await self._cursor_hook.close(self._acked)

    async def _open(self) -> ClientConnection:
        try:
            return await connect(self._url_with_cursor(), **self._connect_options)
        except InvalidStatus as exc:
            response = exc.response
            status = response.status_code
            if status == 429:
                raise _Retry(
                    "HTTP 429 at the upgrade",
                    parse_retry_after(response.headers.get("Retry-After")),
                ) from None
            if status == 408 or (status >= 500 and status != 501):
                raise _Retry(f"HTTP {status} at the upgrade") from None
            parsed = xrpc_error_body(response.body)
            error, message = error_fields(parsed) if parsed is not None else (None, None)
            raise xrpc_error_class(status)(
                status, error, message, dict(response.headers.raw_items()), nsid=self.nsid
            ) from None
        except (InvalidURI, InvalidProxy) as exc:
            raise ValueError(str(exc)) from None
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
            hint = _tls_hint(self.url, exc) or _unanswered_hint(self.nsid, exc)
            raise _Retry(f"cannot connect ({type(exc).__name__}: {exc}){hint}") from None

    async def _receive(self, ws: ClientConnection) -> AsyncGenerator[Event, None]:
        gate = self._gate
        recv = ws.recv
        now = self._clock  # the idle watchdog and the cursor hook judge time by it
        on_message = self._on_message
        hook = self._cursor_hook
        self._idle = False
        gate.start_connection()
        watchdog = asyncio.create_task(self._watch(ws)) if self._idle_timeout is not None else None
        try:
            while True:
                # Every event handed out so far has been handled: the consumer asked for more.
                self._acked = gate.cursor
                start = now()
                if hook is not None and start >= hook.due_at:
                    hook.flush(self._acked, start)
                self._waiting_since = start
                try:
                    message = await recv()
                except ConnectionClosed as exc:
                    if self._idle:
                        raise _Retry(f"no message for {self._idle_timeout} s") from None
                    if exc.sent is not None and exc.sent.code == _MESSAGE_TOO_BIG:
                        # Reconnecting would fetch the same message again: stop here.
                        raise FrameDecodeError(
                            f"a message after seq {gate.cursor} is larger than max_frame_size "
                            f"({self._connect_options['max_size']} bytes)"
                        ) from None
                    raise _Retry(f"connection lost ({exc})") from None
                finally:
                    self._waiting_since = None
                if isinstance(message, str):
                    raise FrameDecodeError("a text message arrived on a binary event stream")
                try:
                    event = gate.feed(message)
                except StreamError as exc:
                    if exc.error == "ConsumerTooSlow":
                        raise _Retry(f"the server sent {exc}") from None
                    raise
                except FrameDecodeError as exc:
                    if not self._skip_invalid:
                        raise
                    logger.warning("skipped a malformed message after seq %s: %s", gate.cursor, exc)
                    continue
                if event is None:
                    continue
                if on_message is not None:
                    on_message(message)
                yield event
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _watch(self, ws: ClientConnection) -> None:
        """Drop the connection once `_receive` has waited ``idle_timeout`` for a message.

        Idle time is read off the injected ``clock``; the checks themselves run every quarter
        of the timeout in real time (``asyncio.sleep``, not the injected ``sleep``, which is
        the backoff's and would be called many times a second by a test's instant fake).
        """
        idle = self._idle_timeout
        assert idle is not None
        clock = self._clock
        while True:
            await asyncio.sleep(idle / 4)
            since = self._waiting_since
            if since is not None and clock() - since >= idle:
                self._idle = True
                ws.transport.abort()
                return


class RawSubscription(Subscription):
    """A `Subscription` handing out `RawFrame` s: seq, DID, type and the message, undecoded.

    Made by ``subscribe_repos(..., raw=True)``. Reconnecting, resuming and the cursor work as
    in `Subscription` (a `RawGate` drops replays); the options that need decoded events
    (``collections``, ``event_types``, ``validate_records``) are refused.
    Decode a frame later with ``frame.decode()``.
    """

    def __init__(self, url: str, nsid: str, *, cursor: int | None = None, **options: Any) -> None:
        for name in ("collections", "event_types", "validate_records"):
            if options.get(name):
                raise ValueError(f"raw=True hands out undecoded frames: {name} does not apply")
        super().__init__(url, nsid, cursor=cursor, **options)
        # Same interface as EventGate (cursor, start_connection, feed): only the frames differ.
        self._gate = RawGate(  # type: ignore[assignment]
            cursor=cursor,
            max_frame_size=options.get("max_frame_size", OPTION_DEFAULTS["max_frame_size"]),
        )

    def __repr__(self) -> str:
        return f"<RawSubscription {self.url} cursor={self.cursor}>"

    def __aiter__(self) -> AsyncIterator[RawFrame]:  # type: ignore[override]
        return super().__aiter__()  # type: ignore[return-value]


@overload
def subscribe_repos(
    url: str = ...,
    *,
    cursor: int | None = ...,
    verify: Literal[False] = ...,
    raw: Literal[False] = ...,
    **options: Unpack[SubscriptionOptions],
) -> Subscription: ...


@overload
def subscribe_repos(
    url: str = ...,
    *,
    cursor: int | None = ...,
    verify: Literal[False] = ...,
    raw: Literal[True],
    **options: Unpack[SubscriptionOptions],
) -> RawSubscription: ...


@overload
def subscribe_repos(
    url: str | Sequence[str] = ...,
    *,
    cursor: int | None = ...,
    verify: Literal[True],
    raw: Literal[False] = ...,
    resolver: Resolver | None = ...,
    state: StateStore | None = ...,
    lenient: bool = ...,
    on_reject: Callable[[Any, Verdict], None] | None = ...,
    **options: Any,
) -> VerifiedSubscription: ...


def subscribe_repos(
    url: str | Sequence[str] = "wss://bsky.network",
    *,
    cursor: int | None = None,
    verify: bool = False,
    raw: bool = False,
    **options: Any,
) -> Subscription | RawSubscription | VerifiedSubscription:
    """Subscribe to a repository event stream (``com.atproto.sync.subscribeRepos``).

    Args:
        url: A relay or PDS (``wss://bsky.network``), or the full ``/xrpc/<nsid>`` URL. With
            ``verify=True``, a list of relays to fail over between.
        cursor: Resume after this seq; None starts with live events (with ``verify=True``:
            the relay in use at the state's last flush, from its stored cursor; a given
            cursor applies to the first URL).
        verify: Prove every event (signatures, MST proofs, the ``prevData`` chain, rev order,
            account status), heal gaps by fetching repositories again, and fail over between
            relays: returns an `atproto_async.sync.VerifiedSubscription`, which also takes
            ``resolver``, ``state``, ``lenient``, ``on_reject`` and more (see there).
        raw: Hand out `RawFrame` s (seq, DID, type and the message bytes) without decoding
            bodies, for forwarding at a fraction of the cost: returns a `RawSubscription`.
        **options: See `Subscription`.

    Returns:
        The subscription: ``async for event in it``; ``it.cursor`` is the last seq handed out.

    Raises:
        ValueError: The URL is not usable (see `stream_url`), or several URLs were given
            without ``verify`` (seq numbers do not carry across hosts: only verified sync can
            fail over without loss).
    """
    if verify:
        if raw:
            raise ValueError("raw=True and verify=True exclude each other: verifying decodes")
        from atproto_async.sync import VerifiedSubscription

        return VerifiedSubscription(url, cursor=cursor, **options)
    if not isinstance(url, str):
        raise ValueError(
            "several relay URLs need verify=True: seq numbers do not carry across hosts, so "
            "only verified sync (rev order, gap detection) can fail over without loss"
        )
    if raw:
        return RawSubscription(url, SUBSCRIBE_REPOS, cursor=cursor, **options)
    return Subscription(url, SUBSCRIBE_REPOS, cursor=cursor, **options)


@overload
def subscribe_labels(
    url: str,
    *,
    cursor: int | None = ...,
    verify: Literal[False] = ...,
    **options: Unpack[SubscriptionOptions],
) -> Subscription: ...


@overload
def subscribe_labels(
    url: str,
    *,
    cursor: int | None = ...,
    verify: Literal[True],
    resolver: Resolver | None = ...,
    on_reject: Callable[[Any, str], None] | None = ...,
    **options: Any,
) -> VerifiedLabels: ...


def subscribe_labels(
    url: str, *, cursor: int | None = None, verify: bool = False, **options: Any
) -> Subscription | VerifiedLabels:
    """Subscribe to a labeler's label stream (``com.atproto.label.subscribeLabels``).

    Args:
        url: The labeler service, or the full ``/xrpc/<nsid>`` URL.
        cursor: Resume after this seq; None starts with live labels.
        verify: Hand out only labels signed by their ``src``'s ``#atproto_label`` key
            (`atproto_async.sync.VerifiedLabels`; takes ``resolver`` and ``on_reject``).
        **options: See `Subscription`.

    Returns:
        The subscription, yielding `Labels` and `Info` events.

    Raises:
        ValueError: The URL is not usable (see `stream_url`).
    """
    options.setdefault("idle_timeout", None)  # labelers may stay quiet for hours
    if verify:
        from atproto_async.sync.labels import VerifiedLabels

        resolver = options.pop("resolver", None)
        on_reject = options.pop("on_reject", None)
        inner = Subscription(url, SUBSCRIBE_LABELS, cursor=cursor, **options)
        return VerifiedLabels(inner, resolver=resolver, on_reject=on_reject)
    return Subscription(url, SUBSCRIBE_LABELS, cursor=cursor, **options)
