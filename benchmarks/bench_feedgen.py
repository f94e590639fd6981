"""getFeedSkeleton requests per second through ``FeedGenerator.serve()``, with and without auth.

A `FeedGenerator` runs in a child process on 127.0.0.1 (so its work does not share the
measuring process's CPU time) with two feeds answering the same fixed 30-item skeleton: one
open, one with ``require_auth``. Callers' DID documents come from a `StaticIdentityResolver`
(no network), holding one K-256 key. An aiohttp client (keep-alive, ``--concurrency``
connections) measures three modes, in alternating rounds so that noise hits them alike:

- ``none``: the open feed, no ``Authorization`` header (the baseline);
- ``cached``: the auth feed with one valid token reused (claims rechecked, signature cached);
- ``fresh``: the auth feed with a new token per request (one signature check each; the tokens
  are minted before the round starts, outside the timing).

The best round of each is reported with its ratio to the baseline of the same run
(target: cached auth costs under 20%, i.e. ratio >= 0.80). On Linux the server's own CPU time
per request (from ``/proc/<pid>/stat``, lowest over the rounds) is reported too: requests/s
can be bounded by the client, CPU time per request shows what the server pays for auth.

Usage: python benchmarks/bench_feedgen.py [--calls 4000] [--concurrency 16] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from atproto_async.crypto import Keypair
from atproto_async.identity import StaticIdentityResolver
from atproto_async.server import FeedGenerator, FeedRequest, FeedSkeleton, create_service_jwt

SERVICE_DID = "did:web:feeds.bench"
CALLER_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
PUBLISHER_DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
LXM = "app.bsky.feed.getFeedSkeleton"
ITEMS = 30
MODES = ("none", "cached", "fresh")


def did_document(did: str, key: Keypair) -> dict[str, Any]:
    """A DID document as a PLC directory serves it (Multikey form)."""
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "alsoKnownAs": ["at://alice.bench.test"],
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.public_key.multikey(),
            }
        ],
        "service": [
            {
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": "https://pds.bench.test",
            }
        ],
    }


def serve() -> None:
    """Child process: read the caller's DID document from stdin, serve, print the port."""
    document = json.loads(sys.stdin.readline())
    skeleton = FeedSkeleton(
        [f"at://{PUBLISHER_DID}/app.bsky.feed.post/3kabc{i:08d}" for i in range(ITEMS)],
        cursor="1732000000000::bafyreib2rxk3rh6kzwq",
    )
    fg = FeedGenerator(
        SERVICE_DID,
        publisher_did=PUBLISHER_DID,
        hostname="feeds.bench",
        resolver=StaticIdentityResolver([document]),
    )

    @fg.feed("open")
    async def open_feed(request: FeedRequest) -> FeedSkeleton:
        return skeleton

    @fg.feed("auth", require_auth=True)
    async def auth_feed(request: FeedRequest) -> FeedSkeleton:
        return skeleton

    async def main() -> None:
        async with fg.serve("127.0.0.1", 0) as url:
            print(url.rsplit(":", 1)[1], flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    call: Callable[[], Awaitable[object]], calls: int, concurrency: int, server: int
) -> tuple[float, float | None]:
    """Run ``calls`` calls over ``concurrency`` tasks; return calls per second and the server's
    CPU microseconds per call (None when unknown)."""
    per_task = calls // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    cpu_before = cpu_seconds(server)
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu_after = cpu_seconds(server)
    done = per_task * concurrency
    if cpu_before is None or cpu_after is None:
        return done / elapsed, None
    return done / elapsed, (cpu_after - cpu_before) / done * 1e6


def mint(key: Keypair, count: int) -> list[str]:
    """``count`` distinct tokens (random ``jti``), valid for the length of a run."""
    return [
        create_service_jwt(key, iss=CALLER_DID, aud=SERVICE_DID, lxm=LXM, expires_in=600)
        for _ in range(count)
    ]


async def run(
    base: str, server: int, key: Keypair, calls: int, concurrency: int, rounds: int
) -> dict[str, Any]:
    def url(rkey: str) -> str:
        feed = quote(f"at://{PUBLISHER_DID}/app.bsky.feed.generator/{rkey}", safe="")
        return f"{base}/xrpc/{LXM}?feed={feed}&limit={ITEMS}"

    open_url, auth_url = url("open"), url("auth")
    reused = mint(key, 1)[0]
    fresh: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def get(target: str, token: str | None) -> bytes:
            headers = None if token is None else {"Authorization": f"Bearer {token}"}
            async with http.get(target, headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}: {body[:200]!r}")
                return body

        calls_of: dict[str, Callable[[], Awaitable[bytes]]] = {
            "none": lambda: get(open_url, None),
            "cached": lambda: get(auth_url, reused),
            "fresh": lambda: get(auth_url, fresh.pop()),
        }
        fresh.extend(mint(key, 1))
        bodies = [json.loads(await calls_of[mode]()) for mode in MODES]
        assert all(body == bodies[0] for body in bodies) and len(bodies[0]["feed"]) == ITEMS

        per_round: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        for mode in MODES:  # warm up connections and caches
            fresh[:] = mint(key, calls // 4) if mode == "fresh" else []
            await measure(calls_of[mode], calls // 4, concurrency, server)
        for _ in range(rounds):
            for mode in MODES:
                fresh[:] = mint(key, calls) if mode == "fresh" else []
                rate, cpu_us = await measure(calls_of[mode], calls, concurrency, server)
                per_round[mode].append(rate)
                if cpu_us is not None:
                    cpu[mode].append(cpu_us)
    best = {mode: max(figures) for mode, figures in per_round.items()}
    result: dict[str, Any] = {
        **best,
        "cached_ratio": best["cached"] / best["none"],
        "fresh_ratio": best["fresh"] / best["none"],
        "rounds": per_round,
    }
    if all(cpu.values()):
        result["server_cpu_us"] = {mode: min(figures) for mode, figures in cpu.items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls per round and mode")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent callers")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per mode")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    key = Keypair.generate("k256")
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(did_document(CALLER_DID, key)) + "\n")
        child.stdin.flush()
        port = int(child.stdout.readline())
        result = asyncio.run(
            run(
                f"http://127.0.0.1:{port}",
                child.pid,
                key,
                args.calls,
                args.concurrency,
                args.rounds,
            )
        )
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=10)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"no auth (baseline)          {result['none']:8.0f} requests/s")
        print(
            f"auth, one token (cached)    {result['cached']:8.0f} requests/s"
            f"   ratio {result['cached_ratio']:.2f}  (target >= 0.80)"
        )
        print(
            f"auth, fresh token each call {result['fresh']:8.0f} requests/s"
            f"   ratio {result['fresh_ratio']:.2f}"
        )
        cpu = result.get("server_cpu_us")
        if cpu is not None:
            print(
                "server CPU per request      "
                + "  ".join(f"{mode} {cpu[mode]:.0f} us" for mode in MODES)
                + f"   (cached +{cpu['cached'] / cpu['none'] - 1:.0%})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
