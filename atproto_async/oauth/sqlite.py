"""`SQLiteSessionStore`: OAuth sessions in one SQLite file, shared by processes on one machine.

A `SessionStore` whose `lock` holds across processes: a bot run as several workers, or a web
app with several server processes, refreshes each session once, whoever asks first.

The lock is a lease row (``oauth_locks``: DID, owner, expiry) taken in an ``IMMEDIATE``
transaction, so two processes cannot both take it; a waiting process polls until the row is
gone or expired. A process that dies holding the lock blocks nobody for longer than
``lock_ttl`` (a refresh takes well under a second). SQLite calls run in a worker thread so
that a busy file never stalls the event loop.

For several machines, implement `SessionStore` on your shared database instead (the same
design works with a row lock or ``SET NX PX`` in Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from atproto_async.exceptions import OAuthError

__all__ = ["SQLiteSessionStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS oauth_sessions (did TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS oauth_locks"
    " (did TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


class SQLiteSessionStore:
    """A `SessionStore` in a SQLite file, locked per DID across processes.

    Args:
        path: The database file (created with its tables if missing). It holds tokens and
            private keys: keep it readable by the app's user only (it is created ``0600``).
        lock_ttl: Seconds after which a lock left by a dead process is taken over.
        lock_timeout: Seconds `lock` waits before raising ``OAuthError("lock_timeout")``.
        poll: Seconds between two attempts to take a held lock.
        clock: POSIX time (shared by the processes: wall-clock time, not monotonic).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_ttl: float = 60.0,
        lock_timeout: float = 30.0,
        poll: float = 0.02,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.lock_ttl = lock_ttl
        self.lock_timeout = lock_timeout
        self._poll = poll
        self._clock = clock
        if not self.path.exists():
            self.path.touch(mode=0o600)
        with self._connect() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"<SQLiteSessionStore {str(self.path)!r}>"

    @contextlib.contextmanager
    def _connect(self) -> Any:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    # Each method below runs its SQL in a worker thread (asyncio.to_thread).

    def _get(self, did: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM oauth_sessions WHERE did = ?", (did,)).fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def _set(self, did: str, value: dict[str, Any]) -> None:
        text = json.dumps(value, separators=(",", ":"))
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO oauth_sessions (did, value) VALUES (?, ?)"
                " ON CONFLICT (did) DO UPDATE SET value = excluded.value",
                (did, text),
            )

    def _delete(self, did: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM oauth_sessions WHERE did = ?", (did,))

    def _try_lock(self, did: str, owner: str) -> bool:
        now = self._clock()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time: the check and the take
            try:
                row = conn.execute(
                    "SELECT expires FROM oauth_locks WHERE did = ?", (did,)
                ).fetchone()
                if row is not None and row[0] > now:
                    conn.execute("ROLLBACK")
                    return False
                conn.execute(
                    "INSERT OR REPLACE INTO oauth_locks (did, owner, expires) VALUES (?, ?, ?)",
                    (did, owner, now + self.lock_ttl),
                )
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _unlock(self, did: str, owner: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM oauth_locks WHERE did = ? AND owner = ?", (did, owner))

    async def get(self, did: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._get, did)

    async def set(self, did: str, value: dict[str, Any]) -> None:
        await asyncio.to_thread(self._set, did, value)

    async def delete(self, did: str) -> None:
        await asyncio.to_thread(self._delete, did)

    @contextlib.asynccontextmanager
    async def lock(self, did: str) -> AsyncIterator[None]:
        owner = os.urandom(12).hex()
        deadline = time.monotonic() + self.lock_timeout
        while not await asyncio.to_thread(self._try_lock, did, owner):
            if time.monotonic() >= deadline:
                raise OAuthError(
                    "lock_timeout",
                    f"the session of {did} stayed locked for {self.lock_timeout:g} s",
                )
            await asyncio.sleep(self._poll)
        try:
            yield
        finally:
            # Shielded: a cancelled refresh must still let the others in.
            await asyncio.shield(asyncio.to_thread(self._unlock, did, owner))
