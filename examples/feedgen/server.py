"""Answer ``app.bsky.feed.getFeedSkeleton`` from the SQLite index, newest first.

The page cursor is the ``id`` of the last post handed out: ids follow firehose order and are
never reused, so a page boundary stays put while new posts arrive and old ones are deleted.
Guide: https://docs.bsky.app/docs/starter-templates/custom-feeds
"""

from __future__ import annotations

import sys

from atproto_async.identity import Resolver
from atproto_async.server import FeedError, FeedGenerator, FeedRequest, FeedSkeleton

from .indexer import open_database

__all__ = ["PostFeed", "create_feed_generator"]


class PostFeed:
    """Pages of indexed post URIs, read from the indexer's SQLite file."""

    def __init__(self, path: str) -> None:
        self.db = open_database(path)

    def page(self, limit: int, cursor: str | None) -> FeedSkeleton:
        """Up to ``limit`` posts older than ``cursor`` (the newest when None), newest first.

        Raises:
            FeedError: ``InvalidRequest`` for a cursor this feed did not hand out.
        """
        before = sys.maxsize
        if cursor is not None:
            if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
                raise FeedError("InvalidRequest", "malformed cursor")
            before = int(cursor)
        rows = self.db.execute(
            "SELECT id, uri FROM post WHERE id < ? ORDER BY id DESC LIMIT ?", (before, limit + 1)
        ).fetchall()
        # One row more than asked says whether there is a next page (no empty last page).
        page = rows[:limit]
        next_cursor = str(page[-1][0]) if len(rows) > limit else None
        return FeedSkeleton([uri for _, uri in page], cursor=next_cursor)

    def close(self) -> None:
        self.db.close()


def create_feed_generator(
    feed: PostFeed,
    *,
    service_did: str,
    publisher_did: str,
    hostname: str,
    rkey: str,
    require_auth: bool = False,
    resolver: Resolver | None = None,
) -> FeedGenerator:
    """A `FeedGenerator` serving ``feed`` as ``at://<publisher_did>/app.bsky.feed.generator/<rkey>``.

    Args:
        feed: The index to read.
        service_did: This service's DID, the ``aud`` of callers' service tokens.
        publisher_did: The account whose repository holds the feed record.
        hostname: The public host name (``did.json`` is served for ``did:web:<hostname>``).
        rkey: The feed record's key.
        require_auth: Refuse requests without a valid service token.
        resolver: Reads callers' DID documents (default: the public PLC directory and did:web).
    """
    fg = FeedGenerator(
        service_did, publisher_did=publisher_did, hostname=hostname, resolver=resolver
    )

    @fg.feed(rkey, require_auth=require_auth)
    async def posts(request: FeedRequest) -> FeedSkeleton:
        # request.requester is the caller's DID when a token came: personalise with it here.
        return feed.page(request.limit, request.cursor)

    return fg
