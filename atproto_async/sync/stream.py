"""`VerifiedSubscription`: a firehose that proves every event, heals gaps and fails over.

``subscribe_repos(url_or_urls, verify=True, ...)`` returns one. Iterating it yields only the
events `SyncVerifier` accepts, plus a `Resync` whenever a repository had to be fetched again:

- A gap (a commit whose ``prevData`` is not the last root seen: events were missed, or the
  state on disk predates them) marks the repository desynchronized. Its current state is
  fetched with ``com.atproto.sync.getRepo`` from its own PDS (found through its DID document),
  checked in full (`read_repo`: every block, the tree, the signature), and handed over as a
  `Resync` carrying the complete record set. Meanwhile that repository's live events are held
  back, then replayed after the `Resync`; those not newer than the fetched revision are dropped.
- Bounded: at most ``max_resyncs`` fetches run at once (others wait their turn), at most
  ``max_buffered`` events are held per repository (beyond that they are dropped and the
  repository is fetched once more after the running fetch) and at most ``max_pending``
  repositories wait. A failed fetch is retried with backoff, then given up (reported); the next
  commit of that account starts over.
- Several relay URLs: when one fails (after ``max_attempts`` reconnections), the next is used.
  Seq numbers are per host, so each host has its own cursor: a host read before (in this run,
  or in an earlier one through the `StateStore`) is resumed from its own last seq, the others
  from their live tail. What a host replays that another already delivered is dropped by the
  rev order; what a live tail skipped is found by gap detection when an account commits again,
  and accounts active in the ``reconcile_window`` seconds before the switch (at most
  ``max_reconcile``) are not left waiting for that: their PDS is asked for its latest revision
  (``getLatestCommit``) and those that moved on are fetched again. A stored cursor the host
  calls ``FutureCursor`` (it was reset) is dropped and that host is read from its live tail.
- State: the verifier's per-account state is flushed to its `StateStore` together with every
  host's cursor and the host in use (see `VerifiedSubscription.flush`) every
  ``flush_interval`` seconds and on close; a restart resumes that host from its cursor. With
  ``flush_interval=None`` call `flush` yourself once your own writes for the events so far
  are durable (with a `SQLiteStateStore` on your connection, in your transaction) for
  exactly-once processing.

Spec: https://atproto.com/specs/sync ("Reliable Repository Synchronization")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from atproto_async.exceptions import AtprotoError, RepoError, StreamError
from atproto_async.sync.state import RepoState, StateStore
from atproto_async.sync.verifier import SyncVerifier, Verdict

if TYPE_CHECKING:
    from atproto_async.identity.document import DidDocument
    from atproto_async.identity.resolver import Resolver
    from atproto_async.ipld import CID
    from atproto_async.repo import Repository
    from atproto_async.stream.subscribe import Subscription
    from atproto_async.xrpc import Client

__all__ = ["Resync", "VerifiedSubscription", "fetch_latest_rev", "fetch_repo"]

logger = logging.getLogger("atproto_async.sync")

#: Seconds before the n-th retry of a failed fetch: 2, 4, 8, 16 ... capped at 300.
_RETRY_BASE: Final = 2.0
_RETRY_CAP: Final = 300.0
#: Seconds one getRepo attempt may take (a large repository is tens of MB).
_FETCH_TIMEOUT: Final = 120.0


@attrs.frozen(slots=True)
class Resync:
    """A repository fetched again and verified: replace what you hold for ``did`` with it.

    Attributes:
        did: The account.
        rev: The revision fetched; later events of the account follow it.
        data: The MST root of that revision.
        repo: The checked repository: ``repo.records`` maps each path to ``(cid, block)``,
            ``repo.record(path)`` decodes one.
        reason: Why it was fetched (the gap found).
    """

    did: str
    rev: str
    data: CID
    repo: Repository = attrs.field(repr=False)
    reason: str

    @property
    def records(self) -> dict[str, CID]:
        """Every record path of the repository and its CID."""
        return {path: cid for path, (cid, _) in self.repo.records.items()}


@contextlib.asynccontextmanager
async def _pds_client(
    did: str, resolver: Resolver, allow_insecure: bool
) -> AsyncIterator[tuple[Client, DidDocument]]:
    """A `Client` on ``did``'s PDS (from its DID document), and the document.

    Without ``allow_insecure`` the PDS must be ``https://`` on a public address: the DID
    document is data from the network, not a trusted setting.
    """
    from atproto_async.identity.resolver import _refused_address
    from atproto_async.xrpc import Client
    from atproto_async.xrpc.transport import AiohttpTransport

    doc = await resolver.resolve_did(did)
    if doc.pds is None:
        raise RepoError(f"{did}'s DID document names no PDS")
    transport = AiohttpTransport(refuse_address=None if allow_insecure else _refused_address)
    try:
        async with Client(
            doc.pds, transport=transport, allow_insecure=allow_insecure, timeout=_FETCH_TIMEOUT
        ) as client:
            yield client, doc
    finally:
        await transport.close()


async def fetch_repo(did: str, resolver: Resolver, *, allow_insecure: bool = False) -> Repository:
    """Download ``did``'s repository from its PDS and check it in full.

    The PDS is the ``#atproto_pds`` service of the DID document (https on a public address
    unless ``allow_insecure``); the commit must be signed by the document's ``#atproto`` key.

    Raises:
        IdentityError: The DID document cannot be read.
        RepoError: The document names no PDS or key, or the repository fails a check.
        XrpcError, TransportError: The PDS refused or could not be reached.
    """
    from atproto_async.repo import read_repo

    async with _pds_client(did, resolver, allow_insecure) as (client, doc):
        if doc.signing_public_key is None:
            raise RepoError(f"{did}'s DID document has no #atproto key")
        car = await client.com.atproto.sync.get_repo(did=did)
    return read_repo(car, did=did, key=doc.signing_public_key)


async def fetch_latest_rev(did: str, resolver: Resolver, *, allow_insecure: bool = False) -> str:
    """The revision of ``did``'s repository at its PDS now (``getLatestCommit``)."""
    async with _pds_client(did, resolver, allow_insecure) as (client, _):
        out = await client.com.atproto.sync.get_latest_commit(did=did)
    rev: str = out.rev
    return rev


