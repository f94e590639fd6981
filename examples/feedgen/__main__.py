"""Run the firehose indexer and the feed server in one process.

Against the local PDS of the integration tests (``python tests/integration/localpds.py run``
prints its ports)::

    python -m examples.feedgen --relay ws://127.0.0.1:2583 --publisher did:plc:... \\
        --service-did did:web:localhost%3A3000 --port 3000 --db feed.sqlite \\
        --plc http://localhost:2582 --insecure --cursor 0 --require-auth

For the network: ``--relay wss://bsky.network``, a ``did:web`` of the public host name that
serves ``/.well-known/did.json`` (``--service-did did:web:feeds.example.com``), and the feed
record published once with ``atproto_async.server.publish_feed``. SIGINT or SIGTERM stop both
halves: requests in flight finish, and the cursor is already stored with every indexed event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from urllib.parse import unquote

from atproto_async.identity import DEFAULT_PLC_URL, IdentityResolver

from .indexer import PostIndex, index_posts
from .server import PostFeed, create_feed_generator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.feedgen",
        description="Index posts containing a keyword from the firehose and serve them as a feed.",
    )
    parser.add_argument("--relay", default="wss://bsky.network", help="firehose host or URL")
    parser.add_argument("--keyword", default="python", help="index posts containing this word")
    parser.add_argument("--db", default="feed.sqlite", help="the SQLite index file")
    parser.add_argument(
        "--cursor", type=int, help="first seq to read when the database has none (default: live)"
    )
    parser.add_argument("--service-did", required=True, help="this service's DID (token aud)")
    parser.add_argument("--hostname", help="public host name (default: from a did:web)")
    parser.add_argument("--publisher", required=True, help="DID of the feed record's account")
    parser.add_argument("--rkey", default="python", help="record key of the feed")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on (0: any)")
    parser.add_argument(
        "--require-auth", action="store_true", help="refuse requests without a service token"
    )
    parser.add_argument("--plc", default=DEFAULT_PLC_URL, help="did:plc directory")
    parser.add_argument(
        "--insecure", action="store_true", help="allow http:// and loopback (local PDS only)"
    )
    args = parser.parse_args(argv)
    if args.hostname is None:
        if not args.service_did.startswith("did:web:"):
            parser.error("--hostname is needed when --service-did is not a did:web")
        args.hostname = unquote(args.service_did.removeprefix("did:web:"))
    return args


async def run(args: argparse.Namespace) -> None:
    """Serve and index until SIGINT / SIGTERM, or until the indexer fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still interrupts
            loop.add_signal_handler(signum, stop.set)

    index = PostIndex(args.db, args.relay, args.keyword)
    feed = PostFeed(args.db)
    try:
        async with IdentityResolver(plc_url=args.plc, allow_insecure=args.insecure) as resolver:
            fg = create_feed_generator(
                feed,
                service_did=args.service_did,
                publisher_did=args.publisher,
                hostname=args.hostname,
                rkey=args.rkey,
                require_auth=args.require_auth,
                resolver=resolver,
            )
            async with fg.serve(args.host, args.port) as url:
                print(f"serving {fg.uri(args.rkey)} at {url}", flush=True)
                indexer = asyncio.create_task(index_posts(index, start=args.cursor))
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({indexer, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                indexer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await indexer  # raises the indexer's own error, if that is why we stop
    finally:
        feed.close()
        index.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
