"""Per-repository sync state, and where it is kept: memory, or SQLite with the stream cursors.

A verifying consumer remembers, for every account it has seen, the last verified ``rev``, the
MST root (``data``) that commit left, the account's status and whether the repo is known to be
out of sync. A `StateStore` holds that. Writes are buffered and made durable by a flush, which
stores the stream cursor in the same transaction: after a crash the state and the cursor agree,
so resuming from the cursor replays exactly the events whose effects were lost (the rev check
drops any that were not).

Seq numbers are per host, so a consumer failing over between relays keeps one cursor per host
and remembers which host it was reading (``flush_cursors(cursors, active=host)``,
``cursor_for(host)``, ``active_host``); hosts are keyed by the normalized stream URL that
`VerifiedSubscription` connects to. A consumer of one host can ignore that: ``flush(cursor)``
and ``cursor`` read and write the cursor of the active host - or, before any host was named,
the one *unnamed* cursor (``cursor_for(None)``), which is also what a state file written
before per-host cursors holds.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
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


#: The key of the unnamed cursor (``cursor_for(None)``) among the per-host ones.
_UNNAMED: Final = ""


class _Cursors:
    """One consumer's cursors: per host (``_UNNAMED``: the unnamed one) and the active host.

    Changes return a new value, so that a store can swap it in only once they are durable.
    """

    __slots__ = ("active", "seqs")

    def __init__(self, seqs: Mapping[str, int] | None = None, active: str | None = None) -> None:
        self.seqs: dict[str, int] = dict(seqs or {})
        self.active = active

    @property
    def cursor(self) -> int | None:
        return self.seqs.get(self.active or _UNNAMED)

    def get(self, host: str | None) -> int | None:
        return self.seqs.get(host or _UNNAMED)

    def with_cursor(self, cursor: int | None) -> _Cursors:
        """After ``flush(cursor)``: the active host's (or the unnamed) cursor replaced."""
        if cursor is None:
            return self
        return _Cursors({**self.seqs, self.active or _UNNAMED: cursor}, self.active)

    def merged(self, cursors: Mapping[str, int], active: str) -> _Cursors:
        """After ``flush_cursors(cursors, active=active)``.

        Raises:
            ValueError: A host is not a non-empty string, or a seq not an integer.
        """
        for host in (active, *cursors):
            if not isinstance(host, str) or not host:
                raise ValueError(f"a host must be a non-empty string, not {host!r}")
        for seq in cursors.values():
            if type(seq) is not int:
                raise ValueError(f"a cursor must be an int, not {seq!r}")
        seqs = {h: s for h, s in self.seqs.items() if h != _UNNAMED}
        seqs.update(cursors)
        return _Cursors(seqs, active)

    def __repr__(self) -> str:
        if self.active is None:
            return f"cursor={self.cursor}"
        return f"active_host={self.active!r}, cursors={self.seqs}"


class StateStore(Protocol):
    """Where `SyncVerifier` keeps `RepoState` per DID (implement it to use your database)."""

    def get(self, did: str) -> RepoState | None:
        """The state of ``did``, None for an account never seen."""
        ...

    def put(self, did: str, state: RepoState) -> None:
        """Record the state of ``did`` (durable after the next `flush`)."""
        ...

    def flush(self, cursor: int | None) -> None:
        """Make every `put` so far durable, together with the stream ``cursor``.

        ``cursor`` becomes the cursor of `active_host` (the unnamed cursor while none was
        named), so for a consumer of one host it is simply *the* cursor. None keeps the
        stored one.
        """
        ...

    def flush_cursors(self, cursors: Mapping[str, int], *, active: str) -> None:
        """Make every `put` so far durable, together with a cursor per host.

        Args:
            cursors: Host -> the seq to resume after on it; merged into the stored ones
                (hosts not named keep theirs). The unnamed cursor is dropped: from now on
                cursors belong to hosts.
            active: The host in use, where a restart resumes (need not have a cursor yet).
        """
        ...

    @property
    def cursor(self) -> int | None:
        """The stored cursor of `active_host` (the unnamed one while none), None when none."""
        ...

    @property
    def active_host(self) -> str | None:
        """The host named ``active`` by the last `flush_cursors`, None before any was."""
        ...

    def cursor_for(self, host: str | None) -> int | None:
        """The stored cursor of ``host`` (None: the unnamed cursor), None when none is."""
        ...


class _CursorReads:
    """The cursor reads of `StateStore`, from a store's `_Cursors` (what is stored)."""

    _cursors: _Cursors

    @property
    def cursor(self) -> int | None:
        return self._cursors.cursor

    @property
    def active_host(self) -> str | None:
        return self._cursors.active

    def cursor_for(self, host: str | None) -> int | None:
        return self._cursors.get(host)


