"""Index the posts that mention a keyword, from the firehose into SQLite.

Each firehose event is applied in ONE SQLite transaction that also stores the event's seq as the
cursor, so the index and the cursor can never disagree: however the process stops (Ctrl-C, a
crash, a power cut), the next start resumes right after the last event that was stored - no gap,
no duplicate. ``uri`` is also unique in the table, as a second safety net.

Cursors are per relay (each numbers its own events), so the table is keyed by the relay URL.
SQLite calls are synchronous: at feed-sized write rates (one small transaction per post event,
WAL mode) they take microseconds, which is cheaper than a thread hop.
Spec: https://atproto.com/specs/sync#firehose
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

from atproto_async.exceptions import FrameDecodeError
from atproto_async.stream import Commit, RepoOp, subscribe_repos

__all__ = ["POST", "PostIndex", "index_posts", "open_database"]

logger = logging.getLogger("feedgen.indexer")

POST = "app.bsky.feed.post"

SCHEMA = """
CREATE TABLE IF NOT EXISTS post (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the sort key: firehose order, never reused
    uri TEXT NOT NULL UNIQUE,
    cid TEXT NOT NULL,
    author TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursor (
    relay TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""


def open_database(path: str) -> sqlite3.Connection:
    """Open (and create if needed) the index; WAL lets the server read while the indexer writes."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL may lose the last transactions on a power cut, never consistency:
    # the index and its cursor roll back together.
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


def post_text(op: RepoOp) -> str | None:
    """The text of a created or updated post; None when it has none or is unreadable."""
    try:
        data = op.record_data  # a plain dict: no model is built for posts we do not keep
    except FrameDecodeError as exc:  # one malformed record must not stop the indexer
        logger.warning("skipping %s: %s", op.uri, exc)
        return None
    text = data.get("text") if data is not None else None
    return text if isinstance(text, str) else None


class PostIndex:
    """The posts whose text contains ``keyword`` (case-insensitive), and the relay cursor.

    Args:
        path: The SQLite file.
        relay: The relay URL; its cursor is stored under this key.
        keyword: The word a post must contain to be indexed.
    """

    def __init__(self, path: str, relay: str, keyword: str) -> None:
        self.db = open_database(path)
        self.relay = relay
        self.keyword = keyword.casefold()

    @property
    def cursor(self) -> int | None:
        """The seq of the last event applied, None before the first."""
        row = self.db.execute("SELECT seq FROM cursor WHERE relay = ?", (self.relay,)).fetchone()
        return None if row is None else int(row[0])

    def apply(self, event: Commit) -> None:
        """Apply the post ops of ``event`` and store its seq, in one transaction."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self.db:  # BEGIN ... COMMIT, or ROLLBACK if anything raises
            for op in event.ops:
                if op.collection != POST:
                    continue
                text = None if op.action == "delete" else post_text(op)
                if text is not None and op.cid is not None and self.keyword in text.casefold():
                    # A replayed create finds its row and changes nothing.
                    self.db.execute(
                        "INSERT INTO post (uri, cid, author, indexed_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid",
                        (op.uri, str(op.cid), event.repo, now),
                    )
                    logger.info("indexed %s", op.uri)
                elif op.action != "create":  # deleted, or edited so that it no longer matches
                    gone = self.db.execute("DELETE FROM post WHERE uri = ?", (op.uri,)).rowcount
                    if gone:
                        logger.info("removed %s", op.uri)
            self.db.execute(
                "INSERT INTO cursor (relay, seq) VALUES (?, ?) "
                "ON CONFLICT (relay) DO UPDATE SET seq = max(seq, excluded.seq)",
                (self.relay, event.seq),
            )

    def close(self) -> None:
        """Close the database (every applied event is already committed)."""
        self.db.close()


async def index_posts(index: PostIndex, *, start: int | None = None) -> None:
    """Follow ``index.relay`` from the stored cursor until cancelled.

    Args:
        index: Where posts and the cursor go.
        start: Where to begin when the database has no cursor yet (0: the relay's oldest event
            still kept; None: live events only). Ignored once a cursor is stored.
    """
    cursor = index.cursor
    if cursor is None:
        cursor = start
    logger.info("following %s from cursor %s", index.relay, "live" if cursor is None else cursor)
    # The relay resends nothing at or before ``cursor``; the stream reconnects by itself.
    stream = subscribe_repos(index.relay, cursor=cursor, collections=[POST], event_types=[Commit])
    async with stream:
        async for event in stream:
            if isinstance(event, Commit):
                index.apply(event)
