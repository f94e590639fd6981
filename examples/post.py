"""Log in and post a message: the smallest useful bot.

Examples:
    ATPROTO_HANDLE=alice.bsky.social ATPROTO_PASSWORD=xxxx-xxxx-xxxx-xxxx \\
        python examples/post.py "Hello from atproto-async"

    python examples/post.py --service http://localhost:2583 --handle alice.test \\
        --password hunter22 "hello, local PDS"

Use an app password (Settings > Privacy and security > App passwords), never the main one.
The service defaults to ``$ATPROTO_SERVICE`` or https://bsky.social; after login the post goes
to the account's own PDS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime

from atproto_async import AtprotoError, Client


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Log in to an atproto service and create an app.bsky.feed.post record.",
        epilog="Environment: ATPROTO_SERVICE, ATPROTO_HANDLE, ATPROTO_PASSWORD.",
    )
    parser.add_argument("text", help="the text of the post (at most 300 characters)")
    parser.add_argument(
        "--service",
        default=os.environ.get("ATPROTO_SERVICE", "https://bsky.social"),
        help="service URL to log in at (default: $ATPROTO_SERVICE or https://bsky.social)",
    )
    parser.add_argument(
        "--handle", default=os.environ.get("ATPROTO_HANDLE"), help="handle or DID to log in as"
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("ATPROTO_PASSWORD"),
        help="app password (prefer the ATPROTO_PASSWORD environment variable)",
    )
    parser.add_argument("--lang", action="append", help="language tag of the post, e.g. en")
    args = parser.parse_args(argv)
    if not args.handle or not args.password:
        parser.error("a handle and a password are needed (options or environment)")
    return args


async def post(args: argparse.Namespace) -> dict[str, str]:
    """Log in, create the post, log out; return ``{"uri": ..., "cid": ...}``."""
    async with Client(args.service) as client:
        session = await client.login(args.handle, args.password)
        record: dict[str, object] = {
            "$type": "app.bsky.feed.post",
            "text": args.text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        if args.lang:
            record["langs"] = args.lang
        out = await client.procedure(
            "com.atproto.repo.createRecord",
            {"repo": session.did, "collection": "app.bsky.feed.post", "record": record},
        )
        await client.logout()
    return {"uri": out["uri"], "cid": out["cid"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = asyncio.run(post(args))
    except (AtprotoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out["uri"])
    print(out["cid"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
