"""Crashes, end to end: ``kill -9`` of a worker process, of the ingester process, and of Redis.

Local relay (``websockets`` on 127.0.0.1) -> ingester -> real redis-server -> worker
processes started with ``python -m atproto_async work --handler fanout_handler:record``, which
append ``<pid> <seq> <did>`` lines to one file in the order the events were handled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from conftest import open_client
from redis_server import RedisServer
from test_fanout_ingester import numbered, running, until
from test_fanout_worker import PARTITIONS, account, ingested, seq_of, worker
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from atproto_async.fanout import Ingester
from atproto_async.stream import Event, read_raw_frame
from tests.stream.stream_helpers import FakeRelay

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def spawn(args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``python -m atproto_async ARGS`` with this folder importable (for the handler)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "atproto_async", *args],
            env={**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}", **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def handled(path: Path) -> list[tuple[int, int, str]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [(int(pid), int(seq), did) for pid, seq, did in (line.split() for line in lines)]


def check_order(lines: Iterable[tuple[int, str]], relay_order: dict[int, str]) -> int:
    """Assert that each account's events came in relay order; return the re-deliveries."""
    expected: dict[str, list[int]] = defaultdict(list)
    for seq in sorted(relay_order):
        expected[relay_order[seq]].append(seq)
    position: dict[str, int] = defaultdict(int)
    seen: set[int] = set()
    again = 0
    for seq, did in lines:
        assert relay_order[seq] == did
        if seq in seen:
            again += 1  # handled, not acknowledged, then delivered again after the failover
            continue
        seen.add(seq)
        assert seq == expected[did][position[did]], f"{did}: seq {seq} out of order"
        position[did] += 1
    assert seen == set(relay_order), "events lost"
    return again


async def pending_of(client: aioredis.Redis, consumer: str) -> int:
    total = 0
    for partition in range(PARTITIONS):
        summary = await client.xpending(f"atproto:stream:{partition}", "g")
        for entry in summary["consumers"] or ():
            if entry["name"] in (consumer, consumer.encode()):
                total += int(entry["pending"])
    return total


