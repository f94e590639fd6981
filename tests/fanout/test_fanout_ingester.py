"""The ingester against a real redis-server and a local relay: routing, cursor, trimming, limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import live_frames, open_client
from redis_server import RedisServer

from atproto_async.fanout import FanoutError, Ingester, partition_of
from atproto_async.fanout._redis import redact
from atproto_async.stream import decode_frame, read_raw_frame
from tests.stream.stream_helpers import FakeRelay

PARTITIONS = 4


def numbered(count: int) -> dict[int, bytes]:
    return {read_raw_frame(f).seq: f for f in live_frames(count)}  # type: ignore[misc]


@asynccontextmanager
async def running(ingester: Ingester) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(ingester.run())
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=15)  # a hang here is a failure, not CI's
        assert done, "the cancelled ingester did not stop"
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Any, seconds: float = 20.0) -> None:
    """Wait until ``await check()`` is true (failing the test after ``seconds``)."""
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def entries(client: aioredis.Redis, partition: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
    result: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(
        f"atproto:stream:{partition}"
    )
    return result


async def test_frames_land_in_their_account_partition_in_order(redis_server: RedisServer) -> None:
    frames = numbered(300)
    last = max(frames)
    client = open_client(redis_server.url)
    async with FakeRelay(frames) as relay:
        ingester = Ingester(relay.url, redis_server.url, partitions=PARTITIONS, batch_size=16)
        async with running(ingester):

            async def done() -> bool:
                return ingester.cursor == last

            await until(done)
    seen: list[int] = []
    for partition in range(PARTITIONS):
        stored = await entries(client, partition)
        seqs = [int(fields[b"seq"]) for _, fields in stored]
        assert seqs == sorted(seqs)
        for _, fields in stored:
            raw = read_raw_frame(fields[b"frame"])
            assert fields[b"frame"] == frames[raw.seq]  # type: ignore[index]
            assert partition_of(raw.did, PARTITIONS) == partition
        seen += seqs
    assert sorted(seen) == sorted(frames)
    assert int(await client.get("atproto:cursor")) == last  # type: ignore[arg-type]
    assert int(await client.get("atproto:partitions")) == PARTITIONS  # type: ignore[arg-type]
    assert ingester.appended == len(frames)


async def test_restart_resumes_from_the_stored_cursor(redis_server: RedisServer) -> None:
    frames = numbered(120)
    seqs = sorted(frames)
    first = {s: frames[s] for s in seqs[:50]}
    async with FakeRelay(first) as relay:
        ingester = Ingester(relay.url, redis_server.url, partitions=PARTITIONS)
        async with running(ingester):

            async def first_done() -> bool:
                return ingester.cursor == seqs[49]

            await until(first_done)
    async with FakeRelay(frames) as relay:  # the relay now also has the later frames
        again = Ingester(relay.url, redis_server.url, partitions=PARTITIONS)
        async with running(again):

            async def all_done() -> bool:
                return again.cursor == seqs[-1]

            await until(all_done)
        assert relay.cursors == [seqs[49]]
    client = open_client(redis_server.url)
    stored = [int(f[b"seq"]) for p in range(PARTITIONS) for _, f in await entries(client, p)]
    assert sorted(stored) == seqs  # no gap, no duplicate


async def test_append_script_skips_what_is_already_stored(redis_server: RedisServer) -> None:
    # A batch sent again (its answer was lost) or a second ingester appends nothing twice.
    client = open_client(redis_server.url)
    from atproto_async.fanout._redis import APPEND

    script = client.register_script(APPEND)
    keys = ["atproto:cursor", "atproto:stream:0", "atproto:stream:0"]
    assert await script(keys=keys, args=[9, b"a", 10, b"b"]) == 2
    assert await script(keys=keys, args=[9, b"a", 10, b"b"]) == 0
    assert await script(keys=keys, args=[10, b"b", 11, b"c"]) == 1
    # Seqs compare as numbers written in decimal, beyond the 2**53 of Lua's doubles.
    big = 2**62
    assert await script(keys=keys, args=[big, b"d", big + 1, b"e"]) == 2
    assert await script(keys=keys[:2], args=[big, b"d"]) == 0
    assert await client.get("atproto:cursor") == str(big + 1).encode()
    assert await client.xlen("atproto:stream:0") == 5


async def test_refuses_a_redis_that_may_evict(redis_server: RedisServer) -> None:
    client = open_client(redis_server.url)
    await client.config_set("maxmemory-policy", "allkeys-lru")
    ingester = Ingester("ws://127.0.0.1:9", redis_server.url)
    with pytest.raises(FanoutError, match="noeviction"):
        await ingester.run()


async def test_refuses_another_number_of_partitions(redis_server: RedisServer) -> None:
    client = open_client(redis_server.url)
    await client.set("atproto:partitions", 8)
    with pytest.raises(FanoutError, match="8 partitions, not 4"):
        await Ingester("ws://127.0.0.1:9", redis_server.url, partitions=4).run()


async def test_backlog_pauses_the_relay_and_trims_only_what_groups_acknowledged(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="atproto_async.fanout")
    frames = {s: f for s, f in numbered(200).items()}
    seqs = sorted(frames)
    client = open_client(redis_server.url)
    async with FakeRelay(frames) as relay:
        ingester = Ingester(relay.url, redis_server.url, partitions=1, max_backlog=40, batch_size=8)
        async with running(ingester):

            async def paused() -> bool:
                return ingester.paused == 0

            await until(paused)
            await asyncio.sleep(0.3)
            held = await client.xlen("atproto:stream:0")
            assert 40 <= held < 40 + 8  # no group yet: nothing may be trimmed, reading stops
            assert ingester.cursor is not None and ingester.cursor < seqs[-1]
            assert "pausing the relay" in caplog.text
            # A group reads and acknowledges 30 entries: they may go, the rest must stay.
            await client.xgroup_create("atproto:stream:0", "g", id="0")
            answer = await client.xreadgroup("g", "c", {"atproto:stream:0": ">"}, count=30)
            ids = [entry_id for entry_id, _ in answer[0][1]]
            await client.xack("atproto:stream:0", "g", *ids[:25])

            async def trimmed() -> bool:
                first = await client.xrange("atproto:stream:0", count=1)
                return bool(first) and first[0][0] == ids[25]

            await until(trimmed)
            await asyncio.sleep(0.3)
            assert (await client.xrange("atproto:stream:0", count=1))[0][0] == ids[25]
            # Acknowledge everything as it comes: the ingester reads to the end.
            await client.xack("atproto:stream:0", "g", *ids[25:])
            async with asyncio.timeout(60):
                while ingester.cursor != seqs[-1] or ingester.paused is not None:
                    answer = await client.xreadgroup("g", "c", {"atproto:stream:0": ">"}, count=50)
                    for _, batch in answer or ():
                        await client.xack("atproto:stream:0", "g", *[i for i, _ in batch])
                    await asyncio.sleep(0.05)
        assert ingester.paused is None
        assert ingester.appended == len(frames)
        assert "has room again" in caplog.text


def test_password_never_shown() -> None:
    url = "redis://user:s3cret@127.0.0.1:6379/0"
    assert "s3cret" not in redact(url) and "127.0.0.1:6379" in redact(url)
    assert "s3cret" not in repr(Ingester("ws://127.0.0.1:1", url))
    assert redact("redis://127.0.0.1:1/0") == "redis://127.0.0.1:1/0"


def test_frames_decode_after_a_round_trip_through_redis() -> None:
    # What the worker gets back is the relay's message, byte for byte.
    message = live_frames(5)[0]
    assert decode_frame(message) == read_raw_frame(message).decode()


async def test_an_error_frame_ends_the_run_with_its_error(redis_server: RedisServer) -> None:
    from atproto_async.exceptions import StreamError
    from tests.stream.stream_helpers import error_frame, send_then

    async with FakeRelay({}, [send_then([error_frame("FutureCursor", "ahead")])]) as relay:
        ingester = Ingester(relay.url, redis_server.url)
        with pytest.raises(StreamError) as info:
            await asyncio.wait_for(ingester.run(), 20)
    assert info.value.error == "FutureCursor"


async def test_cancelling_a_paused_ingester_always_stops_it(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redis-py may swallow a cancellation that lands mid-command (returning, or raising a
    # ConnectionError): a paused ingester then polled on forever after being cancelled. With
    # the pause polling without rest, most cancellations land inside a Redis command.
    import atproto_async.fanout.ingester as ingester_module

    monkeypatch.setattr(ingester_module, "_PAUSE_POLL", 0.0005)
    async with FakeRelay(numbered(40)) as relay:
        for attempt in range(25):
            ingester = Ingester(
                relay.url, redis_server.url, partitions=1, max_backlog=8, prefix=f"t{attempt}"
            )  # a prefix of its own: each attempt starts empty and pauses after 8 frames
            task = asyncio.create_task(ingester.run())

            async def paused(ingester: Ingester = ingester) -> bool:
                return ingester.paused == 0

            await until(paused)
            await asyncio.sleep(0.001 * (attempt % 7))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=10)
            assert done, f"attempt {attempt}: the cancelled ingester went on running"
            assert task.cancelled()