class _Pending:
    """One repository being fetched again: the events held back meanwhile."""

    __slots__ = ("again", "attempts", "events", "reason", "task")

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.events: deque[Any] = deque()
        self.again = False  # events were dropped: fetch once more after this fetch
        self.attempts = 0
        self.task: asyncio.Task[None] | None = None


class VerifiedSubscription:
    """``subscribe_repos(..., verify=True)``: verified events and `Resync` events, in order.

    Args:
        urls: Relay or PDS URLs, tried in turn when one fails.
        resolver: Finds signing keys and PDSes (default: an `IdentityResolver`, closed with
            this object).
        state: Per-account state and the cursors (default `MemoryStateStore`).
        cursor: Start on the first URL, after this seq (default: the host in use at the
            state's last flush, from its stored cursor; a state from before per-host cursors
            holds one, the first URL's).
        lenient: Accept legacy commits without ``prevData``.
        on_reject: Called with ``(event, verdict)`` for every event not handed on.
        flush_interval: Seconds between automatic `flush` calls; None: only when you call it.
        max_resyncs: Repository fetches running at once.
        max_buffered: Events held per repository while it is fetched.
        max_pending: Repositories waiting for a fetch at once.
        max_retries: Fetch attempts for one resync before it is given up.
        fetch: ``async (did) -> Repository`` replacing `fetch_repo` (tests, caches).
        latest: ``async (did) -> rev`` replacing `fetch_latest_rev`.
        reconcile_window: Seconds of activity before a failover whose accounts are checked.
        max_reconcile: Accounts checked after one failover, at most.
        allow_insecure: Allow ``ws://`` relays and PDSes on private addresses (local tests).
        **options: Passed to each `Subscription` (``max_attempts`` defaults to 3 when there
            are several URLs, so that a dead relay is left).
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        resolver: Resolver | None = None,
        state: StateStore | None = None,
        cursor: int | None = None,
        lenient: bool = False,
        collections: Iterable[str] | None = None,
        event_types: Iterable[type] | None = None,
        on_reject: Callable[[Any, Verdict], None] | None = None,
        flush_interval: float | None = 1.0,
        max_resyncs: int = 4,
        max_buffered: int = 1000,
        max_pending: int = 10_000,
        max_retries: int = 5,
        fetch: Callable[[str], Awaitable[Repository]] | None = None,
        latest: Callable[[str], Awaitable[str]] | None = None,
        reconcile_window: float = 120.0,
        max_reconcile: int = 1000,
        allow_insecure: bool = False,
        **options: Any,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("give at least one relay URL")
        self._owned_resolver = resolver is None
        if resolver is None:
            from atproto_async.identity import IdentityResolver

            resolver = IdentityResolver(allow_insecure=allow_insecure)
        self.verifier = SyncVerifier(resolver, lenient=lenient, state=state, on_reject=on_reject)
        self.state = self.verifier.state
        from atproto_async.stream.urls import SUBSCRIBE_REPOS, stream_url

        #: The key of each URL's cursor in the state: its normalized stream URL.
        self.hosts = [stream_url(url, SUBSCRIBE_REPOS, allow_insecure=True) for url in self.urls]
        #: Host -> the seq of the last event handed out from it (as far as known).
        self._cursors: dict[str, int] = {}
        for host in self.hosts:
            seq = self.state.cursor_for(host)
            if seq is not None:
                self._cursors[host] = seq
        unnamed = self.state.cursor_for(None)
        if unnamed is not None:  # a single-cursor state: that schema only kept the first URL's
            self._cursors.setdefault(self.hosts[0], unnamed)
        active = self.state.active_host
        index = 0
        if cursor is not None:
            self._cursors[self.hosts[0]] = cursor
        elif active is not None and active in self.hosts:
            index = self.hosts.index(active)
        #: The ``cursor=`` given, while the first URL is still read from it (kept: the caller
        #: asked for it, so a ``FutureCursor`` for it is theirs to see).
        self._explicit_cursor = cursor
        self._collections = None if collections is None else frozenset(collections)
        self._event_types = None if event_types is None else tuple(event_types)
        self._flush_interval = flush_interval
        self._next_flush = 0.0
        self._max_buffered = max_buffered
        self._max_pending = max_pending
        self._max_retries = max_retries
        self._slots = asyncio.Semaphore(max_resyncs)
        self._fetch = fetch or (
            lambda did: fetch_repo(did, self.verifier.resolver, allow_insecure=allow_insecure)
        )
        self._latest = latest or (
            lambda did: fetch_latest_rev(did, self.verifier.resolver, allow_insecure=allow_insecure)
        )
        self._reconcile_window = reconcile_window
        self._max_reconcile = max_reconcile
        #: DID -> loop time of its last event (the accounts to check after a failover).
        self._recent: OrderedDict[str, float] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()
        self._allow_insecure = allow_insecure
        if len(self.urls) > 1:
            options.setdefault("max_attempts", 3)
        self._options = options
        self._pending: dict[str, _Pending] = {}
        self._ready: deque[Any] = deque()
        self._finished: asyncio.Queue[tuple[str, Repository | BaseException]] = asyncio.Queue()
        self._upstream: AsyncIterator[Any] | None = None
        self._next: asyncio.Future[Any] | None = None
        self._next_finished: asyncio.Future[tuple[str, Any]] | None = None
        self._closed = False
        self._index = index
        #: The seq of the last event handled on the current host.
        self.cursor: int | None = self._cursors.get(self.hosts[index])
        #: The URL in use.
        self.url = self.urls[index]
        #: Counts besides the verifier's: ``resyncs``, ``resync_failures``, ``overflow``,
        #: ``failovers``, ``reconciled`` (accounts found behind after a failover),
        #: ``future_cursor`` (stored cursors a host called ahead of it).
        self.stats = self.verifier.stats
        #: The live `Subscription` to the relay in use (None before the first event).
        self.subscription: Subscription | None = None

    def __repr__(self) -> str:
        return (
            f"<VerifiedSubscription {self.url} cursor={self.cursor} resyncing={len(self._pending)}>"
        )

    @property
    def reconnect_attempt(self) -> int:
        """The relay link's failed attempts in a row (0 while connected), as `Subscription`."""
        subscription = self.subscription
        return 0 if subscription is None else subscription.reconnect_attempt

    @property
    def disconnect_reason(self) -> str | None:
        """Why the relay link went down (while reconnecting), as `Subscription` says."""
        subscription = self.subscription
        return None if subscription is None else subscription.disconnect_reason

    # -- iteration ------------------------------------------------------------------------

    def __aiter__(self) -> VerifiedSubscription:
        return self

    async def __aenter__(self) -> VerifiedSubscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def __anext__(self) -> Any:
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._maybe_flush()
            if self._next is None:
                self._next = asyncio.ensure_future(self._pull())
            if self._next_finished is None:
                self._next_finished = asyncio.ensure_future(self._finished.get())
            done, _ = await asyncio.wait(
                {self._next, self._next_finished}, return_when=asyncio.FIRST_COMPLETED
            )
            if self._next_finished in done:
                did, result = self._next_finished.result()
                self._next_finished = None
                await self._resynced(did, result)
            if self._next in done:
                future, self._next = self._next, None
                event = future.result()  # StopAsyncIteration / errors propagate
                await self._handle(event)

    async def _pull(self) -> Any:
        """The next upstream event, failing over between URLs."""
        failures = 0
        while True:
            if self._upstream is None:
                self._upstream = self._open().__aiter__()
            try:
                return await self._upstream.__anext__()
            except StopAsyncIteration:
                raise
            except (AtprotoError, OSError) as exc:
                if self._future_cursor(exc):
                    continue
                if len(self.urls) == 1:
                    raise
                failures += 1
                old = self.url
                self._remember_cursor()
                self._index = (self._index + 1) % len(self.urls)
                self.url = self.urls[self._index]
                self._explicit_cursor = None
                self.stats["failovers"] += 1
                # Seq numbers are per host: resume this one from its own cursor, if known.
                self.cursor = self._cursors.get(self.hosts[self._index])
                logger.warning(
                    "relay %s failed (%s); moving to %s from %s",
                    old,
                    exc,
                    self.url,
                    "its live tail" if self.cursor is None else f"cursor {self.cursor}",
                )
                self._upstream = None
                self.verifier.reset_seq()
                self._reconcile()
                if failures >= len(self.urls):
                    await asyncio.sleep(min(60.0, 2.0 ** (failures // len(self.urls))))

    def _future_cursor(self, exc: BaseException) -> bool:
        """After a ``FutureCursor`` error for a cursor of ours: read the host from its live
        tail (True). A host that was reset numbers its events anew, so our cursor for it is
        ahead; retrying it would fail the same way, forever. False for other errors, and for
        the ``cursor=`` the caller gave (their error to see, as with a plain `Subscription`)."""
        if not (isinstance(exc, StreamError) and exc.error == "FutureCursor"):
            return False
        if self.cursor is None or self.cursor == self._explicit_cursor:
            return False
        host = self.hosts[self._index]
        logger.warning(
            "%s: cursor %s is ahead of the host (was it reset?); reading from its live tail",
            self.url,
            self.cursor,
        )
        self.stats["future_cursor"] += 1
        self._cursors.pop(host, None)
        self.cursor = None
        self._upstream = None
        self.verifier.reset_seq()
        return True

    def _remember_cursor(self) -> None:
        if self.cursor is not None:
            self._cursors[self.hosts[self._index]] = self.cursor

    async def _open(self) -> AsyncIterator[Any]:
        from atproto_async.stream.subscribe import SUBSCRIBE_REPOS, Subscription

        options = dict(self._options)
        options.setdefault("allow_insecure", self._allow_insecure)
        subscription = Subscription(self.url, SUBSCRIBE_REPOS, cursor=self.cursor, **options)
        self.subscription = subscription  # its link state is this stream's (CLI status line)
        async with subscription:
            async for event in subscription:
                yield event

    # -- events ---------------------------------------------------------------------------

    async def _handle(self, event: Any) -> None:
        seq = getattr(event, "seq", None)
        did = getattr(event, "repo", None) or getattr(event, "did", None)
        if did is not None:
            recent = self._recent
            recent[did] = time.monotonic()
            recent.move_to_end(did)
            if len(recent) > self._max_reconcile:
                recent.popitem(last=False)
        pending = None if did is None else self._pending.get(did)
        if did is not None and pending is not None and type(event).__name__ in ("Commit", "Sync"):
            if self.verifier.check_seq(event) is None:
                self._hold(did, pending, event)
        else:
            verdict = await self.verifier.check(event)
            if verdict.ok:
                self._deliver(event)
            elif verdict.resync and did is not None:
                self._resync(did, verdict.reason or "gap", event)
        if type(seq) is int:
            self.cursor = seq

    def _deliver(self, event: Any) -> None:
        if self._event_types is not None and not isinstance(event, self._event_types):
            return
        collections = self._collections
        if collections is not None:
            ops = getattr(event, "ops", None)
            if ops is None or not any(op.collection in collections for op in ops):
                return
        self._ready.append(event)

    def _hold(self, did: str, pending: _Pending, event: Any) -> None:
        if len(pending.events) >= self._max_buffered:
            pending.events.clear()
            pending.again = True
            self.stats["overflow"] += 1
            logger.warning(
                "%s: more than %d events held during its resync; fetching again",
                did,
                self._max_buffered,
            )
        pending.events.append(event)

    def _resync(self, did: str, reason: str, event: Any | None) -> None:
        pending = self._pending.get(did)
        if pending is None:
            if len(self._pending) >= self._max_pending:
                self.stats["resync_refused"] += 1
                logger.warning("%s needs a resync but %d are pending", did, len(self._pending))
                return
            pending = self._pending[did] = _Pending(reason)
            pending.task = asyncio.ensure_future(self._run_fetch(did, pending))
        if event is not None:
            self._hold(did, pending, event)

    async def _run_fetch(self, did: str, pending: _Pending) -> None:
        while True:
            pending.attempts += 1
            async with self._slots:
                try:
                    repo = await self._fetch(did)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # reported below, retried
                    error: BaseException = exc
                else:
                    await self._finished.put((did, repo))
                    return
            self.stats["resync_failures"] += 1
            if pending.attempts >= self._max_retries:
                await self._finished.put((did, error))
                return
            delay = min(_RETRY_CAP, _RETRY_BASE**pending.attempts)
            logger.warning("resync of %s failed (%s); retrying in %.0f s", did, error, delay)
            await asyncio.sleep(delay)

    async def _resynced(self, did: str, result: Repository | BaseException) -> None:
        pending = self._pending.pop(did, None)
        if pending is None:  # pragma: no cover - one fetch per pending entry
            return
        if isinstance(result, BaseException):
            logger.error("giving up the resync of %s: %s", did, result)
            self.stats["resyncs_given_up"] += 1
            for event in pending.events:
                self.verifier.reject(event, Verdict(False, f"resync failed: {result}", did=did))
            return
        repo = result
        old = self.state.get(did) or RepoState()
        rev = repo.commit.rev or ""
        if old.rev is not None and rev and rev < old.rev and not old.desynchronized:
            # A PDS answering an older revision than already verified: keep ours.
            logger.warning("%s: fetched rev %s is older than %s", did, rev, old.rev)
        else:
            self.state.put(
                did, attrs.evolve(old, rev=rev, data=repo.commit.data, desynchronized=False)
            )
            self.stats["resyncs"] += 1
            self._ready.append(Resync(did, rev, repo.commit.data, repo, pending.reason))
        again = pending.again
        for event in pending.events:
            verdict = await self.verifier.check(event, replay=True)
            if verdict.ok:
                self._deliver(event)
            elif verdict.resync:
                again = True
        if again:
            self._resync(did, "events were dropped during the last resync", None)

    def _reconcile(self) -> None:
        """Check the accounts active just before a failover against their PDS."""
        since = time.monotonic() - self._reconcile_window
        dids = [did for did, at in self._recent.items() if at >= since]
        self._recent.clear()
        if dids:
            logger.info("failover: checking %d recently active accounts", len(dids))
        for did in dids:
            task = asyncio.ensure_future(self._reconcile_one(did))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _reconcile_one(self, did: str) -> None:
        async with self._slots:
            try:
                rev = await self._latest(did)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("failover check of %s failed: %s", did, exc)
                return
        state = self.state.get(did)
        if did in self._pending or (
            state is not None and state.rev is not None and rev <= state.rev
        ):
            return
        self.stats["reconciled"] += 1
        self.state.put(did, attrs.evolve(state or RepoState(), desynchronized=True))
        self._resync(did, f"its PDS is at rev {rev}, beyond what was seen before a failover", None)

    # -- state ----------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        if self._flush_interval is None:
            return
        now = time.monotonic()
        if now >= self._next_flush:
            self._next_flush = now + self._flush_interval
            self.flush()

    def flush(self) -> None:
        """Make the verified state durable with the cursors (see `StateStore.flush_cursors`).

        Every host's last seq known so far is stored, keyed by `hosts` (seqs are per host and
        mean nothing to another), and the host in use as the active one: a restart resumes
        that host from its cursor, and a later failover to another host resumes it from its
        own. Events replayed that way whose revs are already known are dropped.
        """
        self._remember_cursor()
        self.state.flush_cursors(self._cursors, active=self.hosts[self._index])

    async def aclose(self) -> None:
        """Stop: cancel fetches, close the connection, flush the state, close the resolver."""
        if self._closed:
            return
        self._closed = True
        for future in (self._next, self._next_finished):
            if future is not None:
                future.cancel()
                with contextlib.suppress(BaseException):
                    await future
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for pending in self._pending.values():
            if pending.task is not None:
                pending.task.cancel()
                with contextlib.suppress(BaseException):
                    await pending.task
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            close = getattr(upstream, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self.flush()
        if self._owned_resolver:
            close_resolver = getattr(self.verifier.resolver, "close", None)
            if close_resolver is not None:
                await close_resolver()
