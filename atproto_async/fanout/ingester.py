"""The ingester: one relay connection, its frames appended to Redis streams, one per partition.

::

    relay --raw frames--> reader --queue--> writer --APPEND script--> P:stream:0 .. P:stream:N-1
                                                                      P:cursor

- Raw frames: ``subscribe_repos(..., raw=True)`` reads only each frame's seq, DID and type;
  the message is stored as received and decoded by the worker that handles it.
- Routing: partition = stable hash of the DID (`partition_of`), so every event of an account
  is in one stream, in the relay's order.
- Atomic cursor: a batch of frames and the relay cursor are written by one Lua script (all or
  nothing, and a frame whose seq is not above the stored cursor is skipped). A restart reads
  ``P:cursor`` and asks the relay for what follows: no gap, nothing appended twice - even
  when Redis went away in the middle of a batch and the batch is sent again. (A relay that
  resets its sequence to lower numbers needs ``P:cursor`` deleted by hand: its new frames
  would all look like replays.)
- Trimming: a stream is trimmed only below what every consumer group has acknowledged (the
  oldest pending entry of each group, or its last delivered one when none is pending), never
  by length; with no group yet nothing is trimmed.
- Backpressure: once a stream holds ``max_backlog`` entries after trimming (the workers are
  behind, or none runs yet), the writer stops, which stops the reader, which stops reading
  the relay (``websockets`` then stops reading the socket). One WARNING log line says so
  (and `paused` tells a status display); reading resumes when the workers catch up. A relay
  that gives up on the slow connection is reconnected from the cursor: nothing is lost.
- Redis going away: the batch being written is sent again after a pause (the script makes
  that safe); the reader waits meanwhile.
- Refuses to start on a Redis whose ``maxmemory-policy`` could evict entries (`FanoutError`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from atproto_async.fanout._partition import partition_of
from atproto_async.fanout._redis import (
    APPEND,
    TRANSIENT,
    Keys,
    check_redis,
    connect,
    raise_if_cancelled,
    redact,
)
from atproto_async.stream.raw import RawFrame

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_MAX_BACKLOG", "Ingester"]

logger = logging.getLogger("atproto_async.fanout")

#: Entries a partition's stream may hold (unacknowledged by some group) before reading pauses.
DEFAULT_MAX_BACKLOG = 100_000
#: Frames written by one script call at most.
DEFAULT_BATCH_SIZE = 256
#: Seconds between two trims of every stream.
DEFAULT_TRIM_INTERVAL = 5.0
#: Seconds between two looks at a full stream while paused.
_PAUSE_POLL = 0.25
#: Longest pause before sending a batch again while Redis is away.
_MAX_RETRY_DELAY = 2.0


def _entry_id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Ingester:
    """Reads a relay and appends every frame to the Redis stream of its account's partition.

    Args:
        relay_url: The relay (or PDS) to read, as for `subscribe_repos`.
        redis_url: ``redis://[:password@]host:port/db`` (the password never appears in logs).
        partitions: How many streams the accounts are spread over (fixed for a prefix).
        prefix: Prefix of every Redis key (see ``atproto_async.fanout._redis``).
        max_backlog: Entries a stream may hold unacknowledged before reading pauses.
        batch_size: Frames written by one script call at most.
        trim_interval: Seconds between two trims of every stream.
        **options: Passed to `subscribe_repos` (``allow_insecure``, ``reconnect``...).

    Attributes:
        appended: Frames appended by this process.
        paused: The partition whose backlog holds reading back, or None while reading.
        backlog: The last known number of entries in each stream (an upper bound).
    """

    def __init__(
        self,
        relay_url: str,
        redis_url: str,
        *,
        partitions: int = 8,
        prefix: str = "atproto",
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        batch_size: int = DEFAULT_BATCH_SIZE,
        trim_interval: float = DEFAULT_TRIM_INTERVAL,
        **options: Any,
    ) -> None:
        if max_backlog < 1 or batch_size < 1:
            raise ValueError("max_backlog and batch_size must be at least 1")
        self.relay_url = relay_url
        self._redis_url = redis_url
        self.keys = Keys(prefix, partitions)
        self.partitions = partitions
        self.max_backlog = max_backlog
        self.batch_size = batch_size
        self.trim_interval = trim_interval
        self._options = options
        self._cursor: int | None = None
        self.appended = 0
        self.paused: int | None = None
        self.backlog = [0] * partitions
        self.subscription: Any = None

    @property
    def cursor(self) -> int | None:
        """The relay seq of the last frame stored in Redis (None before the first)."""
        return self._cursor

    def __repr__(self) -> str:
        return (
            f"<Ingester {self.relay_url} -> {redact(self._redis_url)} "
            f"partitions={self.partitions} cursor={self._cursor}>"
        )

    async def run(self) -> None:
        """Ingest until cancelled (or until the relay stream fails for good).

        Raises:
            FanoutError: Redis may evict entries, or was set up with other partitions.
            TransportError: The relay cannot be reached (see `subscribe_repos` options).
            StreamError: The relay sent an error frame (``FutureCursor``: the stored cursor
                is ahead of the relay's sequence - another relay, or one that was reset).
            FrameDecodeError: A message without a readable seq or DID.
        """
        from atproto_async.stream.subscribe import SUBSCRIBE_REPOS, RawSubscription

        client = connect(self._redis_url)
        try:
            await check_redis(client, self.keys)
            stored = await client.get(self.keys.cursor)
            self._cursor = None if stored is None else int(stored)
            for partition in range(self.partitions):
                self.backlog[partition] = await self._trim(client, partition)
            logger.info(
                "ingesting %s into %s (%d partitions) from cursor %s",
                self.relay_url,
                redact(self._redis_url),
                self.partitions,
                self._cursor,
            )
            self.subscription = RawSubscription(
                self.relay_url, SUBSCRIBE_REPOS, cursor=self._cursor, **self._options
            )
            queue: asyncio.Queue[RawFrame] = asyncio.Queue(self.batch_size)
            try:
                async with self.subscription, asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._read(queue))
                    tasks.create_task(self._write(client, queue))
            except BaseExceptionGroup as group:  # the reader or the writer failed: say why
                raise group.exceptions[0] from None
        finally:
            await client.aclose()

    async def _read(self, queue: asyncio.Queue[RawFrame]) -> None:
        async for frame in self.subscription:
            if frame.seq is None:  # #info: nothing to store, no cursor to move
                logger.info("relay sent %s (not stored)", frame.type)
                continue
            await queue.put(frame)

    async def _write(self, client: Any, queue: asyncio.Queue[RawFrame]) -> None:
        script = client.register_script(APPEND)
        keys = self.keys
        next_trim = time.monotonic() + self.trim_interval
        while True:
            batch = [await queue.get()]
            while len(batch) < self.batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            stream_keys: list[str] = [keys.cursor]
            args: list[Any] = []
            touched: dict[int, int] = {}
            for frame in batch:
                partition = partition_of(frame.did, self.partitions)
                touched[partition] = touched.get(partition, 0) + 1
                stream_keys.append(keys.stream(partition))
                args.append(frame.seq)
                args.append(frame.data)
            appended = await self._retry(partial(script, keys=stream_keys, args=args))
            if appended != len(batch):
                logger.warning(
                    "%d of %d frames up to seq %s were already stored (a batch sent again, or "
                    "another ingester on the same prefix): skipped",
                    len(batch) - int(appended),
                    len(batch),
                    batch[-1].seq,
                )
            self.appended += int(appended)
            self._cursor = batch[-1].seq
            for partition, count in touched.items():
                self.backlog[partition] += count  # an upper bound until measured
                if self.backlog[partition] >= self.max_backlog:
                    await self._wait_for_room(client, partition)
            if time.monotonic() >= next_trim:
                for partition in range(self.partitions):
                    self.backlog[partition] = await self._retry(
                        partial(self._trim, client, partition)
                    )
                next_trim = time.monotonic() + self.trim_interval

    async def _wait_for_room(self, client: Any, partition: int) -> None:
        """Hold the writer (and so the relay) while ``partition`` is at its backlog limit."""
        while True:
            size = await self._retry(partial(self._trim, client, partition))
            self.backlog[partition] = size
            if size < self.max_backlog:
                break
            if self.paused is None:
                logger.warning(
                    "partition %d holds %d unacknowledged entries (max_backlog %d): the "
                    "workers are behind; pausing the relay at seq %s until they catch up",
                    partition,
                    size,
                    self.max_backlog,
                    self._cursor,
                )
            self.paused = partition
            await asyncio.sleep(_PAUSE_POLL)
        if self.paused is not None:
            logger.warning("partition %d has room again: reading the relay", partition)
            self.paused = None

    async def _trim(self, client: Any, partition: int) -> int:
        """Trim a stream below what every group acknowledged; return its length after."""
        key = self.keys.stream(partition)
        try:
            groups = await client.xinfo_groups(key)
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return 0
            raise
        floor: tuple[int, int] | None = None
        for group in groups:
            if group["pending"]:
                summary = await client.xpending(key, group["name"])
                point = _entry_id(summary["min"]) if summary["min"] is not None else None
            else:
                # Everything up to the last delivered entry is acknowledged: keep what follows.
                ms, seq = _entry_id(group["last-delivered-id"])
                point = (ms, seq + 1)
            if point is not None and (floor is None or point < floor):
                floor = point
        if floor is not None and floor > (0, 1):
            await client.xtrim(key, minid=f"{floor[0]}-{floor[1]}", approximate=False)
        return int(await client.xlen(key))

    async def _retry(self, call: Any) -> Any:
        """Run ``call()`` until Redis answers (it is safe to repeat)."""
        delay = 0.05
        while True:
            try:
                result = await call()
            except TRANSIENT as exc:
                raise_if_cancelled(exc)
                logger.warning(
                    "Redis at %s unreachable (%s); trying again in %.2f s",
                    redact(self._redis_url),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)
            else:
                raise_if_cancelled()  # redis-py may have swallowed a cancellation
                return result
