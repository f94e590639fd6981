"""The identity cache: bounded, stale-while-revalidate, one lookup per key at a time.

A firehose consumer resolves the same accounts again and again for days, so the cache is built
for that: at most ``max_size`` entries (least recently used dropped first); an answer younger
than ``fresh_ttl`` is served as is; one older than that but younger than ``max_ttl`` is served
at once while a background lookup refreshes it; a failure is remembered for ``failure_ttl``
(a dead PLC directory or a deleted account is not asked again on every event); concurrent
lookups of one key share a single request. `invalidate` drops a key (``#identity`` events,
key rotation); a lookup already running for it is then not stored.

Spec: https://atproto.com/specs/handle ("Resolution Best Practices") and
https://atproto.com/specs/did.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Final, Generic, TypeVar

from atproto_async.exceptions import IdentityError, IdentityNotFound

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_FAILURE_TTL",
    "DEFAULT_FRESH_TTL",
    "DEFAULT_MAX_TTL",
    "REFRESH_INTERVAL",
    "RefreshGate",
    "ResolutionCache",
]

#: Entries kept per cache (handles and DID documents have a cache each). A DID document
#: entry holds about 2-3 KB, so the default costs tens of MB at most.
DEFAULT_CACHE_SIZE: Final = 10_000
#: Seconds an answer is served without a new lookup (the reference implementation's figure).
DEFAULT_FRESH_TTL: Final = 3600.0
#: Seconds a stale answer may still be served while it is being refreshed.
DEFAULT_MAX_TTL: Final = 86400.0
#: Seconds a failed lookup is remembered (not found, timeout, malformed answer).
DEFAULT_FAILURE_TTL: Final = 120.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Entry(Generic[V]):
    __slots__ = ("error", "stored_at", "value")

    def __init__(self, value: V | None, error: IdentityError | None, stored_at: float) -> None:
        self.value = value
        self.error = error
        self.stored_at = stored_at


class ResolutionCache(Generic[K, V]):
    """Answers of one kind of lookup (handle -> DID, or DID -> document), by key.

    Args:
        max_size: Entries kept; the least recently used go first.
        fresh_ttl: Seconds an answer is served without asking again.
        max_ttl: Seconds a stale answer is still served (while a refresh runs).
        failure_ttl: Seconds an `IdentityError` is remembered and raised again.
        clock: Monotonic seconds (tests pass a fake).

    Attributes:
        hits: Answers served from the cache (stale ones included).
        misses: Lookups made because nothing usable was cached.
    """

    def __init__(
        self,
        *,
        max_size: int = DEFAULT_CACHE_SIZE,
        fresh_ttl: float = DEFAULT_FRESH_TTL,
        max_ttl: float = DEFAULT_MAX_TTL,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, not {max_size}")
        if not 0 <= fresh_ttl <= max_ttl:
            raise ValueError("the TTLs must satisfy 0 <= fresh_ttl <= max_ttl")
        self._max_size = max_size
        self._fresh_ttl = fresh_ttl
        self._max_ttl = max_ttl
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._running: dict[K, asyncio.Task[V]] = {}
        self._tasks: set[asyncio.Task[V]] = set()  # running ones, invalidated ones included
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    async def get(self, key: K, lookup: Callable[[], Awaitable[V]]) -> V:
        """The answer for ``key``: cached, or from ``lookup()`` (shared by concurrent callers).

        Args:
            key: What is looked up (a normalised handle or a DID).
            lookup: Makes the real lookup; only its `IdentityError` is cached.

        Returns:
            The answer.

        Raises:
            IdentityError: The lookup failed now, or did less than ``failure_ttl`` ago.
        """
        entry = self._entries.get(key)
        if entry is not None:
            age = self._clock() - entry.stored_at
            if entry.error is None:
                if age < self._max_ttl:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    if age >= self._fresh_ttl and key not in self._running:
                        self._start(key, lookup, keep_stale=True)
                    return entry.value  # type: ignore[return-value]
            elif age < self._failure_ttl:
                self._entries.move_to_end(key)
                self.hits += 1
                raise copy.copy(entry.error)
        self.misses += 1
        task = self._running.get(key)
        if task is None:
            task = self._start(key, lookup, keep_stale=False)
        # shield: a caller that is cancelled leaves the shared lookup running for the others.
        return await asyncio.shield(task)

    def _start(
        self, key: K, lookup: Callable[[], Awaitable[V]], *, keep_stale: bool
    ) -> asyncio.Task[V]:
        task = asyncio.ensure_future(self._run(key, lookup, keep_stale))
        self._running[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    async def _run(self, key: K, lookup: Callable[[], Awaitable[V]], keep_stale: bool) -> V:
        me = asyncio.current_task()
        try:
            value = await lookup()
        except IdentityError as exc:
            # A background refresh that failed for a passing reason keeps the stale answer;
            # "not found" replaces it (the account or handle is gone).
            if self._running.get(key) is me and (
                not keep_stale or isinstance(exc, IdentityNotFound)
            ):
                self._store(key, _Entry(None, exc, self._clock()))
            raise
        if self._running.get(key) is me:  # not invalidated meanwhile
            self._store(key, _Entry(value, None, self._clock()))
        return value

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        self._tasks.discard(task)
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved: a refresh nobody awaits must not warn at exit

    def _store(self, key: K, entry: _Entry[V]) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def peek(self, key: K) -> V | None:
        """The cached answer for ``key`` whatever its age, without a lookup; None if absent."""
        entry = self._entries.get(key)
        return None if entry is None else entry.value

    def invalidate(self, key: K) -> None:
        """Forget ``key``: the next `get` looks it up again (a lookup running now is not stored)."""
        self._entries.pop(key, None)
        self._running.pop(key, None)

    def invalidate_value(self, value: object) -> None:
        """Forget every key whose cached answer equals ``value`` (a handle -> DID cache, by DID)."""
        for key in [k for k, entry in self._entries.items() if entry.value == value]:
            self.invalidate(key)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._running.clear()

    async def close(self) -> None:
        """Cancel the lookups still running (background refreshes included) and wait for them."""
        tasks = list(self._tasks)
        self._running.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


#: Minimum seconds between two forced re-resolutions of one DID after a bad signature.
REFRESH_INTERVAL: Final = 30.0


class RefreshGate:
    """Rate-limits the forced re-resolution of a DID after a signature fails to verify.

    A bad signature may mean the account rotated its key (re-resolve, try again) or a forgery
    (re-resolving changes nothing). Allowing one forced refresh per DID per ``interval`` serves
    the first and stops the second from turning every forged token, commit or label into a
    directory request. Remembers at most ``max_size`` DIDs (least recently refreshed dropped).
    """

    __slots__ = ("_clock", "_last", "interval", "max_size")

    def __init__(
        self,
        interval: float = REFRESH_INTERVAL,
        max_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_size = max_size
        self._clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()

    def allow(self, did: str) -> bool:
        """Whether ``did`` may be re-resolved now; if so, the refresh is recorded."""
        now = self._clock()
        last = self._last.get(did)
        if last is not None and now - last < self.interval:
            return False
        self._last[did] = now
        self._last.move_to_end(did)
        if len(self._last) > self.max_size:
            self._last.popitem(last=False)
        return True
