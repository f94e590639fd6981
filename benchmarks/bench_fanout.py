"""Benchmark the scale-out path: raw reading vs full decoding, ingest rate, workers scaling.

Three measurements, in one run, on frames in the live layout of ``make_frames.py``:

1. Per frame, in process: `read_raw_frame` (seq, DID, type) against `decode_frame`, and
   against `decode_frame` plus reading every op's record (what a consumer does).
2. Ingest: a local relay (``websockets`` on 127.0.0.1) -> `Ingester` -> Redis, events/s, in
   raw mode and with an ingester that fully decodes every frame first (the ratio is what raw
   mode saves).
3. End to end: N frames ingested while 1, 2 and 4 worker processes (``atproto-async work``)
   handle them with a handler costing 1 ms of I/O per event (``asyncio.sleep(0.001)``);
   events/s from the first frame ingested to the last one acknowledged.

Redis: a ``redis-server`` started here on a free port of 127.0.0.1 with a temporary folder
(the tests' ``tests/fanout/redis_server.py``), or ``--redis URL`` (it is flushed!).

Usage::

    python benchmarks/bench_fanout.py [--frames 20000] [--e2e 3000] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests" / "fanout")]

from make_frames import generate_frames  # noqa: E402

from atproto_async.fanout import Ingester  # noqa: E402
from atproto_async.stream import Commit, decode_frame, read_raw_frame  # noqa: E402

PARTITIONS = 8


async def handle(event: Any) -> None:
    """The workers' handler: 1 ms of I/O per event."""
    await asyncio.sleep(0.001)


def _full(message: bytes) -> Any:
    event = decode_frame(message)
    if type(event) is Commit:
        for op in event.ops:
            op.record  # noqa: B018 - decoding the record is the point
    return event


def per_frame(frames: list[bytes], repeat: int = 5) -> dict[str, float]:
    """Frames per second of each way of reading (best of ``repeat``)."""
    rates: dict[str, float] = {}
    for name, read in (
        ("raw (read_raw_frame)", read_raw_frame),
        ("decode_frame", decode_frame),
        ("decode_frame + records", _full),
    ):
        best = 0.0
        for _ in range(repeat):
            start = time.perf_counter()
            for message in frames:
                read(message)
            best = max(best, len(frames) / (time.perf_counter() - start))
        rates[name] = best
    return rates


class _DecodingIngester(Ingester):
    """An ingester that fully decodes each frame before storing it (for comparison)."""

    async def _read(self, queue: asyncio.Queue[Any]) -> None:
        async for frame in self.subscription:
            _full(frame.data)
            if frame.seq is not None:
                await queue.put(frame)


async def _relay(frames: list[bytes]) -> Any:
    from websockets.asyncio.server import serve

    async def send_all(ws: Any) -> None:
        for message in frames:
            await ws.send(message)
        await ws.wait_closed()

    return await serve(send_all, "127.0.0.1", 0, compression=None, max_queue=None)


async def ingest_rate(url: str, frames: list[bytes], decoding: bool) -> float:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.flushall()
    server = await _relay(frames)
    port = server.sockets[0].getsockname()[1]
    kind = _DecodingIngester if decoding else Ingester
    ingester = kind(f"ws://127.0.0.1:{port}", url, partitions=PARTITIONS)
    last = read_raw_frame(frames[-1]).seq
    start = time.perf_counter()
    task = asyncio.create_task(ingester.run())
    while True:
        if ingester.cursor == last:
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    server.close()
    await server.wait_closed()
    await client.aclose()
    return len(frames) / elapsed


async def end_to_end(url: str, frames: list[bytes], workers: int) -> float:
    """Events/s through ingester and ``workers`` processes with a 1 ms handler."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.flushall()
    await client.set("atproto:partitions", PARTITIONS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    processes = [
        await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "atproto_async", "work", "--redis", url, "--group", "bench"],
            *["--name", f"w{i}", "--partitions", str(PARTITIONS), "--lease-ttl", "1.5"],
            *["--handler", "bench_fanout:handle"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    try:
        # Wait until the partitions are shared fairly, so start-up is not measured.
        share = -(-PARTITIONS // workers)
        while True:
            owners = [await client.get(f"atproto:lease:bench:{p}") for p in range(PARTITIONS)]
            counts: dict[bytes, int] = {}
            for owner in owners:
                if owner is not None:
                    counts[owner] = counts.get(owner, 0) + 1
            if len(counts) == workers and max(counts.values()) <= share and None not in owners:
                break
            await asyncio.sleep(0.1)
        server = await _relay(frames)
        port = server.sockets[0].getsockname()[1]
        ingester = Ingester(f"ws://127.0.0.1:{port}", url, partitions=PARTITIONS)
        start = time.perf_counter()
        task = asyncio.create_task(ingester.run())
        total = len(frames)
        while True:
            done = 0
            for p in range(PARTITIONS):
                for group in await client.xinfo_groups(f"atproto:stream:{p}"):
                    done += int(group["entries-read"] or 0) - int(group["pending"])
            if done >= total:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        await server.wait_closed()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await process.wait()
        await client.aclose()
    return total / elapsed


async def main_async(args: argparse.Namespace) -> None:
    frames = generate_frames(args.frames, seed=1, layout="live")
    print(f"{len(frames)} frames, live layout; {os.cpu_count()} CPUs")
    rates = per_frame(frames)
    base = rates["decode_frame + records"]
    print("\nper frame, in process (best of 5):")
    for name, rate in rates.items():
        print(f"  {name:<24} {rate:>10,.0f} frames/s  {1e6 / rate:6.2f} us  x{rate / base:.2f}")
    server = None
    url = args.redis
    if url is None:
        from redis_server import RedisServer

        server = RedisServer().start()
        url = server.url
    try:
        raw = await ingest_rate(url, frames, decoding=False)
        full = await ingest_rate(url, frames, decoding=True)
        print("\ningest, relay -> Redis (8 partitions):")
        print(f"  raw frames               {raw:>10,.0f} events/s")
        print(f"  full decoding first      {full:>10,.0f} events/s")
        print(f"  ratio raw / full         {raw / full:>10.2f}")
        e2e = frames[: args.e2e]
        print(f"\nend to end, {len(e2e)} events, handler 1 ms each (asyncio.sleep(0.001)):")
        first = None
        for count in args.workers:
            rate = await end_to_end(url, e2e, count)
            first = first or rate
            print(f"  {count} worker process(es)    {rate:>10,.0f} events/s  x{rate / first:.2f}")
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--e2e", type=int, default=3_000, help="events for the end-to-end runs")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--redis", help="use this Redis (FLUSHALL!) instead of starting one")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