async def test_kill_9_of_a_worker_loses_nothing_and_keeps_account_order(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    out = tmp_path / "handled.txt"
    client = open_client(redis_server.url)
    async with ingested(redis_server, 400) as frames:
        relay_order = {s: read_raw_frame(f).did or "" for s, f in frames.items()}
        common = ["work", "--redis", redis_server.url, "--group", "g"]
        common += ["--partitions", str(PARTITIONS), "--lease-ttl", "1.5"]
        common += ["--handler", "fanout_handler:record"]
        env = {"FANOUT_OUT": str(out), "FANOUT_DELAY": "0.005"}
        first = spawn([*common, "--name", "wA"], tmp_path / "wA.log", **env)
        second = spawn([*common, "--name", "wB"], tmp_path / "wB.log", **env)
        try:

            async def first_busy() -> bool:
                return sum(1 for pid, _, _ in handled(out) if pid == first.pid) >= 40

            await until(first_busy, seconds=30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            unacknowledged = await pending_of(client, "wA")

            async def all_handled() -> bool:
                return {seq for _, seq, _ in handled(out)} == set(frames)

            await until(all_handled, seconds=30)

            async def all_acknowledged() -> bool:  # the survivor acknowledges everything
                for partition in range(PARTITIONS):
                    summary = await client.xpending(f"atproto:stream:{partition}", "g")
                    if summary["pending"]:
                        return False
                return True

            await until(all_acknowledged, seconds=30)
        finally:
            stop(first)
            stop(second)
        lines = handled(out)
        again = check_order(((seq, did) for _, seq, did in lines), relay_order)
        assert again <= unacknowledged  # only what the dead worker had not acknowledged
        assert {pid for pid, _, _ in lines} == {first.pid, second.pid}


async def test_kill_9_of_the_ingester_then_restart_no_gap_no_duplicate(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    frames = numbered(400)

    async def slowly(relay: FakeRelay, ws: ServerConnection, cursor: int | None) -> None:
        try:
            for _, message in relay.after(cursor):
                await ws.send(message)
                await asyncio.sleep(0.002)
            await ws.wait_closed()
        except ConnectionClosed:
            pass

    client = open_client(redis_server.url)

    async def stored() -> list[int]:
        seqs: list[int] = []
        for partition in range(PARTITIONS):
            entries = await client.xrange(f"atproto:stream:{partition}")
            partition_seqs = [int(fields[b"seq"]) for _, fields in entries]
            assert partition_seqs == sorted(partition_seqs)
            seqs += partition_seqs
        return seqs

    async with FakeRelay(frames, [slowly]) as relay:
        args = ["ingest", "--relay", relay.url, "--redis", redis_server.url]
        args += ["--partitions", str(PARTITIONS)]
        ingester = spawn(args, tmp_path / "ingest.log")
        try:

            async def some() -> bool:
                return len(await stored()) >= 100

            await until(some, seconds=30)
            ingester.send_signal(signal.SIGKILL)
            ingester.wait(10)
            cursor = int(await client.get("atproto:cursor"))  # type: ignore[arg-type]
            assert cursor < max(frames)
            assert max(await stored()) == cursor  # the cursor and the frames agree
            ingester = spawn(args, tmp_path / "ingest.log")

            async def finished() -> bool:
                return await client.get("atproto:cursor") == str(max(frames)).encode()

            await until(finished, seconds=30)
        finally:
            stop(ingester)
        assert relay.cursors[1:] == [cursor]  # the restart asked for what follows the cursor
    assert sorted(await stored()) == sorted(frames)  # no gap, no duplicate


@pytest.mark.parametrize("verify", [False, True])
async def test_redis_restart_with_persistence_redelivers_nothing_acknowledged(
    persistent_redis: RedisServer, verify: bool
) -> None:
    async with ingested(persistent_redis, 300) as frames:
        got: list[Event] = []
        one = worker(persistent_redis, "w1", lease_ttl=3.0, verify=verify)
        async with one:
            iterator = aiter(one)
            async with asyncio.timeout(30):
                while len(got) < 100:
                    got.append(await anext(iterator))
                # Event 100 is being handled: Redis crashes (SIGKILL) and comes back.
                persistent_redis.kill()
                persistent_redis.start()
                while len(got) < len(frames):
                    got.append(await anext(iterator))
        seqs = [seq_of(e) for e in got]
        assert sorted(seqs) == sorted(frames)  # nothing lost, nothing delivered twice
        relay_order = {s: read_raw_frame(f).did or "" for s, f in frames.items()}
        assert check_order(((seq_of(e), account(e)) for e in got), relay_order) == 0
    client = open_client(persistent_redis.url)
    for partition in range(PARTITIONS):
        assert (await client.xpending(f"atproto:stream:{partition}", "g"))["pending"] == 0
    # A new worker of the group finds nothing left to do: every acknowledgement survived.
    async with worker(persistent_redis, "w2") as two:
        leftover: list[Event] = []
        try:
            async with asyncio.timeout(1.0):
                async for event in two:
                    leftover.append(event)
        except TimeoutError:
            pass
        assert leftover == []


async def test_ingester_rides_out_a_redis_restart(persistent_redis: RedisServer) -> None:
    frames = numbered(200)
    seqs = sorted(frames)
    async with FakeRelay({s: frames[s] for s in seqs[:100]}) as relay:
        ingester = Ingester(relay.url, persistent_redis.url, partitions=PARTITIONS)
        async with running(ingester):

            async def half() -> bool:
                return ingester.cursor == seqs[99]

            await until(half)
            persistent_redis.kill()
            persistent_redis.start()
    async with FakeRelay(frames) as relay:
        again = Ingester(relay.url, persistent_redis.url, partitions=PARTITIONS)
        async with running(again):

            async def done() -> bool:
                return again.cursor == seqs[-1]

            await until(done)
        assert relay.cursors == [seqs[99]]
    client = open_client(persistent_redis.url)
    stored = [
        int(f[b"seq"])
        for p in range(PARTITIONS)
        for _, f in await client.xrange(f"atproto:stream:{p}")
    ]
    assert sorted(stored) == seqs
