"""The state stores: per-host cursors and the active host, in memory and in SQLite alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from atproto_async.ipld import cid_for
from atproto_async.sync import MemoryStateStore, RepoState, SQLiteStateStore, StateStore

A = "wss://relay-a.example/xrpc/com.atproto.sync.subscribeRepos"
B = "wss://relay-b.example/xrpc/com.atproto.sync.subscribeRepos"
DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
STATE = RepoState(rev="3l2uygzaf0001", data=cid_for({"root": 1}))


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: Any, tmp_path: Any) -> Iterator[Callable[[], StateStore]]:
    """A factory of stores; for SQLite each call reopens the same file (a restart)."""
    opened: list[SQLiteStateStore] = []

    def make() -> StateStore:
        if request.param == "memory":
            return MemoryStateStore()
        store = SQLiteStateStore(str(tmp_path / "state.sqlite"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_flush_and_cursor_keep_their_single_cursor_meaning(make_store: Any) -> None:
    store = make_store()
    assert (store.cursor, store.active_host, store.cursor_for(None)) == (None, None, None)
    store.flush(5)
    assert (store.cursor, store.cursor_for(None), store.active_host) == (5, 5, None)
    store.flush(None)  # keeps the stored cursor
    assert store.cursor == 5


def test_per_host_cursors_and_the_active_host(make_store: Any) -> None:
    store = make_store()
    store.flush(5)  # the unnamed cursor, before any host was named
    store.put(DID, STATE)
    store.flush_cursors({A: 102, B: 1005}, active=B)
    assert store.active_host == B
    assert (store.cursor_for(A), store.cursor_for(B)) == (102, 1005)
    assert store.cursor == 1005  # the active host's
    assert store.cursor_for(None) is None  # superseded by the per-host cursors
    # Merged, not replaced: a host left out keeps its cursor; an active host needs none.
    store.flush_cursors({A: 110}, active="wss://relay-c.example/xrpc/x")
    assert (store.cursor_for(A), store.cursor_for(B), store.cursor) == (110, 1005, None)
    store.flush_cursors({}, active=A)
    store.flush(120)  # the single-cursor call writes the active host's cursor
    assert (store.cursor_for(A), store.cursor_for(B), store.cursor) == (120, 1005, 120)
    assert store.get(DID) == STATE


def test_a_bad_host_is_refused_and_nothing_is_lost(make_store: Any) -> None:
    store = make_store()
    store.put(DID, STATE)
    with pytest.raises(ValueError, match="non-empty"):
        store.flush_cursors({"": 3}, active=A)
    with pytest.raises(ValueError, match="int"):
        store.flush_cursors({A: "3"}, active=A)
    assert (store.cursor, store.active_host) == (None, None)
    store.flush_cursors({A: 3}, active=A)
    assert store.get(DID) == STATE


def test_sqlite_round_trip_of_per_host_cursors(tmp_path: Any) -> None:
    path = str(tmp_path / "state.sqlite")
    store = SQLiteStateStore(path)
    other = SQLiteStateStore(path, name="other")  # another consumer of the same file
    store.put(DID, STATE)
    store.flush_cursors({A: 102, B: 1005}, active=B)
    other.flush_cursors({A: 7}, active=A)
    store.close()
    other.close()

    store = SQLiteStateStore(path)
    assert store.active_host == B
    assert (store.cursor_for(A), store.cursor_for(B), store.cursor) == (102, 1005, 1005)
    assert store.get(DID) == STATE
    store.flush_cursors({A: 103}, active=A)
    store.close()
    store = SQLiteStateStore(path)
    assert (store.active_host, store.cursor_for(A), store.cursor_for(B)) == (A, 103, 1005)
    store.close()
    other = SQLiteStateStore(path, name="other")
    assert (other.active_host, other.cursor_for(A), other.cursor_for(B)) == (A, 7, None)
    other.close()


def test_a_file_with_the_single_cursor_table_is_migrated(tmp_path: Any) -> None:
    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)  # the schema before per-host cursors, written by hand
    db.executescript(
        """
        CREATE TABLE sync_repo (did TEXT PRIMARY KEY, rev TEXT, data BLOB,
            active INTEGER NOT NULL, status TEXT, desynchronized INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE sync_cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
        """
    )
    assert STATE.data is not None
    with db:
        db.execute(
            "INSERT INTO sync_repo VALUES (?, ?, ?, 1, NULL, 0)",
            (DID, STATE.rev, bytes(STATE.data)),
        )
        db.executemany("INSERT INTO sync_cursor VALUES (?, ?)", [("default", 42), ("other", 9)])
    db.close()

    store = SQLiteStateStore(path)
    # The old cursor is the unnamed one (a VerifiedSubscription's first URL resumes from it).
    assert (store.cursor, store.cursor_for(None), store.active_host) == (42, 42, None)
    assert store.cursor_for(A) is None
    assert store.get(DID) == STATE
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "sync_cursor" not in tables and "sync_cursors" in tables
    store.flush_cursors({A: 43}, active=A)
    store.close()

    store = SQLiteStateStore(path)  # opening again: nothing more to migrate
    assert (store.cursor, store.cursor_for(None), store.active_host) == (43, None, A)
    store.close()
    other = SQLiteStateStore(path, name="other")  # every consumer's cursor was moved
    assert (other.cursor, other.active_host) == (9, None)
    other.close()
