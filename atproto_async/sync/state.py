"""Per-repository sync state, and where it is kept: memory, or SQLite with the stream cursor.

A verifying consumer remembers, for every account it has seen, the last verified ``rev``, the
MST root (``data``) that commit left, the account's status and whether the repo is known to be
out of sync. A `StateStore` holds that. Writes are buffered and made durable by
``flush(cursor)``, which stores the stream cursor in the same transaction: after a crash the
state and the cursor agree, so resuming from the cursor replays exactly the events whose effects
were lost (the rev check drops any that were not).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Final, Protocol

import attrs

from atproto_async.ipld import CID

__all__ = [
    "MemoryStateStore",
    "RepoState",
    "SQLiteStateStore",
    "StateStore",
]


@attrs.frozen(slots=True)
class RepoState:
    """What is known about one repository.

    Attributes:
        rev: The last verified revision, or None before the first commit was seen.
        data: The MST root after that commit (what the next commit's ``prevData`` must be).
        active: False after an ``#account`` event saying the account is not active.
        status: The account status given with ``active=False`` (``deactivated``,
            ``takendown``, ``suspended``, ``deleted``...), None when active.
        desynchronized: True when a gap was found and the repo awaits a resync.
    """

    rev: str | None = None
    data: CID | None = None
    active: bool = True
    status: str | None = None
    desynchronized: bool = False


class StateStore(Protocol):
    """Where `SyncVerifier` keeps `RepoState` per DID (implement it to use your database)."""

    def get(self, did: str) -> RepoState | None:
        """The state of ``did``, None for an account never seen."""
        ...

    def put(self, did: str, state: RepoState) -> None:
        """Record the state of ``did`` (durable after the next `flush`)."""
        ...

    def flush(self, cursor: int | None) -> None:
        """Make every `put` so far durable, together with the stream ``cursor``."""
        ...

    @property
    def cursor(self) -> int | None:
        """The cursor stored by the last `flush`, None when none was."""
        ...


class MemoryStateStore:
    """Sync state in a dict: the default; lost when the process ends.

    Holds one small entry per account seen (about 300 bytes): the whole network is tens of
    millions of accounts, so a consumer of the full firehose that must survive restarts uses
    `SQLiteStateStore`.
    """

    def __init__(self) -> None:
        self._states: dict[str, RepoState] = {}
        self._cursor: int | None = None

    def __len__(self) -> int:
        return len(self._states)

    def get(self, did: str) -> RepoState | None:
        return self._states.get(did)

    def put(self, did: str, state: RepoState) -> None:
        self._states[did] = state

    def flush(self, cursor: int | None) -> None:
        if cursor is not None:
            self._cursor = cursor

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def __repr__(self) -> str:
        return f"MemoryStateStore(repos={len(self._states)}, cursor={self._cursor})"


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS sync_repo (
    did TEXT PRIMARY KEY,
    rev TEXT,
    data BLOB,
    active INTEGER NOT NULL,
    status TEXT,
    desynchronized INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_cursor (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
"""


class SQLiteStateStore:
    """Sync state in an SQLite file (stdlib ``sqlite3``), written with the cursor in one step.

    `put` only buffers; `flush(cursor)` writes the buffered states and the cursor in one
    transaction (WAL mode). Reads see buffered writes first. Give it your own connection to
    commit your consumer's writes in the same transaction (call `flush` inside your
    ``with connection:`` block... or simply let it commit: it uses ``with self.db``).

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        name: Key of this consumer's cursor (several consumers may share one file).
        connection: An open connection to use instead of ``path``.
    """

    def __init__(
        self,
        path: str = ":memory:",
        *,
        name: str = "default",
        connection: sqlite3.Connection | None = None,
    ) -> None:
        self.db = connection if connection is not None else sqlite3.connect(path)
        self._owns = connection is None
        self.name = name
        if path != ":memory:" or connection is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self._pending: dict[str, RepoState] = {}
        self._lock = threading.Lock()
        row = self.db.execute("SELECT seq FROM sync_cursor WHERE name = ?", (name,)).fetchone()
        self._cursor: int | None = None if row is None else int(row[0])

    def get(self, did: str) -> RepoState | None:
        state = self._pending.get(did)
        if state is not None:
            return state
        row = self.db.execute(
            "SELECT rev, data, active, status, desynchronized FROM sync_repo WHERE did = ?",
            (did,),
        ).fetchone()
        if row is None:
            return None
        rev, data, active, status, desync = row
        return RepoState(
            rev=rev,
            data=None if data is None else CID.from_bytes(bytes(data)),
            active=bool(active),
            status=status,
            desynchronized=bool(desync),
        )

    def put(self, did: str, state: RepoState) -> None:
        self._pending[did] = state

    def flush(self, cursor: int | None) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            rows = [
                (
                    did,
                    s.rev,
                    None if s.data is None else bytes(s.data),
                    int(s.active),
                    s.status,
                    int(s.desynchronized),
                )
                for did, s in pending.items()
            ]
            try:
                with self.db:
                    self.db.executemany(
                        "INSERT OR REPLACE INTO sync_repo VALUES (?, ?, ?, ?, ?, ?)", rows
                    )
                    if cursor is not None:
                        self.db.execute(
                            "INSERT OR REPLACE INTO sync_cursor VALUES (?, ?)", (self.name, cursor)
                        )
            except BaseException:
                # Nothing was written: keep the states for the next flush (newer puts win).
                pending.update(self._pending)
                self._pending = pending
                raise
            if cursor is not None:
                self._cursor = cursor

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def close(self) -> None:
        """Close the connection if the store opened it (unflushed states are lost)."""
        if self._owns:
            self.db.close()

    def __repr__(self) -> str:
        return f"SQLiteStateStore(name={self.name!r}, cursor={self._cursor})"
