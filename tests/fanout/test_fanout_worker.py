"""Workers against a real redis-server: order, acknowledgement, leases, bad entries, dedup."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from conftest import live_frames, open_client
from redis_server import RedisServer
from test_fanout_ingester import numbered, running, until

from atproto_async.fanout import FanoutError, Ingester, Worker, partition_of
from atproto_async.stream import Commit, Event, decode_frame
from tests.stream.stream_helpers import FakeRelay, identity_frame

PARTITIONS = 4


def account(event: Event) -> str:
    did = getattr(event, "repo", None) or getattr(event, "did", None)
    assert isinstance(did, str)
    return did


def seq_of(event: Event) -> int:
    seq = getattr(event, "seq", None)
    assert isinstance(seq, int)
    return seq


def by_account(events: list[Event]) -> dict[str, list[int]]:
    result: dict[str, list[int]] = defaultdict(list)
    for event in events:
        result[account(event)].append(seq_of(event))
    return result


@asynccontextmanager
async def ingested(server: RedisServer, count: int) -> AsyncIterator[dict[int, bytes]]:
    """Everything of ``count`` live frames in the streams (the ingester keeps running)."""
    frames = numbered(count)
    async with FakeRelay(frames) as relay:
        ingester = Ingester(relay.url, server.url, partitions=PARTITIONS)
        async with running(ingester):

            async def done() -> bool:
                return ingester.cursor == max(frames)

            await until(done)
            yield frames


async def take(worker: Worker, count: int, into: list[Event]) -> None:
    async with asyncio.timeout(30):
        async for event in worker:
            into.append(event)
            if len(into) >= count:
                break


def worker(server: RedisServer, name: str, **options: object) -> Worker:
    options.setdefault("lease_ttl", 1.0)
    return Worker(
        server.url,
        group="g",
        name=name,
        partitions=PARTITIONS,
        **options,  # type: ignore[arg-type]
    )


async def test_one_worker_gets_every_event_in_account_order(redis_server: RedisServer) -> None:
    client = open_client(redis_server.url)
    async with ingested(redis_server, 300) as frames:
        got: list[Event] = []
        async with worker(redis_server, "w1") as one:
            assert one.owned == list(range(PARTITIONS))
            await take(one, len(frames), got)
        assert sorted(seq_of(e) for e in got) == sorted(frames)
        assert got == [decode_frame(frames[seq_of(e)]) for e in got]  # typed, as subscribe_repos
        expected = by_account([decode_frame(frames[s]) for s in sorted(frames)])
        assert by_account(got) == expected
        # The loop ended without an exception: everything is acknowledged, leases released.
        for partition in range(PARTITIONS):
            assert (await client.xpending(f"atproto:stream:{partition}", "g"))["pending"] == 0
            assert await client.get(f"atproto:lease:g:{partition}") is None
        assert await client.zcard("atproto:members:g") == 0
        assert one.acked == len(frames) and one.delivered == len(frames)


async def test_event_is_acknowledged_when_the_next_is_asked(redis_server: RedisServer) -> None:
    client = open_client(redis_server.url)
    async with ingested(redis_server, 40), worker(redis_server, "w1") as one:
        iterator = aiter(one)
        first = await anext(iterator)
        stream = f"atproto:stream:{partition_of(account(first), PARTITIONS)}"

        async def pending_seqs() -> set[int]:
            entries = await client.xpending_range(stream, "g", "-", "+", 1000)
            ids = [e["message_id"] for e in entries]
            seqs = set()
            for entry_id in ids:
                (_, fields), *_ = await client.xrange(stream, entry_id, entry_id)
                seqs.add(int(fields[b"seq"]))
            return seqs

        assert seq_of(first) in await pending_seqs()  # handed out, not yet acknowledged
        await anext(iterator)
        assert seq_of(first) not in await pending_seqs()


async def test_an_exception_leaves_the_event_for_the_next_worker(
    redis_server: RedisServer,
) -> None:
    async with ingested(redis_server, 40) as frames:
        failed: Event | None = None
        with pytest.raises(RuntimeError, match="handler failed"):
            async with worker(redis_server, "w1") as one:
                async for event in one:
                    failed = event
                    raise RuntimeError("handler failed")
        assert failed is not None
        got: list[Event] = []
        async with worker(redis_server, "w2") as two:
            await take(two, len(frames), got)
        assert sorted(seq_of(e) for e in got) == sorted(frames)  # the failed one included
        assert two.claimed >= 1


async def test_two_workers_share_the_partitions_and_keep_account_order(
    redis_server: RedisServer,
) -> None:
    async with ingested(redis_server, 400) as frames:
        got: list[Event] = []  # one event loop: the order the handlers ran in
        first, second = worker(redis_server, "w1", read_count=4), worker(redis_server, "w2")

        async def handle(one: Worker) -> None:
            async for event in one:
                got.append(event)
                await asyncio.sleep(0.002)
                if len(got) >= len(frames):
                    return

        async with first, second:
            tasks = [asyncio.create_task(handle(w)) for w in (first, second)]

            async def finished() -> bool:
                return len(got) >= len(frames)

            await until(finished, seconds=30)
            for task in tasks:
                task.cancel()
            assert sorted(first.owned + second.owned) == list(range(PARTITIONS))
            assert len(first.owned) == len(second.owned) == PARTITIONS // 2
        assert sorted(seq_of(e) for e in got) == sorted(frames)  # each once
        expected = by_account([decode_frame(frames[s]) for s in sorted(frames)])
        assert by_account(got) == expected
        assert first.delivered > 0 and second.delivered > 0


async def test_a_lost_lease_stops_the_partition_at_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="atproto_async.fanout")
    client = open_client(redis_server.url)
    async with ingested(redis_server, 40), worker(redis_server, "w1", lease_ttl=0.6) as one:
        await anext(aiter(one))
        await client.set("atproto:lease:g:1", "someone-else", px=60_000)

        async def lost() -> bool:
            return 1 not in one.owned

        await until(lost, seconds=5)
        assert "stopped serving partition 1" in caplog.text
        more: list[Event] = []
        async with asyncio.timeout(2):
            async for event in one:
                more.append(event)
                if sum(1 for e in more if partition_of(account(e), PARTITIONS) != 1) >= 5:
                    break
        assert all(partition_of(account(e), PARTITIONS) != 1 for e in more)


async def test_malformed_entry_is_skipped_counted_and_acknowledged(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="atproto_async.fanout")
    client = open_client(redis_server.url)
    stream = "atproto:stream:0"
    await client.xadd(stream, {"seq": 1, "frame": b"\xa2garbage"})
    await client.xadd(stream, {"seq": 2})  # no frame at all
    good = identity_frame(3, "did:plc:zero")
    await client.xadd(stream, {"seq": 3, "frame": good})
    async with worker(redis_server, "w1") as one:
        event = await anext(aiter(one))
        assert event == decode_frame(good)
        assert one.malformed == 2
    assert caplog.text.count("skipped entry") == 2 and stream in caplog.text
    assert (await client.xpending(stream, "g"))["pending"] == 0


async def test_verify_skips_commits_that_are_not_newer(redis_server: RedisServer) -> None:
    client = open_client(redis_server.url)
    frames = list(live_frames(60))
    async with ingested(redis_server, 60):
        got: list[Event] = []
        async with worker(redis_server, "w1", verify=True) as one:
            await take(one, len(frames), got)
        # The same frames appended again, as a re-delivery after a failover would bring them.
        for message in frames:
            event = decode_frame(message)
            stream = f"atproto:stream:{partition_of(account(event), PARTITIONS)}"
            await client.xadd(stream, {"seq": seq_of(event), "frame": message})
        again: list[Event] = []
        others = sum(1 for m in frames if type(decode_frame(m)) is not Commit)
        async with worker(redis_server, "w2", verify=True) as two:
            await take(two, others, again)
        assert all(type(e) is not Commit for e in again)
        assert two.duplicates == len(frames) - others


async def test_worker_refuses_another_number_of_partitions(redis_server: RedisServer) -> None:
    client = open_client(redis_server.url)
    await client.set("atproto:partitions", 8)
    with pytest.raises(FanoutError, match="8 partitions"):
        async with worker(redis_server, "w1"):
            pass


def test_worker_repr_hides_the_password() -> None:
    one = Worker("redis://:hunter2@127.0.0.1:1/0", group="g", name="w")
    assert "hunter2" not in repr(one) and "***" in repr(one)
    with pytest.raises(ValueError, match="lease_ttl"):
        Worker("redis://127.0.0.1:1/0", group="g", name="w", lease_ttl=0)
