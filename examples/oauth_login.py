"""Sign in with OAuth (no password given to this program), then post as the person.

Examples:
    python examples/oauth_login.py alice.bsky.social "Hello over OAuth"

    # against a local development PDS and PLC (scripts/dev-pds prints their URLs):
    python examples/oauth_login.py did:plc:... "hello, local PDS" \\
        --plc http://localhost:2582 --allow-insecure

The program starts a small web server on 127.0.0.1 for the callback, prints the URL to open in
a browser, and waits. After you sign in and approve on your server's page, the browser comes
back here, the program posts the text as you, prints the new record's URI, and (with
``--logout``) revokes the session.

This is the loopback development client of the atproto OAuth profile: nothing to publish, and
servers keep its sessions short. A web app publishes a client metadata document instead and
uses ``OAuthClient(metadata, keys=...)``; see atproto_async.oauth.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from aiohttp import web

from atproto_async import AtprotoError
from atproto_async.identity import DEFAULT_PLC_URL, IdentityResolver
from atproto_async.oauth import OAuthClient

#: How long the program waits for the person to sign in.
WAIT_SECONDS = 300.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sign in to an atproto account with OAuth and create an app.bsky.feed.post.",
    )
    parser.add_argument("account", help="handle, DID, or the URL of your PDS or entryway")
    parser.add_argument("text", help="the text of the post (at most 300 characters)")
    parser.add_argument(
        "--port", type=int, default=0, help="port of the callback server (default: any free one)"
    )
    parser.add_argument("--plc", default=DEFAULT_PLC_URL, help="did:plc directory URL")
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="accept http:// loopback servers (a local development PDS)",
    )
    parser.add_argument("--logout", action="store_true", help="revoke the session afterwards")
    return parser.parse_args(argv)


async def start_callback_server(
    port: int,
) -> tuple[web.AppRunner, str, asyncio.Future[Mapping[str, str]]]:
    """Serve ``/callback`` on 127.0.0.1; the future gets the first callback's parameters."""
    arrived: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        if not arrived.done():
            arrived.set_result(dict(request.query))
        return web.Response(text="Signed in: you can close this window.\n")

    app = web.Application()
    app.router.add_get("/callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{bound}/callback", arrived


async def main(args: argparse.Namespace) -> int:
    runner, redirect_uri, arrived = await start_callback_server(args.port)
    try:
        async with (
            IdentityResolver(plc_url=args.plc, allow_insecure=args.allow_insecure) as resolver,
            OAuthClient.loopback(
                redirect_uri, resolver=resolver, allow_insecure=args.allow_insecure
            ) as oauth,
        ):
            url = await oauth.authorize(args.account)
            print(f"Open this URL in your browser to sign in:\n{url}", flush=True)
            try:
                params = await asyncio.wait_for(arrived, WAIT_SECONDS)
            except TimeoutError:
                print(f"no sign-in within {WAIT_SECONDS:.0f} s", file=sys.stderr)
                return 1
            session = await oauth.callback(params)
            print(f"signed in as {session.did} ({session.scope})", flush=True)
            async with oauth.client(session) as client:
                created_at = datetime.now(UTC).isoformat(timespec="milliseconds")
                out = await client.com.atproto.repo.create_record(
                    repo=session.did,
                    collection="app.bsky.feed.post",
                    record={
                        "$type": "app.bsky.feed.post",
                        "text": args.text,
                        "createdAt": created_at.replace("+00:00", "Z"),
                    },
                )
                print(out.uri, flush=True)
                if args.logout:
                    await client.logout()
                    print("session revoked", flush=True)
    except AtprotoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
