"""Calls per second through ``Client.query`` next to raw aiohttp GETs, in the same run.

A small aiohttp server runs in a child process on 127.0.0.1 (so its work does not share the
measuring process's CPU time). Both sides use the same ``aiohttp.ClientSession``, the same URL,
the same parameters and parse the same JSON answer; the client adds what it is for (headers,
auth, retry bookkeeping, error mapping). Rounds alternate between the two to share any noise,
and the best round of each is reported with the ratio client / raw (target: >= 0.8).

Usage: python benchmarks/bench_xrpc.py [--calls 4000] [--concurrency 16] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from atproto_async.xrpc import AiohttpTransport, Client

NSID = "app.bsky.actor.getProfile"
PARAMS = {"actor": "alice.bsky.social"}
PROFILE = {
    "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
    "handle": "alice.bsky.social",
    "displayName": "Alice",
    "description": "Just a test account, nothing to see here.",
    "avatar": "https://cdn.example.com/img/avatar/plain/did:plc:ewvi7nxzyoun6zhxrhs64oiz/x@jpeg",
    "followersCount": 1234,
    "followsCount": 321,
    "postsCount": 4567,
    "indexedAt": "2026-11-25T08:00:00.000Z",
    "labels": [],
}


def serve() -> None:
    """Child process: answer every XRPC GET with the same profile; print the port."""
    body = json.dumps(PROFILE).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/xrpc/{nsid}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


async def measure(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> float:
    """Run ``calls`` calls over ``concurrency`` tasks; return calls per second."""
    per_task = calls // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_task * concurrency / (time.perf_counter() - start)


async def run(base: str, calls: int, concurrency: int, rounds: int) -> dict[str, float]:
    url = f"{base}/xrpc/{NSID}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        client = Client(base, transport=AiohttpTransport(http))

        async def raw() -> object:
            async with http.get(url, params=PARAMS) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                return json.loads(body)

        async def through_client() -> object:
            return await client.query(NSID, PARAMS)

        assert await raw() == await through_client() == PROFILE
        await measure(raw, calls // 4, concurrency)  # warm up connections and caches
        await measure(through_client, calls // 4, concurrency)
        best = {"raw": 0.0, "client": 0.0}
        for _ in range(rounds):
            best["raw"] = max(best["raw"], await measure(raw, calls, concurrency))
            best["client"] = max(best["client"], await measure(through_client, calls, concurrency))
        await client.close()
    best["ratio"] = best["client"] / best["raw"]
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls per round and side")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent callers")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per side")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        result = asyncio.run(
            run(f"http://127.0.0.1:{port}", args.calls, args.concurrency, args.rounds)
        )
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=10)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"raw aiohttp GET     {result['raw']:10.0f} calls/s")
        print(f"Client.query        {result['client']:10.0f} calls/s")
        print(f"ratio client / raw  {result['ratio']:10.2f}   (target >= 0.80)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
