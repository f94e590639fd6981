"""A worker: serves the partitions it holds a lease on, in order, and acknowledges as it goes.

::

    async with Worker(redis_url, group="indexer", name="box1-a") as worker:
        async for event in worker:      # Commit, Identity, Account... as subscribe_repos
            await handle(event)         # acknowledged when the loop asks for the next one

How the partitions are shared by the workers of a group:

- Membership: every worker marks itself alive in ``P:members:G`` (a sorted set scored by
  expiry, written by the `HEARTBEAT` script on Redis's clock) every ``lease_ttl / 3``; a
  worker's fair share is ``ceil(partitions / live workers)``.
- Leases: a partition is served by the worker holding ``P:lease:G:i`` (``SET NX PX``). Leases
  are renewed by the `RENEW` script, which checks the token first, so a worker never extends
  a lease another worker took. A worker whose renewal fails, or whose lease would expire by its
  own clock before it renewed it, stops serving that partition at once: it hands out nothing
  more from it. A worker above its share releases the extra partitions between two events
  (never while one is being handled), so a newcomer gets its share.
- Takeover: a worker that takes a partition first claims every entry still pending in the
  group for that stream (``XAUTOCLAIM`` from ``0-0``: a dead or departed worker's entries,
  in stream order), then reads new ones (``XREADGROUP ... >``). Per-account order holds
  across failover; the one event a dead worker had handed out but not acknowledged is
  delivered again (at least once).
- Acknowledging: an event is acknowledged (``XACK``) when the loop asks for the next one,
  and at the end of ``async with`` when the block ended without an exception; an event whose
  handling raised is delivered again, to whoever serves its partition next.
- ``verify=True``: the rev of each account's last acknowledged commit is kept in
  ``P:rev:G:i`` by the `ACK_REV` script, in the same step as the ``XACK``; a commit whose rev
  is not newer than it is a re-delivery (or a stale event) and is skipped, counted in
  `duplicates`. Revs are compared as TIDs, the way `atproto_async.sync.SyncVerifier` orders
  them; signatures and proofs are not checked here (wrap the events with a verifier for that).
- A malformed frame in a stream entry is skipped with an ERROR log line naming the stream and
  entry, counted in `malformed`, and acknowledged, so one bad entry cannot block its
  partition; the entry stays readable with ``XRANGE`` until the stream is trimmed.
- Redis going away: reads, acknowledgements and lease renewals are tried again after a pause;
  leases that expire meanwhile are dropped by their holder, and taken again when Redis is
  back (claiming their pending entries again).
- ``lease_ttl`` must be longer than the longest stall of the event loop: a handler that blocks
  the loop (CPU work without ``await``) for longer loses its leases.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from atproto_async.exceptions import FrameDecodeError, StreamError
from atproto_async.fanout._partition import partition_of
from atproto_async.fanout._redis import (
    ACK_REV,
    HEARTBEAT,
    RELEASE,
    RENEW,
    TRANSIENT,
    FanoutError,
    Keys,
    ResponseError,
    connect,
    raise_if_cancelled,
    redact,
)
from atproto_async.stream.events import Commit, Event
from atproto_async.stream.frames import decode_frame

__all__ = ["DEFAULT_LEASE_TTL", "Worker"]

logger = logging.getLogger("atproto_async.fanout")

#: Seconds a lease lasts without renewal (a dead worker's partitions move after this).
DEFAULT_LEASE_TTL = 10.0
#: Entries read from a stream at once (they stay pending until handed out and acknowledged).
DEFAULT_READ_COUNT = 32
#: Longest pause before trying Redis again while it is away.
_MAX_RETRY_DELAY = 2.0

_Entry = tuple[bytes, dict[bytes, bytes] | None]


class Worker:
    """One worker of a consumer group; ``async with`` it, then ``async for event in it``.

    Args:
        redis_url: ``redis://[:password@]host:port/db`` (the password never appears in logs).
        group: The consumer group: each partition is served by one live worker of it. Groups
            are independent (each sees every event).
        name: This worker's name, unique in the group (e.g. host and process).
        partitions: As given to the `Ingester`.
        prefix: As given to the `Ingester`.
        lease_ttl: Seconds after which a silent worker's partitions move to live ones.
        verify: Skip commits whose rev is not newer than the last one acknowledged for the
            account (re-deliveries after a failover; see the module docstring).
        read_count: Entries read from a stream at once.

    Attributes:
        delivered: Events handed out.
        acked: Events acknowledged (including skipped ones).
        duplicates: Commits skipped by ``verify`` as not newer than the stored rev.
        malformed: Entries skipped because their frame could not be decoded.
        claimed: Pending entries claimed from other (or earlier) workers on takeover.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        group: str,
        name: str,
        partitions: int = 8,
        prefix: str = "atproto",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        verify: bool = False,
        read_count: int = DEFAULT_READ_COUNT,
    ) -> None:
        if not group or not name:
            raise ValueError("group and name must not be empty")
        if lease_ttl <= 0:
            raise ValueError(f"lease_ttl must be positive, got {lease_ttl}")
        self._redis_url = redis_url
        self.group = group
        self.name = name
        self.partitions = partitions
        self.keys = Keys(prefix, partitions)
        self.lease_ttl = lease_ttl
        self.verify = verify
        self.read_count = read_count
        self._token = f"{name}:{secrets.token_hex(8)}"
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._owned: dict[int, float] = {}  # partition -> when the lease runs out (monotonic)
        self._fresh: set[int] = set()  # taken, pending entries not claimed yet
        self._releasing: set[int] = set()
        self._buffers: dict[int, collections.deque[_Entry]] = {}
        self._inflight: tuple[int, bytes, str | None, str | None] | None = None
        self._changed = asyncio.Event()
        self._lease_task: asyncio.Task[None] | None = None
        self._closed = False
        self._turn = 0
        self.live_workers = 1
        self.delivered = 0
        self.acked = 0
        self.duplicates = 0
        self.malformed = 0
        self.claimed = 0

    def __repr__(self) -> str:
        return (
            f"<Worker {self.name} group={self.group} redis={redact(self._redis_url)} "
            f"partitions={sorted(self._owned)}>"
        )

    @property
    def owned(self) -> list[int]:
        """The partitions this worker serves now."""
        return sorted(self._owned)

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(ack=exc_type is None)

    async def start(self) -> None:
        """Connect, join the group and take a first share of the partitions.

        Raises:
            FanoutError: The streams were written with another number of partitions.
            redis.exceptions.ConnectionError: Redis cannot be reached.
        """
        if self._client is not None:
            return
        self._client = connect(self._redis_url)
        client = self._client
        for name, source in (
            ("ack_rev", ACK_REV),
            ("heartbeat", HEARTBEAT),
            ("release", RELEASE),
            ("renew", RENEW),
        ):
            self._scripts[name] = client.register_script(source)
        try:
            stored = await client.get(self.keys.count)
            if stored is not None and int(stored) != self.partitions:
                raise FanoutError(
                    f"the streams under prefix {self.keys.prefix!r} have {int(stored)} "
                    f"partitions, not {self.partitions}: give the worker the ingester's "
                    "--partitions"
                )
            await self._lease_round()
        except BaseException:
            self._client = None
            await client.aclose()
            raise
        self._lease_task = asyncio.create_task(self._lease_loop())

    async def aclose(self, *, ack: bool = True) -> None:
        """Stop: acknowledge the last event (if ``ack``), release the leases, disconnect."""
        if self._closed:
            return
        self._closed = True
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        client = self._client
        if client is None:
            return
        try:
            if ack:
                await self._ack()
            owned = list(self._owned)
            if owned:
                await self._scripts["release"](
                    keys=[self.keys.lease(self.group, p) for p in owned], args=[self._token]
                )
            await self._scripts["heartbeat"](
                keys=[self.keys.members(self.group)],
                args=[self.name, int(self.lease_ttl * 1000), 0],
            )
            logger.info("worker %s stopped; released partitions %s", self.name, owned)
        except TRANSIENT as exc:
            logger.warning("worker %s: Redis unreachable while stopping (%s)", self.name, exc)
        finally:
            self._owned.clear()
            await client.aclose()

    # -- leases ----------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            try:
                await self._lease_round()
                raise_if_cancelled()  # redis-py may have swallowed a cancellation
            except TRANSIENT as exc:
                raise_if_cancelled(exc)
                logger.warning(
                    "worker %s: Redis at %s unreachable for lease renewal (%s)",
                    self.name,
                    redact(self._redis_url),
                    type(exc).__name__,
                )
            except Exception:  # keep renewing: a dead lease task would idle the worker
                logger.exception("worker %s: lease renewal failed", self.name)

    async def _lease_round(self) -> None:
        """Renew, take and give up leases so that this worker holds its fair share."""
        keys, group, ttl_ms = self.keys, self.group, int(self.lease_ttl * 1000)
        live = int(
            await self._scripts["heartbeat"](
                keys=[keys.members(group)], args=[self.name, ttl_ms, 1]
            )
        )
        self.live_workers = max(live, 1)
        share = math.ceil(self.partitions / self.live_workers)
        owned = sorted(self._owned)
        if owned:
            started = time.monotonic()
            held = await self._scripts["renew"](
                keys=[keys.lease(group, p) for p in owned], args=[self._token, ttl_ms]
            )
            for partition, ok in zip(owned, held, strict=True):
                if ok and partition in self._owned:
                    self._owned[partition] = started + self.lease_ttl
                elif partition in self._owned:
                    self._lose(partition, "its lease was taken or expired")
        # Start from a place of our own, so that workers starting together try different ones.
        first = partition_of(self._token, self.partitions)
        for step in range(self.partitions):
            if len(self._owned) >= share:
                break
            partition = (first + step) % self.partitions
            if partition in self._owned:
                continue
            started = time.monotonic()
            taken = await self._client.set(
                keys.lease(group, partition), self._token, nx=True, px=ttl_ms
            )
            if taken:
                self._owned[partition] = started + self.lease_ttl
                self._fresh.add(partition)
                logger.info("worker %s took partition %d", self.name, partition)
        extra = len(self._owned) - share - len(self._releasing)
        if extra > 0:
            # Give up the ones with the least buffered first: they hand over fastest.
            candidates = sorted(
                (p for p in self._owned if p not in self._releasing),
                key=lambda p: (len(self._buffers.get(p, ())), -p),
            )
            self._releasing.update(candidates[:extra])
        self._changed.set()

    def _lose(self, partition: int, why: str) -> None:
        self._owned.pop(partition, None)
        self._fresh.discard(partition)
        self._releasing.discard(partition)
        self._buffers.pop(partition, None)  # still pending in Redis: the next owner claims it
        logger.warning("worker %s stopped serving partition %d: %s", self.name, partition, why)

    async def _release_extra(self) -> None:
        """Give up the partitions above the fair share (between two events)."""
        releasing = [p for p in self._releasing if p in self._owned]
        self._releasing.clear()
        if not releasing:
            return
        for partition in releasing:
            self._owned.pop(partition, None)
            self._fresh.discard(partition)
            self._buffers.pop(partition, None)
        await self._scripts["release"](
            keys=[self.keys.lease(self.group, p) for p in releasing], args=[self._token]
        )
        logger.info("worker %s handed over partitions %s", self.name, sorted(releasing))

    def _expire(self) -> None:
        """Stop serving partitions whose lease ran out by our own clock (not renewed)."""
        now = time.monotonic()
        for partition, until in list(self._owned.items()):
            if now >= until:
                self._lose(partition, "its lease ran out before it could be renewed")

    async def _claim(self, partition: int) -> None:
        """Take over the group's pending entries of a partition, oldest first."""
        key = self.keys.stream(partition)
        try:
            await self._client.xgroup_create(key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        buffer = self._buffers.setdefault(partition, collections.deque())
        start: Any = "0-0"
        while True:
            answer = await self._client.xautoclaim(
                key, self.group, self.name, min_idle_time=0, start_id=start, count=100
            )
            start, entries = answer[0], answer[1]
            for entry_id, fields in entries:
                buffer.append((entry_id, fields))
            self.claimed += len(entries)
            if start in (b"0-0", "0-0"):
                break
        if buffer:
            logger.info(
                "worker %s took partition %d with %d pending entries",
                self.name,
                partition,
                len(buffer),
            )

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._client is None:
            raise RuntimeError("use 'async with Worker(...)' (or await start()) first")
        while not self._closed:
            raise_if_cancelled()  # redis-py may have swallowed a cancellation
            try:
                await self._ack()
                await self._release_extra()
                self._expire()
                for partition in sorted(self._fresh):
                    await self._claim(partition)
                    self._fresh.discard(partition)
                event = await self._next_buffered()
                if event is not None:
                    return event
                await self._read()
            except TRANSIENT as exc:
                raise_if_cancelled(exc)
                await self._wait_for_redis(exc)
        raise StopAsyncIteration

    async def _wait_for_redis(self, exc: BaseException) -> None:
        logger.warning(
            "worker %s: Redis at %s unreachable (%s); trying again",
            self.name,
            redact(self._redis_url),
            type(exc).__name__,
        )
        await asyncio.sleep(min(self.lease_ttl / 10, _MAX_RETRY_DELAY))

    async def _next_buffered(self) -> Event | None:
        """Hand out the next entry of the buffers (round robin over partitions), if any."""
        while True:
            ready = [p for p in sorted(self._buffers) if self._buffers[p] and p in self._owned]
            if not ready:
                return None
            self._turn += 1
            partition = ready[self._turn % len(ready)]
            buffer = self._buffers[partition]
            entry_id, fields = buffer[0]
            # Taken off only once decoded (and, when skipped, acknowledged): if Redis goes
            # away meanwhile, the entry is tried again rather than left pending behind us.
            event = await self._decode(partition, entry_id, fields)
            if buffer and buffer[0][0] == entry_id:
                buffer.popleft()
            if event is not None:
                self.delivered += 1
                return event

    async def _decode(
        self, partition: int, entry_id: bytes, fields: dict[bytes, bytes] | None
    ) -> Event | None:
        """The entry's event, or None when it is skipped (and then acknowledged)."""
        key = self.keys.stream(partition)
        frame = None if fields is None else fields.get(b"frame")
        try:
            if frame is None:
                raise FrameDecodeError("the entry has no 'frame' field (or was deleted)")
            event = decode_frame(frame)
        except (FrameDecodeError, StreamError) as exc:
            self.malformed += 1
            logger.error(
                "worker %s skipped entry %s of %s: %s",
                self.name,
                entry_id.decode(errors="replace"),
                key,
                exc,
            )
            self._inflight = (partition, entry_id, None, None)
            await self._ack()
            return None
        did = rev = None
        if self.verify and type(event) is Commit:
            did, rev = event.repo, event.rev
            stored = await self._client.hget(self.keys.revs(self.group, partition), did)
            if stored is not None:
                old = stored.decode()
                if len(rev) < len(old) or (len(rev) == len(old) and rev <= old):
                    self.duplicates += 1
                    logger.info(
                        "worker %s skipped commit seq %d of %s: rev %s is not newer than %s",
                        self.name,
                        event.seq,
                        did,
                        rev,
                        old,
                    )
                    self._inflight = (partition, entry_id, None, None)
                    await self._ack()
                    return None
        self._inflight = (partition, entry_id, did, rev)
        return event

    async def _ack(self) -> None:
        inflight = self._inflight
        if inflight is None:
            return
        partition, entry_id, did, rev = inflight
        key = self.keys.stream(partition)
        if did is not None and rev is not None:
            await self._scripts["ack_rev"](
                keys=[key, self.keys.revs(self.group, partition)],
                args=[self.group, entry_id, did, rev],
            )
        else:
            await self._client.xack(key, self.group, entry_id)
        self._inflight = None
        self.acked += 1

    async def _read(self) -> None:
        """Wait for new entries of the partitions held (or for a lease change)."""
        block = max(10, int(min(self.lease_ttl / 4, 1.0) * 1000))
        # Only partitions whose lease outlasts the read by a margin: entries delivered after
        # the lease ran out could be read by the next owner's claim too late, out of order.
        safe_until = time.monotonic() + 2 * block / 1000
        streams = {
            self.keys.stream(p): ">"
            for p, until in sorted(self._owned.items())
            if p not in self._fresh and until > safe_until
        }
        if not streams:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), block / 1000)
            return
        try:
            answer = await self._client.xreadgroup(
                self.group, self.name, streams, count=self.read_count, block=block
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._fresh.update(self._owned)  # the stream or group was deleted: create again
            return
        by_key = {self.keys.stream(p): p for p in self._owned}
        for key, entries in answer or ():
            name = key.decode() if isinstance(key, bytes) else key
            partition = by_key.get(name)
            if partition is None:  # lost while reading: the entries stay pending for the next
                continue
            self._buffers.setdefault(partition, collections.deque()).extend(entries)
