"""Count Bluesky posts per language from the firehose, resuming where the last run stopped.

The cursor (seq of the last handled event) is saved to a small file, so stopping with Ctrl-C
and starting again picks up exactly where it left off - no post counted twice, none missed
(within the relay's backfill window).

Live::

    python examples/firehose_langs.py --limit 5000

Offline, on a recorded frame file (``atproto-async record wss://bsky.network capture.bin``)::

    python examples/firehose_langs.py --replay capture.bin
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterable
from pathlib import Path

from atproto_async.stream import Commit, Event, replay_frames, subscribe_repos

POSTS = "app.bsky.feed.post"


def load_cursor(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def save_cursor(path: Path, cursor: int) -> None:
    # Write then rename: a crash mid-write never leaves a truncated cursor behind.
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(f"{cursor}\n")
    os.replace(temporary, path)


async def count_languages(
    events: AsyncIterable[Event], counts: Counter[str], limit: int | None
) -> None:
    """Add the languages of each new post to ``counts``."""
    seen = 0
    async for event in events:
        if not isinstance(event, Commit):
            continue
        for op in event.ops:
            if op.action == "create" and op.record is not None:
                langs = getattr(op.record, "langs", None) or ["(none)"]
                counts.update(langs)
        seen += 1
        if limit is not None and seen >= limit:
            break


async def run(args: argparse.Namespace) -> int:
    cursor_file = Path(args.cursor_file)
    cursor = load_cursor(cursor_file)
    counts: Counter[str] = Counter()
    if args.replay:
        replay = replay_frames(
            args.replay, cursor=cursor, collections=[POSTS], event_types=[Commit]
        )
        await count_languages(replay, counts, args.limit)
        if replay.cursor is not None:
            save_cursor(cursor_file, replay.cursor)
    else:
        stream = subscribe_repos(
            args.relay,
            cursor=cursor,
            collections=[POSTS],
            event_types=[Commit],
            # Called every few seconds (and at the end) with the last fully handled seq.
            on_cursor=lambda seq: save_cursor(cursor_file, seq),
        )
        async with stream:
            await count_languages(stream, counts, args.limit)
    for lang, count in counts.most_common(args.top):
        print(f"{lang}\t{count}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Count firehose posts per language.")
    parser.add_argument("--relay", default="wss://bsky.network", help="relay URL")
    parser.add_argument("--replay", metavar="FILE", help="read a recorded frame file instead")
    parser.add_argument(
        "--cursor-file", default="firehose_langs.cursor", help="where the cursor is kept"
    )
    parser.add_argument("--limit", type=int, help="stop after this many commits with posts")
    parser.add_argument("--top", type=int, default=20, help="languages to print")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