class MemoryStateStore(_CursorReads):
    """Sync state in a dict: the default; lost when the process ends.

    Holds one small entry per account seen (about 300 bytes): the whole network is tens of
    millions of accounts, so a consumer of the full firehose that must survive restarts uses
    `SQLiteStateStore`.
    """

    def __init__(self) -> None:
        self._states: dict[str, RepoState] = {}
        self._cursors = _Cursors()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, did: str) -> RepoState | None:
        return self._states.get(did)

    def put(self, did: str, state: RepoState) -> None:
        self._states[did] = state

    def flush(self, cursor: int | None) -> None:
        self._cursors = self._cursors.with_cursor(cursor)

    def flush_cursors(self, cursors: Mapping[str, int], *, active: str) -> None:
        self._cursors = self._cursors.merged(cursors, active)

    def __repr__(self) -> str:
        return f"MemoryStateStore(repos={len(self._states)}, {self._cursors!r})"


#: ``sync_cursors``: a cursor per consumer (``name``) and host (``''``: the unnamed cursor);
#: ``sync_active_host``: the host each consumer was reading at its last flush.
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS sync_repo (
    did TEXT PRIMARY KEY,
    rev TEXT,
    data BLOB,
    active INTEGER NOT NULL,
    status TEXT,
    desynchronized INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_cursors (
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (name, host)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_active_host (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL
) WITHOUT ROWID;
"""


def _migrate(db: sqlite3.Connection) -> None:
    """Move the cursors of the single-cursor schema (``sync_cursor(name, seq)``) over.

    Each consumer's old cursor becomes its unnamed cursor, which `VerifiedSubscription` takes
    as its first URL's (the only one that schema ever stored); the old table is dropped in the
    same transaction.
    """
    old = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_cursor'"
    ).fetchone()
    if old is None:
        return
    with db:
        db.execute(
            "INSERT OR IGNORE INTO sync_cursors (name, host, seq) "
            "SELECT name, ?, seq FROM sync_cursor",
            (_UNNAMED,),
        )
        db.execute("DROP TABLE sync_cursor")


class SQLiteStateStore(_CursorReads):
    """Sync state in an SQLite file (stdlib ``sqlite3``), written with the cursors in one step.

    `put` only buffers; `flush` / `flush_cursors` write the buffered states and the cursors in
    one transaction (WAL mode). Reads see buffered writes first. Give it your own connection to
    commit your consumer's writes in the same transaction (call `flush` inside your
    ``with connection:`` block... or simply let it commit: it uses ``with self.db``).

    A file from before per-host cursors (a ``sync_cursor`` table) is migrated when opened: its
    cursor becomes the unnamed one (see `StateStore.cursor_for`), which a
    `VerifiedSubscription` resumes its first URL from, as it did; the file cannot be read by
    an older version afterwards.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        name: Key of this consumer's cursors (several consumers may share one file).
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
        _migrate(self.db)
        self._pending: dict[str, RepoState] = {}
        self._lock = threading.Lock()
        rows = self.db.execute("SELECT host, seq FROM sync_cursors WHERE name = ?", (name,))
        seqs = {str(host): int(seq) for host, seq in rows}
        row = self.db.execute(
            "SELECT host FROM sync_active_host WHERE name = ?", (name,)
        ).fetchone()
        self._cursors = _Cursors(seqs, None if row is None else str(row[0]))

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
        self._write(lambda cursors: cursors.with_cursor(cursor))

    def flush_cursors(self, cursors: Mapping[str, int], *, active: str) -> None:
        self._write(lambda old: old.merged(cursors, active))

    def _write(self, change: Callable[[_Cursors], _Cursors]) -> None:
        """Write the buffered states and the changed cursors in one transaction."""
        name = self.name
        with self._lock:
            old = self._cursors
            cursors = change(old)
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
                    if cursors is not old:
                        if _UNNAMED not in cursors.seqs:
                            self.db.execute(
                                "DELETE FROM sync_cursors WHERE name = ? AND host = ?",
                                (name, _UNNAMED),
                            )
                        self.db.executemany(
                            "INSERT OR REPLACE INTO sync_cursors VALUES (?, ?, ?)",
                            [(name, host, seq) for host, seq in cursors.seqs.items()],
                        )
                        if cursors.active is not None:
                            self.db.execute(
                                "INSERT OR REPLACE INTO sync_active_host VALUES (?, ?)",
                                (name, cursors.active),
                            )
            except BaseException:
                # Nothing was written: keep the states for the next flush (newer puts win).
                pending.update(self._pending)
                self._pending = pending
                raise
            self._cursors = cursors

    def close(self) -> None:
        """Close the connection if the store opened it (unflushed states are lost)."""
        if self._owns:
            self.db.close()

    def __repr__(self) -> str:
        return f"SQLiteStateStore(name={self.name!r}, {self._cursors!r})"
