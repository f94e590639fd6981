"""The feed-generator example (``examples/feedgen``) without a network: its command and paging.

The end-to-end run against the real PDS is in tests/integration/test_integration_feedgen.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from atproto_async.server import FeedError

ROOT = Path(__file__).resolve().parent.parent
ALICE = "did:plc:alice7zzzzzzzzzzzzzzzzzzzz"


def test_command_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "examples.feedgen", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--relay", "--keyword", "--service-did", "--publisher", "--require-auth"):
        assert option in done.stdout


def test_pages_newest_first_with_a_cursor(tmp_path: Path) -> None:
    from examples.feedgen.indexer import open_database
    from examples.feedgen.server import PostFeed

    path = str(tmp_path / "feed.sqlite")
    db = open_database(path)
    uris = [f"at://{ALICE}/app.bsky.feed.post/3l2uygzaf5q{i:02d}" for i in range(5)]
    with db:
        db.executemany(
            "INSERT INTO post (uri, cid, author, indexed_at) VALUES (?, 'c', ?, 'now')",
            [(uri, ALICE) for uri in uris],
        )
    feed = PostFeed(path)
    try:
        first = feed.page(2, None)
        assert list(first.feed) == uris[:2:-1][:2] == [uris[4], uris[3]]
        second = feed.page(2, first.cursor)
        assert list(second.feed) == [uris[2], uris[1]]
        last = feed.page(2, second.cursor)
        assert (list(last.feed), last.cursor) == ([uris[0]], None)  # no empty last page
        for bad in ("x", "-1", "\u00b2", "9" * 19):
            with pytest.raises(FeedError) as info:
                feed.page(2, bad)
            assert info.value.error == "InvalidRequest"
    finally:
        feed.close()
        db.close()
