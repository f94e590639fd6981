"""Where an OAuth client keeps what outlives one request: pending sign-ins and sessions.

- A **state store** holds each sign-in between `OAuthClient.authorize` and
  `OAuthClient.callback` (the PKCE verifier, the DPoP key, the server it went to), under the
  random ``state`` value, for a few minutes, and gives each entry out once.
- A **session store** holds each account's tokens and DPoP key. A refresh token is single-use:
  the authorization server issues a new one with every refresh and refuses the old one, so two
  processes that refresh one session at the same moment would leave one of them signed out.
  `SessionStore.lock` is how they take turns: `OAuthClient` refreshes inside the lock and,
  inside it, reads the stored session again first; if another process already refreshed, it
  takes that result instead of spending the old token.

The stored values are JSON objects (``dict``) holding secrets (tokens, private keys): back a
store with something meant for secrets, encrypted at rest if you can. The in-memory stores here
serve one process; for several, implement the two protocols on a shared database (a row lock,
``SELECT ... FOR UPDATE`` or an advisory lock in PostgreSQL, ``SET NX PX`` in Redis).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "MemorySessionStore",
    "MemoryStateStore",
    "SessionStore",
    "StateStore",
    "STATE_TTL",
]

#: Seconds a pending sign-in is kept: the person has this long to sign in and consent.
STATE_TTL = 600.0
#: Pending sign-ins kept by a `MemoryStateStore` (the oldest are dropped beyond it).
MAX_PENDING = 10_000


@runtime_checkable
class StateStore(Protocol):
    """Pending sign-ins, by ``state``. Values are JSON objects holding secrets."""

    async def set(self, key: str, value: dict[str, Any]) -> None:
        """Keep ``value`` under ``key`` (for at least `STATE_TTL` seconds)."""

    async def pop(self, key: str) -> dict[str, Any] | None:
        """Return and delete the value under ``key``; None if absent or expired.

        Must be atomic: one sign-in is completed once, even if its callback arrives twice.
        """


@runtime_checkable
class SessionStore(Protocol):
    """Sessions, by account DID. Values are JSON objects holding secrets."""

    async def get(self, did: str) -> dict[str, Any] | None:
        """The stored session of ``did``, or None."""

    async def set(self, did: str, value: dict[str, Any]) -> None:
        """Store (replace) the session of ``did``."""

    async def delete(self, did: str) -> None:
        """Forget the session of ``did`` (no error when there is none)."""

    def lock(self, did: str) -> AbstractAsyncContextManager[None]:
        """An exclusive lock on ``did``'s session, held while it is refreshed.

        Exclusive across everything that shares the store (processes, machines), not only
        this event loop; the refresh made under it takes a few hundred milliseconds.
        """


class MemoryStateStore:
    """A `StateStore` in this process's memory: entries expire after ``ttl`` seconds."""

    def __init__(
        self,
        *,
        ttl: float = STATE_TTL,
        max_size: int = MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._ttl = ttl
        self._max_size = max_size
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<MemoryStateStore {len(self._entries)} pending>"

    async def set(self, key: str, value: dict[str, Any]) -> None:
        now = self._clock()
        self._entries[key] = (now + self._ttl, value)
        self._entries.move_to_end(key)
        while self._entries:  # drop expired entries and anything beyond the cap, oldest first
            oldest_key, (deadline, _) = next(iter(self._entries.items()))
            if deadline > now and len(self._entries) <= self._max_size:
                break
            del self._entries[oldest_key]

    async def pop(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.pop(key, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]


class MemorySessionStore:
    """A `SessionStore` in this process's memory, locked per DID with asyncio locks.

    Enough for one process; sessions are lost when it ends.
    """

    def __init__(self) -> None:
        self._sessions: dict[str, dict[str, Any]] = {}
        # DID -> (lock, number of tasks holding or waiting for it): dropped at zero, so the
        # table does not grow with the number of accounts ever refreshed.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __repr__(self) -> str:
        return f"<MemorySessionStore {len(self._sessions)} sessions>"

    async def get(self, did: str) -> dict[str, Any] | None:
        value = self._sessions.get(did)
        return dict(value) if value is not None else None

    async def set(self, did: str, value: dict[str, Any]) -> None:
        self._sessions[did] = dict(value)

    async def delete(self, did: str) -> None:
        self._sessions.pop(did, None)

    @asynccontextmanager
    async def lock(self, did: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(did) or (asyncio.Lock(), 0)
        self._locks[did] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[did]
            if users <= 1:
                del self._locks[did]
            else:
                self._locks[did] = (lock, users - 1)
